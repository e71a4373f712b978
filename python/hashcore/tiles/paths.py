"""C2SP tlog-tiles resource paths: ``tile/<L>/<N>[.p/<W>]`` and ``tile/entries/<N>[.p/<W>]``,
with ``<N>`` in zero-padded 3-digit elements, all but the last prefixed ``x``."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["TILE_WIDTH", "TileRef", "parse_tile_path", "tile_index_path"]

#: Hashes (or entries) in a full tile (C2SP tlog-tiles: tile height 8).
TILE_WIDTH = 256
_PATH = re.compile(
    r"^tile/(?P<level>entries|0|[1-9]|[1-5][0-9]|6[0-3])/"
    r"(?P<n>(?:x[0-9]{3}/)*[0-9]{3})(?:\.p/(?P<w>[1-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5]))?$"
)


def tile_index_path(n: int) -> str:
    """``1234067`` -> ``x001/x234/067``."""
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


@dataclass(frozen=True)
class TileRef:
    """A tile (``level`` 0..63) or entry bundle (``level`` None) and its width (256: full)."""

    level: int | None
    index: int
    width: int = TILE_WIDTH

    @property
    def path(self) -> str:
        level = "entries" if self.level is None else str(self.level)
        suffix = "" if self.width == TILE_WIDTH else f".p/{self.width}"
        return f"tile/{level}/{tile_index_path(self.index)}{suffix}"


def parse_tile_path(path: str) -> TileRef | None:
    """The tile a path names, or None when it isn't a C2SP tile path (canonical form only:
    a non-canonical index such as ``x000/001`` is refused, so one tile has one path)."""
    m = _PATH.match(path)
    if m is None:
        return None
    elements = m.group("n").split("/")
    index = int("".join(e.lstrip("x") for e in elements))
    width = int(m.group("w")) if m.group("w") else TILE_WIDTH
    level = None if m.group("level") == "entries" else int(m.group("level"))
    ref = TileRef(level, index, width)
    return ref if ref.path == path else None
