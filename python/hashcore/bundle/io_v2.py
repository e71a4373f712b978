"""v2 audit bundles (SPEC v2 section 4): write them and read them.

A v2 bundle is a directory::

    manifest.json          {"format": "hashcore-bundle", "version": 2, "origin": ...,
                            "log_key": ..., "exported_ms": ...}
    records.parquet        and/or records/*.parquet (parts, read in name order; both read)
    checkpoints.parquet    tree_size, root, note (the whole signed note), tx_hash, block_number
    receipts.parquet       optional: receipts handed in by devices or sites
    notes.parquet          optional: signed notes seen outside the bundle, one a row

The writer writes exactly the SPEC types, required columns non-null. The reader accepts
what SPEC 4 says readers accept (see :mod:`hashcore.bundle.format_v2`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

import pyarrow as pa
import pyarrow.parquet as pq

from .. import _core
from .._atomic import replace_atomically, write_atomically
from ..errors import BundleError, InvalidInputError
from ..safe_read import open_parquet
from .format import CHECKPOINTS_FILE, MANIFEST, RECORDS_DIR, RECORDS_FILE, record_files
from .format_v2 import (
    CHECKPOINT_SCHEMA_V2,
    NOTE_SCHEMA,
    NOTES_FILE,
    RECEIPT_SCHEMA,
    RECEIPTS_FILE,
    RECORD_SCHEMA_V2,
    ManifestV2,
    check_read_table,
    conform_for_writing,
    new_manifest_v2,
    read_manifest_v2,
)

__all__ = [
    "BundleV2",
    "combine_tables",
    "read_bundle_v2",
    "read_evidence_file",
    "write_bundle_v2",
]

Tabular: TypeAlias = pa.Table | pa.RecordBatch


def _write_parquet(table: pa.Table, file: Path) -> None:
    replace_atomically(file, lambda tmp: pq.write_table(table, tmp))


def write_bundle_v2(
    path: str | os.PathLike[str],
    records: Tabular,
    checkpoints: Tabular,
    *,
    origin: str,
    log_key: bytes,
    exported_ms: int | None = None,
    receipts: Tabular | None = None,
    notes: Tabular | Iterable[bytes] | None = None,
    part_rows: int | None = None,
) -> Path:
    """Write a v2 bundle directory exactly as SPEC 4 describes; returns it.

    ``records``, ``checkpoints`` and ``receipts`` are tables with the SPEC columns (cast
    to the SPEC types; tx_hash / block_number may be left out); ``notes`` a table with a
    ``note`` column or an iterable of note bytes. ``exported_ms`` defaults to now. With
    ``part_rows`` the records go to ``records/part-00000.parquet``, ... The manifest is
    written last, so an interrupted write leaves no readable bundle.

    Raises:
        BundleError: ``path`` exists and is not an empty directory.
        InvalidInputError: a bad origin, log_key, exported_ms or part_rows.
        ColumnError, ColumnTypeError: a column is missing, null where required, of the
            wrong size (e.g. a 31-byte link) or of a type that can't be the SPEC type.
    """
    out = Path(path)
    if not isinstance(origin, str) or not _core.is_key_name(origin):
        raise InvalidInputError(f"origin must be a key name, got {origin!r}")
    if not isinstance(log_key, bytes) or len(log_key) != 32:
        raise InvalidInputError("log_key must be 32 bytes")
    exported = int(time.time() * 1000) if exported_ms is None else exported_ms
    if isinstance(exported, bool) or not isinstance(exported, int):
        raise InvalidInputError(f"exported_ms must be an integer, got {exported!r}")
    if part_rows is not None and (
        isinstance(part_rows, bool) or not isinstance(part_rows, int) or part_rows < 1
    ):
        raise InvalidInputError(f"part_rows must be a positive integer, got {part_rows!r}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(f"{out}: exists and is not an empty directory; not overwriting")

    records_t = conform_for_writing(records, RECORD_SCHEMA_V2, "records")
    checkpoints_t = conform_for_writing(checkpoints, CHECKPOINT_SCHEMA_V2, "checkpoints")
    receipts_t = (
        conform_for_writing(receipts, RECEIPT_SCHEMA, "receipts") if receipts is not None else None
    )
    notes_t = None
    if notes is not None:
        if not isinstance(notes, pa.Table | pa.RecordBatch):
            notes = pa.table({"note": pa.array(list(notes), pa.binary())})
        notes_t = conform_for_writing(notes, NOTE_SCHEMA, "notes")

    out.mkdir(parents=True, exist_ok=True)
    if part_rows is None:
        _write_parquet(records_t, out / RECORDS_FILE)
    else:
        (out / RECORDS_DIR).mkdir()
        for n, start in enumerate(range(0, max(records_t.num_rows, 1), part_rows)):
            part = records_t.slice(start, part_rows)
            _write_parquet(part, out / RECORDS_DIR / f"part-{n:05d}.parquet")
    _write_parquet(checkpoints_t, out / CHECKPOINTS_FILE)
    if receipts_t is not None:
        _write_parquet(receipts_t, out / RECEIPTS_FILE)
    if notes_t is not None:
        _write_parquet(notes_t, out / NOTES_FILE)
    manifest = new_manifest_v2(origin, log_key, exported)
    write_atomically(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return out


@dataclass
class BundleV2:
    """A v2 bundle as read: byte columns keep their stored types (wrong sizes are verdicts)."""

    path: Path
    manifest: ManifestV2
    records: pa.Table
    checkpoints: pa.Table
    #: The bundle's own receipts.parquet / notes.parquet (empty tables without them).
    receipts: pa.Table
    notes: pa.Table
    #: The records' Parquet files, relative to ``path``, in read order.
    record_files: list[str] = field(default_factory=list)
    #: What the reader accepted that a writer would not write (decision 13).
    schema_notes: list[str] = field(default_factory=list)


def _read_table(file: Path, schema: pa.Schema, schema_notes: list[str]) -> pa.Table:
    # Only a regular file, its row count checked against its size (issue 15, defects 6, 14).
    with open_parquet(file) as (parquet, _):
        try:
            table = parquet.read()
        except (pa.ArrowException, OSError) as exc:
            raise BundleError(f"{file}: unreadable Parquet: {exc}") from None
    return check_read_table(table, schema, file, schema_notes)


def combine_tables(tables: Sequence[pa.Table], schema: pa.Schema, what: str) -> pa.Table:
    """One table of ``tables`` (checked by :func:`check_read_table`). Where their byte
    columns' types differ they widen to large_binary (every value fits); with no tables,
    an empty table of ``schema``."""
    if not tables:
        return schema.empty_table()
    if len(tables) == 1:
        return tables[0]
    first = tables[0].schema
    if all(t.schema == first for t in tables[1:]):
        return pa.concat_tables(tables)
    widened = []
    for t in tables:
        fields = [
            pa.field(f.name, f.type if pa.types.is_integer(f.type) else pa.large_binary())
            for f in t.schema
        ]
        widened.append(t.cast(pa.schema(fields)))
    try:
        return pa.concat_tables(widened, promote_options="default")
    except pa.ArrowException as exc:
        raise BundleError(f"{what} cannot be combined: {exc}") from None


def read_evidence_file(
    file: str | os.PathLike[str], kind: str, schema_notes: list[str]
) -> pa.Table:
    """A receipts (``kind`` "receipts") or notes ("notes") Parquet file in the SPEC 4 shape,
    from the bundle or handed in (``--receipts``, ``--notes``).

    Raises:
        BundleError: naming the file: unreadable, a missing column or a type no reader
            accepts.
    """
    schema = {"receipts": RECEIPT_SCHEMA, "notes": NOTE_SCHEMA}[kind]
    return _read_table(Path(file), schema, schema_notes)


def read_bundle_v2(path: str | os.PathLike[str]) -> BundleV2:
    """Read a v2 bundle: manifest, every records file, checkpoints, and the optional
    receipts.parquet and notes.parquet.

    Raises:
        BundleError: naming the file: not a directory, a bad manifest (decision 13), no
            records or checkpoints file, a corrupt Parquet file, a missing column or one
            of a type no reader accepts.
    """
    root = Path(path)
    if not root.is_dir():
        raise BundleError(f"{root}: not a directory (a bundle is a directory)")
    manifest = read_manifest_v2(root)
    notes: list[str] = []
    files = record_files(root)
    records = combine_tables(
        [_read_table(f, RECORD_SCHEMA_V2, notes) for f in files], RECORD_SCHEMA_V2, str(root)
    )
    cp_file = root / CHECKPOINTS_FILE
    if not os.path.lexists(cp_file):
        raise BundleError(f"{cp_file}: missing")
    checkpoints = _read_table(cp_file, CHECKPOINT_SCHEMA_V2, notes)
    receipts = (
        read_evidence_file(root / RECEIPTS_FILE, "receipts", notes)
        if os.path.lexists(root / RECEIPTS_FILE)
        else RECEIPT_SCHEMA.empty_table()
    )
    note_rows = (
        read_evidence_file(root / NOTES_FILE, "notes", notes)
        if os.path.lexists(root / NOTES_FILE)
        else NOTE_SCHEMA.empty_table()
    )
    return BundleV2(
        path=root,
        manifest=manifest,
        records=records,
        checkpoints=checkpoints,
        receipts=receipts,
        notes=note_rows,
        record_files=[f.relative_to(root).as_posix() for f in files],
        schema_notes=notes,
    )
