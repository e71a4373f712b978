"""``StoreTileSource`` (the relay's ``--tiles-listen``) gives the same bytes as
``TileWriter``'s static files for a log of three tile levels (sizes around 256 and 65,536),
checkpoint by checkpoint, and refuses a checkpoint its entries don't rebuild."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from hashcore.relay.tiles_source import StoreTileSource
from hashcore.tiles import TileWriter, parse_tile_path
from witness.logs import TestLog

ORIGIN = "relay.site-a.example/trial-source"
SIZES = [1, 257, 65535, 65537, 70000]


class _Checkpoint(NamedTuple):
    tree_size: int
    note: bytes


class _LogReads:
    """The two store reads the source makes (``iter_entries``, ``latest_checkpoint``), over
    a test log's entries, in the store's chunked shape."""

    def __init__(self, log: TestLog) -> None:
        self.log, self.size, self.note = log, 0, b""

    def iter_entries(self, start: int = 0, chunk: int = 65536) -> Iterator[bytes]:
        for pos in range(start, self.size, chunk):
            yield b"".join(self.log.entries[pos : min(pos + chunk, self.size)])

    def latest_checkpoint(self) -> _Checkpoint | None:
        return _Checkpoint(self.size, self.note) if self.size else None

    def close(self) -> None:
        pass


def test_store_source_serves_the_writers_bytes(tmp_path: Path) -> None:
    log = TestLog(ORIGIN, bytes(range(32)), SIZES[-1])
    reads = _LogReads(log)
    source = StoreTileSource("unused", ORIGIN, log.key)
    source._store = reads  # type: ignore[assignment]
    out = tmp_path / "tiles"

    async def check() -> None:
        done = 0
        for size in SIZES:
            reads.size, reads.note = size, log.note(size)
            TileWriter(out, ORIGIN, log.key, durable=False).extend(
                log.entries[done:size], reads.note
            )
            done = size
            await source.refresh()
            assert source.size == size and await source.checkpoint() == reads.note
            files = [p for p in out.rglob("*") if p.is_file() and p.name != "checkpoint"]
            for f in files:  # every tile published so far, partial ones of older sizes too
                ref = parse_tile_path(f.relative_to(out).as_posix())
                assert ref is not None
                assert await source.tile(ref) == f.read_bytes(), (size, ref.path)
        level2 = {p.relative_to(out).as_posix() for p in (out / "tile" / "2").rglob("*")}
        assert level2 == {"tile/2/000.p", "tile/2/000.p/1"}  # the tree reached level 2
        # Beyond the served checkpoint: nothing.
        beyond = parse_tile_path("tile/entries/273.p/113")
        assert beyond is not None and await source.tile(beyond) is None

        # A checkpoint whose root the entries don't rebuild is never served.
        other = TestLog(ORIGIN, bytes(range(32)), SIZES[-1] + 5, salt=b"fork")
        reads.size, reads.note = SIZES[-1] + 5, other.note(SIZES[-1] + 5)
        log.grow(5)
        await source.refresh()
        assert source.size == SIZES[-1] and await source.checkpoint() == log.note(SIZES[-1])

    asyncio.run(check())
    source._pool.shutdown()
