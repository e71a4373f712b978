"""Reading a C2SP tlog-tiles log: the verified checkpoint, RFC 9162 inclusion and
consistency proofs computed from the tiles, entries from the bundles.

Nothing fetched is trusted: a proof computed from tiles is checked against the signed root
(``sha256_verify_inclusion`` / ``_consistency``) before it is returned, so a bad tile makes
the call fail, never a wrong answer. The tiles a proof needs are planned first and fetched
in parallel; tiles are immutable (a partial tile's path names its width) and kept in the
cache (``TileClient.cache``).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from pathlib import Path

import aiohttp

from .. import _core
from ..errors import InvalidInputError
from .paths import TILE_WIDTH, TileRef

__all__ = ["DirFetcher", "HttpFetcher", "TileClient", "TileError"]

_HASH = 32
_EMPTY_ROOT = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


class TileError(InvalidInputError):
    """The log's tiles are missing, malformed, or don't match its signed checkpoint."""


class HttpFetcher:
    """GETs ``<prefix>/<path>``; counts requests and body bytes (bench, tests)."""

    def __init__(self, prefix: str, session: aiohttp.ClientSession) -> None:
        self.prefix = prefix.rstrip("/")
        self.session = session
        self.requests = 0
        self.bytes = 0

    async def __call__(self, path: str) -> bytes:
        self.requests += 1
        async with self.session.get(f"{self.prefix}/{path}") as resp:
            if resp.status != 200:
                raise TileError(f"GET {path}: HTTP {resp.status}")
            data = await resp.read()
        self.bytes += len(data)
        return data


class DirFetcher:
    """Reads ``<dir>/<path>`` (a mirror, or the writer's output)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.requests = 0
        self.bytes = 0

    async def __call__(self, path: str) -> bytes:
        self.requests += 1
        try:
            data = (self.root / path).read_bytes()
        except FileNotFoundError:
            raise TileError(f"{path}: not found") from None
        self.bytes += len(data)
        return data


Node = tuple[int, int]  # (height, index): the subtree of leaves [i 2^h, (i+1) 2^h)


def _largest_pow2_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def _subtree(lo: int, hi: int, node: Callable[[Node], bytes]) -> bytes:
    """MTH(D[lo:hi]) where [lo, hi) is a subtree range of RFC 6962's recursion."""
    n = hi - lo
    if n & (n - 1) == 0 and lo % n == 0:
        h = n.bit_length() - 1
        return node((h, lo >> h))
    k = _largest_pow2_below(n)
    return _core.sha256_node_hash(_subtree(lo, lo + k, node), _subtree(lo + k, hi, node))


def _inclusion(m: int, lo: int, hi: int, node: Callable[[Node], bytes]) -> list[bytes]:
    if hi - lo == 1:
        return []
    k = _largest_pow2_below(hi - lo)
    if m < lo + k:
        return [*_inclusion(m, lo, lo + k, node), _subtree(lo + k, hi, node)]
    return [*_inclusion(m, lo + k, hi, node), _subtree(lo, lo + k, node)]


def _consistency(
    m: int, lo: int, hi: int, whole: bool, node: Callable[[Node], bytes]
) -> list[bytes]:
    """RFC 9162 2.1.4.1 SUBPROOF(m, D[lo:hi], b), m counted from lo."""
    n = hi - lo
    if m == n:
        return [] if whole else [_subtree(lo, hi, node)]
    k = _largest_pow2_below(n)
    if m <= k:
        return [*_consistency(m, lo, lo + k, whole, node), _subtree(lo + k, hi, node)]
    return [*_consistency(m - k, lo + k, hi, False, node), _subtree(lo, lo + k, node)]


class TileClient:
    """Proofs and entries of one log (``origin``, ``log_key``) from its tiles."""

    def __init__(self, fetch: Callable[[str], object], origin: str, log_key: bytes) -> None:
        self.fetch = fetch
        self.origin = origin
        self.log_key = log_key
        #: path -> bytes of every tile and bundle fetched (immutable, so kept).
        self.cache: dict[str, bytes] = {}

    async def _get(self, path: str) -> bytes:
        got = self.fetch(path)
        data = await got if asyncio.iscoroutine(got) or isinstance(got, asyncio.Future) else got
        if not isinstance(data, bytes):
            raise TileError(f"{path}: the fetcher gave no bytes")
        return data

    async def checkpoint(self) -> tuple[int, bytes, bytes]:
        """(tree_size, root, note) of the log's current checkpoint, verified (SPEC 2.2)."""
        note = await self._get("checkpoint")
        try:
            size, root = _core.note_verify(note, self.origin, self.log_key)
        except InvalidInputError as e:
            raise TileError(f"checkpoint: {e}") from None
        return size, root, note

    # --- tiles -> hashes -----------------------------------------------------------------------

    @staticmethod
    def _tile_of(node: Node, size: int) -> tuple[TileRef, int, int]:
        """The tile holding ``node`` in a tree of ``size`` and the slice of its hashes whose
        root the node is."""
        h, i = node
        level, r = divmod(h, 8)
        first = i << r  # index of the node's first hash at height 8 * level
        index = first // TILE_WIDTH
        count = size >> (8 * level)  # hashes at that height in the tree
        width = min(TILE_WIDTH, count - index * TILE_WIDTH)
        start = first - index * TILE_WIDTH
        return TileRef(level, index, width), start, start + (1 << r)

    async def _tiles(self, nodes: set[Node], size: int) -> dict[str, bytes]:
        refs = {self._tile_of(n, size)[0] for n in nodes}
        missing = [r for r in refs if r.path not in self.cache]
        got = await asyncio.gather(*(self._get(r.path) for r in missing))
        out = {r.path: self.cache[r.path] for r in refs if r.path in self.cache}
        for ref, data in zip(missing, got, strict=True):
            if len(data) != ref.width * _HASH:
                raise TileError(f"{ref.path}: {len(data)} bytes, not {ref.width * _HASH}")
            out[ref.path] = data
            # A tile path names its width, so even a partial tile's bytes never change.
            self.cache[ref.path] = data
        return out

    async def _evaluate(
        self, size: int, compute: Callable[[Callable[[Node], bytes]], list[bytes]]
    ) -> list[bytes]:
        """Run ``compute`` once to learn the nodes it needs, fetch their tiles, run it again."""
        needed: set[Node] = set()

        def plan(node: Node) -> bytes:
            needed.add(node)
            return bytes(_HASH)

        compute(plan)
        tiles = await self._tiles(needed, size)

        def real(node: Node) -> bytes:
            ref, start, end = self._tile_of(node, size)
            data = tiles[ref.path]
            return _core.sha256_tree_root(data[start * _HASH : end * _HASH])

        return compute(real)

    async def root(self, size: int) -> bytes:
        """MTH of the first ``size`` entries, from the tiles (unverified: compare it)."""
        if size == 0:
            return _EMPTY_ROOT
        return (await self._evaluate(size, lambda node: [_subtree(0, size, node)]))[0]

    async def inclusion_proof(
        self, index: int, size: int, root: bytes, leaf_hash: bytes
    ) -> list[bytes]:
        """RFC 9162 inclusion proof of ``leaf_hash`` at ``index`` in the tree (size, root),
        checked before it is returned."""
        if not 0 <= index < size:
            raise TileError(f"index {index} is not in a tree of size {size}")
        path = await self._evaluate(size, lambda node: _inclusion(index, 0, size, node))
        if not _core.sha256_verify_inclusion(leaf_hash, index, size, path, root):
            raise TileError(f"the tiles give no valid inclusion proof of {index} in {size}")
        return path

    async def consistency_proof(
        self, old: int, old_root: bytes, size: int, root: bytes
    ) -> list[bytes]:
        """RFC 9162 consistency proof from (old, old_root) to (size, root), checked."""
        if not 0 <= old <= size:
            raise TileError(f"no consistency proof from {old} to {size}")
        if old in (0, size):
            path: list[bytes] = []
        else:
            path = await self._evaluate(size, lambda node: _consistency(old, 0, size, True, node))
        if not _core.sha256_verify_consistency(old, size, old_root, root, path):
            raise TileError(f"the tiles give no valid consistency proof from {old} to {size}")
        return path

    async def entries(self, bundle: int, size: int) -> list[bytes]:
        """The entries of bundle ``bundle`` in a tree of ``size`` (unverified: check their
        leaf hashes against the level-0 tile or a proof)."""
        width = min(TILE_WIDTH, size - bundle * TILE_WIDTH)
        if width <= 0:
            raise TileError(f"bundle {bundle} is not in a tree of size {size}")
        ref = TileRef(None, bundle, width)
        data = self.cache.get(ref.path) or await self._get(ref.path)
        out = []
        pos = 0
        while pos < len(data):
            if pos + 2 > len(data):
                raise TileError(f"{ref.path}: truncated length prefix")
            (n,) = struct.unpack_from(">H", data, pos)
            out.append(data[pos + 2 : pos + 2 + n])
            pos += 2 + n
        if pos != len(data) or len(out) != width:
            raise TileError(f"{ref.path}: holds {len(out)} entries, not {width}")
        self.cache[ref.path] = data
        return out

    async def entry(self, index: int, size: int, root: bytes) -> tuple[bytes, list[bytes]]:
        """The entry at ``index`` and its inclusion proof, both checked against ``root``."""
        entry = (await self.entries(index // TILE_WIDTH, size))[index % TILE_WIDTH]
        proof = await self.inclusion_proof(index, size, root, _core.sha256_leaf_hash(entry))
        return entry, proof
