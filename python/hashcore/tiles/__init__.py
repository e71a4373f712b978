"""A hashcore relay log as C2SP tlog-tiles: writing the static files incrementally
(``TileWriter``), serving them read-only (``tiles_app``), reading proofs from them
(``TileClient``) and keeping a verified mirror (``mirror``).

Serving and fetching need the ``witness`` extra (aiohttp).
"""

from __future__ import annotations

from .paths import TILE_WIDTH, TileRef, parse_tile_path
from .writer import TileWriter, right_edge_root

__all__ = ["TILE_WIDTH", "TileRef", "TileWriter", "parse_tile_path", "right_edge_root"]
