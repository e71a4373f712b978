"""``hashcore relay publish-tiles``: the relay's log as C2SP tlog-tiles static files.

The same tree of files the relay's tiles server answers from (issue 11): hash tiles, entry
bundles of the 41-byte entries (no payloads, no chain ids: public tiles must not say who
submitted what) and the newest checkpoint, written incrementally: a second run adds what
the log gained since, checkpoint by checkpoint, so that every published size is one the
relay signed. The store is opened read-only (a running relay keeps writing).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .._core import V2_ENTRY_LEN
from ..errors import StoreError
from ..tiles.writer import TileWriter
from .store import open_store

__all__ = ["PublishResult", "publish_tiles"]


@dataclass(frozen=True, slots=True)
class PublishResult:
    out: Path
    #: The tree size the published checkpoint has (0: nothing was published).
    tree_size: int
    #: Files written by this run.
    files: int
    #: Checkpoints published by this run, one extension each.
    checkpoints: int


def publish_tiles(db: str | os.PathLike[str], out: str | os.PathLike[str]) -> PublishResult:
    """Publish (or bring up to date) the tiles of the store's log in ``out``.

    Raises:
        StoreError: the store can't be read or has no log key / origin yet.
        InvalidInputError: ``out`` holds the tiles of another log or another history.
    """
    with open_store(str(db), readonly=True) as store:
        log_key = store.get_log_id()
        origin = store.get_meta("origin")
        if log_key is None or origin is None:
            raise StoreError(f"{db}: the store has no log key or origin yet (never served)")
        writer = TileWriter(out, origin.decode(), log_key)
        files = published = 0
        for cp in sorted(store.list_checkpoints(), key=lambda c: c.tree_size):
            if cp.tree_size <= writer.size:
                continue
            need = cp.tree_size - writer.size
            raw = bytearray()
            for chunk in store.iter_entries(start=writer.size):
                raw += chunk
                if len(raw) >= need * V2_ENTRY_LEN:
                    break
            if len(raw) < need * V2_ENTRY_LEN:
                raise StoreError(f"{db}: the log holds fewer entries than its checkpoint covers")
            entries = [bytes(raw[i * V2_ENTRY_LEN : (i + 1) * V2_ENTRY_LEN]) for i in range(need)]
            files += len(writer.extend(entries, cp.note))
            published += 1
        return PublishResult(Path(out), writer.size, files, published)
