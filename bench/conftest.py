"""Benchmark data: one synthetic trial bundle, generated once and cached on disk.

Size from HASHCORE_BENCH_DEVICES x HASHCORE_BENCH_RECORDS (default 1,000 devices x 1,000
records = 1,000,000 records with ~200-byte sleep-diary payloads, as the core issue asks).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
from hashcore.bundle import read_bundle
from hashcore.sim.sample_v1 import make_sample_v1 as make_sample

DEVICES = int(os.environ.get("HASHCORE_BENCH_DEVICES", "1000"))
RECORDS = int(os.environ.get("HASHCORE_BENCH_RECORDS", "1000"))
CACHE = Path(__file__).resolve().parents[1] / ".benchmarks" / "data"


@dataclass
class Dataset:
    path: Path
    records: pa.Table
    checkpoints: pa.Table
    log_id: bytes


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    path = CACHE / f"trial-{DEVICES}x{RECORDS}"
    if not (path / "manifest.json").exists():
        make_sample(path, devices=DEVICES, records=RECORDS, seed=2026)
    bundle = read_bundle(path)
    return Dataset(path, bundle.records, bundle.checkpoints, bundle.log_id)
