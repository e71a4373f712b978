"""Relay frontends on one PostgreSQL log: ingest with 1, 2 and 3 frontends in one run, and
the sequencer's fail-over time.

Each configuration gets a fresh database (hc_frontends_bench_*) and that many ``hashcore
relay serve --frontend`` processes. HASHCORE_BENCH_FRONTENDS_DEVICES devices (default
96), spread over the frontends, send HASHCORE_BENCH_FRONTENDS_BATCHES batches (default 2)
of 256 records each, from two load-generating processes with 3 streams each, requests
built and serialized before the clock starts. Figures (``extra_info``, see BENCHMARKS.md):

- ``records_per_s``: durably acknowledged (sequenced) records a second;
- ``relay_cpu_ms_per_1k`` / ``pg_cpu_ms_per_1k`` / ``cpu_ms_per_1k``: CPU time (user +
  system) of the frontend processes, of every PostgreSQL backend serving the database,
  and both, per 1,000 records: on a machine with fewer cores than frontends the rate
  can't grow, but the CPU per record shows what each added frontend costs;
- baseline in the same run (``alone_*``): one relay serving the same database alone
  (no ``--frontend``: it sequences in memory and appends straight to ``records``);
- fail-over: with 3 frontends and a probe sending one record at a time to a frontend
  that is not the sequencer, the sequencer is killed with SIGKILL; ``election_ms`` is the
  time until PostgreSQL shows another frontend holding the sequencer lock, ``ack_gap_ms``
  the longest wait of the probe for an ack around the kill.
- anchoring fail-over (``test_anchoring_failover``): 3 frontends anchoring on a real
  anvil (automine, ``--anchor-interval 0.2``, a checkpoint every 4 records), the same
  kind of probe; the sequencer is killed twice (3 -> 2 -> 1 frontends). Per kill:
  ``election_ms`` as above, ``checkpoint_ms`` until the new sequencer's first checkpoint
  is stored, ``anchor_ms`` until that sequencer's first anchor is stored (mined).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import grpc
from pytest_benchmark.fixture import BenchmarkFixture

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.relay.conftest import ProcessRelay, start_process_relay
from tests.relay.frontends_helpers import (
    frontends_database,
    sequencer_pid,
    start_frontend,
    start_frontends,
)

DEVICES = int(os.environ.get("HASHCORE_BENCH_FRONTENDS_DEVICES", "96"))
BATCHES = int(os.environ.get("HASHCORE_BENCH_FRONTENDS_BATCHES", "2"))
BATCH = 256
PROCESSES = 2
STREAMS = 3  # per process
_METHOD = "/hashcore.relay.v2.Relay/Submit"
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pids: list[int]) -> float:
    """user + system CPU seconds of these processes (those that still run)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICK


def _backends(url: str) -> list[int]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(r[0]) for r in rows]


def _requests(tokens: list[tuple[str, str]]) -> list[tuple[str, list[bytes]]]:
    """Enroll one device per (token, frontend) and build its serialized requests (a
    device's batches go in order on one stream)."""
    from hashcore import Device, RelayClient
    from hashcore.relay.client import record_pb
    from hashcore.relay.v2 import relay_pb2 as pb

    out = []
    for n, (token, target) in enumerate(tokens):
        device = Device.new()
        with RelayClient(target, plaintext=True) as client:
            client.enroll(device, token)
        for day in range(BATCH * BATCHES):
            device.append(b'{"day": %d, "device": %d, "tst_min": %d}' % (day, n, 300 + day))
        records = device.records()[1:]
        mine = []
        for b in range(BATCHES):
            chunk = records[b * BATCH : (b + 1) * BATCH]
            request = pb.SubmitRequest(batch_id=b, records=[record_pb(r) for r in chunk])
            mine.append(request.SerializeToString())
        out.append((target, mine))
    return out


def _generator(tokens: list[tuple[str, str]], ready: Any, go: Any, out: Any) -> None:
    requests = _requests(tokens)
    ready.set()
    go.wait()
    acked = [0]
    lock = threading.Lock()

    def stream(mine: list[tuple[str, list[bytes]]]) -> None:
        by_target: dict[str, list[bytes]] = {}
        for target, reqs in mine:
            by_target.setdefault(target, []).extend(reqs)
        for target, reqs in by_target.items():
            channel = grpc.insecure_channel(target)
            call = channel.stream_stream(
                _METHOD, request_serializer=None, response_deserializer=None
            )
            n = sum(1 for _ in call(iter(reqs)))
            channel.close()
            with lock:
                acked[0] += n

    share = [requests[i::STREAMS] for i in range(STREAMS)]
    threads = [threading.Thread(target=stream, args=(s,)) for s in share]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(acked[0])


