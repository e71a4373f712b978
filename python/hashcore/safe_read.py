"""Reading the files of a bundle the auditor did not write (see :mod:`hashcore.limits`).

Every refusal is a :class:`~hashcore.errors.BundleError` naming the file, never a builtin
exception or a pyarrow one: the CLI turns it into one line and exit code 2.

Only regular files are read. A named pipe would block the auditor until someone writes to
it, a device (``/dev/zero``) never ends: the kind is checked with ``lstat`` before the file
is opened, and again with ``fstat`` on the descriptor (opened with ``O_NONBLOCK``, so not
even the open can block, and ``O_NOFOLLOW``), so what is read is what was checked. Sizes
are checked against the file before anything is allocated for what it claims to hold.

Symbolic links inside a bundle are refused, even to a regular file inside the bundle: an
audit reports on the bytes delivered, and a link's target is not delivered with it (it
points into the auditor's own machine: ``/etc``, ``/dev/zero``, another bundle, or
nowhere); a link to another file of the same bundle only duplicates its rows, which no
writer does; and refusing every link is exact and race-free (``O_NOFOLLOW``) where
deciding "inside the bundle" is not. A user who assembled a bundle from links copies the
targets in (``cp -rL``). The bundle directory itself may be a link: the user named it.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import BundleError
from .limits import MIN_ROW_BYTES
from .strict_json import json_depth, parse_json

__all__ = [
    "check_parquet_claims",
    "json_depth",
    "open_parquet",
    "open_regular",
    "parquet_parts",
    "parse_json",
    "read_small_text",
]

_KINDS = (
    (stat.S_ISREG, "a regular file"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "of an unknown kind")


def _refuse_unless_regular(file: Path, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise BundleError(
            f"{file}: is {_kind(info.st_mode)}, not a regular file; a bundle holds regular "
            "files only"
        )


@contextmanager
def open_regular(file: Path) -> Iterator[BinaryIO]:
    """``file`` opened for reading if it is a regular file, else a BundleError.

    FileNotFoundError and other OSErrors of the open pass through (callers name them).
    """
    _refuse_unless_regular(file, os.lstat(file))
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(file, flags | getattr(os, "O_BINARY", 0))
    try:
        # Checked again on the descriptor: the name may have been swapped since the stat.
        _refuse_unless_regular(file, os.fstat(fd))
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle


def parquet_parts(directory: Path) -> list[Path]:
    """The ``*.parquet`` entries of ``directory`` in name order, whatever their kind: each
    is checked when it is opened, so a link, a pipe or a device among them is refused by
    name rather than skipped. [] when there is no ``directory``.

    Raises:
        BundleError: ``directory`` is a link or not a directory.
    """
    try:
        info = os.lstat(directory)
    except FileNotFoundError:
        return []
    if not stat.S_ISDIR(info.st_mode):
        raise BundleError(f"{directory}: is {_kind(info.st_mode)}, not a directory")
    return sorted(p for p in directory.iterdir() if p.name.endswith(".parquet"))


def read_small_text(file: Path, limit: int) -> str:
    """A regular file of at most ``limit`` bytes, as UTF-8 text.

    Raises:
        BundleError: ``file`` is not a regular file or is larger than ``limit``.
        OSError, UnicodeDecodeError: as ``Path.read_text``.
    """
    with open_regular(file) as handle:
        size = os.fstat(handle.fileno()).st_size
        data = handle.read(limit + 1)  # bounded even if the file grows after the fstat
        if size > limit or len(data) > limit:
            raise BundleError(f"{file}: {max(size, len(data))} bytes; at most {limit} are read")
    return data.decode("utf-8")


def check_parquet_claims(file: Path, parquet: pq.ParquetFile, size: int) -> int:
    """The row count ``parquet``'s footer claims, after checking that the claims are
    possible: no negative row counts, no more rows than a file of ``size`` bytes holds at
    MIN_ROW_BYTES a row, row groups that add up to the file's count, no column name twice
    (pyarrow would pick one, or fail with an ArrowInvalid)."""
    meta = parquet.metadata
    rows = int(meta.num_rows)
    if rows < 0:
        raise BundleError(f"{file}: Parquet metadata claims {rows} rows")
    if rows > size // MIN_ROW_BYTES:
        raise BundleError(
            f"{file}: Parquet metadata claims {rows} rows, but a file of {size} bytes holds "
            f"at most {size // MIN_ROW_BYTES} (a row takes at least {MIN_ROW_BYTES} bytes)"
        )
    group_rows = [int(meta.row_group(i).num_rows) for i in range(meta.num_row_groups)]
    if any(n < 0 for n in group_rows) or sum(group_rows) != rows:
        raise BundleError(
            f"{file}: Parquet metadata claims {rows} rows, but its row groups claim "
            f"{group_rows[:10]}{' ...' if len(group_rows) > 10 else ''}"
        )
    repeated = [(name, n) for name, n in Counter(parquet.schema_arrow.names).items() if n > 1]
    if repeated:
        name, n = repeated[0]
        raise BundleError(f"{file}: column '{name}' appears {n} times")
    return rows


@contextmanager
def open_parquet(file: Path, **options: Any) -> Iterator[tuple[pq.ParquetFile, int]]:
    """``file`` as a ``pyarrow.parquet.ParquetFile`` (with ``options``) and its row count,
    after :func:`open_regular` and :func:`check_parquet_claims`; a file pyarrow cannot
    open is a BundleError "unreadable Parquet"."""
    try:
        with open_regular(file) as handle:
            size = os.fstat(handle.fileno()).st_size
            parquet = pq.ParquetFile(handle, **options)
            rows = check_parquet_claims(file, parquet, size)
            yield parquet, rows
    except (pa.ArrowException, OSError) as exc:
        raise BundleError(f"{file}: unreadable Parquet: {exc}") from None
