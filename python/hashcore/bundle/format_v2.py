"""The v2 bundle format (SPEC v2 section 4): file names, the manifest, the Arrow schemas,
and tables conformed to them on writing or checked on reading.

Readers accept what SPEC 4 says they must: nullable or required columns, rows in any
order, ``binary`` or ``large_binary`` where the SPEC has ``binary``; and, by the vectors'
decision 13, a string-typed ``note`` column, read as its UTF-8 bytes (said in
``schema_notes``). Byte columns keep their stored type: a value of the wrong size is a
verdict of its row (MALFORMED, RECEIPT_BAD_SIG), not a reason to refuse the bundle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from .. import _core
from ..errors import BundleError, ColumnError, ColumnTypeError
from ..limits import echo
from .format import BUNDLE_FORMAT, load_manifest_object

__all__ = [
    "BUNDLE_VERSION_V2",
    "CHECKPOINT_SCHEMA_V2",
    "NOTES_FILE",
    "NOTE_SCHEMA",
    "RECEIPTS_FILE",
    "RECEIPT_SCHEMA",
    "RECORD_SCHEMA_V2",
    "ManifestV2",
    "check_read_table",
    "conform_for_writing",
    "new_manifest_v2",
    "read_manifest_v2",
]

BUNDLE_VERSION_V2 = 2
RECEIPTS_FILE = "receipts.parquet"
NOTES_FILE = "notes.parquet"

#: `records.parquet` (v2). Every column but salt and payload is written non-null.
RECORD_SCHEMA_V2 = pa.schema(
    [
        pa.field("log_index", pa.uint64(), nullable=False),
        pa.field("chain_id", pa.binary(16), nullable=False),
        pa.field("seq", pa.uint64(), nullable=False),
        pa.field("time_ms", pa.int64(), nullable=False),
        pa.field("kind", pa.uint8(), nullable=False),
        pa.field("prev", pa.binary(32), nullable=False),
        pa.field("commit", pa.binary(32), nullable=False),
        pa.field("beacon_size", pa.uint64(), nullable=False),
        pa.field("beacon_root", pa.binary(32), nullable=False),
        pa.field("link", pa.binary(32), nullable=False),
        pa.field("signature", pa.binary(64), nullable=False),
        pa.field("salt", pa.binary(), nullable=True),
        pa.field("payload", pa.binary(), nullable=True),
        pa.field("received_ms", pa.int64(), nullable=False),
    ]
)

#: `checkpoints.parquet` (v2): the whole signed note; tx_hash / block_number informational.
CHECKPOINT_SCHEMA_V2 = pa.schema(
    [
        pa.field("tree_size", pa.uint64(), nullable=False),
        pa.field("root", pa.binary(32), nullable=False),
        pa.field("note", pa.binary(), nullable=False),
        pa.field("tx_hash", pa.binary(32), nullable=True),
        pa.field("block_number", pa.int64(), nullable=True),
    ]
)

#: `receipts.parquet`: receipts handed in by devices or sites (SPEC 2.4).
RECEIPT_SCHEMA = pa.schema(
    [
        pa.field("chain_id", pa.binary(16), nullable=False),
        pa.field("seq", pa.uint64(), nullable=False),
        pa.field("link", pa.binary(32), nullable=False),
        pa.field("log_index", pa.uint64(), nullable=False),
        pa.field("received_ms", pa.int64(), nullable=False),
        pa.field("receipt_sig", pa.binary(64), nullable=False),
    ]
)

#: `notes.parquet`: signed notes seen outside the bundle, one a row.
NOTE_SCHEMA = pa.schema([pa.field("note", pa.binary(), nullable=False)])

#: Columns a reader may do without (SPEC 4: informational).
_OPTIONAL = frozenset({"tx_hash", "block_number"})
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_I64 = (-(2**63), 2**63 - 1)


def _is_bytes_type(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
        or pa.types.is_null(t)
    )


def check_read_table(
    table: pa.Table, schema: pa.Schema, file: Path, schema_notes: list[str]
) -> pa.Table:
    """``table`` as read from ``file``, checked against ``schema``: every required column
    present with a type a reader accepts. Integers are cast to the SPEC type (a value that
    doesn't fit is an error naming the row); a string ``note`` column becomes binary
    (decision 13, noted in ``schema_notes``); byte columns keep their stored type. Columns
    the SPEC doesn't name are dropped.

    Raises:
        BundleError: a column is missing or has a type no reader accepts, or an integer
            doesn't fit the SPEC type.
    """
    columns: list[pa.ChunkedArray] = []
    fields: list[pa.Field] = []
    for f in schema:
        if f.name not in table.column_names:
            if f.name in _OPTIONAL:
                continue
            raise BundleError(f"{file}: no column '{f.name}' (SPEC section 4)")
        col = table.column(f.name)
        t = col.type
        if pa.types.is_dictionary(t):
            col = col.cast(t.value_type)
            t = col.type
        if f.name == "note" and (pa.types.is_string(t) or pa.types.is_large_string(t)):
            col = col.cast(pa.large_binary())
            t = col.type
            schema_notes.append(
                f"{file}: column 'note' is {table.column('note').type}; read as UTF-8 bytes"
            )
        if pa.types.is_integer(f.type):
            if not (pa.types.is_integer(t) or pa.types.is_null(t)):
                raise BundleError(f"{file}: column '{f.name}' must be {f.type}, got {t}")
            if t != f.type:
                try:
                    col = col.cast(f.type, safe=True)
                except pa.ArrowInvalid:
                    raise BundleError(
                        f"{file}: column '{f.name}' has a value that does not fit {f.type}"
                    ) from None
        elif not _is_bytes_type(t):
            raise BundleError(f"{file}: column '{f.name}' must be {f.type}, got {t}")
        columns.append(col)
        fields.append(pa.field(f.name, col.type, nullable=True))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def conform_for_writing(table: pa.Table | pa.RecordBatch, schema: pa.Schema, what: str) -> pa.Table:
    """``table`` with exactly ``schema``'s columns, types and nullability (a writer writes
    the SPEC types), or an error naming the column and what is wrong.

    Raises:
        ColumnError: a column is missing, null where required, has a value of the wrong
            size or out of range, or is not in the SPEC.
        ColumnTypeError: a column's type can't become the SPEC type.
    """
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    if not isinstance(table, pa.Table):
        raise ColumnTypeError(f"{what} must be a pyarrow.Table or RecordBatch")
    unknown = [n for n in table.column_names if n not in schema.names]
    if unknown:
        raise ColumnError(f"{what} table has column(s) not in SPEC section 4: {unknown}")
    columns = []
    for f in schema:
        if f.name not in table.column_names:
            if not f.nullable:
                raise ColumnError(f"{what} table has no column '{f.name}'")
            col = pa.chunked_array([pa.nulls(table.num_rows, f.type)])
        else:
            col = table.column(f.name)
        if col.type != f.type:
            try:
                col = col.cast(f.type, safe=True)
            except pa.ArrowNotImplementedError:
                raise ColumnTypeError(
                    f"{what} column '{f.name}' has type {col.type}; SPEC section 4 needs {f.type}"
                ) from None
            except pa.ArrowInvalid as exc:
                raise ColumnError(
                    f"{what} column '{f.name}' cannot be written as {f.type}: {exc}"
                ) from None
        if not f.nullable and col.null_count:
            raise ColumnError(
                f"{what} column '{f.name}' has {col.null_count} null value(s); it is required"
            )
        columns.append(col)
    return pa.Table.from_arrays(columns, schema=schema)


def new_manifest_v2(origin: str, log_key: bytes, exported_ms: int) -> dict[str, Any]:
    return {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION_V2,
        "origin": origin,
        "log_key": log_key.hex(),
        "exported_ms": exported_ms,
    }


@dataclass(frozen=True)
class ManifestV2:
    """A checked v2 manifest (``exported_ms`` is the relay's word, informational only)."""

    raw: dict[str, Any]
    origin: str
    log_key: bytes
    exported_ms: int


def read_manifest_v2(path: Path) -> ManifestV2:
    """The manifest of a v2 bundle, checked as decision 13 says.

    Raises:
        BundleError: naming the file and the member: format or version not SPEC 4's, an
            origin that isn't a key name, a log_key that isn't 64 hex digits, an
            exported_ms that isn't an i64.
    """
    file, manifest = load_manifest_object(path)
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(
            f"{file}: format is {echo(manifest.get('format'))}, expected {BUNDLE_FORMAT!r}"
        )
    version = manifest.get("version")
    if isinstance(version, bool) or version != BUNDLE_VERSION_V2:
        raise BundleError(f"{file}: version is {echo(version)}, expected {BUNDLE_VERSION_V2}")
    origin = manifest.get("origin")
    if not isinstance(origin, str) or not _core.is_key_name(origin):
        raise BundleError(f"{file}: origin must be a key name, got {echo(origin)}")
    log_key = manifest.get("log_key")
    if not isinstance(log_key, str) or not _HEX64.fullmatch(log_key):
        raise BundleError(f"{file}: log_key must be 64 hex digits, got {echo(log_key)}")
    exported = manifest.get("exported_ms")
    if (
        isinstance(exported, bool)
        or not isinstance(exported, int)
        or not _I64[0] <= exported <= _I64[1]
    ):
        raise BundleError(f"{file}: exported_ms must be an i64 integer, got {echo(exported)}")
    return ManifestV2(manifest, origin, bytes.fromhex(log_key), exported)
