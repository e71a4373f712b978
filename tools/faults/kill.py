"""kill -9 faults: of the relay while it ingests, of the relay while it signs
checkpoints, of ``hashcore relay export`` while it writes."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from contextlib import suppress
from pathlib import Path

from hashcore import RelayClient, RelayError, audit_bundle
from hashcore.audit.v2_report import AuditReportV2
from hashcore.errors import BundleError, HashcoreError
from hashcore.evidence import receipts_table
from hashcore.relay.client import RetryPolicy

from .judge import judge
from .trial import BATCH, DEVICES, RECORDS, Trial, fleet, restart, resync, start_relay, stream


def fault_ingest(trial: Trial, rng: random.Random, work: Path, db: str) -> None:
    relay = start_relay(work, db, "--checkpoint-every", str(rng.choice([8, 32, 64])))
    devices = fleet(relay, rng)
    kill_after = rng.randrange(1, DEVICES * RECORDS // BATCH)
    killed = {"at": 0.0}

    def maybe_kill(n: int) -> None:
        if n == kill_after:
            relay.kill9()
            killed["at"] = time.monotonic()

    stream(relay, devices, maybe_kill)
    if not killed["at"]:
        relay.kill9()
        killed["at"] = time.monotonic()
    relay = restart(relay)
    trial.recover_s = resync(relay, devices, killed["at"])
    judge(trial, relay, devices, work)


def fault_checkpoint(trial: Trial, rng: random.Random, work: Path, db: str) -> None:
    relay = start_relay(work, db, "--checkpoint-every", "1", "--checkpoint-interval", "1")
    devices = fleet(relay, rng)
    stop = threading.Event()

    def operator() -> None:
        with RelayClient(
            relay.target,
            plaintext=True,
            operator_token=relay.operator_token,
            retry=RetryPolicy(attempts=1),
        ) as op:
            while not stop.is_set():
                with suppress(RelayError):
                    op.create_checkpoint()

    worker = threading.Thread(target=operator, daemon=True)
    worker.start()
    timer = threading.Timer(rng.uniform(0.05, 1.5), relay.kill9)
    timer.start()
    stream(relay, devices, lambda n: None)
    timer.join()
    killed = time.monotonic()
    stop.set()
    worker.join(30)
    relay = restart(relay)
    trial.recover_s = resync(relay, devices, killed)
    judge(trial, relay, devices, work)


def fault_export(trial: Trial, rng: random.Random, work: Path, db: str) -> None:
    relay = start_relay(work, db, "--checkpoint-every", "16")
    devices = fleet(relay, rng)
    stream(relay, devices, lambda n: None)
    relay.terminate()
    half = work / "half"
    exporter = [
        sys.executable,
        "-m",
        "hashcore.cli",
        "relay",
        "export",
        "--db",
        db,
        "--out",
        str(half),
    ]
    proc = subprocess.Popen(exporter, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Kill while it writes: once the bundle directory appears, within a few milliseconds
    # (the store is small, so the write window is short); a quarter of the trials earlier.
    if rng.random() < 0.25:
        time.sleep(rng.uniform(0.0, 1.0))
    else:
        deadline = time.monotonic() + 30
        while not half.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.03))
    with suppress(ProcessLookupError):
        proc.send_signal(signal.SIGKILL)
    finished = proc.wait(60) == 0
    if half.exists():
        try:
            report = audit_bundle(
                half, receipts=[receipts_table(r for d in devices for r in d.receipts())]
            )
            assert isinstance(report, AuditReportV2)
            codes = {v.code for v in report.receipts}
            if report.clean and codes != {"RECEIPT_OK"}:
                trial.note += " half export audits clean but leaves receipts out;"
                trial.lost = sum(v.code != "RECEIPT_OK" for v in report.receipts)
            state = "clean" if report.clean else "not clean"
            trial.note += f" half export readable ({state}), " + (
                "finished;" if finished else "killed;"
            )
        except (BundleError, HashcoreError):
            trial.note += " half export refused;"
    else:
        trial.note += " nothing written;"
    started = time.monotonic()
    relay = restart(relay)
    trial.recover_s = resync(relay, devices, started)
    lost_before = trial.lost
    judge(trial, relay, devices, work)
    trial.lost += lost_before
