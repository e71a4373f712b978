"""``hashcore relay publish-tiles --db DB --out DIR``: the log as C2SP tlog-tiles files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(rsub: Any) -> None:
    p = rsub.add_parser(
        "publish-tiles",
        help="write the log as C2SP tlog-tiles static files (incremental)",
        description="Write the store's log as C2SP tlog-tiles (checkpoint, hash tiles, entry "
        "bundles of the 41-byte entries: no payloads, no chain ids) into DIR, for object "
        "storage or a CDN. Run again to add what the log gained: every published size is a "
        "checkpoint the relay signed. The store is read, never written.",
    )
    p.add_argument("--db", required=True, metavar="FILE_OR_URL")
    p.add_argument("--out", required=True, type=Path, metavar="DIR")


def run(args: argparse.Namespace) -> int:
    from ..relay.publish import publish_tiles

    result = publish_tiles(args.db, args.out)
    print(
        f"published {result.out}: tree_size={result.tree_size}, "
        f"checkpoints={result.checkpoints}, files={result.files}"
    )
    return 0
