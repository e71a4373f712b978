"""``hashcore relay serve --frontend``: the flags of a relay that is one of several
frontends of one PostgreSQL log (see hashcore.relay.frontend_ledger)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_arguments", "config_fields"]


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected positive seconds, got {text!r}")
    return value


def add_arguments(serve: Any) -> None:
    serve.add_argument(
        "--frontend",
        action="store_true",
        help="serve a postgresql:// log together with other frontends: each checks and "
        "stores submissions, one of them (elected by an advisory lock) sequences; all "
        "share the log's key (the same relay.key in every --key-dir)",
    )
    serve.add_argument(
        "--sequence-wait",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="with --frontend: how long an ack waits for the sequencer before the client "
        "is told UNAVAILABLE (its records stay stored; a resend gets them; default 10)",
    )
    serve.add_argument(
        "--sequencer-lease",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="with --frontend: a sequencer that has not renewed its lease in the database "
        "this long (frozen, stalled, half cut off) has its session ended by the next "
        "frontend to try the election (default 10)",
    )


def config_fields(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "frontend": args.frontend,
        "sequence_wait_s": args.sequence_wait,
        "sequencer_lease_s": args.sequencer_lease,
    }
