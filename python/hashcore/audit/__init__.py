"""The auditor: SPEC section 4 verdicts for records and checkpoints, in memory (verify) or
streamed from Parquet files (stream, bundle) in bounded memory; and protocol v2's audit
(SPEC v2 section 5: v2_columns, v2_engine, v2_report, v2_bundle), chosen by a bundle's
manifest version."""

from __future__ import annotations

from .bulk import is_v2_table, verify_bulk
from .bundle import audit_bundle, audit_bundle_v1
from .stream import Progress, audit_record_files
from .v2_bundle import audit_bundle_v2
from .v2_engine import audit_tables_v2
from .v2_report import (
    CHECKPOINT_VERDICT_CODES_V2,
    NOTE_VERDICT_CODES,
    RECEIPT_VERDICT_CODES,
    RECORD_VERDICT_CODES_V2,
    TIME_FINDING_CODES,
    AuditReportV2,
)
from .verify import (
    CHECKPOINT_VERDICT_CODES,
    VERDICT_CODES,
    CheckpointResult,
    Failure,
    VerifyReport,
)

__all__ = [
    "CHECKPOINT_VERDICT_CODES",
    "CHECKPOINT_VERDICT_CODES_V2",
    "NOTE_VERDICT_CODES",
    "RECEIPT_VERDICT_CODES",
    "RECORD_VERDICT_CODES_V2",
    "TIME_FINDING_CODES",
    "VERDICT_CODES",
    "AuditReportV2",
    "CheckpointResult",
    "Failure",
    "Progress",
    "VerifyReport",
    "audit_bundle",
    "audit_bundle_v1",
    "audit_bundle_v2",
    "audit_record_files",
    "audit_tables_v2",
    "is_v2_table",
    "verify_bulk",
]
