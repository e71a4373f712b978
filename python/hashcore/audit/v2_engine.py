"""``audit_tables_v2``: the v2 audit of tables in memory. The columns go to the Rust engine
as raw Arrow buffers, which holds them while it audits with the GIL released; its compact
answer (a byte per verdict, short lists of findings) becomes an :class:`AuditReportV2`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from .. import _core
from .._validate import int_in
from ..bundle.format_v2 import NOTE_SCHEMA, RECEIPT_SCHEMA
from ..errors import InvalidInputError
from ..limits import check_threads
from ..policy import Policy
from .chain_anchors import ChainAnchor, ChainAnchors
from .columns import column_array
from .v2_columns import checkpoint_rows_v2, note_spec, receipt_specs, record_specs_v2
from .v2_evidence_rows import evidence_rows
from .v2_report import (
    RECORD_VERDICT_CODES_V2,
    TIME_FINDING_CODES,
    AuditReportV2,
    FailureV2,
    TimeFindingV2,
    failure_reason,
)

__all__ = ["ChainAnchor", "ChainAnchors", "audit_tables_v2"]


_OK_CODES = [i for i, c in enumerate(RECORD_VERDICT_CODES_V2) if c in ("OK", "OK_REDACTED")]


def _identity_columns(
    table: pa.Table, rows: list[int]
) -> list[tuple[int, bytes | None, int | None]]:
    """(log_index, chain_id, seq) of the given rows (the engine answers by row)."""
    if not rows:
        return []
    picked = table.select(["log_index", "chain_id", "seq"]).take(pa.array(rows, pa.int64()))
    return list(
        zip(
            column_array(picked, "log_index").to_pylist(),
            column_array(picked, "chain_id").to_pylist(),
            column_array(picked, "seq").to_pylist(),
            strict=True,
        )
    )


def audit_tables_v2(
    records: pa.Table,
    checkpoints: pa.Table,
    *,
    manifest_origin: str,
    manifest_log_key: bytes,
    policy: Policy | None = None,
    receipts: pa.Table | None = None,
    notes: pa.Table | None = None,
    strict_time: bool = False,
    as_of: int | None = None,
    anchors: Sequence[ChainAnchor] | None = None,
    head_block: int | None = None,
    threads: int | None = None,
    check_signatures: bool = True,
) -> AuditReportV2:
    """Audit a v2 bundle's tables (SPEC 5) under ``policy`` (or, without one, the
    manifest's identity with SPEC 3's defaults).

    ``as_of`` is the tree size the bundle is meant to cover (decision 5); with
    ``strict_time`` the time findings make the audit unclean. ``anchors`` are the
    anchorer's anchors read from the chain (:func:`hashcore.anchor.policy_anchors.
    read_policy_anchors`), required exactly when the policy has ``evm``; ``head_block`` is
    the block they were read at (reported). ``threads`` defaults to all cores (at most
    256); ``check_signatures=False`` verifies no Ed25519 signature (genesis and rotations
    taken as signed; ``report.signatures_checked`` says so).

    Raises:
        ColumnError, ColumnTypeError: a column is missing, of a type the engine can't
            read, or a record has no log_index.
        InvalidInputError: a bad ``as_of`` or manifest log key; a policy with ``evm``
            without ``anchors``, or ``anchors`` without it.
    """
    evm = policy.evm if policy is not None else None
    has_evm = evm is not None
    if evm is not None and anchors is None:
        raise InvalidInputError(
            f"the policy's anchors are on an EVM chain (chain id {evm.chain_id}, contract "
            f"{evm.contract}): give a node of that chain (--evm-url URL, evm_url=) to check "
            "them"
        )
    if anchors is not None and not has_evm:
        raise InvalidInputError("anchors are checked only under a policy with evm (SPEC 3)")
    check_threads(threads)
    if as_of is not None:
        as_of = int_in("as_of", as_of, 0, 2**64 - 1)
    if not isinstance(manifest_log_key, bytes) or len(manifest_log_key) != 32:
        raise InvalidInputError("manifest_log_key must be 32 bytes")
    if not isinstance(records, pa.Table):
        raise InvalidInputError(f"records must be a pyarrow.Table, not {type(records).__name__}")
    receipts_t = receipts if receipts is not None else RECEIPT_SCHEMA.empty_table()
    notes_t = notes if notes is not None else NOTE_SCHEMA.empty_table()
    cp_rows = checkpoint_rows_v2(checkpoints)
    raw = _core.v2_audit(
        record_specs_v2(records),
        cp_rows,
        receipt_specs(receipts_t),
        note_spec(notes_t),
        manifest_origin,
        manifest_log_key,
        policy=policy.engine_args() if policy is not None else None,
        as_of=as_of,
        anchors=[(a.tree_size, a.root, a.is_final) for a in anchors]
        if anchors is not None
        else None,
        threads=threads,
        check_signatures=bool(check_signatures),
    )
    verdicts = np.frombuffer(raw["records"], dtype=np.uint8)
    malformed = dict(raw["malformed_reasons"])
    failing = np.flatnonzero(~np.isin(verdicts, _OK_CODES)).tolist()
    failures = [
        FailureV2(
            row=row,
            log_index=li,
            chain_id=cid,
            seq=seq,
            code=RECORD_VERDICT_CODES_V2[verdicts[row]],
            reason=failure_reason(RECORD_VERDICT_CODES_V2[verdicts[row]], malformed.get(row)),
        )
        for row, (li, cid, seq) in zip(failing, _identity_columns(records, failing), strict=True)
    ]
    failures.sort(key=lambda f: (f.log_index, f.row))
    finding_rows = [f[0] for f in raw["time_findings"]]
    findings = [
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
        for (row, code, t, lower, upper, witnessed), (li, cid, seq) in zip(
            raw["time_findings"], _identity_columns(records, finding_rows), strict=True
        )
    ]
    origin, log_key = (
        (policy.origin, policy.log_key)
        if policy is not None
        else (manifest_origin, manifest_log_key)
    )
    evidence = evidence_rows(raw, cp_rows, notes_t, receipts_t, anchors, origin, log_key)
    return AuditReportV2(
        records=records.num_rows,
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
        as_of=as_of,
        manifest_origin_matches=bool(raw["manifest_origin_matches"]),
        manifest_log_key_matches=bool(raw["manifest_log_key_matches"]),
        log_identity_source=str(raw["log_identity_source"]),
        clean_without_strict_time=bool(raw["clean"]),
        clean_with_strict_time=bool(raw["clean_with_strict_time"]),
        strict_time=strict_time,
        anchors=evidence.anchors,
        anchors_checked=bool(raw["anchors_checked"]),
        head_block=head_block,
        signatures_checked=bool(check_signatures),
        _table=records,
    )
