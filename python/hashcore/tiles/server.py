"""Serving a tiles directory (``TileWriter``'s output) read-only over HTTP, as C2SP
tlog-tiles asks: ``/checkpoint`` (``text/plain; charset=utf-8``, not cached), and
``/tile/<L>/<N>[.p/<W>]`` and ``/tile/entries/<N>[.p/<W>]`` (``application/octet-stream``,
immutable: cached for a year; entry bundles gzip- or deflate-compressed when the client's
``Accept-Encoding`` asks). Only canonical tile paths are looked up, so no request can
name a file outside the tree."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from aiohttp import web

from .paths import parse_tile_path

__all__ = ["CHECKPOINT_CACHE", "TILE_CACHE", "start_tiles_server", "tiles_app"]

#: tlog-tiles: the checkpoint is mutable, "headers SHOULD prevent caching beyond a few seconds".
CHECKPOINT_CACHE = "no-store"
#: tlog-tiles: tiles and entry bundles are immutable, "caching headers SHOULD be long-lived".
TILE_CACHE = "public, max-age=31536000, immutable"


def tiles_app(root: str | os.PathLike[str]) -> web.Application:
    """An aiohttp application serving the tiles under ``root`` (mount it at the prefix)."""
    base = Path(root)

    async def checkpoint(_request: web.Request) -> web.Response:
        try:
            data = await asyncio.to_thread((base / "checkpoint").read_bytes)
        except FileNotFoundError:
            raise web.HTTPNotFound(text="no checkpoint yet\n") from None
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
            data = await asyncio.to_thread((base / ref.path).read_bytes)
        except (FileNotFoundError, NotADirectoryError):
            raise web.HTTPNotFound(text="no such tile\n") from None
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

    app = web.Application()
    app.router.add_get("/checkpoint", checkpoint)
    app.router.add_get("/tile/{rest:.+}", tile)
    return app


async def start_tiles_server(
    root: str | os.PathLike[str], host: str, port: int
) -> tuple[web.AppRunner, int]:
    """Serve ``tiles_app(root)`` on ``host:port`` (port 0: any free); returns the runner
    (``await runner.cleanup()`` stops it) and the bound port (the relay's --tiles-listen)."""
    runner = web.AppRunner(tiles_app(root), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    return runner, int(runner.addresses[0][1])
