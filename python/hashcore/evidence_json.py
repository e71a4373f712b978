"""Reading the evidence a TypeScript device exports (``@hashcore/device``'s
``exportEvidenceJson()``): ``{"format": "hashcore-device-evidence", "version": 2, ...}``
with the SPEC 4 ``receipts.parquet`` / ``notes.parquet`` columns as JSON (bytes as
lowercase hex, integers exact, notes as their text). ``hashcore device import-evidence``
turns such files into the two tables the auditor takes (``--receipts`` / ``--notes``).

The reader is strict, as the auditor's parquet reader is: an unknown field, a wrong size,
a float or a negative integer is refused with the file and the place named, never
guessed at. A receipt is only carried over here; the audit verifies it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ._atomic import replace_atomically
from .bundle.format_v2 import NOTES_FILE, RECEIPTS_FILE
from .device_trust import DeviceReceipt
from .errors import BundleError, InvalidInputError
from .evidence import EvidenceExport, notes_table, receipts_table

__all__ = ["DeviceEvidence", "import_evidence", "parse_evidence_json", "read_evidence_json"]

FORMAT = "hashcore-device-evidence"
VERSION = 2
_TOP = frozenset({"format", "version", "origin", "log_key", "chain_id", "receipts", "notes"})
_RECEIPT = {
    "chain_id": 16,
    "seq": None,
    "link": 32,
    "log_index": None,
    "received_ms": None,
    "receipt_sig": 64,
}
_U64 = 2**64
_I64 = 2**63


@dataclass(frozen=True, slots=True)
class DeviceEvidence:
    """One device's exported evidence."""

    origin: str
    log_key: bytes
    chain_id: bytes
    receipts: list[DeviceReceipt]
    notes: list[bytes]


def _hex(where: str, value: Any, size: int) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * size:
        raise InvalidInputError(f"{where}: expected {size} bytes as {2 * size} hex digits")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise InvalidInputError(f"{where}: not hex") from None
    if raw.hex() != value:
        raise InvalidInputError(f"{where}: hex must be lowercase")
    return raw


def _int(where: str, value: Any, lo: int, hi: int) -> int:
    # bool is an int in Python; JSON true is not a number.
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value < hi:
        raise InvalidInputError(f"{where}: expected an integer in [{lo}, {hi})")
    return value


def _receipt(where: str, row: Any) -> DeviceReceipt:
    if not isinstance(row, dict) or set(row) != set(_RECEIPT):
        raise InvalidInputError(f"{where}: a receipt has exactly the fields {sorted(_RECEIPT)}")
    return DeviceReceipt(
        chain_id=_hex(f"{where}.chain_id", row["chain_id"], 16),
        seq=_int(f"{where}.seq", row["seq"], 0, _U64),
        link=_hex(f"{where}.link", row["link"], 32),
        log_index=_int(f"{where}.log_index", row["log_index"], 0, _U64),
        received_ms=_int(f"{where}.received_ms", row["received_ms"], -_I64, _I64),
        receipt_sig=_hex(f"{where}.receipt_sig", row["receipt_sig"], 64),
    )


def parse_evidence_json(text: str, name: str = "evidence") -> DeviceEvidence:
    """Parse one evidence document; InvalidInputError names what is wrong."""
    try:
        doc = json.loads(text, parse_float=lambda s: float("nan"), parse_constant=lambda s: None)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{name}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InvalidInputError(f'{name}: not a device evidence file (format "{FORMAT}")')
    if doc.get("version") != VERSION or isinstance(doc.get("version"), bool):
        raise InvalidInputError(f"{name}: evidence version {doc.get('version')!r}, expected 2")
    if set(doc) != _TOP:
        extra = sorted(set(doc) ^ _TOP)
        raise InvalidInputError(f"{name}: unexpected or missing fields {extra}")
    origin = doc["origin"]
    if not isinstance(origin, str) or not origin:
        raise InvalidInputError(f"{name}.origin: expected the log's origin")
    chain_id = _hex(f"{name}.chain_id", doc["chain_id"], 16)
    rows, notes = doc["receipts"], doc["notes"]
    if not isinstance(rows, list) or not isinstance(notes, list):
        raise InvalidInputError(f"{name}: receipts and notes are lists")
    receipts = [_receipt(f"{name}.receipts[{i}]", r) for i, r in enumerate(rows)]
    for i, r in enumerate(receipts):
        if r.chain_id != chain_id:
            raise InvalidInputError(
                f"{name}.receipts[{i}]: receipt of chain {r.chain_id.hex()} in the evidence "
                f"of chain {chain_id.hex()}"
            )
    if not all(isinstance(n, str) and n for n in notes):
        raise InvalidInputError(f"{name}.notes: each note is its text")
    return DeviceEvidence(
        origin=origin,
        log_key=_hex(f"{name}.log_key", doc["log_key"], 32),
        chain_id=chain_id,
        receipts=receipts,
        notes=[n.encode() for n in notes],
    )


def read_evidence_json(path: str | os.PathLike[str]) -> DeviceEvidence:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: cannot read ({exc})") from None
    return parse_evidence_json(text, str(path))


def import_evidence(
    files: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str]
) -> EvidenceExport:
    """Write the evidence of the JSON files into ``out_dir`` as receipts.parquet and
    notes.parquet. Every file must be of one log (origin and log key): evidence of two
    logs is two audits."""
    docs = [read_evidence_json(f) for f in files]
    if not docs:
        raise InvalidInputError("no evidence files given")
    first = docs[0]
    for f, d in zip(files, docs, strict=True):
        if (d.origin, d.log_key) != (first.origin, first.log_key):
            raise InvalidInputError(
                f"{f}: evidence of log {d.origin!r} ({d.log_key.hex()[:16]}...), not of "
                f"{first.origin!r} ({first.log_key.hex()[:16]}...) as {files[0]}"
            )
    receipts = receipts_table(r for d in docs for r in d.receipts)
    notes = notes_table(n for d in docs for n in d.notes)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        rfile, nfile = out / RECEIPTS_FILE, out / NOTES_FILE
        replace_atomically(rfile, lambda tmp: pq.write_table(receipts, tmp))
        replace_atomically(nfile, lambda tmp: pq.write_table(notes, tmp))
    except OSError as exc:
        raise BundleError(f"{out}: cannot write the evidence: {exc}") from exc
    return EvidenceExport(rfile, nfile, receipts.num_rows, notes.num_rows, len(docs))
