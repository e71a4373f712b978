"""Benchmark data: one synthetic trial bundle, generated once and cached on disk.

Size from HASHCORE_BENCH_DEVICES x HASHCORE_BENCH_RECORDS (default 1,000 devices x 1,000
records = 1,000,000 records with ~200-byte sleep-diary payloads, as the core issue asks):
a protocol v2 bundle and its policy (bench/v2_sample.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
from hashcore.bundle import read_bundle_v2
from hashcore.policy import Policy, load_policy
from v2_sample import make_v2_sample

DEVICES = int(os.environ.get("HASHCORE_BENCH_DEVICES", "1000"))
RECORDS = int(os.environ.get("HASHCORE_BENCH_RECORDS", "1000"))
CACHE = Path(__file__).resolve().parents[1] / ".benchmarks" / "data"


@dataclass
class DatasetV2:
    path: Path
    policy_path: Path
    records: pa.Table
    checkpoints: pa.Table
    policy: Policy


def v2_bundle_path(devices: int, records: int) -> tuple[Path, Path]:
    """The cached v2 bundle of that size and its policy file (made on first use)."""
    path = CACHE / f"trial-v2-{devices}x{records}"
    policy = path.with_suffix(".policy.json")
    if not (path / "manifest.json").exists() or not policy.exists():
        make_v2_sample(path, devices=devices, records=records, seed=2026)
    return path, policy


@pytest.fixture(scope="session")
def dataset_v2() -> DatasetV2:
    path, policy = v2_bundle_path(DEVICES, RECORDS)
    bundle = read_bundle_v2(path)
    return DatasetV2(path, policy, bundle.records, bundle.checkpoints, load_policy(policy))
