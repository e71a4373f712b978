"""``audit_bundle``: the streamed audit of a bundle directory, checked against a trusted log_id."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..bundle import open_bundle
from ..checkpoint import parse_log_id
from .stream import DEFAULT_BATCH_ROWS, DEFAULT_PARTITION_ROWS, Progress, audit_record_files
from .verify import VerifyReport


def audit_bundle(
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
    """Verify a bundle; see :func:`hashcore.verify_bulk` for the verdicts.

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
