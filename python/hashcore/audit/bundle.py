"""``audit_bundle``: the audit of a bundle directory, by its manifest's version: v1 streamed
(``audit_bundle_v1``, checked against a trusted log_id), v2 under a trust policy
(:func:`hashcore.audit.v2_bundle.audit_bundle_v2`)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..bundle import open_bundle
from ..bundle.format_v2 import is_v2_bundle
from ..checkpoint import parse_log_id
from ..errors import InvalidInputError
from .stream import DEFAULT_BATCH_ROWS, DEFAULT_PARTITION_ROWS, Progress, audit_record_files
from .v2_bundle import EvidenceSource, PolicySource, audit_bundle_v2
from .v2_engine import ChainAnchors
from .v2_report import AuditReportV2
from .verify import VerifyReport


def audit_bundle_v1(
    path: str | os.PathLike[str],
    *,
    log_id: bytes | str | None = None,
    threads: int | None = None,
    check_signatures: bool = True,
    anchors: Sequence[str | None] | None = None,
    progress: Progress | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    partition_rows: int = DEFAULT_PARTITION_ROWS,
    spill_dir: str | os.PathLike[str] | None = None,
) -> VerifyReport:
    """Verify a v1 bundle; see :func:`hashcore.verify_bulk` for the verdicts.

    The records are streamed (:mod:`hashcore.audit.stream`), so a bundle of any size audits in
    bounded memory; the verdicts are those ``verify_bulk`` gives the records of
    :func:`read_bundle`, row for row. ``progress`` is called now and then with (records
    done, total); ``anchors`` is ``verify_bulk``'s (one state per checkpoint row, as
    :func:`hashcore.anchor.audit.audit_bundle_with_evm` reads them from the chain);
    ``batch_rows``, ``partition_rows`` and ``spill_dir`` tune the streaming (see
    :func:`hashcore.audit.stream.audit_record_files`).

    ``log_id`` is the relay identity the auditor trusts (SPEC 2.2). Without it the
    manifest's is used and ``report.log_id_source`` is ``"bundle"``; with it,
    ``"trusted"``, and a manifest naming another log_id sets
    ``report.manifest_log_id_mismatch`` and makes the report not clean. EVM anchors are
    not checked here unless ``anchors`` is given (``report.anchors_checked``).

    Raises:
        BundleError: the bundle is unreadable.
        InvalidInputError: ``log_id`` is not 32 bytes / 64 hex digits.
        ColumnError, ColumnTypeError: a column has a type the verifier can't read.
        OSError: the spill directory is not writable.
    """
    trusted = parse_log_id(log_id) if log_id is not None else None
    header = open_bundle(path)
    used = trusted if trusted is not None else header.log_id
    report = audit_record_files(
        [header.path / f for f in header.record_files],
        checkpoints=header.checkpoints,
        log_id=used,
        threads=threads,
        check_signatures=check_signatures,
        anchors=anchors,
        progress=progress,
        batch_rows=batch_rows,
        partition_rows=partition_rows,
        spill_dir=spill_dir,
    )
    report.log_id_source = "trusted" if trusted is not None else "bundle"
    report.manifest_log_id_mismatch = trusted is not None and trusted != header.log_id
    if report.manifest_log_id_mismatch:
        # SPEC 2.2: a bundle whose manifest log_id differs from the trusted one is not clean.
        report.clean = False
    return report


def audit_bundle(
    path: str | os.PathLike[str],
    *,
    log_id: bytes | str | None = None,
    policy: PolicySource | None = None,
    receipts: Sequence[EvidenceSource] = (),
    notes: Sequence[EvidenceSource] = (),
    strict_time: bool = False,
    as_of: int | None = None,
    chain_anchors: ChainAnchors | None = None,
    threads: int | None = None,
    check_signatures: bool = True,
    anchors: Sequence[str | None] | None = None,
    progress: Progress | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    partition_rows: int = DEFAULT_PARTITION_ROWS,
    spill_dir: str | os.PathLike[str] | None = None,
) -> VerifyReport | AuditReportV2:
    """Audit a bundle by its manifest's version.

    A version 2 manifest: :func:`audit_bundle_v2` with ``policy``, ``receipts``,
    ``notes``, ``strict_time``, ``as_of``, ``chain_anchors``, ``threads`` and
    ``check_signatures`` (``log_id``, ``anchors``, ``progress`` and the streaming knobs
    are v1's; the first three are refused here).
    Any other manifest goes through the v1 path unchanged (:func:`audit_bundle_v1`, which
    refuses the v2-only arguments and names a version it can't read).

    Raises:
        BundleError, PolicyError, ColumnError, ColumnTypeError, InvalidInputError: as the
            audit of that version; InvalidInputError for arguments of the other version.
    """
    if is_v2_bundle(path):
        v1_only = {
            "log_id": log_id is not None,
            "anchors": anchors is not None,
            "progress": progress is not None,
        }
        given = [name for name, set_ in v1_only.items() if set_]
        if given:
            raise InvalidInputError(
                f"{path}: a v2 bundle is audited under a policy; {', '.join(given)} "
                "apply to v1 bundles only"
            )
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
    v2_only = {
        "policy": policy is not None,
        "receipts": bool(receipts),
        "notes": bool(notes),
        "strict_time": strict_time,
        "as_of": as_of is not None,
        "chain_anchors": chain_anchors is not None,
    }
    given = [name for name, set_ in v2_only.items() if set_]
    if given:
        raise InvalidInputError(
            f"{path}: {', '.join(given)} apply to v2 bundles only (its manifest is not version 2)"
        )
    return audit_bundle_v1(
        path,
        log_id=log_id,
        threads=threads,
        check_signatures=check_signatures,
        anchors=anchors,
        progress=progress,
        batch_rows=batch_rows,
        partition_rows=partition_rows,
        spill_dir=spill_dir,
    )
