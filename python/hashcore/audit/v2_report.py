"""``AuditReportV2``: what a protocol v2 audit concludes (SPEC v2 section 5), and its JSON.

The JSON has the keys other tools read (``clean``, ``records``, ``counts``, ``failures``,
``checkpoints``, ``missing_log_positions``, ``chains``, and ``anchors_checked``) and adds
``receipts``, ``evidence_notes``, ``time_findings``, ``anchors``,
``manifest_origin_matches``, ``manifest_log_key_matches`` and ``log_identity_source``.
With a policy that has ``evm``, the anchorer's anchors are read from the chain and each
gets a code (``anchors``: ``ANCHOR_OK``, ``ANCHOR_UNCONFIRMED``, ``ANCHOR_CONTRADICTED``,
``ANCHOR_BEYOND_BUNDLE``; ``anchors_checked`` true); without ``evm`` nothing is read from a
chain, ``anchors`` is empty and ``anchors_checked`` false (vectors decision 15).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from .. import _core
from ..errors import HashcoreError
from .chains import CHAIN_SUMMARY_SCHEMA, chain_summary, chains_json

__all__ = [
    "ANCHOR_VERDICT_CODES",
    "CHECKPOINT_VERDICT_CODES_V2",
    "NOTE_VERDICT_CODES",
    "RECEIPT_VERDICT_CODES",
    "RECORD_VERDICT_CODES_V2",
    "TIME_FINDING_CODES",
    "AnchorVerdictV2",
    "AuditReportV2",
    "CheckpointVerdictV2",
    "EvidenceNoteVerdict",
    "FailureV2",
    "ReceiptVerdict",
    "TimeFindingV2",
    "failure_reason",
    "note_rejection",
]

#: Code lists, indexed by the engine's verdict bytes (SPEC order of precedence).
RECORD_VERDICT_CODES_V2: tuple[str, ...] = tuple(_core.V2_RECORD_VERDICT_CODES)
CHECKPOINT_VERDICT_CODES_V2: tuple[str, ...] = tuple(_core.V2_CHECKPOINT_VERDICT_CODES)
NOTE_VERDICT_CODES: tuple[str, ...] = tuple(_core.V2_NOTE_VERDICT_CODES)
RECEIPT_VERDICT_CODES: tuple[str, ...] = tuple(_core.V2_RECEIPT_VERDICT_CODES)
TIME_FINDING_CODES: tuple[str, ...] = tuple(_core.V2_TIME_FINDING_CODES)
ANCHOR_VERDICT_CODES: tuple[str, ...] = tuple(_core.V2_ANCHOR_VERDICT_CODES)

_OK = frozenset({"OK", "OK_REDACTED"})

#: A one-line explanation of each record verdict (SPEC 5.1), for failures.
_REASONS: dict[str, str] = {
    "DUPLICATE_LOG_INDEX": "another row claims the same log position",
    "BAD_LINK": "stored link is not the link of the stored header",
    "BAD_COMMIT": "payload and salt do not match the commitment",
    "NO_GENESIS": "the chain has no valid genesis",
    "FORK": "another record of the chain has the same seq",
    "GAP": "the record before it (seq-1) is missing",
    "BROKEN_CHAIN": "prev is not the link of record seq-1",
    "BAD_SIGNATURE": "signature is not valid under the chain's key at that seq",
    "BAD_BEACON": "its beacon names a log state the relay never had",
    "NOT_LOGGED": "no attesting checkpoint covers its log position",
}


def _hex(b: bytes | None) -> str | None:
    return b.hex() if b is not None else None


@dataclass(frozen=True, slots=True)
class FailureV2:
    """A record whose verdict is neither OK nor OK_REDACTED."""

    row: int
    log_index: int
    chain_id: bytes | None
    seq: int | None
    code: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "log_index": self.log_index,
            "chain_id": _hex(self.chain_id),
            "seq": self.seq,
            "code": self.code,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class CheckpointVerdictV2:
    row: int
    tree_size: int | None
    root: bytes | None
    code: str
    #: For BAD_CHECKPOINT_SIG: the SPEC 2.2 rule the note breaks (None otherwise).
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"tree_size": self.tree_size, "root": _hex(self.root), "code": self.code}


@dataclass(frozen=True, slots=True)
class ReceiptVerdict:
    """A receipt's verdict; ``chain_id`` and ``seq`` are reported as given, never checked
    (they are not signed: decision 14)."""

    row: int
    log_index: int | None
    chain_id: bytes | None
    seq: int | None
    code: str

    def to_json(self) -> dict[str, Any]:
        return {
            "log_index": self.log_index,
            "chain_id": _hex(self.chain_id),
            "seq": self.seq,
            "code": self.code,
        }


@dataclass(frozen=True, slots=True)
class EvidenceNoteVerdict:
    """An evidence note's verdict; ``tree_size`` is None where the note doesn't parse."""

    row: int
    tree_size: int | None
    code: str
    #: For NOTE_REJECTED: the SPEC 2.2 rule the note breaks (None otherwise).
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"tree_size": self.tree_size, "code": self.code}


@dataclass(frozen=True, slots=True)
class AnchorVerdictV2:
    """An anchor by the policy's anchorer (SPEC 2.5), read from the chain, and its code:
    ``ANCHOR_CONTRADICTED`` (size <= T, root not the log's MTH: the relay showed the chain
    another history), ``ANCHOR_BEYOND_BUNDLE`` (final, size > T: the bundle is INCOMPLETE
    unless ``as_of``), ``ANCHOR_UNCONFIRMED`` (not final yet), ``ANCHOR_OK``."""

    row: int
    tree_size: int
    root: bytes
    tx_hash: bytes
    block_number: int
    confirmations: int
    code: str

    def to_json(self) -> dict[str, Any]:
        return {"tree_size": self.tree_size, "code": self.code}


@dataclass(frozen=True, slots=True)
class TimeFindingV2:
    """A SPEC 5.3 finding: the record's time against its window (exact integers)."""

    code: str
    row: int
    log_index: int
    chain_id: bytes | None
    seq: int | None
    time_ms: int
    lower: int | None
    upper: int
    upper_witnessed: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "log_index": self.log_index,
            "chain_id": _hex(self.chain_id),
            "seq": self.seq,
            "time_ms": self.time_ms,
            "lower": self.lower,
            "upper": self.upper,
            "upper_witnessed": self.upper_witnessed,
        }


