"""Record and checkpoint columns as the Rust engine takes them: raw Arrow buffers per column
(no copy where a column already has the SPEC type), checked for type and range first.
:mod:`.v2_columns` hands the v2 tables over through these."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import ColumnError, ColumnTypeError

#: How one column's Arrow buffers are handed to the engine:
#: (layout, width, data, offsets, validity, element offset, length).
ColumnSpec = tuple[str, int, Any, Any, Any, int, int]


def column_array(table: pa.Table | pa.RecordBatch, name: str) -> pa.Array:
    if name not in table.column_names:
        raise ColumnError(f"records table has no column '{name}' (SPEC section 4)")
    if (n := len(table.schema.get_all_field_indices(name))) > 1:
        raise ColumnError(f"column '{name}' appears {n} times in the table")
    col = table.column(name)
    if isinstance(col, pa.ChunkedArray):
        if col.num_chunks == 1:
            return col.chunk(0)
        return col.combine_chunks() if col.num_chunks else pa.array([], type=col.type)
    return col


def _validity(arr: pa.Array) -> pa.Buffer | None:
    return arr.buffers()[0] if arr.null_count else None


def int_column_spec(name: str, arr: pa.Array, target: pa.DataType) -> ColumnSpec:
    """An integer column's buffers as ``target`` (cast safely; an error names the row)."""
    if pa.types.is_null(arr.type):
        arr = pa.nulls(len(arr), type=target)
    if not pa.types.is_integer(arr.type):
        raise ColumnTypeError(f"column '{name}' must be {target}, got {arr.type}")
    if arr.type != target:
        try:
            arr = arr.cast(target, safe=True)
        except pa.ArrowInvalid:
            values = arr.to_numpy(zero_copy_only=False)
            info = np.iinfo(target.to_pandas_dtype())
            bad = np.flatnonzero((values < info.min) | (values > info.max))
            row = int(bad[0]) if len(bad) else 0
            raise ColumnError(
                f"column '{name}' row {row}: value {values[row]} does not fit {target}"
            ) from None
    data = arr.buffers()[1]
    return ("int", target.bit_width // 8, data, None, _validity(arr), arr.offset, len(arr))


def binary_column_spec(name: str, arr: pa.Array) -> ColumnSpec:
    """A binary, large_binary or fixed_size_binary column's buffers, as stored."""
    t = arr.type
    if pa.types.is_null(t):
        arr, t = pa.nulls(len(arr), type=pa.binary()), pa.binary()
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if pa.types.is_binary_view(t):
        arr, t = arr.cast(pa.large_binary()), pa.large_binary()
    bufs = arr.buffers()
    if pa.types.is_fixed_size_binary(t):
        data = bufs[1] if bufs[1] is not None else b""
        return ("fixed", t.byte_width, data, None, _validity(arr), arr.offset, len(arr))
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        layout = "var32" if pa.types.is_binary(t) else "var64"
        data = bufs[2] if bufs[2] is not None else b""
        return (layout, 0, data, bufs[1], _validity(arr), arr.offset, len(arr))
    raise ColumnTypeError(
        f"column '{name}' must be binary or fixed_size_binary, got {t} (SPEC section 4)"
    )
