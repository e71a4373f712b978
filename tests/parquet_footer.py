"""Rewrite the row counts in a real Parquet file's footer, as a hostile writer could.

pyarrow writes only honest metadata, so the tests take a file it wrote and change the
``num_rows`` of its FileMetaData (Thrift field 3) and of every RowGroup (field 3 of each
element of field 4) in the Thrift compact encoding of the footer. The rest of the file,
pages included, stays as pyarrow wrote it.
"""

from __future__ import annotations

import struct
from pathlib import Path

_MAGIC = b"PAR1"
# Thrift compact types.
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _zigzag(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        if z < 0x80:
            out.append(z)
            return bytes(out)
        out.append((z & 0x7F) | 0x80)
        z >>= 7


def _skip(buf: bytes, pos: int, kind: int, path: tuple[int, ...], hits: list) -> int:
    if kind in (_TRUE, _FALSE):
        return pos  # a struct field's bool lives in its header (a list's is one byte, below)
    if kind == _BYTE:
        return pos + 1
    if kind in (_I16, _I32, _I64):
        start = pos
        _, pos = _varint(buf, pos)
        if kind == _I64:
            hits.append((path, start, pos))
        return pos
    if kind == _DOUBLE:
        return pos + 8
    if kind == _BINARY:
        n, pos = _varint(buf, pos)
        return pos + n
    if kind in (_LIST, _SET):
        header = buf[pos]
        pos += 1
        size, elem = header >> 4, header & 0x0F
        if size == 15:
            size, pos = _varint(buf, pos)
        for i in range(size):
            pos = pos + 1 if elem in (_TRUE, _FALSE) else _skip(buf, pos, elem, (*path, i), hits)
        return pos
    if kind == _MAP:
        size, pos = _varint(buf, pos)
        if size:
            types = buf[pos]
            pos += 1
            for _ in range(size):
                pos = _skip(buf, pos, types >> 4, path, hits)
                pos = _skip(buf, pos, types & 0x0F, path, hits)
        return pos
    if kind == _STRUCT:
        field = 0
        while True:
            header = buf[pos]
            pos += 1
            if header == 0:
                return pos
            delta, ftype = header >> 4, header & 0x0F
            if delta:
                field += delta
            else:
                raw, pos = _varint(buf, pos)
                field = (raw >> 1) ^ -(raw & 1)
            pos = _skip(buf, pos, ftype, (*path, field), hits)
    raise ValueError(f"unknown Thrift compact type {kind} at byte {pos}")


def set_num_rows(file: Path, num_rows: int, *, row_groups: int | None = None) -> None:
    """Make ``file``'s footer claim ``num_rows`` rows, and each row group ``row_groups``
    (default: the same) rows."""
    data = file.read_bytes()
    assert data[-4:] == _MAGIC
    (length,) = struct.unpack("<I", data[-8:-4])
    start = len(data) - 8 - length
    footer = data[start : len(data) - 8]
    hits: list[tuple[tuple[int, ...], int, int]] = []
    _skip(footer, 0, _STRUCT, (), hits)
    group_rows = num_rows if row_groups is None else row_groups
    # FileMetaData.num_rows is (3,); RowGroup.num_rows is (4, i, 3).
    edits = [(s, e, num_rows) for p, s, e in hits if p == (3,)]
    edits += [(s, e, group_rows) for p, s, e in hits if len(p) == 3 and p[0] == 4 and p[2] == 3]
    assert len(edits) >= 2, hits
    out = bytearray(footer)
    for s, e, value in sorted(edits, reverse=True):
        out[s:e] = _zigzag(value)
    file.write_bytes(data[:start] + bytes(out) + struct.pack("<I", len(out)) + _MAGIC)
