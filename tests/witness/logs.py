"""A small signed log for witness, pusher and tiles tests: SPEC 2.1 entries, SPEC 2.2 notes
and RFC 9162 consistency proofs from the v2 primitives of ``hashcore._core``."""

from __future__ import annotations

import hashlib
import struct

from hashcore import _core

T0 = 1795392000000


def entry(i: int, salt: bytes = b"") -> bytes:
    """entry_i = 0x02 || SHA256(salt || u64be(i)) || i64be(T0 + 1000 i) (vectors' merkle.json)."""
    link = hashlib.sha256(salt + struct.pack(">Q", i)).digest()
    return _core.log_entry(link, T0 + 1000 * i)


class TestLog:
    """An append-only log under one key; ``salt`` makes a different history (split view)."""

    __test__ = False

    def __init__(self, origin: str, seed: bytes, size: int = 0, salt: bytes = b"") -> None:
        self.origin = origin
        self.seed = seed
        self.key = _core.public_key_from_seed(seed)
        self.salt = salt
        self.entries: list[bytes] = []
        self.leaves: list[bytes] = []
        self.grow(size)

    def grow(self, n: int) -> None:
        for i in range(len(self.entries), len(self.entries) + n):
            e = entry(i, self.salt)
            self.entries.append(e)
            self.leaves.append(_core.sha256_leaf_hash(e))

    @property
    def size(self) -> int:
        return len(self.entries)

    def root(self, n: int | None = None) -> bytes:
        n = self.size if n is None else n
        return _core.sha256_tree_root(self.leaves[:n])

    def note(self, n: int | None = None) -> bytes:
        n = self.size if n is None else n
        return _core.note_sign(self.seed, self.origin, n, self.root(n))

    def proof(self, m: int, n: int | None = None) -> list[bytes]:
        n = self.size if n is None else n
        if m == 0:
            return []
        return _core.sha256_consistency_proof(self.leaves[:n], m)
