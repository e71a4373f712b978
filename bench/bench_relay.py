"""Relay ingest under load: a real `hashcore relay serve` (SQLite, full verification) on
loopback, fed by load generators in separate processes.

Workload (relay issue): HASHCORE_BENCH_RELAY_DEVICES devices (default 1,000), batches of
256 records of ~200-byte sleep-diary payloads, each device sending
HASHCORE_BENCH_RELAY_BATCHES batches (default 1). Requests are built and serialized before
the clock starts, so the load generators spend their CPU on sending, not on making data.

Figures (in `extra_info`, see BENCHMARKS.md):
- durably acknowledged records/s at full load (every generator stream sends as fast as
  acks come back);
- p50/p99 ack latency with the offered load at half that rate;
- baseline in the same run: the same records through `Store.append` alone (SQLite, one
  transaction per 256-record batch) — what storage costs without the network and checks;
- CPU of the relay process (user + system, from /proc) per acknowledged record, and
  of the load generators (their process time).

HASHCORE_BENCH_RELAY_PG (a ``postgresql://`` URL of a server, e.g.
``postgresql://postgres@127.0.0.1:5432``): the same figures on PostgreSQL, each run in a
database of its own (``hc_ingest_bench_*``, dropped after). HASHCORE_BENCH_RELAY_PYSPY (a
file path): a py-spy profile of the relay at full load, written there (collapsed stacks);
HASHCORE_BENCH_RELAY_PERF (a file path): a ``perf record -g`` profile of it there.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

DEVICES = int(os.environ.get("HASHCORE_BENCH_RELAY_DEVICES", "1000"))
PG_SERVER = os.environ.get("HASHCORE_BENCH_RELAY_PG", "")
PYSPY_OUT = os.environ.get("HASHCORE_BENCH_RELAY_PYSPY", "")
PERF_OUT = os.environ.get("HASHCORE_BENCH_RELAY_PERF", "")
BATCHES = int(os.environ.get("HASHCORE_BENCH_RELAY_BATCHES", "1"))
BATCH = 256
PROCESSES = 2
STREAMS_PER_PROCESS = 4
_METHOD = "/hashcore.relay.v2.Relay/Submit"


def _payload(day: int, device: int) -> bytes:
    return (
        b'{"day": %d, "bedtime": "23:%02d", "sol_min": %d, "waso_min": %d, "tst_min": %d, '
        b'"tib_min": %d, "awakenings": %d, "quality": %d, "isi": %d, "note": "%s"}'
        % (
            day,
            day % 60,
            10 + day % 40,
            5 + device % 50,
            300 + day % 180,
            420 + day % 60,
            day % 5,
            1 + day % 5,
            day % 28,
            b"x" * 20,
        )
    )


def _make_requests(tokens: list[str], target: str) -> list[bytes]:
    """Enroll one device per token and build its serialized SubmitRequests."""
    from hashcore import Device, RelayClient
    from hashcore.relay.client import record_pb
    from hashcore.relay.v2 import relay_pb2 as pb

    client = RelayClient(target, plaintext=True)
    requests: list[bytes] = []
    for n, token in enumerate(tokens):
        device = Device.new()
        client.enroll(device, token)
        for day in range(BATCH * BATCHES):
            device.append(_payload(day, n))
        records = device.records()[1:]
        for b in range(BATCHES):
            chunk = records[b * BATCH : (b + 1) * BATCH]
            requests.append(
                pb.SubmitRequest(
                    batch_id=b, records=[record_pb(r) for r in chunk]
                ).SerializeToString()
            )
    client.close()
    return requests


def _generator(
    tokens: list[str], target: str, ready: Any, go: Any, interval_s: float, out: Any
) -> None:
    """One load-generating process: STREAMS_PER_PROCESS concurrent Submit streams."""
    requests = _make_requests(tokens, target)
    ready.set()
    go.wait()
    cpu_started = time.process_time()
    latencies: list[float] = []
    lock = threading.Lock()

    def stream(mine: list[bytes]) -> None:
        channel = grpc.insecure_channel(target)
        call = channel.stream_stream(_METHOD, request_serializer=None, response_deserializer=None)
        sent: list[float] = []
        local: list[float] = []

        def feed() -> Any:
            next_at = time.perf_counter()
            for req in mine:
                if interval_s:
                    delay = next_at - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    next_at += interval_s
                sent.append(time.perf_counter())
                yield req

        for i, _reply in enumerate(call(feed())):
            local.append(time.perf_counter() - sent[i])
        channel.close()
        with lock:
            latencies.extend(local)

    share = [requests[i::STREAMS_PER_PROCESS] for i in range(STREAMS_PER_PROCESS)]
    threads = [threading.Thread(target=stream, args=(s,)) for s in share]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((latencies, time.process_time() - cpu_started))


def _server_quantiles(metrics_port: str) -> dict[str, float]:
    """p50/p99 of the relay's own batch latency histogram (receive -> ack), as the upper
    bound of the bucket the quantile falls in: what the relay adds, without the client."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    url = f"http://127.0.0.1:{metrics_port}/metrics"
    body = urllib.request.urlopen(url, timeout=10).read().decode()
    buckets = []
    groups = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == "hashcore_relay_batch_seconds_bucket":
                buckets.append((float(sample.labels["le"]), sample.value))
            if sample.name in (
                "hashcore_relay_group_batches_sum",
                "hashcore_relay_group_batches_count",
            ):
                groups[sample.name.rpartition("_")[2]] = sample.value
    buckets.sort()
    total = buckets[-1][1]
    out = {}
    for name, q in (("server_p50_ms_at_most", 0.5), ("server_p99_ms_at_most", 0.99)):
        out[name] = next(1000 * le for le, count in buckets if count >= q * total)
    # Group commits (enrollments included): how many batches the writer checked together.
    if groups.get("count"):
        out["groups"] = groups["count"]
        out["batches_per_group"] = groups["sum"] / groups["count"]
    return out


