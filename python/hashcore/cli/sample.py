"""``hashcore make-sample``: write a synthetic, valid v2 bundle (and its policy, evidence
and non-secret keys where asked)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from ..errors import HashcoreError
from .args import EXIT_OK, fail, non_negative_int, positive_int
from .console import spinner


def add_parser(sub: Any) -> None:
    """Register ``make-sample`` on ``sub`` (from ``add_subparsers``)."""
    sample = sub.add_parser("make-sample", help="write a synthetic, valid v2 bundle")
    sample.add_argument("bundle", type=Path, help="bundle directory to create")
    sample.add_argument("--devices", type=positive_int, required=True, metavar="N")
    sample.add_argument(
        "--records",
        type=positive_int,
        required=True,
        metavar="M",
        help="records per device, genesis included",
    )
    sample.add_argument("--seed", type=non_negative_int, metavar="S")
    sample.add_argument("--checkpoint-every", type=positive_int, default=1000, metavar="K")
    sample.add_argument("--rotate-every", type=positive_int, metavar="R")
    sample.add_argument(
        "--witnesses", type=non_negative_int, default=0, metavar="W", help="cosigning witnesses"
    )
    sample.add_argument(
        "--quorum", type=non_negative_int, metavar="Q", help="witness quorum (default: majority)"
    )
    sample.add_argument("--origin", metavar="NAME", help="the log's origin")
    sample.add_argument(
        "--policy",
        type=Path,
        metavar="FILE",
        help="write the sample's policy.json there (default: BUNDLE.policy.json beside it)",
    )
    sample.add_argument(
        "--keys", type=Path, metavar="FILE", help="write its (non-secret) keys there"
    )
    evidence = sample.add_mutually_exclusive_group()
    evidence.add_argument(
        "--evidence-dir",
        type=Path,
        metavar="DIR",
        help="write the devices' receipts.parquet and notes.parquet there, not in the bundle",
    )
    evidence.add_argument("--no-evidence", action="store_true", help="write no receipts or notes")


def run(args: argparse.Namespace) -> int:
    from ..sim.sample import make_sample

    err = Console(stderr=True)
    try:
        with spinner(err, f"writing {args.devices} x {args.records} records ..."):
            info = make_sample(
                args.bundle,
                devices=args.devices,
                records=args.records,
                seed=args.seed,
                checkpoint_every=args.checkpoint_every,
                rotate_every=args.rotate_every,
                witnesses=args.witnesses,
                witness_quorum=args.quorum,
                origin=args.origin,
                evidence=not args.no_evidence,
                evidence_dir=args.evidence_dir,
                policy_path=args.policy or args.bundle.with_name(args.bundle.name + ".policy.json"),
                keys_path=args.keys,
            )
    except (HashcoreError, OSError) as exc:
        return fail(str(exc))
    print(info.summary())
    print(f"policy: {info.policy_file}")
    return EXIT_OK
