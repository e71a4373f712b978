"""``hashcore demo``: a simulated insomnia-therapy trial through a real relay, its
bundle audited, then every attack of the fraud simulation audited (see
:mod:`hashcore.sim.demo`). Exit 0 when everything audits as it must, 1 when not, 2 when the
demo could not run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .args import int_at_least

__all__ = ["DESCRIPTION", "add_arguments", "add_parser", "main", "run"]

DESCRIPTION = (
    "Run a relay on loopback with an embedded EVM chain and three witnesses (site, CRO, "
    "ethics board; the policy asks for 2 of 3), simulate an insomnia-therapy trial through "
    "it, export and audit the bundle under the policy, then write and audit one tampered "
    "copy per attack (those on anchors with their anchors on a fresh anvil chain). Leaves "
    "DIR/bundle/, DIR/policy.json, DIR/attacks/<name>/ (each with expected.json), "
    "DIR/participants.json, DIR/report.json and DIR/report.html. Exit 0 when the bundle is "
    "clean and every attack's audit matches its expectation, 1 when not, 2 when the demo "
    "could not run."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's options, shared by ``hashcore demo`` and ``python -m hashcore.cli.demo``."""
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="leave everything here (a new or empty directory; default: a fresh temporary "
        "directory, printed)",
    )
    parser.add_argument(
        "--participants",
        type=int_at_least(1),
        default=200,
        metavar="N",
        help="devices enrolled (default 200)",
    )
    parser.add_argument(
        "--days",
        type=int_at_least(1),
        default=56,
        metavar="D",
        help="diary days (default 56; a checkpoint is anchored every 7)",
    )
    parser.add_argument(
        "--seed",
        type=int_at_least(0),
        default=0,
        metavar="S",
        help="drives the trial and the attacks' targets (default 0)",
    )


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register ``demo`` on ``sub`` (the main parser's ``add_subparsers``)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="simulate a trial through a real relay, audit it, then audit every attack",
        description=DESCRIPTION,
    )
    add_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``demo`` with parsed ``args``; returns the exit status."""
    from ..sim.demo import DemoOptions, run_demo

    options = DemoOptions(
        out=args.out, participants=args.participants, days=args.days, seed=args.seed
    )
    return run_demo(options)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hashcore.cli.demo [--out DIR] [--participants N] [--days D] [--seed S]``."""
    parser = argparse.ArgumentParser(prog="python -m hashcore.cli.demo", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