def _cpu_s(pid: int) -> float:
    """user + system CPU seconds of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def _database() -> Iterator[str]:
    """Where a run stores: a SQLite file, or a fresh PostgreSQL database (dropped after)."""
    if not PG_SERVER:
        yield ""
        return
    import psycopg

    name = f"hc_ingest_bench_{os.getpid()}_{time.perf_counter_ns()}"
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _start_relay(workdir: Path, db: str) -> tuple[subprocess.Popen[str], str, str]:
    cmd = [
        sys.executable,
        "-m",
        "hashcore.cli",
        "relay",
        "serve",
        "--db",
        db or str(workdir / "relay.db"),
        "--key-dir",
        str(workdir),
        "--listen",
        "127.0.0.1:0",
        "--plaintext",
        "--log-level",
        "warning",
        "--evm",
        "none",
        "--metrics",
        "127.0.0.1:0",
        # Every simulated device enrolls and reads from loopback: the per-address
        # limits would measure themselves, not ingest.
        "--enroll-rate",
        "0",
        "--read-rate",
        "0",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    port = line.strip().rpartition(":")[2]
    metrics_port = proc.stdout.readline().strip().rpartition(":")[2]
    token = (workdir / "relay.operator-token").read_text().strip()
    return proc, f"127.0.0.1:{port}", f"{token} {metrics_port}"


def _profile(pid: int) -> subprocess.Popen[bytes]:
    """py-spy sampling every thread of the relay until SIGINT: collapsed stacks (one
    ``frame;frame;... count`` line each) in PYSPY_OUT, py-spy's own messages beside it."""
    # requirements-dev.txt installs it beside the interpreter (the venv's bin/).
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    cmd = [spy, "record", "--pid", str(pid), "--threads", "--idle", "--rate", "50"]
    cmd += ["--format", "raw", "--output", PYSPY_OUT, "--nonblocking"]
    log = Path(PYSPY_OUT + ".log").open("wb")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def _perf(pid: int) -> subprocess.Popen[bytes]:
    """`perf record -g` of every thread of the relay (Rust, SQLite, CPython and the
    kernel alike) until SIGINT, into PERF_OUT (read it with `perf report --no-children`)."""
    cmd = ["perf", "record", "-g", "-F", "499", "-p", str(pid), "-o", PERF_OUT]
    log = Path(PERF_OUT + ".log").open("wb")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def _run_load(interval_s: float) -> dict[str, float]:
    """Start a relay, enroll DEVICES devices, send everything; return rate and latencies."""
    from hashcore import RelayClient

    with tempfile.TemporaryDirectory() as tmp, _database() as db:
        proc, target, op_token_and_port = _start_relay(Path(tmp), db)
        op_token, metrics_port = op_token_and_port.split()
        try:
            op = RelayClient(target, plaintext=True, operator_token=op_token)
            tokens = [op.issue_token(f"P{i:05d}")[0] for i in range(DEVICES)]
            op.close()
            ctx = mp.get_context("spawn")
            go = ctx.Event()
            out = ctx.Queue()
            readies = []
            procs = []
            for p in range(PROCESSES):
                ready = ctx.Event()
                readies.append(ready)
                args = (tokens[p::PROCESSES], target, ready, go, interval_s, out)
                procs.append(ctx.Process(target=_generator, args=args))
            for pr in procs:
                pr.start()
            for ready in readies:
                ready.wait(600)
            cpu_before = _cpu_s(proc.pid)
            spy = _profile(proc.pid) if PYSPY_OUT and not interval_s else None
            perf = _perf(proc.pid) if PERF_OUT and not interval_s else None
            started = time.perf_counter()
            go.set()
            latencies: list[float] = []
            generators_cpu = 0.0
            for _ in procs:
                mine, mine_cpu = out.get(timeout=600)
                latencies.extend(mine)
                generators_cpu += mine_cpu
            elapsed = time.perf_counter() - started
            cpu = _cpu_s(proc.pid) - cpu_before
            for profiler in (spy, perf):
                if profiler is not None:  # both write their profile on SIGINT
                    profiler.send_signal(signal.SIGINT)
                    profiler.wait(120)
            for pr in procs:
                pr.join()
            server = _server_quantiles(metrics_port)
        finally:
            proc.terminate()
            proc.wait(60)
    records = DEVICES * BATCHES * BATCH
    lat = sorted(latencies)
    return {
        "records": records,
        "seconds": elapsed,
        "records_per_s": records / elapsed,
        "p50_ms": 1000 * statistics.median(lat),
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
        "batches": len(lat),
        "relay_cpu_s": cpu,
        "relay_cpu_us_per_record": 1e6 * cpu / records,
        # The load generators' own CPU (all their threads, grpc's included): on the same
        # cores as the relay, so what they spend the relay can't.
        "generators_cpu_us_per_record": 1e6 * generators_cpu / records,
        **server,
    }


