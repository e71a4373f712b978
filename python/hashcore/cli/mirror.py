"""``hashcore mirror URL DIR``: keep a verified copy of a relay's tiled log (C2SP
tlog-tiles) in DIR, under the log identity (and witness quorum) of ``--policy``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from ..errors import HashcoreError
from .args import fail

__all__ = ["add_parser", "run"]


def _key_hex(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise argparse.ArgumentTypeError(f"expected 64 hex digits, got {text!r}")
    return raw


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "mirror",
        help="Keep a verified copy of a relay's tiled log (C2SP tlog-tiles)",
        description=(
            "Fetch the log's checkpoint and the entries after the mirror's size, rebuild the "
            "tiles and check they give the signed root and extend the mirror's own tree; "
            "a log that shows another history or a smaller tree is refused (exit 1). "
            "Run it again (e.g. from cron) to follow the log."
        ),
    )
    p.add_argument("url", help="the log's tiles prefix (serving /checkpoint, /tile/...)")
    p.add_argument("dir", type=Path, help="the mirror directory (created)")
    p.add_argument("--policy", type=Path, help="SPEC 3 policy.json: origin, log key, witnesses")
    p.add_argument("--origin", help="the log's origin (without --policy)")
    p.add_argument("--log-key", type=_key_hex, help="the log's key, 64 hex (without --policy)")


def run(args: argparse.Namespace) -> int:
    from ..policy import load_policy
    from ..tiles.client import TileError
    from ..tiles.mirror import mirror

    try:
        witnesses: list[tuple[str, bytes]] = []
        quorum = 0
        if args.policy is not None:
            if args.origin or args.log_key:
                return fail("give --policy or --origin and --log-key, not both")
            policy = load_policy(args.policy)
            origin, log_key = policy.origin, policy.log_key
            witnesses = [(w.name, w.key) for w in policy.witnesses]
            quorum = policy.witness_quorum
        elif args.origin and args.log_key:
            origin, log_key = args.origin, args.log_key
        else:
            return fail("give --policy, or --origin and --log-key")
        try:
            got = asyncio.run(
                mirror(args.url, args.dir, origin, log_key, witnesses=witnesses, quorum=quorum)
            )
        except TileError as e:
            print(f"hashcore: refused: {' '.join(str(e).split())}", file=sys.stderr)
            return 1
    except HashcoreError as e:
        return fail(str(e))
    except OSError as e:
        return fail(f"{type(e).__name__}: {e}")
    print(
        f"mirror {args.dir}: tree size {got.old_size} -> {got.new_size} "
        f"({got.requests} requests, {got.bytes} bytes)"
    )
    return 0
