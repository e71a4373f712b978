"""Peak memory of verify_bulk relative to the size of its input columns.

Runs the audit in a fresh process so that the figure is not polluted by other benchmarks:
the process loads the bundle, resets its peak-RSS counter (/proc/self/clear_refs), verifies,
and reports VmHWM (peak RSS) against the table's Arrow size.
"""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import DatasetV2
from pytest_benchmark.fixture import BenchmarkFixture

PROBE_V2 = r"""
import json, sys
from hashcore.bundle import read_bundle_v2
from hashcore.policy import load_policy
import hashcore

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
b = read_bundle_v2(sys.argv[1])
policy = load_policy(sys.argv[2])
records = b.records.combine_chunks()
before = status("VmRSS:")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
report = hashcore.verify_bulk(records, checkpoints=b.checkpoints, policy=policy)
print(json.dumps({"input_bytes": records.nbytes, "rss_before": before,
                  "peak_rss": status("VmHWM:"), "clean": report.clean}))
"""


def _probe(args: list[str]) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", *args], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, int] = json.loads(out)
    return result


def _record(benchmark: BenchmarkFixture, m: dict[str, int]) -> None:
    assert m["clean"]
    benchmark.extra_info.update(m)
    benchmark.extra_info["peak_over_input"] = round(m["peak_rss"] / m["input_bytes"], 3)
    benchmark.extra_info["verify_extra_over_input"] = round(
        (m["peak_rss"] - m["rss_before"]) / m["input_bytes"], 3
    )


def test_peak_memory_v2(benchmark: BenchmarkFixture, dataset_v2: DatasetV2) -> None:
    """In-memory verify_bulk of the v2 bundle: its peak RSS over its input's Arrow size
    (the input is the baseline, measured in the same process)."""
    args = [PROBE_V2, str(dataset_v2.path), str(dataset_v2.policy_path)]
    _record(benchmark, benchmark.pedantic(_probe, args=(args,), rounds=1, iterations=1))
