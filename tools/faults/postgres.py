"""A PostgreSQL cluster of a trial's own, and the fault of its server restarted
mid-stream. The machine's shared server (127.0.0.1:5432) is never restarted: the
cluster is made with the machine's ``initdb`` / ``pg_ctl`` in the trial's directory
(or, for a full disk, on a small filesystem of the trial's own: ``disk.py``)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .judge import judge
from .trial import BATCH, DEVICES, RECORDS, Trial, fleet, free_port, resync, start_relay, stream

PG_BIN = Path("/usr/lib/postgresql")


class Cluster:
    """``pg_ctl`` for one private cluster (data in ``data``, log and socket in ``work``),
    run as the postgres user when we are root (PostgreSQL refuses to run as root)."""

    def __init__(self, work: Path, data: Path) -> None:
        versions = sorted(PG_BIN.glob("*/bin/pg_ctl"))
        if not versions:
            raise RuntimeError("no pg_ctl under /usr/lib/postgresql")
        self.bin_dir = versions[-1].parent
        self.data = data
        self.port = free_port()
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(work, "postgres")
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self.ctl = [
            *self.run_as,
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(work / "pg.log"),
            "-w",
            "-o",
            f"-p {self.port} -k {work} -c listen_addresses=127.0.0.1",
        ]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def initdb(self) -> None:
        subprocess.run(
            [*self.run_as, str(self.bin_dir / "initdb"), "-D", str(self.data), "-A", "trust",
             "-U", "postgres"],
            check=True, capture_output=True,
        )  # fmt: skip

    def start(self) -> None:
        subprocess.run([*self.ctl, "start"], check=True, capture_output=True)

    def restart(self) -> None:
        subprocess.run([*self.ctl, "-m", "fast", "restart"], check=True, capture_output=True)

    def running(self) -> bool:
        return subprocess.run([*self.ctl, "status"], capture_output=True).returncode == 0

    def stop(self) -> None:
        subprocess.run([*self.ctl, "-m", "immediate", "stop"], capture_output=True)


@contextmanager
def private_postgres(work: Path, data: Path | None = None) -> Iterator[Cluster]:
    """A PostgreSQL cluster of this trial's own (initdb in ``data``, by default
    ``work/pgdata``), started, and stopped at the end whatever happened."""
    cluster = Cluster(work, data or work / "pgdata")
    cluster.initdb()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def fault_pg_restart(trial: Trial, rng: random.Random, work: Path, db: str) -> None:
    with private_postgres(work) as cluster:
        relay = start_relay(work, cluster.url, "--checkpoint-every", "32")
        devices = fleet(relay, rng)
        at = rng.randrange(1, DEVICES * RECORDS // BATCH)
        when = {"t": 0.0}

        def maybe_restart(n: int) -> None:
            if n == at:
                when["t"] = time.monotonic()
                cluster.restart()

        stream(relay, devices, maybe_restart)
        trial.recover_s = resync(relay, devices, when["t"] or time.monotonic())
        judge(trial, relay, devices, work)
