"""The fault of a full disk: the store on a small tmpfs of the trial's own (root only)
that a filler file takes every free byte of at a random point mid-stream. The relay
refuses batches (RESOURCE_EXHAUSTED; nothing acknowledged is lost), the filler is removed
after 0.3-1.5 s, the devices resync; **recover** is from the space coming back to the
first ack.

On SQLite the tmpfs holds the store's file. On PostgreSQL it holds the data directory of
a private cluster (``postgres.py``; the shared server's disk is never touched), and in
half the trials the WAL is also switched to a new segment while the disk is full, and a
commit made that needs it: the server cannot create the file, PANICs instead of refusing
one statement, fails its crash recovery for the same reason and shuts down; once the space
is back the trial starts it again as an operator would (the note says so) and that start
counts in **recover**.
"""

from __future__ import annotations

import errno
import os
import pwd
import random
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from .judge import export_and_audit
from .postgres import Cluster, private_postgres
from .trial import BATCH, DEVICES, RECORDS, Trial, fleet, resync, start_relay, stream, until

#: A fresh cluster (initdb) takes 39 MB, its first WAL segment 16 MB of it.
PG_DISK = "64m"


@contextmanager
def small_disk(path: Path, size: str, owner: str | None = None) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``path`` (owned by ``owner``), unmounted at the end."""
    path.mkdir()
    options = f"size={size},mode=0700"
    if owner:
        user = pwd.getpwnam(owner)
        options += f",uid={user.pw_uid},gid={user.pw_gid}"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(filler: Path) -> None:
    with open(filler, "wb", buffering=0) as fh:
        while True:
            try:
                fh.write(b"\0" * 65536)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    os.sync()


def fault_disk_full(trial: Trial, rng: random.Random, work: Path, db: str) -> None:
    if trial.backend == "postgres":
        _disk_full_postgres(trial, rng, work)
        return
    with small_disk(work / "disk", "6m") as disk:
        relay = start_relay(work, str(disk / "relay.db"), "--checkpoint-every", "16")
        devices = fleet(relay, rng)
        at = rng.randrange(1, DEVICES * RECORDS // BATCH)
        filler = disk / "filler"

        def fill(n: int) -> None:
            if n == at:
                _fill(filler)

        stream(relay, devices, fill)  # ends at the first refused batch
        refused = sum(len(d.unsent()) for d in devices)
        time.sleep(rng.uniform(0.3, 1.5))
        filler.unlink(missing_ok=True)
        trial.recover_s = resync(relay, devices, time.monotonic())
        trial.note += f" {refused} records refused while full;"
        report = export_and_audit(trial, relay, devices, work)
        trial.clean = report is not None and bool(report.clean)


def _probe(cluster: Cluster, *sql: str) -> None:
    """Statements on a table of the trial's own (schema ``fault``, beside the relay's)."""
    import psycopg

    with suppress(psycopg.Error), psycopg.connect(cluster.url, autocommit=True) as conn:
        for statement in sql:
            conn.execute(statement)


def _switch_wal(cluster: Cluster) -> None:
    """A new WAL segment, and a commit that needs it: a file the full disk cannot hold.
    The row goes into a page the probe table already has, so the commit does not first
    fail on a new data page (as the relay's batches do, with a plain ERROR)."""
    _probe(cluster, "SELECT pg_switch_wal()", "INSERT INTO fault.probe VALUES (2)")


def _accepting(cluster: Cluster) -> bool:
    import psycopg

    try:
        with psycopg.connect(cluster.url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _disk_full_postgres(trial: Trial, rng: random.Random, work: Path) -> None:
    with (
        small_disk(work / "disk", PG_DISK, owner="postgres") as disk,
        private_postgres(work, disk / "pgdata") as cluster,
    ):
        _probe(cluster, "CREATE SCHEMA fault", "CREATE TABLE fault.probe (x int)",
               "INSERT INTO fault.probe VALUES (1)")  # fmt: skip
        relay = start_relay(work, cluster.url, "--checkpoint-every", "16")
        devices = fleet(relay, rng)
        at = rng.randrange(1, DEVICES * RECORDS // BATCH)
        wal = rng.random() < 0.5
        filler = disk / "filler"

        def fill(n: int) -> None:
            if n == at:
                _fill(filler)
                if wal:
                    _switch_wal(cluster)

        stream(relay, devices, fill)  # ends at the first refused batch
        refused = sum(len(d.unsent()) for d in devices)
        time.sleep(rng.uniform(0.3, 1.5))
        filler.unlink(missing_ok=True)
        freed = time.monotonic()
        # A server that PANICked on the WAL retries its crash recovery, which fails while
        # the disk is full and then stops the server: wait for either, start it if down.
        until(lambda: _accepting(cluster) or not cluster.running(), 30)
        started = not cluster.running()
        if started:
            cluster.start()
        trial.recover_s = resync(relay, devices, freed)
        trial.note += (
            f" {refused} records refused while full"
            f"{', WAL switched' if wal else ''}"
            f"{'; the server had stopped and was started again' if started else ''};"
        )
        report = export_and_audit(trial, relay, devices, work)
        trial.clean = report is not None and bool(report.clean)
        log = (work / "pg.log").read_text(errors="replace")
        trial.note += (
            f" server log: {log.count('No space left on device')} x no space, "
            f"{log.count('PANIC:')} x PANIC;"
        )
