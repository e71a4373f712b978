"""The soak (issue 15): a relay under steady load for a long time, anchoring on anvil.

    .venv/bin/python tools/soak.py [--minutes 30] [--rate 5000] [--out bench/soak]

Starts ``hashcore relay serve`` on its defaults (a SQLite file; the embedded anvil chain
for anchoring, confirmations 3) with Prometheus metrics, and two load-generator processes
that enroll devices and stream paced batches at ``--rate`` records/s in all (half the
full-load figure of ``bench/bench_relay.py`` on this machine is the intended setting),
each device keeping its receipts. Every 5 s it samples the relay's RSS (with its anvil
child), the ack latency of the batches acknowledged in the window (p50, p99), and the
queues: records sent and not yet acknowledged, records not yet under a signed checkpoint
and checkpoints not yet anchored (log size minus anchored size).

At the end it stops the relay with SIGTERM (final checkpoint and anchor), exports the
store, audits the export with every device's receipts (it must be clean and complete),
writes ``OUT.csv`` (the samples), ``OUT.json`` (summary) and ``OUT.svg`` (the plot, made
with matplotlib), and prints the summary.
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing as mp
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BATCH = 50
DEVICES_PER_GENERATOR = 160
STREAMS = 8  # per generator process
SAMPLE_S = 5.0
RECORDS_PER_DEVICE = 5_000


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children (the embedded anvil), in MiB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        m = re.search(r"VmRSS:\s+(\d+) kB", status)
        total += int(m.group(1)) if m else 0
    return total / 1024


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (the relay process, not its anvil child)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metrics(url: str) -> dict[str, float]:
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("hashcore_") and " " in line and "{" not in line:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def generator(
    index: int,
    target: str,
    token_file: str,
    rate: float,
    stop_at: float,
    out: str,
    q: Any,
    per_device: int = RECORDS_PER_DEVICE,
) -> None:
    """One load process: enroll devices, then send paced batches over STREAMS streams.

    A phone's diary is bounded; the soak's fleet is too: a device that has made
    ``per_device`` records is retired (its receipts written to ``out`` once every one of
    its records is acknowledged) and a newly enrolled one takes its place, so the load
    generators' memory stays flat however long the soak runs."""
    import pyarrow.parquet as pq
    from hashcore.evidence import receipts_table

    operator = Path(token_file).read_text().strip()
    writer: list[Any] = []  # the ParquetWriter, made with the first table
    write_lock = threading.Lock()

    def write(devices: list[Any]) -> None:
        table = receipts_table(r for d in devices for r in d.receipts())
        with write_lock:
            if not writer:
                writer.append(pq.ParquetWriter(out, table.schema))
            writer[0].write_table(table)

    threads = [
        threading.Thread(
            target=_stream,
            args=(
                f"G{index}-S{k}",
                operator,
                target,
                rate / STREAMS,
                stop_at,
                q,
                write,
                per_device,
            ),
        )
        for k in range(STREAMS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with write_lock:
        if writer:
            writer[0].close()
    q.put(("done", index))


class _Fleet:
    """One stream's devices: the active ones, and the retired ones still owed acks."""

    def __init__(self, name: str, operator: str, target: str, write: Any, per_device: int) -> None:
        from hashcore import RelayClient

        self._per_device = per_device
        self._name, self._write, self._made, self._next = name, write, 0, 0
        self._op = RelayClient(target, plaintext=True, operator_token=operator)
        self._client = RelayClient(target, plaintext=True)
        self.lock = threading.Lock()
        self.active = [self._enroll() for _ in range(DEVICES_PER_GENERATOR // STREAMS)]
        self.by_chain = {d.chain_id: d for d in self.active}
        self.appended: dict[bytes, int] = {d.chain_id: 0 for d in self.active}
        self.owed: dict[bytes, int] = {d.chain_id: 0 for d in self.active}
        self.retiring: set[bytes] = set()

    def _enroll(self) -> Any:
        from hashcore import Device

        token = self._op.issue_token(f"{self._name}-{self._made:06d}")[0]
        self._made += 1
        d = Device.new()
        self._client.enroll(d, token)
        return d

    def batch(self, n: int) -> list[Any]:
        with self.lock:
            out = []
            for k in range(n):
                d = self.active[(self._next + k) % len(self.active)]
                out.append(d.append(b'{"n":%d,"tst_min":420}' % k))
                self.appended[d.chain_id] += 1
                self.owed[d.chain_id] += 1
            self._next += n
            for i, d in enumerate(self.active):
                if self.appended[d.chain_id] >= self._per_device:
                    self.retiring.add(d.chain_id)
                    self.active[i] = fresh = self._enroll()
                    self.by_chain[fresh.chain_id] = fresh
                    self.appended[fresh.chain_id] = self.owed[fresh.chain_id] = 0
            return out

    def acked(self, acks: list[Any]) -> None:
        done = []
        with self.lock:
            for a in acks:
                d = self.by_chain[a.chain_id]
                d.accept_acks([(a.seq, a.log_index, a.received_ms, a.receipt_sig)])
                self.owed[a.chain_id] -= 1
                if a.chain_id in self.retiring and self.owed[a.chain_id] == 0:
                    self.retiring.discard(a.chain_id)
                    done.append(self.by_chain.pop(a.chain_id))
                    del self.owed[a.chain_id], self.appended[a.chain_id]
        if done:
            self._write(done)

    def close(self) -> None:
        """Write every device still held (the stream has ended: every ack is in)."""
        with self.lock:
            rest = list(self.by_chain.values())
            self.by_chain.clear()
        self._write(rest)
        self._op.close()
        self._client.close()


def _stream(
    name: str,
    operator: str,
    target: str,
    rate: float,
    stop_at: float,
    q: Any,
    write: Any,
    per_device: int,
) -> None:
    from hashcore import RelayClient

    fleet = _Fleet(name, operator, target, write, per_device)
    interval = BATCH / rate
    sent_at: dict[int, float] = {}

    def batches() -> Iterator[list[Any]]:
        n = 0
        next_at = time.monotonic()
        while time.monotonic() < stop_at:
            batch = fleet.batch(BATCH)
            now = time.monotonic()
            if next_at > now:
                time.sleep(next_at - now)
            next_at += interval
            sent_at[n] = time.monotonic()
            n += 1
            q.put(("sent", len(batch)))
            yield batch

    with RelayClient(target, plaintext=True) as client:
        for i, acks in enumerate(client.stream(batches())):
            q.put(("acked", len(acks), (time.monotonic() - sent_at.pop(i)) * 1000))
            fleet.acked(acks)
    fleet.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=5000.0, help="records/s in all")
    parser.add_argument("--out", type=Path, default=Path("bench/soak"))
    parser.add_argument(
        "--records-per-device",
        type=int,
        default=RECORDS_PER_DEVICE,
        help="a device is retired and a new one enrolled after this many records",
    )
    parser.add_argument(
        "--audit-max-records",
        type=int,
        default=8_000_000,
        help="audit the export with every receipt only up to this many records (the "
        "in-memory audit needs ~2.4x the bundle in RAM); above it, check the counts only",
    )
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="hashcore-soak-"))
    db = work / "relay.db"
    cmd = [
        sys.executable, "-m", "hashcore.cli", "relay", "serve", "--db", str(db),
        "--listen", "127.0.0.1:0", "--plaintext", "--origin", "relay.soak.example/trial",
        "--key-dir", str(work), "--metrics", "127.0.0.1:0", "--enroll-rate", "1000",
        "--enroll-burst", "1000", "--anchor-interval", "10",
    ]  # fmt: skip
    relay = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert relay.stdout is not None
    port = metrics_port = None
    while port is None or metrics_port is None:
        line = relay.stdout.readline()
        if not line:
            raise SystemExit(f"relay exited: {relay.stderr.read() if relay.stderr else ''}")
        if m := re.search(r"metrics on .*:(\d+)", line):
            metrics_port = int(m.group(1))
        elif m := re.search(r"listening on .*:(\d+)$", line.strip()):
            port = int(m.group(1))
    threading.Thread(target=relay.stdout.read, daemon=True).start()
    threading.Thread(target=relay.stderr.read, daemon=True).start()  # type: ignore[union-attr]
    target = f"127.0.0.1:{port}"
    murl = f"http://127.0.0.1:{metrics_port}/metrics"

    start = time.monotonic()
    stop_at = start + args.minutes * 60
    q: Any = mp.Queue()
    parts = [work / f"receipts-{i}.parquet" for i in range(2)]
    procs = [
        mp.Process(
            target=generator,
            args=(
                i,
                target,
                str(work / "relay.operator-token"),
                args.rate / 2,
                stop_at,
                str(p),
                q,
                args.records_per_device,
            ),
        )
        for i, p in enumerate(parts)
    ]
    for p in procs:
        p.start()

    samples: list[dict[str, float]] = []
    in_flight = acked_total = 0
    window: list[float] = []
    done = 0
    next_sample = time.monotonic() + SAMPLE_S
    last_cpu = cpu_s(relay.pid)
    while done < len(procs):
        if any(p.exitcode not in (None, 0) for p in procs):
            raise SystemExit("a load generator failed (its traceback is above)")
        try:
            msg = q.get(timeout=0.5)
            if msg[0] == "sent":
                in_flight += msg[1]
            elif msg[0] == "acked":
                in_flight -= msg[1]
                acked_total += msg[1]
                window.append(msg[2])
            else:
                done += 1
        except Exception:  # queue.Empty: just sample
            pass
        if time.monotonic() >= next_sample:
            next_sample += SAMPLE_S
            seen = metrics(murl)
            window.sort()
            log_size = seen.get("hashcore_relay_log_size", 0.0)
            cpu = cpu_s(relay.pid)
            relay_cpu, last_cpu = (cpu - last_cpu) / SAMPLE_S, cpu
            samples.append(
                {
                    "t_s": round(time.monotonic() - start, 1),
                    "rss_mb": round(rss_mb(relay.pid), 1),
                    "acked_per_s": round(len(window) * BATCH / SAMPLE_S, 1),
                    "p50_ms": round(window[len(window) // 2], 2) if window else 0.0,
                    "p99_ms": round(window[int(len(window) * 0.99)], 2) if window else 0.0,
                    "in_flight": in_flight,
                    "unsigned": log_size - seen.get("hashcore_relay_checkpoint_tree_size", 0.0),
                    "unanchored": log_size - seen.get("hashcore_relay_anchored_tree_size", 0.0),
                    # The machine is shared: what else ran beside the soak shows here.
                    "relay_cpu": round(relay_cpu, 3),
                    "load1": os.getloadavg()[0],
                }
            )
            window = []
            print(json.dumps(samples[-1]), flush=True)
    for p in procs:
        p.join(60)

    relay.send_signal(signal.SIGTERM)
    relay.wait(300)
    import pyarrow.parquet as pq
    from hashcore import audit_bundle
    from hashcore.relay.export import export_bundle

    result = export_bundle(str(db), work / "bundle")
    codes: dict[str, int] = {}
    audited = result.tree_size <= args.audit_max_records
    clean = True
    if audited:
        receipts = [pq.read_table(p) for p in parts]
        report = audit_bundle(work / "bundle", receipts=receipts)
        clean = bool(report.clean)
        for v in report.receipts:
            codes[v.code] = codes.get(v.code, 0) + 1
    else:
        held = sum(pq.ParquetFile(p).metadata.num_rows for p in parts)
        codes["RECEIPT_HELD_NOT_AUDITED"] = held
        print(f"{result.tree_size:,} records: over --audit-max-records, counts only", flush=True)
    summary = {
        "minutes": args.minutes,
        "rate_offered": args.rate,
        "acked": acked_total,
        "exported": result.tree_size,
        "left_out": result.left_out,
        "audited": audited,
        "audit_clean": clean if audited else None,
        "receipts": codes,
        "rss_mb_first_last_max": [samples[0]["rss_mb"], samples[-1]["rss_mb"],
                                  max(s["rss_mb"] for s in samples)] if samples else [],
        "p99_ms_max": max((s["p99_ms"] for s in samples), default=0.0),
        "p99_ms_median": sorted(s["p99_ms"] for s in samples)[len(samples) // 2]
        if samples else 0.0,
        "relay_cpu_mean": round(sum(s["relay_cpu"] for s in samples) / len(samples), 3)
        if samples else 0.0,
        "load1_min_max": [min(s["load1"] for s in samples), max(s["load1"] for s in samples)]
        if samples else [],
        "machine": f"{os.cpu_count()} cores; {os.uname().release}",
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out.with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(samples[0]) if samples else ["t_s"])
        w.writeheader()
        w.writerows(samples)
    args.out.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    plot(samples, args.out.with_suffix(".svg"), args)
    print(json.dumps(summary, indent=1))
    # Every receipt a device holds (its genesis's included) is RECEIPT_OK, nothing left out.
    if not audited:  # every ack a device holds is in the export: the counts must agree
        return 0 if result.left_out == 0 and result.tree_size == held else 1
    complete = set(codes) == {"RECEIPT_OK"} and result.left_out == 0
    return 0 if clean and complete else 1


def plot(samples: list[dict[str, float]], out: Path, args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    t = [s["t_s"] / 60 for s in samples]
    fig, (a, b, c, d) = plt.subplots(4, 1, figsize=(8, 9), sharex=True)
    a.plot(t, [s["rss_mb"] for s in samples], label="relay + anvil RSS")
    a.set_ylabel("MiB")
    a.legend(loc="upper left")
    b.plot(t, [s["p50_ms"] for s in samples], label="ack p50")
    b.plot(t, [s["p99_ms"] for s in samples], label="ack p99")
    b.set_ylabel("ms (log scale)")
    b.set_yscale("log")
    b.legend(loc="upper left")
    c.plot(t, [s["in_flight"] for s in samples], label="sent, not acked")
    c.plot(t, [s["unsigned"] for s in samples], label="not under a checkpoint")
    c.plot(t, [s["unanchored"] for s in samples], label="not anchored")
    c.set_ylabel("records")
    c.legend(loc="upper left")
    d.plot(t, [s["relay_cpu"] for s in samples], label="relay process CPU (cores)")
    d.plot(t, [s["load1"] for s in samples], label="machine load average (1 min)")
    d.set_ylabel("cores")
    d.set_xlabel("minutes")
    d.legend(loc="upper left")
    fig.suptitle(f"hashcore relay soak: {args.rate:.0f} records/s offered, SQLite, anvil")
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    raise SystemExit(main())
