"""Atomic file replacement, the one way hashcore writes a file that must never be seen half
written: write a temp file beside the target, fsync it, rename it over the target, fsync the
directory (so the rename itself survives a crash). Readers see the old or the new file."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

__all__ = ["fsync_dir", "fsync_path", "replace_atomically", "write_atomically"]


def fsync_path(path: str | os.PathLike[str]) -> None:
    """Flush a file (or directory) to disk; raises OSError when that fails."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make a rename in ``directory`` durable; a no-op where directories can't be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        # Some filesystems refuse fsync on a directory; the rename itself still happened.
        pass
    finally:
        os.close(fd)


def replace_atomically(
    path: str | os.PathLike[str], write: Callable[[Path], object], *, mode: int | None = None
) -> None:
    """Replace ``path`` with what ``write(temp_path)`` writes to a fresh temp file.

    ``mode`` (e.g. ``0o600`` for a secret key) is set on the temp file before anything is
    written to it, whatever the umask; without it the file gets the umask's default mode.
    """
    target = Path(path)
    # A unique name, so that two writers of the same file never share a temp file.
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode)
    try:
        try:
            if mode is not None:
                os.fchmod(fd, mode)
        finally:
            os.close(fd)
        write(tmp)
        fsync_path(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(target.parent)


def write_atomically(
    path: str | os.PathLike[str], data: bytes | str, *, mode: int | None = None
) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8); see :func:`replace_atomically`."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    replace_atomically(path, lambda tmp: tmp.write_bytes(raw), mode=mode)