_FULL: dict[str, float] = {}


def test_relay_full_load(benchmark: BenchmarkFixture) -> None:
    result = benchmark.pedantic(_run_load, args=(0.0,), rounds=1, iterations=1)
    _FULL.update(result)
    benchmark.extra_info.update({k: round(v, 2) for k, v in result.items()})
    assert result["batches"] == DEVICES * BATCHES


def test_relay_half_load_latency(benchmark: BenchmarkFixture) -> None:
    if not _FULL:
        pytest.fail("run together with test_relay_full_load (it measures the full rate)")
    half_rate_batches = _FULL["records_per_s"] / 2 / BATCH
    # Each of the PROCESSES x STREAMS_PER_PROCESS streams sends at an equal share.
    interval = PROCESSES * STREAMS_PER_PROCESS / half_rate_batches
    result = benchmark.pedantic(_run_load, args=(interval,), rounds=1, iterations=1)
    benchmark.extra_info.update({k: round(v, 2) for k, v in result.items()})
    benchmark.extra_info["offered_records_per_s"] = round(_FULL["records_per_s"] / 2)
    assert result["batches"] == DEVICES * BATCHES


def test_store_append_baseline(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    """The same records (one enrolled chain per 256-record batch) through
    Store.append alone (SQLite, or PostgreSQL with HASHCORE_BENCH_RELAY_PG): what durable
    storage costs without network and checks."""
    from hashcore.relay.store import open_store
    from hashcore.relay.store.base import ChainHead, Device, StoredRecord

    n_batches = DEVICES * BATCHES
    payload = _payload(1, 1)

    def chain(b: int) -> bytes:
        return b.to_bytes(16, "big")

    def run() -> float:
        with _database() as db:
            return timed(db or str(tmp_path / f"baseline-{time.perf_counter_ns()}.db"))

    def timed(db: str) -> float:
        store = open_store(db)
        store.set_log_id(bytes(32))
        for b in range(n_batches):
            token = b.to_bytes(32, "big")
            store.add_token(token, "P", 0, 2**62)
            genesis = StoredRecord(
                b,
                chain(b),
                0,
                0,
                0,
                bytes(32),
                bytes(32),
                0,
                bytes(32),
                token,
                bytes(64),
                bytes(16),
                bytes(32),
                0,
            )
            store.enroll(token, 1, genesis, Device(chain(b), "", bytes(32), bytes(32), 0, token, 0))
        batches = []
        index = n_batches
        for b in range(n_batches):
            rows = []
            for seq in range(1, BATCH + 1):
                link = (b * BATCH + seq).to_bytes(32, "big")
                rows.append(
                    StoredRecord(
                        index,
                        chain(b),
                        seq,
                        0,
                        1,
                        bytes(32),
                        bytes(32),
                        0,
                        bytes(32),
                        link,
                        bytes(64),
                        bytes(16),
                        payload,
                        0,
                    )
                )
                index += 1
            batches.append((rows, [ChainHead(chain(b), BATCH, rows[-1].link, bytes(32))]))
        started = time.perf_counter()
        for rows, heads in batches:
            store.append(rows, heads)
        elapsed = time.perf_counter() - started
        store.close()
        return elapsed

    elapsed = benchmark.pedantic(run, rounds=1, iterations=1)
    records = n_batches * BATCH
    benchmark.extra_info["records"] = records
    benchmark.extra_info["records_per_s"] = round(records / elapsed)
