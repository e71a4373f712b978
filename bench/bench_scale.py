"""Audit at scale (issue 5): ``hashcore audit`` on a 10,000,000-record bundle.

The bundle (10,000 devices x 1,000 records, ``records/part-*.parquet`` of 1,000,000 rows)
is generated once into .benchmarks/data/ (it takes ~10 minutes and ~13 GB of memory) and
then audited by ``hashcore audit --policy`` in a fresh process, with full checks and with
``--no-signatures``, 2 threads, reporting the process's wall time and peak RSS. The same
runs on the 1,000,000-record v2 bundle of conftest.py give the scaling ratio (time at 10x
the size over the time at 1x; linear scaling is 10), measured in the same run.

Targets (2 cores): full checks <= 60 s, without signatures <= 10 s, peak RSS <= 2 GB.
They are reported, not asserted. HASHCORE_BENCH_SCALE_DEVICES shrinks the large bundle.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from conftest import CACHE, DEVICES, RECORDS, v2_bundle_path
from hashcore.sim.sample import make_sample
from pytest_benchmark.fixture import BenchmarkFixture

SCALE_DEVICES = int(os.environ.get("HASHCORE_BENCH_SCALE_DEVICES", "10000"))
SCALE_RECORDS = 1000
PART_ROWS = 1_000_000

# Runs `hashcore audit ARGS...` in this process and writes its wall time, CPU time (all
# threads; steadier than wall time on a shared machine), peak RSS and the load average to
# the file named by argv[1] (stdout is the audit's own summary).
PROBE = r"""
import json, os, resource, sys, time
from hashcore.cli import main
start = time.perf_counter()
code = main(sys.argv[2:])
wall = time.perf_counter() - start
use = resource.getrusage(resource.RUSAGE_SELF)
with open(sys.argv[1], "w") as f:
    json.dump({"exit": code, "wall_s": wall, "cpu_s": use.ru_utime + use.ru_stime,
               "peak_rss": use.ru_maxrss * 1024, "load_1m": os.getloadavg()[0]}, f)
"""

_results: dict[tuple[str, bool], dict[str, Any]] = {}


def _scale_bundle(devices: int, records: int, part_rows: int) -> tuple[Path, Path]:
    """The large v2 bundle (records in parts) and its policy file, made on first use."""
    path = CACHE / f"scale-v2-{devices}x{records}"
    policy = path.with_suffix(".policy.json")
    if not (path / "manifest.json").exists() or not policy.exists():
        make_sample(
            path,
            devices=devices,
            records=records,
            seed=2026,
            part_rows=part_rows,
            evidence=False,
            policy_path=policy,
        )
    return path, policy


def _audit(bundle: Path, signatures: bool, policy: Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out, report = Path(tmp) / "probe.json", Path(tmp) / "report.json"
        args = ["audit", str(bundle), "--threads", "2", "--json", str(report)]
        if policy is not None:
            args += ["--policy", str(policy)]
        if not signatures:
            args.append("--no-signatures")
        subprocess.run(
            [sys.executable, "-c", PROBE, str(out), *args],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        result: dict[str, Any] = json.loads(out.read_text())
        body = json.loads(report.read_text())
    result["records"] = body["records"]
    result["clean"] = body["clean"]
    result["chains_complete"] = sum(1 for c in body["chains"] if c["complete"])
    return result


@pytest.mark.parametrize("signatures", [True, False], ids=["full", "nosig"])
@pytest.mark.parametrize("size", ["1M", "10M"])
def test_audit_at_scale(benchmark: BenchmarkFixture, size: str, signatures: bool) -> None:
    if size == "1M":
        bundle, policy = v2_bundle_path(DEVICES, RECORDS)
    else:
        bundle, policy = _scale_bundle(SCALE_DEVICES, SCALE_RECORDS, PART_ROWS)
    m = benchmark.pedantic(_audit, args=(bundle, signatures, policy), rounds=1, iterations=1)
    assert m["exit"] == 0 and m["clean"]
    _results[(size, signatures)] = m
    info = benchmark.extra_info
    info.update(m)
    info["records_per_s"] = round(m["records"] / m["wall_s"])
    info["peak_rss_mb"] = round(m["peak_rss"] / 2**20)
    small = _results.get(("1M", signatures))
    if size == "10M" and small is not None:
        info["time_ratio_to_1M"] = round(m["wall_s"] / small["wall_s"], 2)
        info["cpu_ratio_to_1M"] = round(m["cpu_s"] / small["cpu_s"], 2)
        info["size_ratio_to_1M"] = round(m["records"] / small["records"], 2)
