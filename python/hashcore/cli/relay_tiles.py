"""``hashcore relay publish-tiles --db DB --out DIR``: the log as C2SP tlog-tiles files;
and ``relay serve --tiles-listen HOST:PORT``'s option (the same tree, served by the relay)."""

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


def add_serve_arguments(serve: Any) -> None:
    """``relay serve``'s tiles option."""
    serve.add_argument(
        "--tiles-listen",
        metavar="HOST:PORT",
        help="serve the log read-only as C2SP tlog-tiles over HTTP here (/checkpoint, "
        "/tile/...: the files publish-tiles writes; entry bundles hold the 41-byte entries "
        "only), from the store, up to its newest checkpoint; port 0 picks a free one",
    )


def listening_line(listen: str | None, port: int) -> str:
    """The stdout line scripts and tests read the tiles URL from."""
    host = (listen or "").rpartition(":")[0]
    return f"hashcore relay tiles on http://{host}:{port}"


def run(args: argparse.Namespace) -> int:
    from ..relay.publish import publish_tiles

    result = publish_tiles(args.db, args.out)
    print(
        f"published {result.out}: tree_size={result.tree_size}, "
        f"checkpoints={result.checkpoints}, files={result.files}"
    )
    return 0
