"""The auditor: SPEC section 4 verdicts for records and checkpoints, in memory (verify) or
streamed from Parquet files (stream, bundle) in bounded memory."""

from __future__ import annotations

from .bundle import audit_bundle
from .stream import Progress, audit_record_files
from .verify import (
    CHECKPOINT_VERDICT_CODES,
    VERDICT_CODES,
    CheckpointResult,
    Failure,
    VerifyReport,
    verify_bulk,
)

__all__ = [
    "CHECKPOINT_VERDICT_CODES",
    "VERDICT_CODES",
    "CheckpointResult",
    "Failure",
    "Progress",
    "VerifyReport",
    "audit_bundle",
    "audit_record_files",
    "verify_bulk",
]
