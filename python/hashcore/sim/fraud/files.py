"""Reading the clean input (a v2 bundle, its policy and the evidence; checked clean by the
auditor) and writing each tampered copy: ``OUT/<attack>/bundle/`` (what the relay hands
over), ``OUT/<attack>/evidence/receipts.parquet`` and ``notes.parquet`` (what the devices
hand in), ``OUT/<attack>/policy.json`` and ``OUT/<attack>/expected.json``."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from ... import _core
from ..._atomic import replace_atomically, write_atomically
from ...audit.v2_bundle import EvidenceSource, audit_bundle_v2
from ...bundle.format_v2 import (
    CHECKPOINT_SCHEMA_V2,
    NOTE_SCHEMA,
    NOTES_FILE,
    RECEIPT_SCHEMA,
    RECEIPTS_FILE,
    RECORD_SCHEMA_V2,
)
from ...bundle.io_v2 import combine_tables, read_bundle_v2, read_evidence_file, write_bundle_v2
from ...errors import HashcoreError, InvalidInputError
from ...policy import Policy, load_policy
from .model import (
    ORIGINAL,
    ROOT_OF,
    ROW_MATCHES,
    SIG_OK,
    SIGNED,
    WITNESS_TIMES,
    Base,
    Row,
    Tampered,
)

EXPECTED_FILE: Final = "expected.json"
BUNDLE_DIR: Final = "bundle"
EVIDENCE_DIR: Final = "evidence"
POLICY_FILE: Final = "policy.json"


def note_facts(note: bytes, policy: Policy) -> dict[str, Any]:
    """What a note signs, as the model needs it: the body by the trusted log key (or
    None) and the policy witnesses' valid cosignature times."""
    try:
        size, root = _core.note_verify(note, policy.origin, policy.log_key)
    except HashcoreError:
        return {SIGNED: None, ROOT_OF: ORIGINAL, WITNESS_TIMES: {}}
    times = {w.name: _core.note_witness_times(note, w.name, w.key) for w in policy.witnesses}
    return {SIGNED: (size, root), ROOT_OF: ORIGINAL, WITNESS_TIMES: times}


def _evidence(
    own: pa.Table, given: Sequence[EvidenceSource], kind: str, schema: pa.Schema
) -> list[Row]:
    notes: list[str] = []
    tables = [own]
    for source in given:
        tables.append(
            source if isinstance(source, pa.Table) else read_evidence_file(source, kind, notes)
        )
    rows: list[Row] = combine_tables(tables, schema, kind).to_pylist()
    return rows


def load_base(
    path: Path,
    policy_source: Policy | str | os.PathLike[str],
    receipts: Sequence[EvidenceSource] = (),
    notes: Sequence[EvidenceSource] = (),
) -> Base:
    """Read ``path`` and its evidence and check that they audit clean under the policy
    (strict time included); anything else is an error."""
    policy = policy_source if isinstance(policy_source, Policy) else load_policy(policy_source)
    report = audit_bundle_v2(path, policy=policy, receipts=receipts, notes=notes)
    if not report.clean_with_strict_time:
        raise InvalidInputError(
            f"{path}: the input bundle does not audit clean with its evidence ({report!r}); "
            "fraud simulation starts from a clean bundle so that every finding is the attack's"
        )
    bundle = read_bundle_v2(path)
    records = bundle.records.cast(RECORD_SCHEMA_V2).sort_by("log_index").to_pylist()
    checkpoints = bundle.checkpoints.to_pylist()
    if not records or not checkpoints:
        raise InvalidInputError(f"{path}: needs at least one record and one checkpoint")
    for cp in checkpoints:
        cp.setdefault("tx_hash", None)
        cp.setdefault("block_number", None)
        cp.update(note_facts(cp["note"], policy))
        cp[ROW_MATCHES] = True  # clean: every checkpoint is OK
    receipt_rows = _evidence(bundle.receipts, receipts, "receipts", RECEIPT_SCHEMA)
    for r in receipt_rows:
        r[SIG_OK] = True  # clean: none is RECEIPT_BAD_SIG
    note_rows = _evidence(bundle.notes, notes, "notes", NOTE_SCHEMA)
    for n in note_rows:
        n.update(note_facts(n["note"], policy))
    base = Base(records, checkpoints, receipt_rows, note_rows, policy, bundle.manifest.exported_ms)
    for li, row in enumerate(records):
        # Clean implies it: a position below the largest checkpoint with no row, or with
        # two, is not clean, and one past it would be NOT_LOGGED. Likewise every chain
        # holds seqs 0..len-1 once each (else GAP or FORK).
        assert row["log_index"] == li, "a clean bundle holds positions 0..N-1 once each"
        base.chains.setdefault(row["chain_id"], []).append(li)
    for lis in base.chains.values():
        lis.sort(key=lambda li: records[li]["seq"])
    return base


def _table(rows: Sequence[Row], schema: pa.Schema) -> pa.Table:
    """The rows as a table of ``schema``: its columns only (the attack's private ``_`` keys
    left out), built column by column (a dict per row cost more than the rest)."""
    return pa.Table.from_pydict({k: [row.get(k) for row in rows] for k in schema.names}, schema)


def _write_parquet(table: pa.Table, file: Path) -> None:
    replace_atomically(file, lambda tmp: pq.write_table(table, tmp))


def write_attack(
    base: Base,
    tampered: Tampered,
    out: Path,
    expected: dict[str, Any],
    policy: Policy | None = None,
) -> Path:
    """Write the copy under ``out`` with ``policy`` (default: the base's); returns its
    bundle directory."""
    rows = sorted(tampered.rows, key=lambda r: r["log_index"])
    bundle = write_bundle_v2(
        out / BUNDLE_DIR,
        _table(rows, RECORD_SCHEMA_V2),
        _table(tampered.checkpoints, CHECKPOINT_SCHEMA_V2),
        origin=base.policy.origin,
        log_key=base.policy.log_key,
        exported_ms=base.exported_ms,
    )
    evidence = out / EVIDENCE_DIR
    evidence.mkdir()
    _write_parquet(
        _table(tampered.receipts, RECEIPT_SCHEMA),
        evidence / RECEIPTS_FILE,
    )
    _write_parquet(
        _table(tampered.notes, NOTE_SCHEMA),
        evidence / NOTES_FILE,
    )
    policy = base.policy if policy is None else policy
    write_atomically(out / POLICY_FILE, json.dumps(policy_json(policy), indent=2) + "\n")
    write_atomically(out / EXPECTED_FILE, json.dumps(expected, indent=2) + "\n")
    return bundle


def policy_json(policy: Policy) -> dict[str, Any]:
    """``policy`` as its SPEC 3 file."""
    evm = policy.evm
    return {
        "format": "hashcore-policy",
        "version": 2,
        "origin": policy.origin,
        "log_key": policy.log_key.hex(),
        "witnesses": [{"name": w.name, "key": w.key.hex()} for w in policy.witnesses],
        "witness_quorum": policy.witness_quorum,
        "evm": None
        if evm is None
        else {
            "chain_id": evm.chain_id,
            "contract": evm.contract,
            "from_block": evm.from_block,
            "anchorer": evm.anchorer,
            "confirmations": evm.confirmations,
        },
        "max_merge_delay_ms": policy.max_merge_delay_ms,
        "max_clock_skew_ms": policy.max_clock_skew_ms,
    }
