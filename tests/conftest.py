"""Shared fixtures: the conformance vectors and bundle builders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hashcore.schema import CHECKPOINT_SCHEMA, RECORD_SCHEMA

VECTORS = Path(__file__).parent / "vectors"
SHARED_VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors"

_BYTES = ("chain_id", "prev", "commit", "link", "signature", "salt", "payload")
_CP_BYTES = ("root", "signature", "tx_hash")


def load_vector(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


def unhex(v: str | None) -> bytes | None:
    return None if v is None else bytes.fromhex(v)


def records_table(rows: list[dict[str, Any]]) -> pa.Table:
    """A SPEC section 3 records table from JSON rows (hex bytes)."""
    cols: dict[str, list[Any]] = {f.name: [] for f in RECORD_SCHEMA}
    for r in rows:
        for name in cols:
            v = r.get(name)
            cols[name].append(unhex(v) if name in _BYTES else v)
    # Wrong-size values (tamper cases) don't fit fixed_size_binary, so vector bundles use
    # variable binary columns, which the SPEC lets readers accept.
    fields = [
        pa.field(f.name, pa.binary(), True) if f.name in _BYTES else f.with_nullable(True)
        for f in RECORD_SCHEMA
    ]
    return pa.table(cols, schema=pa.schema(fields))


def checkpoints_table(rows: list[dict[str, Any]]) -> pa.Table:
    cols: dict[str, list[Any]] = {f.name: [] for f in CHECKPOINT_SCHEMA}
    for r in rows:
        for name in cols:
            v = r.get(name)
            cols[name].append(unhex(v) if name in _CP_BYTES else v)
    fields = [
        pa.field(f.name, pa.binary(), True) if f.name in _CP_BYTES else f.with_nullable(True)
        for f in CHECKPOINT_SCHEMA
    ]
    return pa.table(cols, schema=pa.schema(fields))


@pytest.fixture(scope="session")
def chain_bundles() -> list[dict[str, Any]]:
    bundles: list[dict[str, Any]] = load_vector("chain.json")["bundles"]
    return bundles
