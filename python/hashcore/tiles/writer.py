"""Writing a log as C2SP tlog-tiles static files, incrementally: hash tiles (full and the
partial ``.p/<W>`` of every checkpoint size), entry bundles of the 41-byte SPEC 2.1 entries
(u16be length-prefixed; no payloads, no chain ids), and ``checkpoint``.

``TileWriter(out).extend(entries, note)`` adds the entries after the size already on disk
and publishes ``note`` for the new size. The new tiles are built in memory and the root they
give is checked against the note's (which must verify under the log's key) before any file
is written; then the tiles are written (a full tile or bundle that exists already must hold
the same bytes: they are immutable) and fsynced, and ``checkpoint`` is replaced last. A crash
leaves the old checkpoint and tiles that are right for it, so a restart resumes from what is
on disk: the partial tiles of the old size are the pending right edge.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .. import _core
from .._atomic import fsync_dir, fsync_path, replace_atomically
from ..errors import InvalidInputError
from .paths import TILE_WIDTH, TileRef

__all__ = ["TileWriter", "right_edge_root"]

_HASH = 32
_EMPTY_ROOT = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


def _perfect_roots(hashes: bytes | bytearray) -> list[bytes]:
    """The roots of the perfect subtrees ``hashes`` (equal-size subtree roots) splits into,
    left to right, as RFC 6962's MTH splits them (by the binary digits of their count)."""
    out = []
    count = len(hashes) // _HASH
    start = 0
    for bit in range(8, -1, -1):
        if count & (1 << bit):
            out.append(_core.sha256_tree_root(hashes[start * _HASH : (start + (1 << bit)) * _HASH]))
            start += 1 << bit
    return out


def right_edge_root(pending: Sequence[bytes | bytearray]) -> bytes:
    """MTH of a tree from its right edge: ``pending[l]`` is the partial tile at level ``l``
    (the hashes of full subtrees of 256^l leaves not yet in a full tile)."""
    roots: list[bytes] = []
    for level in range(len(pending) - 1, -1, -1):
        roots.extend(_perfect_roots(pending[level]))
    if not roots:
        return _EMPTY_ROOT
    acc = roots[-1]
    for h in reversed(roots[:-1]):
        acc = _core.sha256_node_hash(h, acc)
    return acc


class TileWriter:
    """The static tiles of one log in directory ``out`` (served as ``<prefix>/...``)."""

    def __init__(
        self, out: str | os.PathLike[str], origin: str, log_key: bytes, *, durable: bool = True
    ) -> None:
        self.out = Path(out)
        self.origin = origin
        self.log_key = log_key
        self.durable = durable
        self.size = 0
        self._pending: list[bytearray] = []  # per level: the partial tile's hashes
        self._bundle = bytearray()  # the partial entry bundle
        self._load()

    # --- resume ------------------------------------------------------------------------------

    def _read(self, ref: TileRef) -> bytes:
        try:
            return (self.out / ref.path).read_bytes()
        except FileNotFoundError:
            raise InvalidInputError(
                f"{self.out}: {ref.path} is missing, but the checkpoint needs it"
            ) from None

    def _load(self) -> None:
        cp = self.out / "checkpoint"
        if not cp.exists():
            return
        try:
            size, root = _core.note_verify(cp.read_bytes(), self.origin, self.log_key)
        except InvalidInputError as e:
            raise InvalidInputError(f"{cp}: not a checkpoint of this log ({e})") from None
        level = 0
        while size >> (8 * level):
            width = (size >> (8 * level)) % TILE_WIDTH
            data = b""
            if width:
                data = self._read(TileRef(level, size >> (8 * (level + 1)), width))
                if len(data) != width * _HASH:
                    raise InvalidInputError(f"{self.out}: tile level {level} has the wrong size")
            self._pending.append(bytearray(data))
            level += 1
        width = size % TILE_WIDTH
        if width:
            self._bundle = bytearray(self._read(TileRef(None, size // TILE_WIDTH, width)))
        if right_edge_root(self._pending) != root:
            raise InvalidInputError(
                f"{self.out}: the partial tiles don't give the checkpoint's root"
            )
        self.size = size

    # --- extend --------------------------------------------------------------------------

    def extend(self, entries: Sequence[bytes], note: bytes) -> list[str]:
        """Add ``entries`` (positions ``size``, ``size + 1``, ...) and publish ``note``.

        Returns the paths written. Raises ``InvalidInputError`` (nothing written) when the
        note doesn't verify, isn't for ``size + len(entries)``, or has another root.
        """
        new_size, root = _core.note_verify(note, self.origin, self.log_key)
        if new_size != self.size + len(entries):
            raise InvalidInputError(
                f"checkpoint is for size {new_size}, but {self.size} + {len(entries)} entries "
                f"makes {self.size + len(entries)}"
            )
        pending = [bytearray(p) for p in self._pending]
        bundle = bytearray(self._bundle)
        files: dict[str, bytes] = {}
        full: set[str] = set()
        position = self.size
        for entry in entries:
            if len(entry) != _core.V2_ENTRY_LEN:
                raise InvalidInputError(f"entry {position} is {len(entry)} bytes, not 41")
            bundle += struct.pack(">H", len(entry)) + entry
            carry = _core.sha256_leaf_hash(entry)
            position += 1
            level = 0
            while True:
                if level == len(pending):
                    pending.append(bytearray())
                pending[level] += carry
                if len(pending[level]) < TILE_WIDTH * _HASH:
                    break
                index = (position >> (8 * level)) // TILE_WIDTH - 1
                ref = TileRef(level, index)
                files[ref.path] = bytes(pending[level])
                full.add(ref.path)
                carry = _core.sha256_tree_root(bytes(pending[level]))
                pending[level] = bytearray()
                level += 1
            if len(bundle) == TILE_WIDTH * (2 + _core.V2_ENTRY_LEN):
                ref = TileRef(None, position // TILE_WIDTH - 1)
                files[ref.path] = bytes(bundle)
                full.add(ref.path)
                bundle = bytearray()
        if right_edge_root(pending) != root:
            raise InvalidInputError(
                f"the entries give another root than the checkpoint's for size {new_size}"
            )
        for level, data in enumerate(pending):
            if data:
                width = len(data) // _HASH
                files[TileRef(level, new_size >> (8 * (level + 1)), width).path] = bytes(data)
        if bundle:
            width = new_size % TILE_WIDTH
            files[TileRef(None, new_size // TILE_WIDTH, width).path] = bytes(bundle)
        self._write(files, full)
        replace_atomically(self.out / "checkpoint", lambda p: p.write_bytes(note))
        self._pending, self._bundle, self.size = pending, bundle, new_size
        return [*files, "checkpoint"]

    def _write(self, files: dict[str, bytes], full: set[str]) -> None:
        written: list[Path] = []
        for path, data in files.items():
            target = self.out / path
            if target.exists():
                if target.read_bytes() != data:
                    what = "full tile" if path in full else "partial tile"
                    raise InvalidInputError(
                        f"{target}: this {what} exists with other bytes: the log's history changed"
                    )
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
            written.append(target)
        if self.durable and written:
            # Before the checkpoint names them, the files and their directory entries are
            # on disk. fsyncs from several threads share the filesystem's journal commits.
            dirs = sorted({t.parent for t in written})
            with ThreadPoolExecutor(max_workers=min(16, len(written))) as pool:
                list(pool.map(fsync_path, written))
                list(pool.map(fsync_dir, dirs))
