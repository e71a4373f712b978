"""The partitioned audit's report: the combine step's answer and the buckets' verdicts put
into an :class:`AuditReportV2`, as :func:`hashcore.audit.v2_engine.audit_tables_v2` puts
the in-memory engine's answer (same fields, same order, same reasons)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa

from ..policy import Policy
from .chains import CHAIN_SUMMARY_SCHEMA
from .plan_tasks import BucketResult, PartRef
from .v2_engine import ChainAnchor
from .v2_evidence_rows import evidence_rows
from .v2_report import (
    RECORD_VERDICT_CODES_V2,
    TIME_FINDING_CODES,
    AuditReportV2,
    FailureV2,
    TimeFindingV2,
    failure_reason,
)

__all__ = ["PartitionedAuditReport", "PlanInputs", "assemble_report"]

_OK = RECORD_VERDICT_CODES_V2.index("OK")
_OK_CODES = [i for i, c in enumerate(RECORD_VERDICT_CODES_V2) if c in ("OK", "OK_REDACTED")]


@dataclass
class PlanInputs:
    """What the driver holds of an audit: the parts to read, and the small tables."""

    parts: list[PartRef]
    checkpoints: pa.Table
    receipts: pa.Table
    notes: pa.Table
    manifest_origin: str
    manifest_log_key: bytes
    policy: Policy | None
    anchors: Sequence[ChainAnchor] | None
    head_block: int | None
    as_of: int | None
    strict_time: bool
    check_signatures: bool


@dataclass(eq=False, repr=False)  # AuditReportV2's own repr
class PartitionedAuditReport(AuditReportV2):
    """An :class:`AuditReportV2` whose records were never in one table: its chain summary
    comes from the chain buckets (each chain is in one), ``records_table`` is None."""

    chain_rows: pa.Table = field(default_factory=CHAIN_SUMMARY_SCHEMA.empty_table)

    @cached_property
    def chains(self) -> pa.Table:
        return self.chain_rows


def _chains(results: Sequence[BucketResult]) -> pa.Table:
    tables = [r.chains for r in results if r.chains.num_rows]
    if not tables:
        return CHAIN_SUMMARY_SCHEMA.empty_table()
    return pa.concat_tables(tables).sort_by("chain_id")


def assemble_report(
    inputs: PlanInputs,
    raw: dict[str, Any],
    results: Sequence[BucketResult],
    cp_rows: list[tuple[int | None, bytes | None, bytes | None]],
    schema_notes: list[str],
) -> PartitionedAuditReport:
    n = sum(p.rows for p in inputs.parts)
    verdicts = np.full(n, _OK, dtype=np.uint8)
    failures = []
    findings = []
    for r in results:
        verdicts[r.rows.astype(np.int64)] = r.codes
        for row, v, (li, cid, seq) in zip(
            r.rows.tolist(), r.codes.tolist(), r.failure_ids, strict=True
        ):
            if v in _OK_CODES:
                continue
            code = RECORD_VERDICT_CODES_V2[v]
            failures.append(
                FailureV2(
                    row=row,
                    log_index=li,
                    chain_id=cid,
                    seq=seq,
                    code=code,
                    reason=failure_reason(code, r.malformed.get(row)),
                )
            )
        for row, code, t, lower, upper, witnessed, li, cid, seq in r.findings:
            findings.append(
                TimeFindingV2(
                    code=TIME_FINDING_CODES[code],
                    row=row,
                    log_index=li,
                    chain_id=cid,
                    seq=seq,
                    time_ms=t,
                    lower=lower,
                    upper=upper,
                    upper_witnessed=witnessed,
                )
            )
    failures.sort(key=lambda f: (f.log_index, f.row))
    findings.sort(key=lambda f: f.row)
    policy = inputs.policy
    origin, log_key = (
        (policy.origin, policy.log_key)
        if policy is not None
        else (inputs.manifest_origin, inputs.manifest_log_key)
    )
    evidence = evidence_rows(
        raw, cp_rows, inputs.notes, inputs.receipts, inputs.anchors, origin, log_key
    )
    clean = bool(raw["clean_but_records"]) and bool(np.isin(verdicts, _OK_CODES).all())
    return PartitionedAuditReport(
        records=n,
        verdicts=verdicts,
        failures=failures,
        checkpoints=evidence.checkpoints,
        receipts=evidence.receipts,
        evidence_notes=evidence.evidence_notes,
        time_findings=findings,
        missing_log_positions=[(int(a), int(b)) for a, b in raw["missing_log_positions"]],
        covered_size=int(raw["covered_size"]),
        deadline_clock_ms=raw["deadline_clock_ms"],
        incomplete=bool(raw["incomplete"]),
        as_of=inputs.as_of,
        manifest_origin_matches=bool(raw["manifest_origin_matches"]),
        manifest_log_key_matches=bool(raw["manifest_log_key_matches"]),
        log_identity_source=str(raw["log_identity_source"]),
        clean_without_strict_time=clean,
        clean_with_strict_time=clean and not findings,
        strict_time=inputs.strict_time,
        anchors=evidence.anchors,
        anchors_checked=bool(raw["anchors_checked"]),
        head_block=inputs.head_block,
        signatures_checked=bool(inputs.check_signatures),
        schema_notes=schema_notes,
        chain_rows=_chains(results),
    )
