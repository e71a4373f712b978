"""The v2 audit on Dask (issue 12): one bundle audited in the same run by the in-memory
audit, the local streamed runner, and a local Dask cluster of 1 and of 2 worker processes
(TCP on loopback), each as wall time and records/s, with the ratio to the in-memory audit
(the overhead of distribution). The local runner's tasks are timed one by one (CPU time
of the scan, log (with the receipts of the part's positions) and judge tasks per record,
the driver's combine, the bytes the shuffle moves per record): the inputs of the scaling
model in BENCHMARKS.md. The bundle carries a receipt for every record.

The bundle: HASHCORE_BENCH_DASK_DEVICES x HASHCORE_BENCH_DASK_RECORDS (default 200 x 500
= 100,000 records) in parts of HASHCORE_BENCH_DASK_PART_ROWS (10,000), made once into
.benchmarks/data/. Run: ``.venv/bin/python -m pytest bench/bench_dask.py -q -s``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hashcore.audit.dask_runner import DaskRunner
from hashcore.audit.partitioned import audit_bundle_partitioned
from hashcore.audit.plan_runners import LocalRunner
from hashcore.audit.plan_tasks import JudgeContext, LogRequest, PartRef
from hashcore.audit.v2_bundle import audit_bundle_v2
from hashcore.sim.sample import make_sample

DEVICES = int(os.environ.get("HASHCORE_BENCH_DASK_DEVICES", "200"))
RECORDS = int(os.environ.get("HASHCORE_BENCH_DASK_RECORDS", "500"))
PART_ROWS = int(os.environ.get("HASHCORE_BENCH_DASK_PART_ROWS", "10000"))
CACHE = Path(__file__).resolve().parents[1] / ".benchmarks" / "data"
CORES = len(os.sched_getaffinity(0))


def _bundle() -> tuple[Path, Path]:
    path = CACHE / f"dask-v2-{DEVICES}x{RECORDS}-p{PART_ROWS}"
    policy = path.with_suffix(".policy.json")
    if not (path / "manifest.json").exists():
        make_sample(
            path,
            devices=DEVICES,
            records=RECORDS,
            seed=2026,
            checkpoint_every=1000,
            part_rows=PART_ROWS,
            witnesses=1,
            policy_path=policy,
        )
    return path, policy


class TimedRunner(LocalRunner):
    """The local runner with each task's CPU time (process time: all its threads)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.cpu: dict[str, float] = {"scan": 0.0, "log": 0.0, "judge": 0.0}
        self.shard_bytes = 0

    def _timed(self, what: str, f: Callable[[], Any]) -> Any:
        start = time.process_time()
        out = f()
        self.cpu[what] += time.process_time() - start
        return out

    def scan(self, parts: Sequence[PartRef], buckets: int, sizes: list[int]) -> Any:
        out = self._timed("scan", lambda: super(TimedRunner, self).scan(parts, buckets, sizes))
        self.shard_bytes = sum(f.stat().st_size for files in self._files for f in files)
        return out

    def log(self, parts: Sequence[PartRef], requests: Sequence[LogRequest]) -> Any:
        return self._timed("log", lambda: super(TimedRunner, self).log(parts, requests))

    def judge(self, buckets: int, ctx: JudgeContext) -> Any:
        return self._timed("judge", lambda: super(TimedRunner, self).judge(buckets, ctx))


def _wall(f: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = f()
    return time.perf_counter() - start, out


@pytest.mark.benchmark(group="dask")
def test_audit_on_dask_against_one_process() -> None:
    distributed = pytest.importorskip("distributed")
    bundle, policy = _bundle()
    threads = CORES
    results: dict[str, Any] = {"cores": CORES, "load_1m_before": os.getloadavg()[0]}
    cpu0 = time.process_time()
    wall, want = _wall(lambda: audit_bundle_v2(bundle, policy=policy, threads=threads))
    results["in_memory"] = {"wall_s": wall, "cpu_s": time.process_time() - cpu0}
    n = want.records
    assert want.clean
    timed = TimedRunner(threads=threads)
    with timed:
        cpu0 = time.process_time()
        wall, got = _wall(lambda: audit_bundle_partitioned(bundle, timed, policy=policy))
        total_cpu = time.process_time() - cpu0
    assert got.to_json() == want.to_json()
    parts = len(list((bundle / "records").glob("*.parquet")))
    results["local_streamed"] = {
        "wall_s": wall,
        "cpu_s": total_cpu,
        "task_cpu_s": timed.cpu,
        "driver_cpu_s": total_cpu - sum(timed.cpu.values()),
        "shuffle_bytes_per_record": timed.shard_bytes / n,
        "parts": parts,
    }
    for workers in (1, 2):
        with (
            distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            runner = DaskRunner(client, threads=max(1, CORES // workers))
            audit_bundle_partitioned(bundle, runner, policy=policy)  # warm the workers
            wall, got = _wall(lambda r=runner: audit_bundle_partitioned(bundle, r, policy=policy))
        assert got.to_json() == want.to_json()
        results[f"dask_{workers}_workers"] = {"wall_s": wall}
    base = results["in_memory"]["wall_s"]
    for key in ("in_memory", "local_streamed", "dask_1_workers", "dask_2_workers"):
        r = results[key]
        r["records_per_s"] = round(n / r["wall_s"])
        r["wall_ratio_to_in_memory"] = round(r["wall_s"] / base, 2)
    results["records"] = n
    results["receipts"] = len(want.receipts)
    results["load_1m_after"] = os.getloadavg()[0]
    print(json.dumps(results, indent=2))
