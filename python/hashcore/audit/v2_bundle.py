"""``audit_bundle_v2``: the v2 audit of a bundle directory with the evidence handed in.

The bundle's own receipts.parquet and notes.parquet are read, and receipts and notes from
elsewhere (a participant's phone, a site's mirror) are added to them; every row gets its
own verdict (decision 14). Trust comes from the policy (SPEC 3), or, without one, from the
manifest, and the report says which. A policy with ``evm`` needs the anchorer's anchors
read from the chain (``chain_anchors``: :func:`hashcore.audit_bundle` reads them from
``evm_url`` through :mod:`hashcore.anchor.policy_anchors`; this package reads no chain,
since the anchor package builds on it); the engine judges them with the rest.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TypeAlias

import pyarrow as pa

from ..bundle.format_v2 import NOTE_SCHEMA, RECEIPT_SCHEMA
from ..bundle.io_v2 import combine_tables, read_bundle_v2, read_evidence_file
from ..errors import InvalidInputError
from ..policy import Policy, load_policy
from .v2_engine import ChainAnchors, audit_tables_v2
from .v2_report import AuditReportV2

__all__ = ["EvidenceSource", "PolicySource", "audit_bundle_v2"]

#: Evidence handed in: a Parquet file in the SPEC 4 shape, or a table of that shape.
EvidenceSource: TypeAlias = str | os.PathLike[str] | pa.Table
#: A checked policy, or the path of its file.
PolicySource: TypeAlias = Policy | str | os.PathLike[str]


def _evidence(
    sources: Sequence[EvidenceSource], kind: str, schema_notes: list[str]
) -> list[pa.Table]:
    if isinstance(sources, str | os.PathLike | pa.Table):
        raise InvalidInputError(f"{kind} must be a list of files or tables, not one")
    tables = []
    for source in sources:
        if isinstance(source, pa.Table):
            tables.append(source)
        else:
            tables.append(read_evidence_file(source, kind, schema_notes))
    return tables


def audit_bundle_v2(
    path: str | os.PathLike[str],
    *,
    policy: PolicySource | None = None,
    receipts: Sequence[EvidenceSource] = (),
    notes: Sequence[EvidenceSource] = (),
    strict_time: bool = False,
    as_of: int | None = None,
    chain_anchors: ChainAnchors | None = None,
    threads: int | None = None,
    check_signatures: bool = True,
) -> AuditReportV2:
    """Audit a v2 bundle (SPEC v2 section 5).

    ``policy`` is the trust policy (a :class:`Policy` or its file); without it the
    manifest's origin and log key are trusted with quorum 0 and SPEC 3's delays, and
    ``report.log_identity_source`` is ``"bundle"``. ``receipts`` and ``notes`` are more
    evidence (``receipts.parquet`` / ``notes.parquet`` shaped files or tables). With
    ``strict_time`` the time findings make the audit unclean; ``as_of`` names the tree
    size the bundle is meant to cover (an older export, decision 5). ``chain_anchors`` are
    the policy anchorer's anchors read from the chain (``read_policy_anchors``); required
    exactly when the policy has ``evm``. ``threads`` (default: all cores, at most 256) and
    ``check_signatures`` as :func:`hashcore.verify_bulk`.

    Raises:
        BundleError: the bundle or an evidence file is unreadable or not SPEC 4's shape.
        PolicyError: the policy file is unreadable or not exactly SPEC 3.
        ColumnError, ColumnTypeError: a column the engine can't read.
        InvalidInputError: a bad ``as_of``; a policy with ``evm`` and no anchors, or
            anchors without a policy with ``evm``.
    """
    trusted = load_policy(policy) if isinstance(policy, str | os.PathLike) else policy
    if trusted is not None and not isinstance(trusted, Policy):
        raise InvalidInputError(f"policy must be a Policy or a file, not {type(policy).__name__}")
    bundle = read_bundle_v2(Path(path))
    schema_notes = list(bundle.schema_notes)
    receipt_tables = [bundle.receipts, *_evidence(receipts, "receipts", schema_notes)]
    note_tables = [bundle.notes, *_evidence(notes, "notes", schema_notes)]
    report = audit_tables_v2(
        bundle.records,
        bundle.checkpoints,
        manifest_origin=bundle.manifest.origin,
        manifest_log_key=bundle.manifest.log_key,
        policy=trusted,
        receipts=combine_tables(receipt_tables, RECEIPT_SCHEMA, "receipts"),
        notes=combine_tables(note_tables, NOTE_SCHEMA, "notes"),
        strict_time=strict_time,
        as_of=as_of,
        anchors=chain_anchors.anchors if chain_anchors is not None else None,
        head_block=chain_anchors.head_block if chain_anchors is not None else None,
        threads=threads,
        check_signatures=check_signatures,
    )
    report.schema_notes = schema_notes
    report.exported_ms = bundle.manifest.exported_ms
    return report