_EXTRA = ("--checkpoint-every", "4096", "--log-level", "warning", "--enroll-rate", "0")


def _start(n: int, workdir: Path, url: str) -> list[ProcessRelay]:
    """n frontends (0: one relay serving the store alone, the baseline)."""
    if n == 0:
        return [start_process_relay(workdir, url, *_EXTRA)]
    extra = _EXTRA
    frontends = [start_frontend(workdir, url, *extra)]
    sequencer_pid(url)  # the first one is elected before the others start
    frontends += [start_frontend(workdir, url, *extra) for _ in range(n - 1)]
    return frontends


def _ingest(n: int) -> dict[str, float]:
    from hashcore import RelayClient

    with (
        tempfile.TemporaryDirectory(prefix="frontends-bench-") as tmp,
        frontends_database("bench") as url,
    ):
        frontends = _start(n, Path(tmp), url)
        try:
            f0 = frontends[0]
            with RelayClient(f0.target, plaintext=True, operator_token=f0.operator_token) as op:
                tokens = [
                    (op.issue_token(f"P{i:05d}")[0], frontends[i % len(frontends)].target)
                    for i in range(DEVICES)
                ]
            ctx = mp.get_context("spawn")
            go, out = ctx.Event(), ctx.Queue()
            readies = [ctx.Event() for _ in range(PROCESSES)]
            procs = [
                ctx.Process(target=_generator, args=(tokens[p::PROCESSES], readies[p], go, out))
                for p in range(PROCESSES)
            ]
            for pr in procs:
                pr.start()
            for ready in readies:
                assert ready.wait(900)
            relays, backends = [f.proc.pid for f in frontends], _backends(url)
            cpu0 = _cpu_s(relays), _cpu_s(backends)
            started = time.perf_counter()
            go.set()
            batches = sum(out.get(timeout=900) for _ in procs)
            elapsed = time.perf_counter() - started
            cpu = _cpu_s(relays) - cpu0[0], _cpu_s(backends) - cpu0[1]
            for pr in procs:
                pr.join()
        finally:
            for f in frontends:
                f.terminate()
    records = DEVICES * BATCHES * BATCH
    assert batches == DEVICES * BATCHES
    return {
        "frontends": n,
        "records": records,
        "seconds": elapsed,
        "records_per_s": records / elapsed,
        "relay_cpu_ms_per_1k": 1e6 * cpu[0] / records,
        "pg_cpu_ms_per_1k": 1e6 * cpu[1] / records,
        "cpu_ms_per_1k": 1e6 * sum(cpu) / records,
    }


def _failover() -> dict[str, float]:
    """Kill -9 the sequencer of 3 frontends while a probe sends to a follower."""
    from hashcore import Device, RelayClient

    with (
        tempfile.TemporaryDirectory(prefix="frontends-bench-") as tmp,
        frontends_database("bench") as url,
    ):
        frontends = _start(3, Path(tmp), url)
        try:
            victim_pid = sequencer_pid(url)
            probe_to = next(f for f in frontends if f.proc.pid != victim_pid)
            f0 = frontends[0]
            with RelayClient(f0.target, plaintext=True, operator_token=f0.operator_token) as op:
                token, _ = op.issue_token("probe")
            device = Device.new()
            client = RelayClient(probe_to.target, plaintext=True)
            client.enroll(device, token)
            gaps: list[float] = []
            stop = threading.Event()

            def probe() -> None:
                while not stop.is_set():
                    device.append(b'{"probe": 1}')
                    sent = time.perf_counter()
                    client.sync(device)
                    gaps.append(time.perf_counter() - sent)

            t = threading.Thread(target=probe)
            t.start()
            time.sleep(1.0)
            os.kill(victim_pid, signal.SIGKILL)
            killed = time.perf_counter()
            sequencer_pid(url, not_pid=victim_pid)
            election = time.perf_counter() - killed
            time.sleep(1.5)
            stop.set()
            t.join(30)
            client.close()
        finally:
            for f in frontends:
                if f.proc.poll() is None:
                    f.terminate()
    return {"election_ms": 1000 * election, "ack_gap_ms": 1000 * max(gaps)}


