"""The 59 bundles of tests/vectors/chain.json as real v2 bundle directories (Parquet,
through :func:`hashcore.bundle.write_bundle_v2`), with their policy files, and the
report of an audit in the vectors' ``expected`` shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
from hashcore.audit import AuditReportV2
from hashcore.bundle import write_bundle_v2
from hashcore.bundle.format_v2 import CHECKPOINT_SCHEMA_V2, RECEIPT_SCHEMA, RECORD_SCHEMA_V2

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
BYTE_FIELDS = {
    "chain_id",
    "prev",
    "commit",
    "beacon_root",
    "link",
    "signature",
    "salt",
    "payload",
    "root",
    "tx_hash",
    "receipt_sig",
}


def chain_bundles() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((VECTORS / "chain.json").read_text())["bundles"]
    return data


def _value(name: str, v: Any) -> Any:
    if name in BYTE_FIELDS and v is not None:
        return bytes.fromhex(v)
    if name == "note" and v is not None:
        return v.encode()
    return v


def rows_table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    columns = {f.name: [_value(f.name, r.get(f.name)) for r in rows] for f in schema}
    return pa.table(columns, schema=pa.schema([f.with_nullable(True) for f in schema]))


def write_chain_bundle(case: dict[str, Any], root: Path) -> tuple[Path, Path | None]:
    """The case's bundle directory (receipts and notes in it) and its policy file (None
    for an audit without a policy)."""
    manifest = case["manifest"]
    bundle = write_bundle_v2(
        root / "bundle",
        rows_table(case["records"], RECORD_SCHEMA_V2),
        rows_table(case["checkpoints"], CHECKPOINT_SCHEMA_V2),
        origin=manifest["origin"],
        log_key=bytes.fromhex(manifest["log_key"]),
        exported_ms=manifest["exported_ms"],
        receipts=rows_table(case["receipts"], RECEIPT_SCHEMA),
        notes=[n.encode() for n in case["notes"]],
    )
    policy = None
    if case["policy"] is not None:
        policy = root / "policy.json"
        policy.write_text(json.dumps(case["policy"]))
    return bundle, policy


def as_expected(report: AuditReportV2, case: dict[str, Any]) -> dict[str, Any]:
    """The report in the vectors' ``expected`` shape (the keys the audit decides)."""
    return {
        "record_verdicts": [
            {"log_index": r["log_index"], "chain_id": r["chain_id"], "seq": r["seq"], "verdict": v}
            for r, v in zip(case["records"], report.verdict_names(), strict=True)
        ],
        "checkpoint_verdicts": [
            {"tree_size": c.tree_size, "root": c.root.hex() if c.root else None, "verdict": c.code}
            for c in report.checkpoints
        ],
        "receipt_verdicts": [
            {"log_index": r.log_index, "verdict": r.code} for r in report.receipts
        ],
        "note_verdicts": [
            {"tree_size": n.tree_size, "verdict": n.code} for n in report.evidence_notes
        ],
        "time_findings": [
            {
                "log_index": t.log_index,
                "code": t.code,
                "time_ms": t.time_ms,
                "lower": t.lower,
                "upper": t.upper,
                "upper_witnessed": t.upper_witnessed,
            }
            for t in report.time_findings
        ],
        "missing_log_positions": [[a, b] for a, b in report.missing_log_positions],
        "incomplete": report.incomplete,
        "deadline_clock_ms": report.deadline_clock_ms,
        "clean": report.clean_without_strict_time,
        "clean_with_strict_time": report.clean_with_strict_time,
        "manifest_origin_matches": report.manifest_origin_matches,
        "manifest_log_key_matches": report.manifest_log_key_matches,
        "log_id_source": report.log_identity_source,
    }


def expected_subset(case: dict[str, Any]) -> dict[str, Any]:
    want = case["expected"]
    return {key: want[key] for key in as_expected_keys()}


def as_expected_keys() -> tuple[str, ...]:
    return (
        "record_verdicts",
        "checkpoint_verdicts",
        "receipt_verdicts",
        "note_verdicts",
        "time_findings",
        "missing_log_positions",
        "incomplete",
        "deadline_clock_ms",
        "clean",
        "clean_with_strict_time",
        "manifest_origin_matches",
        "manifest_log_key_matches",
        "log_id_source",
    )
