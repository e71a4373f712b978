"""``hashcore audit``: verify every record and checkpoint of a bundle (a v2 bundle, by
its manifest's version, goes to :mod:`hashcore.cli.audit_v2`).

Exit codes: 0 the audit is clean, 1 it found failures, 2 the input is
unusable (unreadable bundle, bad arguments). Errors are one line on stderr,
``hashcore: error: ...``, so scripts can show them as they are.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .._atomic import write_atomically
from ..errors import HashcoreError
from ..limits import MAX_THREADS
from ..report import ranges
from .args import EXIT_OK, fail, log_id_hex, non_negative_int, positive_int, read_participants
from .audit_cluster import add_arguments as add_cluster_arguments
from .audit_v2 import V2_ONLY_OPTIONS, given_options, run_v2
from .console import progress_bar, summary_console

__all__ = ["add_parser", "run"]

EXIT_CLEAN = EXIT_OK
EXIT_FAILURES = 1
_MAX_FAILURE_LINES = 20


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
        "--log-id",
        type=log_id_hex,
        metavar="HEX",
        help="the relay's trusted public key; without it the bundle's own is used",
    )

    audit.add_argument(
        "--evm-url",
        metavar="URL",
        help="the JSON-RPC node to read anchors from (v1: every checkpoint's; v2: the policy's "
        "anchorer's, required when the policy has evm)",
    )
    audit.add_argument(
        "--confirmations",
        type=positive_int,
        metavar="N",
        help="blocks an anchor needs to count as final (default: the manifest's)",
    )
    v2 = audit.add_argument_group("protocol v2 bundles")
    v2.add_argument(
        "--policy",
        metavar="FILE",
        help="the trust policy (SPEC v2 section 3); without it the bundle's identity is used",
    )
    v2.add_argument(
        "--receipts",
        metavar="FILE",
        nargs="+",
        action="extend",
        help="receipts.parquet files handed in by devices or sites (added to the bundle's)",
    )
    v2.add_argument(
        "--notes",
        metavar="FILE",
        nargs="+",
        action="extend",
        help="notes.parquet files of checkpoints seen outside the bundle",
    )
    v2.add_argument(
        "--strict-time",
        action="store_true",
        help="time findings (SPEC v2 5.3) make the audit unclean",
    )
    v2.add_argument(
        "--as-of",
        type=non_negative_int,
        metavar="N",
        help="the tree size the bundle is meant to cover (an older export)",
    )
    add_cluster_arguments(v2)


def _summary(console: Console, report: Any, args: argparse.Namespace) -> None:
    """Print the human-readable report: verdict counts, checkpoints, failures, notes."""
    verdicts = Table(title=f"{report.records} records", title_justify="left")
    verdicts.add_column("verdict")
    verdicts.add_column("records", justify="right")
    for code, n in report.counts.items():
        if n:
            style = "green" if code in ("OK", "OK_REDACTED") else "red"
            verdicts.add_row(f"[{style}]{code}[/]", str(n))
    console.print(verdicts)

    cp_counts: dict[str, int] = {}
    for cp in report.checkpoints:
        cp_counts[cp.code] = cp_counts.get(cp.code, 0) + 1
    cps = Table(title=f"{len(report.checkpoints)} checkpoints", title_justify="left")
    cps.add_column("verdict")
    cps.add_column("checkpoints", justify="right")
    for code, n in cp_counts.items():
        cps.add_row(f"[{'green' if code == 'OK' else 'red'}]{code}[/]", str(n))
    if cp_counts:
        console.print(cps)
    else:
        console.print("[red]no checkpoints[/]: nothing attests that any record was logged")

    failures = report.failures
    # NOT_LOGGED follows from a log problem named elsewhere (a missing or altered entry
    # below a checkpoint) and can cover millions of rows: list the primary failures, and
    # the NOT_LOGGED ones as log ranges.
    primary = [f for f in failures if f.code != "NOT_LOGGED"]
    unlogged = [f.log_index for f in failures if f.code == "NOT_LOGGED"]
    if primary:
        table = Table(title=f"{len(primary)} failures", title_justify="left")
        for name in ("log_index", "chain_id", "seq", "code", "reason"):
            table.add_column(name, justify="right" if name in ("log_index", "seq") else "left")
        for f in primary[:_MAX_FAILURE_LINES]:
            chain = f.chain_id.hex() if f.chain_id is not None else "-"
            seq = str(f.seq) if f.seq is not None else "-"
            table.add_row(str(f.log_index), chain, seq, f.code, escape(f.reason))
        console.print(table)
        if len(primary) > _MAX_FAILURE_LINES:
            more = len(primary) - _MAX_FAILURE_LINES
            console.print(f"... and {more} more (use --json FILE for all of them)")
    if unlogged:
        spans = ranges(unlogged)
        shown = ", ".join(f"{a}..{b}" if a != b else str(a) for a, b in spans[:10])
        tail = f" and {len(spans) - 10} more ranges" if len(spans) > 10 else ""
        console.print(
            f"[red]NOT_LOGGED[/]: {len(unlogged)} records at log positions {shown}{tail} "
            "(no attesting checkpoint covers them)"
        )

    if report.missing_log_positions:
        missing = ", ".join(f"{a}..{b - 1}" for a, b in report.missing_log_positions[:10])
        console.print(f"[red]missing log positions[/]: {missing}")
    if getattr(report, "manifest_log_id_mismatch", False):
        console.print("[red]the bundle's manifest names another log_id than the trusted one[/]")
    if args.log_id is None:
        console.print(
            "note: log identity taken from the bundle (pass --log-id HEX with the relay's "
            "registered key for an independent check)"
        )
    if args.no_signatures:
        console.print("note: signatures were not checked (--no-signatures)")
    verdict = "[green]CLEAN[/]" if report.clean else "[red]NOT CLEAN[/]"
    console.print(f"audit: {verdict}")


def _write_json(target: str, data: dict[str, Any], stdout: TextIO) -> None:
    text = json.dumps(data, indent=2) + "\n"
    if target == "-":
        stdout.write(text)
        return
    write_atomically(target, text)


def run(args: argparse.Namespace) -> int:
    from ..bundle import is_v2_bundle

    if is_v2_bundle(args.bundle):
        return run_v2(args)
    v2_only = given_options(args, V2_ONLY_OPTIONS)
    if v2_only:
        return fail(
            f"{args.bundle}: not a v2 bundle; {', '.join(v2_only)} apply to v2 bundles only"
        )
    names: dict[str, str] | None = None
    if args.participants is not None:
        try:
            names = read_participants(args.participants)
        except (OSError, ValueError) as exc:
            return fail(f"{args.participants}: not a participants file ({exc})")
    from ..audit import audit_bundle_v1

    # With --json - the JSON owns stdout, so the human summary goes to stderr.
    json_to_stdout = args.json == "-"
    out = summary_console(stderr=json_to_stdout)
    err = Console(stderr=True)
    evm_audit = None
    try:
        with progress_bar(err, f"auditing {args.bundle}") as progress:
            if args.evm_url:
                from ..anchor.audit import audit_bundle_with_evm

                evm_audit = audit_bundle_with_evm(
                    args.bundle,
                    args.evm_url,
                    log_id=args.log_id,
                    confirmations=args.confirmations,
                    threads=args.threads,
                    check_signatures=not args.no_signatures,
                    progress=progress,
                )
                report = evm_audit.report
            else:
                report = audit_bundle_v1(
                    args.bundle,
                    log_id=args.log_id,
                    threads=args.threads,
                    check_signatures=not args.no_signatures,
                    progress=progress,
                )
    except (HashcoreError, OSError) as exc:
        return fail(f"{args.bundle}: {exc}" if str(args.bundle) not in str(exc) else str(exc))
    _summary(out, report, args)
    if evm_audit is not None:
        _anchor_summary(out, evm_audit)
    elif report.checkpoints:
        out.print("note: anchors were not checked (pass --evm-url URL to check them on chain)")
    if args.json is not None:
        try:
            body = evm_audit.to_json() if evm_audit is not None else report.to_json()
            _write_json(args.json, body, sys.stdout)
        except OSError as exc:
            return fail(f"cannot write {args.json}: {exc}")
    if args.html is not None:
        from ..report import render_audit_html, write_html

        try:
            body = evm_audit.to_json() if evm_audit is not None else report.to_json()
            title = f"Audit of {args.bundle}"
            write_html(args.html, render_audit_html(body, title=title, participants=names))
        except OSError as exc:
            return fail(f"cannot write {args.html}: {exc}")
    return EXIT_CLEAN if report.clean else EXIT_FAILURES


def _anchor_summary(console: Console, evm_audit: Any) -> None:
    """Per checkpoint that is not final on chain: which one and why (SPEC 2.2)."""
    final = sum(1 for c in evm_audit.anchors if c.state == "final")
    console.print(
        f"anchors: {final} of {len(evm_audit.anchors)} checkpoints final on chain "
        f"{evm_audit.evm_chain_id} at {evm_audit.contract} (head block {evm_audit.head_block})"
    )
    shown = 0
    for check in evm_audit.anchors:
        if check.state != "final" and shown < _MAX_FAILURE_LINES:
            console.print(
                f"[red]{check.verdict}[/] tree_size {check.tree_size}: {escape(check.reason)}"
            )
            shown += 1
    for note in evm_audit.notes:
        console.print(f"note: {escape(note)}")