def test_frontends_ingest_and_failover(benchmark: BenchmarkFixture) -> None:
    def run() -> dict[str, float]:
        figures: dict[str, float] = {}
        for n in (0, 1, 2, 3):  # 0: the baseline, one relay alone on PostgreSQL
            for k, v in _ingest(n).items():
                figures[f"{n}fe_{k}" if n else f"alone_{k}"] = v
        figures.update(_failover())
        return figures

    result = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update({k: round(v, 2) for k, v in result.items()})
    print({k: round(v, 2) for k, v in result.items()})


def _anchoring_failover(kills: int = 2) -> dict[str, float]:
    """Kill -9 the anchoring sequencer ``kills`` times while a probe sends to another."""
    from hashcore import Device, RelayClient
    from hashcore.relay.store import open_store

    from tests.anchor.conftest import ANVIL_KEY_0, AnvilNode, _anvil_binary, free_port

    node = AnvilNode(_anvil_binary(), free_port())
    node.start()
    with (
        tempfile.TemporaryDirectory(prefix="frontends-bench-") as tmp,
        frontends_database("bench") as url,
    ):
        key = Path(tmp) / "evm.key"
        key.write_text(ANVIL_KEY_0 + "\n")
        key.chmod(0o600)
        evm = ["--evm", "url", "--evm-url", node.url, "--evm-key", str(key)]
        evm += ["--confirmations", "1", "--anchor-interval", "0.2", "--checkpoint-every", "4"]
        frontends = start_frontends(Path(tmp), url, kills + 1, "--log-level", "warning", *evm)
        store = open_store(url, readonly=True)
        figures: dict[str, float] = {}
        dead: list[int] = []
        try:
            f0 = frontends[0]
            with RelayClient(f0.target, plaintext=True, operator_token=f0.operator_token) as op:
                token, _ = op.issue_token("probe")
            device = Device.new()
            clients = {f.proc.pid: RelayClient(f.target, plaintext=True) for f in frontends}
            victim = sequencer_pid(url)
            probe_to = [next(pid for pid in clients if pid != victim)]
            clients[probe_to[0]].enroll(device, token)
            stop = threading.Event()

            def probe() -> None:  # one record at a time, to a frontend that lives on
                while not stop.is_set():
                    device.append(b'{"probe": 1}')
                    clients[probe_to[0]].sync(device)

            t = threading.Thread(target=probe)
            t.start()
            for k in range(kills):
                time.sleep(1.0)  # anchoring under way
                if probe_to[0] == victim:  # the probe's frontend sequences now: move it
                    probe_to[0] = next(pid for pid in clients if pid not in (victim, *dead))
                    time.sleep(0.2)
                dead.append(victim)
                killed_ms = time.time_ns() // 1_000_000
                os.kill(victim, signal.SIGKILL)
                killed = time.perf_counter()
                victim = sequencer_pid(url, not_pid=victim)
                figures[f"kill{k + 1}_election_ms"] = 1000 * (time.perf_counter() - killed)
                seen: dict[str, float] = {}
                deadline = time.perf_counter() + 60
                while "anchor_ms" not in seen and time.perf_counter() < deadline:
                    after = [cp for cp in store.list_checkpoints() if cp.created_ms > killed_ms]
                    now = 1000 * (time.perf_counter() - killed)
                    if after and "checkpoint_ms" not in seen:
                        seen["checkpoint_ms"] = now
                    if any(cp.anchor and cp.anchor.block_number is not None for cp in after):
                        seen["anchor_ms"] = now
                    time.sleep(0.005)
                figures.update({f"kill{k + 1}_{name}": v for name, v in seen.items()})
            stop.set()
            t.join(30)
            for c in clients.values():
                c.close()
        finally:
            store.close()
            for f in frontends:
                if f.proc.poll() is None:
                    f.terminate()
            node.stop()
    return figures


def test_anchoring_failover(benchmark: BenchmarkFixture) -> None:
    result = benchmark.pedantic(_anchoring_failover, rounds=1, iterations=1)
    benchmark.extra_info.update({k: round(v, 1) for k, v in result.items()})
    print({k: round(v, 1) for k, v in result.items()})
