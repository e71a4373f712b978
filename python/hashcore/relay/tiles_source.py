"""The relay's log as C2SP tlog-tiles, read from its own store (``relay serve
--tiles-listen``): the same files ``relay publish-tiles`` writes, computed on request.

The source opens the store a second time, read-only, on a thread of its own, so serving
tiles never waits for the relay's writer nor makes ingest wait (the writer's queue and
its store connection are untouched). It follows the store's newest checkpoint (polled
every ``poll_s``; a note that gained witness cosignatures is served as it is stored) and
serves nothing beyond it:

- entry bundles and level-0 tiles are read from the store's entries (41 bytes each: no
  payloads, no chain ids) when asked for, full ones kept in a small LRU cache;
- tiles of level 1 and up are kept in memory (32 bytes per 256 entries, about 1.3 MB for
  10 M entries), extended from the new entries whenever the checkpoint grows.

Before a checkpoint is served, the tree the source built from the store's entries must
give the note's root (the relay signed it), so a store that disagrees with its own
checkpoints is never published: the source logs it and keeps serving the last good one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from .. import _core
from ..errors import HashcoreError, InvalidInputError, StoreError
from ..tiles.paths import TILE_WIDTH, TileRef
from ..tiles.writer import right_edge_root
from .store import Store, open_store

__all__ = ["StoreTileSource", "TilesServing", "start_tiles_serving"]

log = logging.getLogger("hashcore.relay.tiles")

_HASH = 32
_ENTRY_PREFIX = struct.pack(">H", _core.V2_ENTRY_LEN)


class StoreTileSource:
    """A :class:`hashcore.tiles.server.TileSource` over a relay store (``target``)."""

    def __init__(
        self,
        target: str,
        origin: str,
        log_key: bytes,
        *,
        poll_s: float = 0.5,
        cache_entries: int = 1024,
    ) -> None:
        self.target = target
        self.origin = origin
        self.log_key = log_key
        self.poll_s = poll_s
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hashcore-tiles")
        self._store: Store | None = None
        self._task: asyncio.Task[None] | None = None
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_max = cache_entries
        #: The checkpoint served, and its size (every tile served lies within it).
        self._note: bytes | None = None
        self.size = 0
        self._root = b""
        #: Entries hashed so far, the leaf hashes past the last full level-0 tile, and per
        #: tile level k+1 the hashes of height 8(k+1) (only appended to: what a served
        #: size needs never changes while a larger one is built).
        self._hashed = 0
        self._tail = bytearray()
        self._upper: list[bytearray] = []
        self._broken = False

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._store = await loop.run_in_executor(
            self._pool, lambda: open_store(self.target, readonly=True)
        )
        # The first build (every entry of a large log) runs in the background too: the
        # relay serves gRPC meanwhile, and /checkpoint answers 404 until it is checked.
        self._task = asyncio.create_task(self._follow(), name="hashcore-tiles-follow")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._store is not None:
            store, self._store = self._store, None
            await asyncio.get_running_loop().run_in_executor(self._pool, store.close)
        self._pool.shutdown(wait=True)

    async def _follow(self) -> None:
        while True:
            try:
                await self.refresh()
            except (HashcoreError, OSError) as e:  # the store is busy or gone: try again
                log.warning("tiles: reading the store failed (%s); will retry", e)
            await asyncio.sleep(self.poll_s)

    async def refresh(self) -> None:
        """Serve the store's newest checkpoint (once its tiles are built and checked)."""
        loop = asyncio.get_running_loop()
        store = self._store
        if store is None or self._broken:
            return
        cp = await loop.run_in_executor(self._pool, store.latest_checkpoint)
        if cp is None or cp.tree_size < self.size:
            return
        size, root = _core.note_verify(cp.note, self.origin, self.log_key)
        if size == self.size:
            if root == self._root:
                self._note = cp.note  # the same checkpoint, maybe with more cosignatures
            return
        built = await loop.run_in_executor(self._pool, self._extend_to, store, size)
        if built != root:
            self._broken = True
            log.error(
                "tiles: the store's entries give another root than its checkpoint at "
                "tree_size %d; serving tree_size %d and nothing newer",
                size,
                self.size,
            )
            return
        self._note, self.size, self._root = cp.note, size, root

    # --- building (on the source's thread) ----------------------------------------------------

    def _extend_to(self, store: Store, size: int) -> bytes:
        """Hash the entries up to ``size`` into the upper levels; the root they give.

        A full level-0 tile's hash comes from one ``Sha256LogTree`` of its 256 entries (the
        hashing runs in Rust without the GIL, so a first build of a large log slows the
        relay's own threads little); only the partial tile's leaves are hashed one by one.
        """
        n = _core.V2_ENTRY_LEN
        if size > self._hashed:
            for raw in store.iter_entries(start=self._hashed):
                chunk = memoryview(raw)[: (size - self._hashed) * n]
                count, pos = len(chunk) // n, 0
                while pos < count:
                    if not self._tail and count - pos >= TILE_WIDTH:
                        tree = _core.Sha256LogTree()
                        tree.extend(chunk[pos * n : (pos + TILE_WIDTH) * n])
                        self._push_full(tree.root())
                        pos += TILE_WIDTH
                        self._hashed += TILE_WIDTH
                        continue
                    self._tail += _core.sha256_leaf_hash(chunk[pos * n : (pos + 1) * n])
                    pos += 1
                    self._hashed += 1
                    if len(self._tail) == TILE_WIDTH * _HASH:
                        self._push_full(_core.sha256_tree_root(bytes(self._tail)))
                        self._tail = bytearray()
                if self._hashed >= size:
                    break
            if self._hashed < size:
                raise StoreError(f"the store holds {self._hashed} entries, its checkpoint {size}")
        pending = [self._tail]
        for level, hashes in enumerate(self._upper, start=1):
            count = (size >> (8 * level)) % TILE_WIDTH
            end = (size >> (8 * level)) * _HASH
            pending.append(hashes[end - count * _HASH : end])
        return right_edge_root(pending)

    def _push_full(self, carry: bytes) -> None:
        """Add the hash of a full level-0 tile, and of every tile it completes above."""
        level = 0
        while True:
            if level == len(self._upper):
                self._upper.append(bytearray())
            hashes = self._upper[level]
            hashes += carry
            if (len(hashes) // _HASH) % TILE_WIDTH:
                return
            carry = _core.sha256_tree_root(bytes(hashes[-TILE_WIDTH * _HASH :]))
            level += 1

    # --- serving ------------------------------------------------------------------------------

    async def checkpoint(self) -> bytes | None:
        return self._note

    async def tile(self, ref: TileRef) -> bytes | None:
        first = ref.index * TILE_WIDTH
        if ref.level is not None and ref.level > 0:
            # Hashes of height 8L the served tree has; a tile beyond them isn't served.
            if first + ref.width > self.size >> (8 * ref.level):
                return None
            hashes = self._upper[ref.level - 1]
            return bytes(hashes[first * _HASH : (first + ref.width) * _HASH])
        if first + ref.width > self.size:
            return None
        cached = self._cache.get(ref.path)
        if cached is not None:
            self._cache.move_to_end(ref.path)
            return cached
        store = self._store
        if store is None:
            return None
        entries = await asyncio.get_running_loop().run_in_executor(
            self._pool, self._entries, store, first, ref.width
        )
        if ref.level is None:
            data = b"".join(_ENTRY_PREFIX + e for e in entries)
        else:
            data = b"".join(_core.sha256_leaf_hash(e) for e in entries)
        if ref.width == TILE_WIDTH:
            self._cache[ref.path] = data
            if len(self._cache) > self._cache_max:
                self._cache.popitem(last=False)
        return data

    @staticmethod
    def _entries(store: Store, first: int, count: int) -> list[bytes]:
        raw = next(store.iter_entries(start=first, chunk=count), b"")
        n = _core.V2_ENTRY_LEN
        if len(raw) < count * n:
            raise StoreError(f"the store has no entries {first}..{first + count - 1}")
        return [bytes(raw[i * n : (i + 1) * n]) for i in range(count)]


class TilesServing:
    """The relay's tiles HTTP server (``--tiles-listen``) and its store source."""

    def __init__(self, source: StoreTileSource, runner: object, port: int) -> None:
        self.source, self._runner, self.port = source, runner, port

    async def stop(self) -> None:
        await self._runner.cleanup()  # type: ignore[attr-defined]
        await self.source.stop()


async def start_tiles_serving(
    target: str, origin: str, log_key: bytes, listen: str, *, poll_s: float = 0.5
) -> TilesServing:
    """Serve the store's log as tiles on ``listen`` (HOST:PORT; port 0: any free)."""
    from ..tiles.server import start_tiles_server  # aiohttp: only with --tiles-listen
    from .config import split_hostport

    host, port = split_hostport(listen)
    source = StoreTileSource(target, origin, log_key, poll_s=poll_s)
    await source.start()
    try:
        runner, bound = await start_tiles_server(source, host.strip("[]"), port)
    except OSError as e:
        await source.stop()
        raise InvalidInputError(f"cannot serve tiles on {listen}: {e.strerror or e}") from None
    except BaseException:
        await source.stop()
        raise
    return TilesServing(source, runner, bound)