@dataclass(eq=False)
class AuditReportV2:
    """A v2 audit: a verdict for every record, checkpoint, receipt and evidence note, the
    time findings, and whether the bundle is clean (SPEC 5.4)."""

    records: int
    #: One uint8 per record row; ``RECORD_VERDICT_CODES_V2[v]`` names it.
    verdicts: npt.NDArray[np.uint8]
    failures: list[FailureV2]
    checkpoints: list[CheckpointVerdictV2]
    receipts: list[ReceiptVerdict]
    evidence_notes: list[EvidenceNoteVerdict]
    time_findings: list[TimeFindingV2]
    #: ``[start, end)`` ranges of positions below ``covered_size`` that no row holds.
    missing_log_positions: list[tuple[int, int]]
    #: ``T`` (SPEC 5.4): the largest tree size a checkpoint with a valid relay line signs.
    covered_size: int
    #: SPEC 5.2's deadline clock for RECEIPT_WITHHELD (None without an attesting checkpoint).
    deadline_clock_ms: int | None
    incomplete: bool
    #: ``--as-of N`` (decision 5), or None.
    as_of: int | None
    manifest_origin_matches: bool
    manifest_log_key_matches: bool
    #: "policy" or "bundle" (SPEC 3: without a policy the manifest's identity is used).
    log_identity_source: str
    #: SPEC 5.4 without the time findings, and with them (strict time).
    clean_without_strict_time: bool
    clean_with_strict_time: bool
    strict_time: bool
    #: The anchorer's anchors read from the chain (policy with ``evm``), in chain order.
    anchors: list[AnchorVerdictV2] = field(default_factory=list)
    #: True when the policy has ``evm`` and the anchors were read (decision 15 otherwise).
    anchors_checked: bool = False
    #: The newest block the anchors were read at (None without ``evm``).
    head_block: int | None = None
    #: False when the audit was asked not to verify Ed25519 signatures (weaker).
    signatures_checked: bool = True
    #: The manifest's ``exported_ms`` (the relay's word: reported, decides nothing).
    exported_ms: int | None = None
    schema_notes: list[str] = field(default_factory=list)
    _table: pa.Table | None = field(default=None, repr=False)

    @property
    def clean(self) -> bool:
        """Clean as asked: with the time findings when ``strict_time``."""
        return self.clean_with_strict_time if self.strict_time else self.clean_without_strict_time

    @property
    def as_of_covered(self) -> bool | None:
        """Decision 5: with ``as_of``, whether the bundle covers it (``T >= as_of``)."""
        return None if self.as_of is None else self.covered_size >= self.as_of

    @cached_property
    def counts(self) -> dict[str, int]:
        """Records per verdict code (every code, zeros included, in SPEC order)."""
        bins = np.bincount(self.verdicts, minlength=len(RECORD_VERDICT_CODES_V2))
        return {code: int(bins[i]) for i, code in enumerate(RECORD_VERDICT_CODES_V2)}

    @cached_property
    def chains(self) -> pa.Table:
        """One row per chain (an OK record is logged, so
        complete means seqs 0..max_seq once each, all OK or OK_REDACTED)."""
        if self._table is None or self._table.num_rows == 0:
            return CHAIN_SUMMARY_SCHEMA.empty_table()
        ok_codes = [i for i, c in enumerate(RECORD_VERDICT_CODES_V2) if c in _OK]
        ok = np.isin(self.verdicts, ok_codes)
        return chain_summary(self._table, ok, True, 2**64 - 1)

    @property
    def records_table(self) -> pa.Table | None:
        """The audited records table (for reports that draw every record), if kept."""
        return self._table

    def verdict_names(self) -> list[str]:
        """Every record row's verdict code, in input order."""
        return [RECORD_VERDICT_CODES_V2[v] for v in self.verdicts.tolist()]

    def to_json(self) -> dict[str, Any]:
        """The report as ``hashcore audit --json`` writes it."""
        return {
            "clean": self.clean,
            "records": self.records,
            "counts": self.counts,
            "failures": [f.to_json() for f in self.failures],
            "checkpoints": [c.to_json() for c in self.checkpoints],
            "missing_log_positions": [[a, b] for a, b in self.missing_log_positions],
            "chains": chains_json(self.chains),
            "anchors_checked": self.anchors_checked,
            "receipts": [r.to_json() for r in self.receipts],
            "evidence_notes": [n.to_json() for n in self.evidence_notes],
            "time_findings": [t.to_json() for t in self.time_findings],
            "anchors": [a.to_json() for a in self.anchors],
            "manifest_origin_matches": self.manifest_origin_matches,
            "manifest_log_key_matches": self.manifest_log_key_matches,
            "log_identity_source": self.log_identity_source,
        }

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.counts.items() if v)
        return (
            f"AuditReportV2(clean={self.clean}, records={self.records}, "
            f"{counts or 'no records'}, findings={len(self.time_findings)}, "
            f"identity from {self.log_identity_source})"
        )


def note_rejection(note: bytes | None, origin: str, log_key: bytes) -> str:
    """Why a note is not valid for the log (SPEC 2.2), in the primitives' words."""
    if note is None:
        return "no note"
    try:
        _core.note_verify(note, origin, log_key)
    except HashcoreError as exc:
        return str(exc)
    return "its body differs from its row's tree_size or root"


def failure_reason(code: str, malformed: str | None) -> str:
    """The failure's one-line reason: the MALFORMED rule that applies, or the verdict's."""
    if code == "MALFORMED":
        return malformed or "a field is malformed"
    return _REASONS.get(code, code)
