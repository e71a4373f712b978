"""``audit_bundle``: the audit of a bundle directory (SPEC v2 section 5) under a trust
policy, with the evidence handed in (:func:`hashcore.audit.v2_bundle.audit_bundle_v2`).
This package reads no chain: :func:`hashcore.audit_bundle` reads the anchors first."""

from __future__ import annotations

import os
from collections.abc import Sequence

from .v2_bundle import EvidenceSource, PolicySource, audit_bundle_v2
from .v2_engine import ChainAnchors
from .v2_report import AuditReportV2

__all__ = ["audit_bundle"]


def audit_bundle(
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
    """Audit the bundle at ``path``: :func:`audit_bundle_v2` with ``policy``, ``receipts``,
    ``notes``, ``strict_time``, ``as_of``, ``chain_anchors``, ``threads`` and
    ``check_signatures``.

    Raises:
        BundleError, PolicyError, ColumnError, ColumnTypeError, InvalidInputError: as
            :func:`audit_bundle_v2` (a manifest of another version is a BundleError).
    """
    return audit_bundle_v2(
        path,
        policy=policy,
        receipts=receipts,
        notes=notes,
        strict_time=strict_time,
        as_of=as_of,
        chain_anchors=chain_anchors,
        threads=threads,
        check_signatures=check_signatures,
    )
