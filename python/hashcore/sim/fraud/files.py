"""Reading the clean input bundle (checked clean by the auditor) and writing each tampered
copy with its expected.json."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import pyarrow as pa

from ... import _core
from ..._atomic import write_atomically
from ...audit import audit_bundle_v1
from ...bundle import read_bundle, write_bundle
from ...errors import InvalidInputError
from ...schema import CHECKPOINT_SCHEMA, RECORD_SCHEMA
from .model import ORIGINAL, ROOT_OF, SIG_OK, Base, Row, Tampered

EXPECTED_FILE: Final = "expected.json"


def load_base(path: Path, log_seed: bytes | None) -> Base:
    """Read ``path`` and check that it is a clean bundle; anything else is an error.

    With ``log_seed`` the input is audited against the log_id of that key, which must
    be the manifest's; without it, against the manifest's own log_id.
    """
    bundle = read_bundle(path)
    trusted = check_log_seed(log_seed, bundle.log_id)
    report = audit_bundle_v1(path, log_id=trusted)
    if not report.clean:
        raise InvalidInputError(
            f"{path}: the input bundle does not audit clean ({report!r}); fraud simulation "
            "starts from a clean bundle so that every failure is the attack's"
        )
    records = (
        bundle.records.select(RECORD_SCHEMA.names)
        .cast(RECORD_SCHEMA)
        .sort_by("log_index")
        .to_pylist()
    )
    checkpoints = bundle.checkpoints.select(CHECKPOINT_SCHEMA.names).to_pylist()
    if not records or not checkpoints:
        raise InvalidInputError(f"{path}: needs at least one record and one checkpoint")
    for cp in checkpoints:
        cp[SIG_OK] = True
        cp[ROOT_OF] = ORIGINAL
    base = Base(records, checkpoints, bundle.log_id, bundle.evm)
    for li, row in enumerate(records):
        # Clean implies it: a position below the largest checkpoint with no row, or
        # with two, is not clean, and a record at or past it would be NOT_LOGGED.
        # Likewise every chain holds seqs 0..len-1 once each (else GAP or FORK).
        assert row["log_index"] == li, "a clean bundle holds positions 0..N-1 once each"
        base.chains.setdefault(row["chain_id"], []).append(li)
    for lis in base.chains.values():
        lis.sort(key=lambda li: records[li]["seq"])
    return base


def _strip(rows: Iterable[Row]) -> list[Row]:
    return [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]


def write_attack(base: Base, tampered: Tampered, out: Path, expected: dict[str, Any]) -> None:
    rows = sorted(_strip(tampered.rows), key=lambda r: r["log_index"])
    records = pa.Table.from_pylist(rows, schema=RECORD_SCHEMA)
    checkpoints = pa.Table.from_pylist(_strip(tampered.checkpoints), schema=CHECKPOINT_SCHEMA)
    write_bundle(out, records, checkpoints, log_id=base.log_id, evm=base.evm)
    write_atomically(out / EXPECTED_FILE, json.dumps(expected, indent=2) + "\n")


def check_log_seed(log_seed: bytes | None, log_id: bytes | None) -> bytes | None:
    """The log_id of ``log_seed`` (the trusted one for the input audit), or None."""
    if log_seed is None:
        return None
    if not isinstance(log_seed, bytes | bytearray) or len(log_seed) != 32:
        raise InvalidInputError("log_seed must be the relay's 32-byte Ed25519 seed")
    derived = _core.public_key_from_seed(bytes(log_seed))
    if log_id is not None and derived != log_id:
        raise InvalidInputError(
            f"log_seed is the key of log_id {derived.hex()}, not of this bundle's {log_id.hex()}"
        )
    return derived
