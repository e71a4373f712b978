"""Serving a tiled log read-only over HTTP, as C2SP tlog-tiles asks: ``/checkpoint``
(``text/plain; charset=utf-8``, not cached), and ``/tile/<L>/<N>[.p/<W>]`` and
``/tile/entries/<N>[.p/<W>]`` (``application/octet-stream``, immutable: cached for a year;
entry bundles gzip- or deflate-compressed when the client's ``Accept-Encoding`` asks).
Only canonical tile paths are looked up, so no request can name a file outside the tree.

What is served comes from a :class:`TileSource`: a directory of static files
(``TileWriter``'s output, :class:`DirSource`) or the relay's own store
(:class:`hashcore.relay.tiles_source.StoreTileSource`, ``relay serve --tiles-listen``)."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Protocol

from aiohttp import web

from ..errors import HashcoreError
from .paths import TileRef, parse_tile_path

__all__ = [
    "CHECKPOINT_CACHE",
    "TILE_CACHE",
    "DirSource",
    "TileSource",
    "start_tiles_server",
    "tiles_app",
]

log = logging.getLogger("hashcore.tiles")

#: tlog-tiles: the checkpoint is mutable, "headers SHOULD prevent caching beyond a few seconds".
CHECKPOINT_CACHE = "no-store"
#: tlog-tiles: tiles and entry bundles are immutable, "caching headers SHOULD be long-lived".
TILE_CACHE = "public, max-age=31536000, immutable"


class TileSource(Protocol):
    """Where a tiles server reads from. Both return None for what the log doesn't have."""

    async def checkpoint(self) -> bytes | None:
        """The newest checkpoint note whose tiles the source serves."""

    async def tile(self, ref: TileRef) -> bytes | None:
        """The bytes of a hash tile or entry bundle (canonical ``ref``)."""


class DirSource:
    """The static files under ``root`` (``TileWriter``'s output, a mirror)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _read(self, path: str) -> bytes | None:
        try:
            return (self.root / path).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    async def checkpoint(self) -> bytes | None:
        return await asyncio.to_thread(self._read, "checkpoint")

    async def tile(self, ref: TileRef) -> bytes | None:
        return await asyncio.to_thread(self._read, ref.path)


def tiles_app(source: str | os.PathLike[str] | TileSource) -> web.Application:
    """An aiohttp application serving ``source`` (a directory, or a :class:`TileSource`;
    mount it at the log's prefix)."""
    src: TileSource = DirSource(source) if isinstance(source, str | os.PathLike) else source

    async def checkpoint(_request: web.Request) -> web.Response:
        data = await src.checkpoint()
        if data is None:
            raise web.HTTPNotFound(text="no checkpoint yet\n")
        return web.Response(
            body=data,
            content_type="text/plain",
            charset="utf-8",
            headers={"Cache-Control": CHECKPOINT_CACHE},
        )

    async def tile(request: web.Request) -> web.Response:
        path = "tile/" + request.match_info["rest"]
        ref = parse_tile_path(path)
        if ref is None:
            raise web.HTTPNotFound(text="not a tile path\n")
        try:
            data = await src.tile(ref)
        except HashcoreError as e:  # the source's store failed: not "no such tile"
            log.warning("tiles: %s: %s", ref.path, e)
            raise web.HTTPServiceUnavailable(text="the log's store is unavailable\n") from None
        if data is None:
            raise web.HTTPNotFound(text="no such tile\n")
        resp = web.Response(
            body=data,
            content_type="application/octet-stream",
            headers={"Cache-Control": TILE_CACHE},
        )
        if ref.level is None:
            # tlog-tiles: entry bundles SHOULD be compressed at the HTTP layer (here when
            # the client's Accept-Encoding asks; hashes don't compress, so tiles aren't).
            resp.enable_compression()
        return resp

    # GET (and HEAD) only: aiohttp answers any other method 405, any other path 404.
    app = web.Application()
    app.router.add_get("/checkpoint", checkpoint)
    app.router.add_get("/tile/{rest:.+}", tile)
    return app


async def start_tiles_server(
    source: str | os.PathLike[str] | TileSource, host: str, port: int
) -> tuple[web.AppRunner, int]:
    """Serve ``tiles_app(source)`` on ``host:port`` (port 0: any free); returns the runner
    (``await runner.cleanup()`` stops it) and the bound port (the relay's --tiles-listen)."""
    runner = web.AppRunner(tiles_app(source), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    return runner, int(runner.addresses[0][1])
