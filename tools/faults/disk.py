"""The fault of a full disk: the SQLite store on a small tmpfs (root only) that a filler
file takes every free byte of at a random point mid-stream. The relay refuses batches with
RESOURCE_EXHAUSTED (nothing acknowledged is lost), the filler is removed after 0.3-1.5 s,
the devices resync; **recover** is from the space coming back to the first ack."""

from __future__ import annotations

import errno
import os
import random
import subprocess
import time
from pathlib import Path

from .judge import export_and_audit
from .trial import BATCH, DEVICES, RECORDS, Trial, fleet, resync, start_relay, stream


def fault_disk_full(trial: Trial, rng: random.Random, work: Path, db: str) -> None:
    disk = work / "disk"
    disk.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(disk)], check=True
    )
    try:
        relay = start_relay(work, str(disk / "relay.db"), "--checkpoint-every", "16")
        devices = fleet(relay, rng)
        at = rng.randrange(1, DEVICES * RECORDS // BATCH)
        filler = disk / "filler"

        def fill(n: int) -> None:
            if n != at:
                return
            with open(filler, "wb", buffering=0) as fh:
                while True:
                    try:
                        fh.write(b"\0" * 65536)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
            os.sync()

        stream(relay, devices, fill)  # ends at the first refused batch
        refused = sum(len(d.unsent()) for d in devices)
        time.sleep(rng.uniform(0.3, 1.5))
        filler.unlink(missing_ok=True)
        trial.recover_s = resync(relay, devices, time.monotonic())
        trial.note += f" {refused} records refused while full;"
        report = export_and_audit(trial, relay, devices, work)
        trial.clean = report is not None and bool(report.clean)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
