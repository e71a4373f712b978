"""An append-only SHA-256 log (SPEC v2 2.1, RFC 9162) that gives the root at each size it
passes, in O(n) hashing: leaves are added in runs and every aligned perfect subtree of a
run is hashed at once by ``_core.sha256_tree_root`` (Rust, the GIL released); only the
O(log n) subtree roots are kept."""

from __future__ import annotations

import hashlib

from .. import _core

__all__ = ["Sha256Log", "leaf_hash"]

_EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    """SHA256(0x00 || entry) (SPEC v2 2.1)."""
    return hashlib.sha256(b"\x00" + entry).digest()


class Sha256Log:
    def __init__(self) -> None:
        #: Roots of the perfect subtrees left to right, with their sizes (powers of two).
        self._stack: list[tuple[int, bytes]] = []
        self.size = 0

    def extend(self, leaf_hashes: bytes) -> None:
        """Append the leaves whose hashes are concatenated in ``leaf_hashes``."""
        if len(leaf_hashes) % 32:
            raise ValueError("leaf_hashes must be a multiple of 32 bytes")
        n = len(leaf_hashes) // 32
        done = 0
        while done < n:
            pos = self.size
            # The largest aligned power of two that starts here and fits.
            width = pos & -pos if pos else 1 << (n - done).bit_length()
            while width > n - done:
                width >>= 1
            block = leaf_hashes[32 * done : 32 * (done + width)]
            root = block if width == 1 else _core.sha256_tree_root(block)
            self._push(width, root)
            done += width

    def _push(self, width: int, root: bytes) -> None:
        self.size += width
        while self._stack and self._stack[-1][0] == width:
            left_width, left = self._stack.pop()
            root = _core.sha256_node_hash(left, root)
            width += left_width
        self._stack.append((width, root))

    def root(self) -> bytes:
        """MTH of the leaves so far (SHA256("") for none)."""
        if not self._stack:
            return _EMPTY_ROOT
        root = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            root = _core.sha256_node_hash(left, root)
        return root
