"""Audit bundles (SPEC section 3): write them and read them.

A bundle is a directory::

    manifest.json          {"format": "hashcore-bundle", "version": 1, "log_id": ..., "evm": ...}
    records.parquet        and/or records/*.parquet (parts, read in name order)
    checkpoints.parquet

The writer produces exactly the SPEC Arrow types, with every column but salt, payload,
tx_hash and block_number marked required. The reader is lenient where the SPEC says
readers must be (nullability, row order, parts) but keeps column types as stored: a
wrong-size value in a ``binary`` column is the auditor's MALFORMED verdict for one row,
not a reason to reject the whole bundle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .._atomic import replace_atomically, write_atomically
from ..checkpoint import Checkpoint, parse_log_id
from ..errors import BundleError, ColumnError, ColumnTypeError, InvalidInputError
from ..record import Record
from ..safe_read import open_parquet
from ..schema import CHECKPOINT_SCHEMA, RECORD_SCHEMA
from .format import (
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    CHECKPOINTS_FILE,
    MANIFEST,
    RECORDS_DIR,
    RECORDS_FILE,
    check_evm,
    conform,
    new_manifest,
    read_manifest,
    record_files,
)

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "Bundle",
    "BundleHeader",
    "open_bundle",
    "read_bundle",
    "write_bundle",
]


# --------------------------------------------------------------------------- writing


def _records_table(records: pa.Table | pa.RecordBatch | Iterable[Record]) -> pa.Table:
    if isinstance(records, pa.Table | pa.RecordBatch):
        return conform(records, RECORD_SCHEMA, "records")
    cols: dict[str, list[Any]] = {name: [] for name in RECORD_SCHEMA.names}
    for i, rec in enumerate(records):
        if not isinstance(rec, Record):
            raise ColumnTypeError(f"record {i} is a {type(rec).__name__}, not a Record")
        if rec.log_index is None or rec.received_ms is None:
            raise ColumnError(
                f"record {i} (chain {rec.chain_id.hex()} seq {rec.seq}) has no log_index or "
                "received_ms; a bundle holds logged records only"
            )
        for name in cols:
            cols[name].append(getattr(rec, name))
    return pa.Table.from_pydict(cols, schema=RECORD_SCHEMA)


def _checkpoint_value(cp: object, name: str) -> Any:
    if isinstance(cp, Mapping):
        return cp.get(name)
    return getattr(cp, name, None)


def _checkpoints_table(
    checkpoints: pa.Table | pa.RecordBatch | Iterable[Checkpoint | Mapping[str, Any]] | None,
) -> pa.Table:
    if checkpoints is None:
        return CHECKPOINT_SCHEMA.empty_table()
    if isinstance(checkpoints, pa.Table | pa.RecordBatch):
        return conform(checkpoints, CHECKPOINT_SCHEMA, "checkpoints")
    rows: list[Checkpoint] = []
    for i, cp in enumerate(checkpoints):
        if isinstance(cp, Checkpoint):
            rows.append(cp)
            continue
        try:
            rows.append(
                Checkpoint(
                    **{name: _checkpoint_value(cp, name) for name in CHECKPOINT_SCHEMA.names}
                )
            )
        except InvalidInputError as exc:
            raise InvalidInputError(f"checkpoint {i}: {exc}") from None
    cols = {name: [getattr(cp, name) for cp in rows] for name in CHECKPOINT_SCHEMA.names}
    return pa.Table.from_pydict(cols, schema=CHECKPOINT_SCHEMA)


def _write_parquet(table: pa.Table, file: Path) -> None:
    """Write atomically, so no half-written part is left under its name."""
    replace_atomically(file, lambda tmp: pq.write_table(table, tmp))


def write_bundle(
    path: str | os.PathLike[str],
    records: pa.Table | pa.RecordBatch | Iterable[Record],
    checkpoints: pa.Table | pa.RecordBatch | Iterable[Checkpoint | Mapping[str, Any]] | None,
    *,
    log_id: bytes | str,
    evm: Mapping[str, Any] | None = None,
    part_rows: int | None = None,
) -> Path:
    """Write an audit bundle directory exactly as SPEC section 3 describes.

    ``records`` is a table with the SPEC columns (cast to the SPEC types) or an iterable
    of :class:`Record` that all have ``log_index`` and ``received_ms``. ``checkpoints``
    is a table, an iterable of :class:`Checkpoint` (or mappings with its fields), or
    ``None`` for an empty ``checkpoints.parquet``. With ``part_rows`` the records go to
    ``records/part-00000.parquet``, ... with at most that many rows each. The manifest is
    written last, so an interrupted write leaves no readable (half) bundle.

    Returns the bundle directory.

    Raises:
        BundleError: ``path`` exists and is not an empty directory.
        InvalidInputError: bad ``log_id``, ``evm`` or ``part_rows``.
        ColumnError, ColumnTypeError: a column is missing, null where required, or of a
            type that can't be written as the SPEC type.
    """
    out = Path(path)
    log_id_b = parse_log_id(log_id)
    try:
        evm_checked = check_evm(evm)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    if part_rows is not None and (
        isinstance(part_rows, bool) or not isinstance(part_rows, int) or part_rows < 1
    ):
        raise InvalidInputError(f"part_rows must be a positive integer, got {part_rows!r}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        # Writing into an old bundle would mix its parts with ours: both would be read.
        raise BundleError(f"{out}: exists and is not an empty directory; not overwriting")

    records_t = _records_table(records)
    checkpoints_t = _checkpoints_table(checkpoints)
    out.mkdir(parents=True, exist_ok=True)
    if part_rows is None:
        _write_parquet(records_t, out / RECORDS_FILE)
    else:
        parts = out / RECORDS_DIR
        parts.mkdir()
        starts = range(0, max(records_t.num_rows, 1), part_rows)
        for n, start in enumerate(starts):
            _write_parquet(records_t.slice(start, part_rows), parts / f"part-{n:05d}.parquet")
    _write_parquet(checkpoints_t, out / CHECKPOINTS_FILE)
    manifest = json.dumps(new_manifest(log_id_b, evm_checked), indent=2) + "\n"
    write_atomically(out / MANIFEST, manifest)
    return out


# --------------------------------------------------------------------------- reading


@dataclass
class Bundle:
    """A bundle as read from disk; the tables keep the column types as stored."""

    path: Path
    manifest: dict[str, Any]
    log_id: bytes
    evm: dict[str, Any] | None
    records: pa.Table
    checkpoints: pa.Table
    #: The Parquet files the records came from, relative to ``path``, in read order.
    record_files: list[str] = field(default_factory=list)


def _read_parquet(file: Path, required: Iterable[str]) -> pa.Table:
    # Errors name the file by its full path: a CLI user sees exactly which file is bad.
    name = str(file)
    try:
        with open_parquet(file) as (parquet, _):
            table = parquet.read()
    except (pa.ArrowException, OSError) as exc:
        raise BundleError(f"{name}: unreadable Parquet: {exc}") from None
    for column in required:
        if column not in table.column_names:
            raise BundleError(f"{name}: no column '{column}' (SPEC section 3)")
    return table


def _unify(tables: list[pa.Table], names: list[str], root: Path) -> pa.Table:
    """Concatenate parts whose types may differ (e.g. binary vs fixed_size_binary).

    Mixed binary types widen to large_binary (any value fits; the verifier reads it);
    mixed integer types go to the SPEC type. Anything else is an unreadable bundle.
    """
    if len(tables) == 1:
        return tables[0]
    first = tables[0].schema.remove_metadata()
    if all(t.schema.remove_metadata() == first for t in tables[1:]):
        # One writer's parts (the usual case): concatenate as they are, types untouched.
        try:
            return pa.concat_tables([t.replace_schema_metadata(None) for t in tables])
        except pa.ArrowException as exc:
            raise BundleError(f"{root}: records parts cannot be combined: {exc}") from None
    spec = {f.name: f.type for f in RECORD_SCHEMA}
    target: dict[str, pa.DataType] = {}
    for column in tables[0].column_names:
        types = {t.schema.field(column).type for t in tables if column in t.column_names}
        if len(types) == 1:
            continue
        if all(
            pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)
            for t in types
        ):
            target[column] = pa.large_binary()
        elif column in spec and all(pa.types.is_integer(t) for t in types):
            target[column] = spec[column]
        else:
            raise BundleError(
                f"{root}: records parts disagree on the type of column '{column}': "
                f"{sorted(map(str, types))}"
            )
    fixed = []
    for table, name in zip(tables, names, strict=True):
        for column, typ in target.items():
            if column not in table.column_names:
                continue
            i = table.column_names.index(column)
            try:
                table = table.set_column(i, column, table.column(i).cast(typ))
            except pa.ArrowInvalid as exc:
                raise BundleError(f"{name}: column '{column}' does not fit {typ}: {exc}") from None
        # Nullability may differ between writers (SPEC: readers accept either).
        fixed.append(table.cast(pa.schema([f.with_nullable(True) for f in table.schema])))
    try:
        return pa.concat_tables(fixed, promote_options="default")
    except pa.ArrowException as exc:
        raise BundleError(f"{root}: records parts cannot be combined: {exc}") from None


def _read_checkpoints(root: Path) -> pa.Table:
    cp_file = root / CHECKPOINTS_FILE
    if not os.path.lexists(cp_file):
        raise BundleError(f"{cp_file}: missing")
    return _read_parquet(cp_file, ("tree_size", "root", "signature"))


def _record_part_rows(file: Path) -> int:
    """A records file's row count from its metadata, after checking that it opens and
    has every SPEC column (the errors of ``read_bundle``), without reading its data."""
    try:
        with open_parquet(file) as (part, rows):
            names = part.schema_arrow.names
    except (pa.ArrowException, OSError) as exc:
        raise BundleError(f"{file}: unreadable Parquet: {exc}") from None
    for column in RECORD_SCHEMA.names:
        if column not in names:
            raise BundleError(f"{file}: no column '{column}' (SPEC section 3)")
    return int(rows)


@dataclass
class BundleHeader:
    """A bundle without its records (which an audit streams): manifest, checkpoints, and
    which record files there are, with their row counts."""

    path: Path
    manifest: dict[str, Any]
    log_id: bytes
    evm: dict[str, Any] | None
    checkpoints: pa.Table
    #: The Parquet files of the records, relative to ``path``, in read order.
    record_files: list[str]
    #: Rows per record file (from the Parquet metadata).
    record_rows: list[int]

    @property
    def records(self) -> int:
        return sum(self.record_rows)


def open_bundle(path: str | os.PathLike[str]) -> BundleHeader:
    """Read a bundle's manifest and checkpoints and check that its record files open and
    have the SPEC columns, without reading the records (they may not fit in memory).

    Raises:
        BundleError: as :func:`read_bundle`.
    """
    root = Path(path)
    if not root.is_dir():
        raise BundleError(f"{root}: not a directory (a bundle is a directory)")
    manifest, log_id, evm = read_manifest(root)
    files = record_files(root)
    rows = [_record_part_rows(f) for f in files]
    return BundleHeader(
        path=root,
        manifest=manifest,
        log_id=log_id,
        evm=evm,
        checkpoints=_read_checkpoints(root),
        record_files=[f.relative_to(root).as_posix() for f in files],
        record_rows=rows,
    )


def read_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Read a bundle directory: manifest, every records file, and the checkpoints.

    Both ``records.parquet`` and ``records/*.parquet`` are read when both exist (SPEC 3).

    Raises:
        BundleError: naming the file: no manifest, bad JSON, wrong format or version, a
            missing or corrupt Parquet file, or a missing SPEC column.
    """
    root = Path(path)
    if not root.is_dir():
        raise BundleError(f"{root}: not a directory (a bundle is a directory)")
    manifest, log_id, evm = read_manifest(root)

    files = record_files(root)
    names = [f.relative_to(root).as_posix() for f in files]
    tables = [_read_parquet(f, RECORD_SCHEMA.names) for f in files]
    records = _unify(tables, [str(f) for f in files], root)
    checkpoints = _read_checkpoints(root)
    return Bundle(
        path=root,
        manifest=manifest,
        log_id=log_id,
        evm=evm,
        records=records,
        checkpoints=checkpoints,
        record_files=names,
    )
