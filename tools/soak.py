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
from pathlib import Path
from typing import Any

BATCH = 50
DEVICES_PER_GENERATOR = 160
STREAMS = 8  # per generator process
SAMPLE_S = 5.0


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


def metrics(url: str) -> dict[str, float]:
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("hashcore_") and " " in line and "{" not in line:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def generator(
    index: int, target: str, token_file: str, rate: float, stop_at: float, out: str, q: Any
) -> None:
    """One load process: enroll devices, then send paced batches over one Submit stream."""
    import pyarrow.parquet as pq
    from hashcore import Device, RelayClient
    from hashcore.evidence import receipts_table

    operator = Path(token_file).read_text().strip()
    devices = []
    with RelayClient(target, plaintext=True, operator_token=operator) as op:
        tokens = [op.issue_token(f"G{index}-{i:04d}")[0] for i in range(DEVICES_PER_GENERATOR)]
    with RelayClient(target, plaintext=True) as client:
        for token in tokens:
            d = Device.new()
            client.enroll(d, token)
            devices.append(d)
    by_chain = {d.chain_id: d for d in devices}
    lock = threading.Lock()
    # Several streams, as a fleet of phones is: the relay answers each stream's batches in
    # order, so one stream would measure its round trip, not the relay.
    groups = [devices[k::STREAMS] for k in range(STREAMS)]
    threads = [
        threading.Thread(
            target=_stream, args=(g, by_chain, lock, target, rate / STREAMS, stop_at, q)
        )
        for g in groups
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pq.write_table(receipts_table(r for d in devices for r in d.receipts()), out)
    q.put(("done", index))


def _stream(
    devices: list[Any],
    by_chain: dict[bytes, Any],
    lock: threading.Lock,
    target: str,
    rate: float,
    stop_at: float,
    q: Any,
) -> None:
    from hashcore import RelayClient

    interval = BATCH / rate
    sent_at: dict[int, float] = {}

    def batches():  # type: ignore[no-untyped-def]
        n = 0
        next_at = time.monotonic()
        while time.monotonic() < stop_at:
            with lock:  # the receipts are taken under this lock by the reading side
                batch = [
                    devices[(n + k) % len(devices)].append(b'{"n":%d,"tst_min":420}' % (n + k))
                    for k in range(BATCH)
                ]
            n += BATCH
            now = time.monotonic()
            if next_at > now:
                time.sleep(next_at - now)
            next_at += interval
            sent_at[n // BATCH - 1] = time.monotonic()
            q.put(("sent", len(batch)))
            yield batch

    with RelayClient(target, plaintext=True) as client:
        for i, acks in enumerate(client.stream(batches())):
            q.put(("acked", len(acks), (time.monotonic() - sent_at.pop(i)) * 1000))
            with lock:
                for a in acks:
                    by_chain[a.chain_id].accept_acks(
                        [(a.seq, a.log_index, a.received_ms, a.receipt_sig)]
                    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=5000.0, help="records/s in all")
    parser.add_argument("--out", type=Path, default=Path("bench/soak"))
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
            args=(i, target, str(work / "relay.operator-token"), args.rate / 2, stop_at, str(p), q),
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
            m = metrics(murl)
            window.sort()
            log_size = m.get("hashcore_relay_log_size", 0.0)
            samples.append(
                {
                    "t_s": round(time.monotonic() - start, 1),
                    "rss_mb": round(rss_mb(relay.pid), 1),
                    "acked_per_s": round(len(window) * BATCH / SAMPLE_S, 1),
                    "p50_ms": round(window[len(window) // 2], 2) if window else 0.0,
                    "p99_ms": round(window[int(len(window) * 0.99)], 2) if window else 0.0,
                    "in_flight": in_flight,
                    "unsigned": log_size - m.get("hashcore_relay_checkpoint_tree_size", 0.0),
                    "unanchored": log_size - m.get("hashcore_relay_anchored_tree_size", 0.0),
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
    receipts = [pq.read_table(p) for p in parts]
    report = audit_bundle(work / "bundle", receipts=receipts)
    codes: dict[str, int] = {}
    for v in report.receipts:  # type: ignore[union-attr]
        codes[v.code] = codes.get(v.code, 0) + 1
    summary = {
        "minutes": args.minutes,
        "rate_offered": args.rate,
        "acked": acked_total,
        "exported": result.tree_size,
        "left_out": result.left_out,
        "audit_clean": bool(report.clean),
        "receipts": codes,
        "rss_mb_first_last_max": [samples[0]["rss_mb"], samples[-1]["rss_mb"],
                                  max(s["rss_mb"] for s in samples)] if samples else [],
        "p99_ms_max": max((s["p99_ms"] for s in samples), default=0.0),
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
    complete = set(codes) == {"RECEIPT_OK"} and result.left_out == 0
    return 0 if report.clean and complete else 1


def plot(samples: list[dict[str, float]], out: Path, args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    t = [s["t_s"] / 60 for s in samples]
    fig, (a, b, c) = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    a.plot(t, [s["rss_mb"] for s in samples], label="relay + anvil RSS")
    a.set_ylabel("MiB")
    a.legend(loc="upper left")
    b.plot(t, [s["p50_ms"] for s in samples], label="ack p50")
    b.plot(t, [s["p99_ms"] for s in samples], label="ack p99")
    b.set_ylabel("ms")
    b.legend(loc="upper left")
    c.plot(t, [s["in_flight"] for s in samples], label="sent, not acked")
    c.plot(t, [s["unsigned"] for s in samples], label="not under a checkpoint")
    c.plot(t, [s["unanchored"] for s in samples], label="not anchored")
    c.set_ylabel("records")
    c.set_xlabel("minutes")
    c.legend(loc="upper left")
    fig.suptitle(f"hashcore relay soak: {args.rate:.0f} records/s offered, SQLite, anvil")
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    raise SystemExit(main())
