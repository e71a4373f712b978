"""The v2 audit's tables as the Rust engine (``_core.v2_audit``) takes them: each column's
raw Arrow buffers (no copy where a column has the SPEC type), types checked first."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from ..bundle.format_v2 import RECEIPT_SCHEMA, RECORD_SCHEMA_V2
from ..errors import ColumnError, ColumnTypeError
from .columns import ColumnSpec, binary_column_spec, column_array, int_column_spec

__all__ = ["checkpoint_rows_v2", "note_spec", "receipt_specs", "record_specs_v2"]


def _specs(table: pa.Table | pa.RecordBatch, schema: pa.Schema, what: str) -> dict[str, ColumnSpec]:
    if not isinstance(table, pa.Table | pa.RecordBatch):
        raise ColumnTypeError(f"{what} must be a pyarrow.Table or RecordBatch")
    specs: dict[str, ColumnSpec] = {}
    for f in schema:
        if f.name not in table.column_names:
            raise ColumnError(f"{what} table has no column '{f.name}' (SPEC section 4)")
        arr = column_array(table, f.name)
        if pa.types.is_integer(f.type):
            specs[f.name] = int_column_spec(f.name, arr, f.type)
        else:
            specs[f.name] = binary_column_spec(f.name, arr)
    return specs


def record_specs_v2(records: pa.Table | pa.RecordBatch) -> dict[str, ColumnSpec]:
    """The 14 record columns of SPEC 4."""
    return _specs(records, RECORD_SCHEMA_V2, "records")


def receipt_specs(receipts: pa.Table | pa.RecordBatch) -> dict[str, ColumnSpec]:
    """The 6 receipt columns of SPEC 4."""
    return _specs(receipts, RECEIPT_SCHEMA, "receipts")


def note_spec(notes: pa.Table | pa.RecordBatch) -> ColumnSpec:
    """The ``note`` column (binary; a string column is cast by the reader, decision 13)."""
    if "note" not in notes.column_names:
        raise ColumnError("notes table has no column 'note' (SPEC section 4)")
    return binary_column_spec("note", column_array(notes, "note"))


def checkpoint_rows_v2(
    checkpoints: pa.Table | pa.RecordBatch,
) -> list[tuple[int | None, bytes | None, bytes | None]]:
    """(tree_size, root, note) per checkpoint row; a few rows, so plain values."""
    for name in ("tree_size", "root", "note"):
        if name not in checkpoints.column_names:
            raise ColumnError(f"checkpoints table has no column '{name}' (SPEC section 4)")
    sizes = column_array(checkpoints, "tree_size")
    if not (pa.types.is_integer(sizes.type) or pa.types.is_null(sizes.type)):
        raise ColumnTypeError(f"checkpoint column 'tree_size' must be uint64, got {sizes.type}")
    for name in ("root", "note"):
        binary_column_spec(name, column_array(checkpoints, name))  # type check only
    rows: list[tuple[int | None, bytes | None, bytes | None]] = []
    values: list[Any] = [
        column_array(checkpoints, n).to_pylist() for n in ("tree_size", "root", "note")
    ]
    for i, (size, root, note) in enumerate(zip(*values, strict=True)):
        if size is not None and not 0 <= size < 2**64:
            raise ColumnError(f"checkpoint column 'tree_size' row {i}: {size} is not a uint64")
        rows.append((size, root, note))
    return rows
