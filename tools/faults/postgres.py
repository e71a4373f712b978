"""A PostgreSQL cluster of a trial's own, and the fault of its server restarted
mid-stream. The machine's shared server (127.0.0.1:5432) is never restarted: the
cluster is made with the machine's ``initdb`` / ``pg_ctl`` in the trial's directory."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .judge import judge
from .trial import BATCH, DEVICES, RECORDS, Trial, fleet, free_port, resync, start_relay, stream

PG_BIN = Path("/usr/lib/postgresql")


@contextmanager
def private_postgres(work: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    """A PostgreSQL cluster of this trial's own (initdb in ``work``), so that restarting it
    never touches the machine's shared server; yields its URL and a restart function."""
    versions = sorted(PG_BIN.glob("*/bin/pg_ctl"))
    if not versions:
        raise RuntimeError("no pg_ctl under /usr/lib/postgresql")
    bin_dir = versions[-1].parent
    data = work / "pgdata"
    port = free_port()
    run_as: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(work, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*run_as, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    ctl = [
        *run_as,
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(work / "pg.log"),
        "-w",
        "-o",
        f"-p {port} -k {work} -c listen_addresses=127.0.0.1",
    ]
    subprocess.run([*ctl, "start"], check=True, capture_output=True)

    def restart_server() -> None:
        subprocess.run([*ctl, "-m", "fast", "restart"], check=True, capture_output=True)

    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", restart_server
    finally:
        subprocess.run([*ctl, "-m", "immediate", "stop"], capture_output=True)


def fault_pg_restart(trial: Trial, rng: random.Random, work: Path, db: str) -> None:
    with private_postgres(work) as (url, restart_pg):
        relay = start_relay(work, url, "--checkpoint-every", "32")
        devices = fleet(relay, rng)
        at = rng.randrange(1, DEVICES * RECORDS // BATCH)
        when = {"t": 0.0}

        def maybe_restart(n: int) -> None:
            if n == at:
                when["t"] = time.monotonic()
                restart_pg()

        stream(relay, devices, maybe_restart)
        trial.recover_s = resync(relay, devices, when["t"] or time.monotonic())
        judge(trial, relay, devices, work)
