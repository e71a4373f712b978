"""``hashcore simulate-fraud``: tampered copies of a clean v2 bundle and its evidence, with
the audits they must get.

``hashcore.cli.main`` registers the subcommand with :func:`add_parser` and runs it with :func:`run`.
One line per attack goes to stdout; errors are one ``hashcore: error: ...`` line on stderr
with exit code 2. With ``--check`` every copy is also audited and compared with its
expectation, and any difference makes the exit code 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ..errors import HashcoreError
from .args import EXIT_OK, EXIT_UNUSABLE, Parser, fail, non_negative_int

if TYPE_CHECKING:
    from ..sim.fraud import AttackResult

__all__ = ["add_parser", "main", "run"]

_P = TypeVar("_P", bound=argparse.ArgumentParser)

#: Some tampered copy did not audit as its expectation says (with --check).
EXIT_DIFFERS = 1


def _attack_name(text: str) -> str:
    from ..sim.fraud import ATTACKS

    if text not in ATTACKS:
        raise argparse.ArgumentTypeError(f"unknown attack {text!r}; known: {', '.join(ATTACKS)}")
    return text


def add_parser(subparsers: argparse._SubParsersAction[_P]) -> _P:
    """Register ``simulate-fraud`` on ``subparsers`` (from ``add_subparsers``)."""
    parser = subparsers.add_parser(
        "simulate-fraud",
        help="write tampered copies of a clean bundle, each with the audit it must get",
        description=(
            "Write OUT/<attack>/ (a tampered bundle and expected.json) for every attack. "
            "Exit 0 when written (and, with --check, every audit matched), 1 when an audit "
            "differed from its expectation, 2 when the input is unusable."
        ),
    )
    parser.add_argument("bundle", type=Path, help="a clean v2 bundle directory")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory")
    parser.add_argument(
        "--policy", type=Path, required=True, metavar="FILE", help="the trust policy (SPEC 3)"
    )
    parser.add_argument(
        "--receipts",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="receipts the devices hand in (receipts.parquet shape; repeatable)",
    )
    parser.add_argument(
        "--notes",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="notes the devices verified (notes.parquet shape; repeatable)",
    )
    parser.add_argument(
        "--keys",
        type=Path,
        metavar="FILE",
        help="the sample's keys file (make-sample --keys), for attacks by the relay, a "
        "witness or a device",
    )
    parser.add_argument(
        "--seed", type=non_negative_int, default=0, metavar="N", help="picks the targets"
    )
    parser.add_argument(
        "--attack",
        type=_attack_name,
        action="append",
        metavar="NAME",
        help="run only this attack (repeatable; default: all)",
    )
    parser.add_argument(
        "--evm-url",
        metavar="URL",
        help="an anvil node the attacks that need a chain write their anchors on (a "
        "contract each, named in their policy.json); without it they are skipped",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="audit every tampered copy and compare it with expected.json",
    )
    return parser


def _check_line(result: AttackResult) -> tuple[str, bool]:
    """Audit one tampered copy: the suffix for its line, and whether it matched."""
    from ..audit.v2_bundle import audit_bundle_v2
    from ..bundle_audit import read_anchors_for
    from ..policy import load_policy
    from ..sim.fraud import compare

    assert result.expected is not None and result.path is not None
    assert result.receipts is not None and result.notes is not None
    assert result.policy is not None
    policy = load_policy(result.policy)
    report = audit_bundle_v2(
        result.path,
        policy=policy,
        receipts=[result.receipts],
        notes=[result.notes],
        chain_anchors=read_anchors_for(policy, result.evm_url),
    )
    differences = compare(result.expected, report)
    if not differences:
        return " [audit matches]", True
    return f" [AUDIT DIFFERS: {differences[0]}; {len(differences)} difference(s)]", False


def run(args: argparse.Namespace) -> int:
    """Run ``simulate-fraud`` with parsed ``args``; returns the exit code."""
    from ..sim.fraud import simulate_fraud

    try:
        results = simulate_fraud(
            args.bundle,
            args.out,
            policy=args.policy,
            receipts=args.receipts,
            notes=args.notes,
            keys=args.keys,
            seed=args.seed,
            attacks=args.attack,
            evm_url=args.evm_url,
        )
    except (HashcoreError, OSError) as exc:
        return fail(str(exc))
    matched = True
    for result in results:
        line = result.summary()
        if args.check and result.path is not None:
            try:
                suffix, ok = _check_line(result)
            except (HashcoreError, OSError) as exc:
                return fail(f"auditing {result.path}: {exc}")
            line += suffix
            matched = matched and ok
        print(line)
    return EXIT_OK if matched else EXIT_DIFFERS


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hashcore.cli.fraud BUNDLE --out DIR ...`` without the main CLI."""
    parser = Parser(prog="hashcore")
    add_parser(parser.add_subparsers(dest="command", required=True, parser_class=Parser))
    try:
        args = parser.parse_args(["simulate-fraud", *(argv if argv is not None else sys.argv[1:])])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_UNUSABLE
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
