"""``hashcore audit``: verify every record, checkpoint and piece of evidence of a bundle
(SPEC v2 section 5); the parser is here, the run in :mod:`hashcore.cli.audit_v2`.

Exit codes: 0 the audit is clean, 1 it found failures, 2 the input is
unusable (unreadable bundle, bad arguments). Errors are one line on stderr,
``hashcore: error: ...``, so scripts can show them as they are.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..limits import MAX_THREADS
from .args import non_negative_int, positive_int
from .audit_cluster import add_arguments as add_cluster_arguments
from .audit_v2 import run_v2

__all__ = ["add_parser", "run"]


def _thread_count(text: str) -> int:
    value = positive_int(text)
    if value > MAX_THREADS:
        raise argparse.ArgumentTypeError(f"at most {MAX_THREADS} threads, got {value}")
    return value


def add_parser(sub: Any) -> None:
    """Register ``audit`` on ``sub`` (from ``add_subparsers``)."""
    audit = sub.add_parser(
        "audit",
        help="verify every record and checkpoint of a bundle",
        description="Exit 0 when clean, 1 when anything failed, 2 when the input is unusable.",
    )
    audit.add_argument("bundle", type=Path, help="bundle directory")
    audit.add_argument(
        "--json", type=str, metavar="FILE", help="also write the report as JSON ('-' for stdout)"
    )
    audit.add_argument(
        "--html", type=Path, metavar="FILE", help="also write the report as a readable HTML page"
    )
    audit.add_argument(
        "--participants",
        type=Path,
        metavar="FILE",
        help="JSON {chain_id hex: participant id} (the site's enrollment register, e.g. the "
        "demo's participants.json) to name participants in the HTML report",
    )
    audit.add_argument(
        "--threads",
        type=_thread_count,
        metavar="N",
        help=f"worker threads, 1 to {MAX_THREADS} (default: all cores, at most {MAX_THREADS})",
    )
    audit.add_argument(
        "--no-signatures",
        action="store_true",
        help="skip Ed25519 checks (faster; the report says so)",
    )
    audit.add_argument(
        "--log-url",
        metavar="URL",
        help="v2: check the bundle's log against the one published as C2SP tlog-tiles at "
        "URL (relay serve --tiles-listen, publish-tiles, a mirror): same entries at every "
        "position, checkpoints consistent with the published one (JSON key log_url)",
    )
    audit.add_argument(
        "--evm-url",
        metavar="URL",
        help="the JSON-RPC node to read the policy's anchorer's anchors from (required when "
        "the policy has evm)",
    )
    audit.add_argument(
        "--policy",
        metavar="FILE",
        help="the trust policy (SPEC v2 section 3); without it the bundle's identity is used",
    )
    audit.add_argument(
        "--receipts",
        metavar="FILE",
        nargs="+",
        action="extend",
        help="receipts.parquet files handed in by devices or sites (added to the bundle's)",
    )
    audit.add_argument(
        "--notes",
        metavar="FILE",
        nargs="+",
        action="extend",
        help="notes.parquet files of checkpoints seen outside the bundle",
    )
    audit.add_argument(
        "--strict-time",
        action="store_true",
        help="time findings (SPEC v2 5.3) make the audit unclean",
    )
    audit.add_argument(
        "--as-of",
        type=non_negative_int,
        metavar="N",
        help="the tree size the bundle is meant to cover (an older export)",
    )
    add_cluster_arguments(audit)


def run(args: argparse.Namespace) -> int:
    """Audit ``args.bundle``; the exit code."""
    return run_v2(args)
