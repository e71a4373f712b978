"""The ``hashcore`` command: one subcommand per module of this package."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import audit, demo, device, fraud, mirror, relay, sample, witness
from .args import EXIT_UNUSABLE, Parser, positive_int

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="hashcore",
        description="Tamper-evident patient-reported data: audit bundles (SPEC.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    audit.add_parser(sub)
    sample.add_parser(sub)
    relay.add_parser(sub, positive_int)
    device.add_parser(sub)
    fraud.add_parser(sub)
    demo.add_parser(sub)
    witness.add_parser(sub)
    mirror.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hashcore`` command; returns the exit code (argument errors give 2)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        # argparse exits for --help (0) and for bad arguments (2); return, don't raise,
        # so main() can be called from tests and other programs.
        return exc.code if isinstance(exc.code, int) else EXIT_UNUSABLE
    runs = {
        "audit": audit.run,
        "relay": relay.run,
        "device": device.run,
        "simulate-fraud": fraud.run,
        "demo": demo.run,
        "make-sample": sample.run,
        "witness": witness.run,
        "mirror": mirror.run,
    }
    return runs[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
