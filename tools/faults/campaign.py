"""The campaign: which faults run on which store, the trial loop, the table, the command
line (``tools/fault_campaign.py`` is its entry point and says what each fault is)."""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from .disk import fault_disk_full
from .evm import fault_evm_reorg, fault_evm_stop
from .kill import fault_checkpoint, fault_export, fault_ingest
from .postgres import fault_pg_restart
from .trial import Trial
from .witness import fault_witness_down

FAULTS = (
    "ingest", "checkpoint", "export", "pg-restart", "evm-stop",
    "disk-full", "evm-reorg", "witness-down",
)  # fmt: skip

RUN: dict[str, Callable[[Trial, random.Random, Path, str], None]] = {
    "ingest": fault_ingest,
    "checkpoint": fault_checkpoint,
    "export": fault_export,
    "pg-restart": fault_pg_restart,
    "evm-stop": fault_evm_stop,
    "disk-full": fault_disk_full,
    "evm-reorg": fault_evm_reorg,
    "witness-down": fault_witness_down,
}
#: Faults that run on one store only (the server restarted is PostgreSQL's).
ONE_BACKEND = {"pg-restart": "postgres"}
#: Faults that bring a PostgreSQL cluster of their own (never the shared server's
#: databases: restarting it, filling its disk) when run on PostgreSQL.
OWN_CLUSTER = {"pg-restart", "disk-full"}
#: Databases on the shared server are named so (and dropped after each trial).
DB_PREFIX = "hc_faults_"


@contextmanager
def backend_db(backend: str, work: Path, name: str, own_cluster: bool = False) -> Iterator[str]:
    if backend == "sqlite":
        yield str(work / "relay.db")
        return
    if own_cluster:
        yield ""  # the fault makes its cluster, and its URL
        return
    import psycopg

    admin = "postgresql://127.0.0.1:5432/test"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(faults: list[str], backends: list[str], trials: int, seed: int) -> list[Trial]:
    results = []
    for fault in faults:
        for backend in [ONE_BACKEND[fault]] if fault in ONE_BACKEND else backends:
            for i in range(trials):
                rng = random.Random(f"{seed}/{fault}/{backend}/{i}")
                trial = Trial(fault, backend, i)
                with tempfile.TemporaryDirectory(prefix="hashcore-fault-") as tmp:
                    work = Path(tmp)
                    name = f"{DB_PREFIX}{os.getpid()}_{fault.replace('-', '_')}_{i}"
                    try:
                        with backend_db(backend, work, name, fault in OWN_CLUSTER) as db:
                            RUN[fault](trial, rng, work, db)
                    except Exception as exc:
                        trial.note += f" trial failed: {type(exc).__name__}: {str(exc)[:200]};"
                        trial.lost = max(trial.lost, trial.acked)
                results.append(trial)
                print(
                    f"{fault:>11} {backend:>8} #{i:<3} acked {trial.acked:4} lost {trial.lost} "
                    f"dup {trial.dup} clean {trial.clean} "
                    f"recover {trial.recover_s or 0:.2f}s{trial.note}",
                    flush=True,
                )
    return results


def table(results: list[Trial]) -> str:
    rows = [
        "| fault | store | trials | acknowledged | lost | stored twice | unclean "
        "| recover p50 / max (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str], list[Trial]] = {}
    for t in results:
        groups.setdefault((t.fault, t.backend), []).append(t)
    for (fault, backend), ts in groups.items():
        rec = sorted(t.recover_s for t in ts if t.recover_s is not None)
        p50 = f"{rec[len(rec) // 2]:.2f} / {rec[-1]:.2f}" if rec else "-"
        rows.append(
            f"| {fault} | {backend} | {len(ts)} | {sum(t.acked for t in ts)} | "
            f"{sum(t.lost for t in ts)} | {sum(t.dup for t in ts)} | "
            f"{sum(not t.clean for t in ts)} | {p50} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None, description: str = "") -> int:
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100, help="trials per fault and store")
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    faults = [f for f in args.faults.split(",") if f]
    unknown = sorted(set(faults) - set(FAULTS))
    if unknown or args.trials < 1:
        parser.error(f"unknown faults {unknown}" if unknown else "--trials must be >= 1")
    # A campaign stopped with SIGTERM still stops its clusters and unmounts its disks
    # (the trials' finally blocks run); SIGINT already does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = run(faults, [b for b in args.backends.split(",") if b], args.trials, args.seed)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(t) for t in results], indent=1))
    return 0 if all(t.lost == 0 and t.dup == 0 for t in results) else 1
