"""``hashcore.verify_bulk``: the in-memory bulk audit of a records table, by its columns'
protocol version. A table with v2's beacon columns (SPEC v2 section 4) is audited by the
v2 engine (:func:`hashcore.audit.v2_engine.audit_tables_v2`) under ``policy`` or the
``origin`` / ``log_key`` it is told to trust; any other table by v1's
(:func:`hashcore.audit.verify.verify_bulk`), unchanged."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from ..errors import ColumnTypeError, InvalidInputError
from ..policy import Policy
from .v2_engine import ChainAnchor, audit_tables_v2
from .v2_report import AuditReportV2
from .verify import VerifyReport
from .verify import verify_bulk as verify_bulk_v1

__all__ = ["is_v2_table", "verify_bulk"]

#: Columns only a v2 records table has (SPEC v2 section 4).
_V2_ONLY = ("beacon_size", "beacon_root")


def is_v2_table(records: pa.Table | pa.RecordBatch) -> bool:
    """Whether ``records`` has v2's beacon columns (SPEC v2 section 4)."""
    names = set(records.column_names)
    return all(c in names for c in _V2_ONLY)


def verify_bulk(
    records: pa.Table | pa.RecordBatch,
    *,
    checkpoints: pa.Table | pa.RecordBatch | None = None,
    log_id: bytes | bytearray | memoryview | str | None = None,
    threads: int | None = None,
    check_signatures: bool = True,
    anchors: Sequence[str | None] | Sequence[ChainAnchor] | None = None,
    policy: Policy | None = None,
    origin: str | None = None,
    log_key: bytes | None = None,
    receipts: pa.Table | None = None,
    notes: pa.Table | None = None,
    strict_time: bool = False,
    as_of: int | None = None,
) -> VerifyReport | AuditReportV2:
    """Verify every record of ``records`` (and the checkpoints) in memory.

    A v2 table (it has ``beacon_size`` and ``beacon_root``) gives an
    :class:`AuditReportV2` (SPEC v2 section 5): ``checkpoints`` is its
    ``checkpoints.parquet`` table (required); trust is ``policy``'s, or, without one,
    ``origin`` and ``log_key`` (the identity the caller trusts; SPEC 3's defaults
    apply); ``receipts``, ``notes``, ``strict_time`` and ``as_of`` as
    :func:`hashcore.audit_bundle`; ``anchors`` are the policy anchorer's anchors read
    from the chain (:func:`hashcore.anchor.policy_anchors.read_policy_anchors`),
    required when the policy has ``evm``. ``log_id`` is v1's and refused here.

    Any other table gives v1's :class:`VerifyReport`, exactly as before (SPEC v1
    section 4; ``log_id``, ``anchors`` as states); the v2 arguments are refused there.

    ``threads`` defaults to all cores (at most 256); ``check_signatures=False`` skips
    Ed25519 (genesis and rotation signatures are then trusted), both versions.

    Raises:
        ColumnError, ColumnTypeError: a column is missing or of a type the engine can't
            read. InvalidInputError: arguments of the other version, a missing identity,
            a bad ``threads``, ``as_of`` or key.
    """
    if not isinstance(records, pa.Table | pa.RecordBatch):
        raise ColumnTypeError(
            f"records must be a pyarrow.Table or RecordBatch, not {type(records).__name__}"
        )
    if not is_v2_table(records):
        v2_only = {
            "policy": policy is not None,
            "origin": origin is not None,
            "log_key": log_key is not None,
            "receipts": receipts is not None,
            "notes": notes is not None,
            "strict_time": bool(strict_time),
            "as_of": as_of is not None,
        }
        given = [name for name, set_ in v2_only.items() if set_]
        if given:
            raise InvalidInputError(
                f"{', '.join(given)} apply to v2 records only (the table has no beacon_size "
                "and beacon_root columns)"
            )
        states = list(anchors) if anchors is not None else None
        if states is not None and not all(s is None or isinstance(s, str) for s in states):
            raise InvalidInputError("anchors of v1 records are states: 'final', 'pending', ...")
        return verify_bulk_v1(
            records,
            checkpoints=checkpoints,
            log_id=log_id,
            threads=threads,
            check_signatures=check_signatures,
            anchors=states,  # type: ignore[arg-type]
        )
    if log_id is not None:
        raise InvalidInputError(
            "log_id applies to v1 records; v2 records are audited under policy= or "
            "origin= and log_key="
        )
    if checkpoints is None:
        raise InvalidInputError("v2 records need their checkpoints table (SPEC v2 section 4)")
    if policy is not None:
        trusted_origin, trusted_key = policy.origin, policy.log_key
        if origin is not None or log_key is not None:
            raise InvalidInputError("give policy= or origin= and log_key=, not both")
    elif origin is None or log_key is None:
        raise InvalidInputError(
            "v2 records need the log identity to trust: policy=, or origin= and log_key="
        )
    else:
        trusted_origin, trusted_key = origin, log_key
    v2_anchors = list(anchors) if anchors is not None else None
    if v2_anchors is not None and any(isinstance(a, str) or a is None for a in v2_anchors):
        raise InvalidInputError(
            "anchors of v2 records are the anchorer's anchors read from the chain "
            "(read_policy_anchors), not states"
        )
    table = records if isinstance(records, pa.Table) else pa.Table.from_batches([records])
    cps = checkpoints if isinstance(checkpoints, pa.Table) else pa.Table.from_batches([checkpoints])
    return audit_tables_v2(
        table,
        cps,
        manifest_origin=trusted_origin,
        manifest_log_key=trusted_key,
        policy=policy,
        receipts=receipts,
        notes=notes,
        strict_time=strict_time,
        as_of=as_of,
        anchors=v2_anchors,  # type: ignore[arg-type]
        threads=threads,
        check_signatures=check_signatures,
    )
