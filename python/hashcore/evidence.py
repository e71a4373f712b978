"""Evidence held outside the relay (SPEC v2 section 4): the receipts and checkpoint notes
devices verified, as the ``receipts.parquet`` / ``notes.parquet`` tables an auditor takes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ._atomic import replace_atomically
from .bundle.format_v2 import NOTE_SCHEMA, NOTES_FILE, RECEIPT_SCHEMA, RECEIPTS_FILE
from .device import Device
from .device_trust import DeviceReceipt
from .errors import BundleError

__all__ = ["EvidenceExport", "export_evidence", "notes_table", "receipts_table"]


def receipts_table(receipts: Iterable[DeviceReceipt]) -> pa.Table:
    """Receipts as a SPEC 4 ``receipts.parquet`` table."""
    rows = list(receipts)
    return pa.table(
        {
            "chain_id": pa.array([r.chain_id for r in rows], pa.binary(16)),
            "seq": pa.array([r.seq for r in rows], pa.uint64()),
            "link": pa.array([r.link for r in rows], pa.binary(32)),
            "log_index": pa.array([r.log_index for r in rows], pa.uint64()),
            "received_ms": pa.array([r.received_ms for r in rows], pa.int64()),
            "receipt_sig": pa.array([r.receipt_sig for r in rows], pa.binary(64)),
        },
        schema=RECEIPT_SCHEMA,
    )


def notes_table(notes: Iterable[bytes]) -> pa.Table:
    """Notes as a SPEC 4 ``notes.parquet`` table, each distinct note once, in the order
    first seen."""
    unique = list(dict.fromkeys(notes))
    return pa.table({"note": pa.array(unique, pa.binary())}, schema=NOTE_SCHEMA)


@dataclass(frozen=True, slots=True)
class EvidenceExport:
    receipts_file: Path
    notes_file: Path
    receipts: int
    notes: int
    devices: int


def export_evidence(
    states: Sequence[str | os.PathLike[str] | Device], out_dir: str | os.PathLike[str]
) -> EvidenceExport:
    """Write the evidence of the devices (state files, or loaded devices) into ``out_dir``.

    Raises:
        DeviceError: a state file can't be read or does not verify.
        BundleError: ``out_dir`` can't be written.
    """
    devices = [s if isinstance(s, Device) else Device.load(s) for s in states]
    receipts = receipts_table(r for d in devices for r in d.receipts())
    notes = notes_table(n for d in devices for n in d.notes())
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        rfile, nfile = out / RECEIPTS_FILE, out / NOTES_FILE
        replace_atomically(rfile, lambda tmp: pq.write_table(receipts, tmp))
        replace_atomically(nfile, lambda tmp: pq.write_table(notes, tmp))
    except OSError as exc:
        raise BundleError(f"{out}: cannot write the evidence: {exc}") from exc
    return EvidenceExport(rfile, nfile, receipts.num_rows, notes.num_rows, len(devices))
