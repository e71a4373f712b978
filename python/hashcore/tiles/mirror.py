"""``hashcore mirror URL DIR``: keep a site's own verified copy of a tiled log.

Each run fetches the log's checkpoint (it must verify under the pinned origin and key), the
entry bundles after the size the mirror has, and rebuilds the tiles from those entries with
``TileWriter``, which checks that they give the signed root and that they extend the
mirror's own tree (its partial tiles are the right edge the new entries are added to). A
log that shows the mirror another history, or cuts its tail, is refused and the mirror is
left as it was. The new entries are held in memory until the one signed size they reach
is published (41 bytes and a bytes object each).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from .. import _core
from ..errors import InvalidInputError
from .client import HttpFetcher, TileClient, TileError
from .paths import TILE_WIDTH
from .writer import TileWriter

__all__ = ["MirrorResult", "mirror"]


@dataclass(frozen=True)
class MirrorResult:
    old_size: int
    new_size: int
    requests: int
    bytes: int


async def mirror(
    url: str,
    out: str | Path,
    origin: str,
    log_key: bytes,
    *,
    witnesses: Sequence[tuple[str, bytes]] = (),
    quorum: int = 0,
) -> MirrorResult:
    """Bring the mirror in ``out`` up to the log's current checkpoint; with ``quorum``, only
    a checkpoint cosigned by that many of ``witnesses`` (name, key) is taken.

    Raises:
        TileError: the log's checkpoint, bundles or tiles don't verify, too few witnesses
            cosigned it, or its tree is smaller than the mirror's.
    """
    writer = TileWriter(out, origin, log_key)
    old = writer.size
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        fetch = HttpFetcher(url, session)
        client = TileClient(fetch, origin, log_key)
        size, _root, note = await client.checkpoint()
        cosigned = sum(1 for name, key in witnesses if _core.note_witness_times(note, name, key))
        if cosigned < quorum:
            raise TileError(
                f"the log's checkpoint (size {size}) has {cosigned} of the {quorum} witness "
                "cosignatures the policy asks for"
            )
        if size < old:
            raise TileError(
                f"the log's checkpoint is for size {size}, smaller than the mirror's {old}"
            )
        entries: list[bytes] = []
        first_bundle = old // TILE_WIDTH
        last_bundle = (size + TILE_WIDTH - 1) // TILE_WIDTH if size > old else first_bundle
        for bundle in range(first_bundle, last_bundle):
            got = await client.entries(bundle, size)
            skip = old - bundle * TILE_WIDTH if bundle == first_bundle else 0
            entries.extend(got[skip:])
            client.cache.clear()  # a mirror reads each bundle once
        try:
            writer.extend(entries, note)
        except InvalidInputError as e:
            raise TileError(f"the log's entries don't extend this mirror: {e}") from None
        return MirrorResult(old, size, fetch.requests, fetch.bytes)
