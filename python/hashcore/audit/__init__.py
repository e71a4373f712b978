"""The auditor of SPEC v2 section 5: the tables handed to the Rust engine (v2_columns), the
engine's call and report (v2_engine, v2_report), a bundle directory's audit (v2_bundle,
bundle) and the public in-memory ``verify_bulk`` (bulk)."""

from __future__ import annotations

from .bulk import verify_bulk
from .bundle import audit_bundle
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

__all__ = [
    "CHECKPOINT_VERDICT_CODES_V2",
    "NOTE_VERDICT_CODES",
    "RECEIPT_VERDICT_CODES",
    "RECORD_VERDICT_CODES_V2",
    "TIME_FINDING_CODES",
    "AuditReportV2",
    "audit_bundle",
    "audit_bundle_v2",
    "audit_tables_v2",
    "verify_bulk",
]
