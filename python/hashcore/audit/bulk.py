"""``hashcore.verify_bulk``: the in-memory bulk audit of a records table (SPEC v2 section 4)
by the v2 engine (:func:`hashcore.audit.v2_engine.audit_tables_v2`), under ``policy`` or
the ``origin`` / ``log_key`` it is told to trust."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from ..errors import ColumnTypeError, InvalidInputError
from ..policy import Policy
from .v2_engine import ChainAnchor, audit_tables_v2
from .v2_report import AuditReportV2

__all__ = ["verify_bulk"]


def verify_bulk(
    records: pa.Table | pa.RecordBatch,
    *,
    checkpoints: pa.Table | pa.RecordBatch | None = None,
    threads: int | None = None,
    check_signatures: bool = True,
    anchors: Sequence[ChainAnchor] | None = None,
    policy: Policy | None = None,
    origin: str | None = None,
    log_key: bytes | None = None,
    receipts: pa.Table | None = None,
    notes: pa.Table | None = None,
    strict_time: bool = False,
    as_of: int | None = None,
) -> AuditReportV2:
    """Verify every record of ``records`` (and the checkpoints) in memory: an
    :class:`AuditReportV2` (SPEC v2 section 5).

    ``checkpoints`` is the records' ``checkpoints.parquet`` table (required); trust is
    ``policy``'s, or, without one, ``origin`` and ``log_key`` (the identity the caller
    trusts; SPEC 3's defaults apply); ``receipts``, ``notes``, ``strict_time`` and
    ``as_of`` as :func:`hashcore.audit_bundle`; ``anchors`` are the policy anchorer's
    anchors read from the chain (:func:`hashcore.anchor.policy_anchors.read_policy_anchors`),
    required when the policy has ``evm``.

    ``threads`` defaults to all cores (at most 256); ``check_signatures=False`` skips
    Ed25519 (genesis and rotation signatures are then trusted).

    Raises:
        ColumnError, ColumnTypeError: a column is missing or of a type the engine can't
            read. InvalidInputError: a missing identity, a bad ``threads``, ``as_of`` or
            key, anchors that are not the anchorer's.
    """
    if not isinstance(records, pa.Table | pa.RecordBatch):
        raise ColumnTypeError(
            f"records must be a pyarrow.Table or RecordBatch, not {type(records).__name__}"
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
        anchors=v2_anchors,
        threads=threads,
        check_signatures=check_signatures,
    )
