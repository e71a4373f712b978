"""``hashcore audit`` of a v2 bundle (SPEC v2 section 5): under ``--policy FILE`` (or the
bundle's own identity, said loudly), with the evidence of ``--receipts`` / ``--notes``
added to the bundle's own, ``--strict-time``, ``--as-of N`` and ``--evm-url URL`` (the node
the policy's anchors are read from; required when the policy has ``evm``).

With ``--log-url URL`` the bundle's log is also checked against the log published as
C2SP tlog-tiles at URL (:mod:`hashcore.tiles.log_check`); its findings are the JSON
report's ``log_url`` key (added only then: the v2 keys are otherwise unchanged) and count
in ``clean`` and the exit code.

Exit codes: 0 clean, 1 not clean, 2 unusable input (one line on stderr,
``hashcore: error: ...``, so scripts can show them as they are).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .._atomic import write_atomically
from ..errors import HashcoreError
from .args import EXIT_OK, fail, read_participants
from .audit_cluster import dask_client, task_threads
from .console import summary_console

__all__ = ["run_v2"]

EXIT_FAILURES = 1
_MAX_LINES = 20


def _counts_table(title: str, counts: dict[str, int], ok: set[str]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("verdict")
    table.add_column("count", justify="right")
    for code, n in counts.items():
        if n:
            table.add_row(f"[{'green' if code in ok else 'red'}]{code}[/]", str(n))
    return table


def _tally(codes: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for code in codes:
        out[code] = out.get(code, 0) + 1
    return out


def _summary(console: Console, report: Any) -> None:
    console.print(_counts_table(f"{report.records} records", report.counts, {"OK", "OK_REDACTED"}))
    cps = _tally([c.code for c in report.checkpoints])
    if cps:
        console.print(_counts_table(f"{len(report.checkpoints)} checkpoints", cps, {"OK"}))
    else:
        console.print("[red]no checkpoints[/]: nothing attests that any record was logged")
    if report.receipts:
        receipts = _tally([r.code for r in report.receipts])
        ok = {"RECEIPT_OK", "RECEIPT_PENDING", "RECEIPT_BAD_SIG"}
        console.print(_counts_table(f"{len(report.receipts)} receipts", receipts, ok))
    if report.evidence_notes:
        notes = _tally([n.code for n in report.evidence_notes])
        ok = {"OK", "NOTE_REJECTED"} | ({"INCOMPLETE"} if report.as_of is not None else set())
        console.print(_counts_table(f"{len(report.evidence_notes)} evidence notes", notes, ok))
    if report.anchors:
        anchors = _tally([a.code for a in report.anchors])
        ok = {"ANCHOR_OK", "ANCHOR_UNCONFIRMED"} | (
            {"ANCHOR_BEYOND_BUNDLE"} if report.as_of is not None else set()
        )
        console.print(_counts_table(f"{len(report.anchors)} anchors", anchors, ok))
        for a in report.anchors:
            if a.code in ("ANCHOR_CONTRADICTED", "ANCHOR_BEYOND_BUNDLE"):
                console.print(
                    f"[red]{a.code}[/] tree_size {a.tree_size}: tx 0x{a.tx_hash.hex()} in "
                    f"block {a.block_number}"
                )
    for c in report.checkpoints:
        if c.reason is not None:
            console.print(f"[red]{c.code}[/] tree_size {c.tree_size}: {escape(c.reason)}")
    rejected = [n for n in report.evidence_notes if n.reason is not None]
    for n in rejected[:_MAX_LINES]:
        console.print(f"[yellow]{n.code}[/] evidence note {n.row}: {escape(n.reason or '')}")
    primary = [f for f in report.failures if f.code != "NOT_LOGGED"]
    if primary:
        table = Table(title=f"{len(primary)} failures", title_justify="left")
        for name in ("log_index", "chain_id", "seq", "code", "reason"):
            table.add_column(name)
        for f in primary[:_MAX_LINES]:
            chain = f.chain_id.hex() if f.chain_id is not None else "-"
            table.add_row(str(f.log_index), chain, str(f.seq), f.code, escape(f.reason))
        console.print(table)
        if len(primary) > _MAX_LINES:
            console.print(f"... and {len(primary) - _MAX_LINES} more (use --json FILE)")
    unlogged = sum(1 for f in report.failures if f.code == "NOT_LOGGED")
    if unlogged:
        console.print(f"[red]NOT_LOGGED[/]: {unlogged} records no attesting checkpoint covers")
    for t in report.time_findings[:_MAX_LINES]:
        console.print(
            f"[yellow]{t.code}[/] log_index {t.log_index}: time_ms {t.time_ms}, window "
            f"[{t.lower}, {t.upper}], witnessed upper {t.upper_witnessed}"
        )
    if report.missing_log_positions:
        missing = ", ".join(f"{a}..{b - 1}" for a, b in report.missing_log_positions[:10])
        console.print(f"[red]missing log positions[/]: {missing}")
    if not report.manifest_origin_matches:
        console.print("[red]the manifest names another origin than the policy[/]")
    if not report.manifest_log_key_matches:
        console.print("[red]the manifest names another log key than the policy[/]")
    if report.incomplete:
        console.print(
            "[red]INCOMPLETE[/]: the relay signed (or anchored) a larger log than the bundle holds"
        )
    if report.log_identity_source == "bundle":
        console.print(
            "note: log identity taken from the bundle (pass --policy FILE, the trial's "
            "registered policy, for an independent check)"
        )
    if not report.signatures_checked:
        console.print("note: signatures were not checked (--no-signatures)")
    for note in report.schema_notes:
        console.print(f"note: {escape(note)}")
    if report.anchors_checked:
        console.print(
            f"anchors: {len(report.anchors)} by the policy's anchorer, read at block "
            f"{report.head_block}"
        )
    else:
        console.print("note: anchors were not checked (the policy has no evm)")
    verdict = "[green]CLEAN[/]" if report.clean else "[red]NOT CLEAN[/]"
    strict = " (strict time)" if report.strict_time else ""
    console.print(f"audit: {verdict}{strict}")


def run_v2(args: argparse.Namespace) -> int:
    """Audit the v2 bundle ``args.bundle``; the exit code."""
    from ..bundle_audit import audit_bundle

    names: dict[str, str] | None = None
    if args.participants is not None:
        try:
            names = read_participants(args.participants)
        except (OSError, ValueError) as exc:
            return fail(f"{args.participants}: not a participants file ({exc})")
    out = summary_console(stderr=args.json == "-")
    try:
        with dask_client(args.dask, args.dask_local) as client:
            report = audit_bundle(
                args.bundle,
                policy=args.policy,
                receipts=args.receipts or [],
                notes=args.notes or [],
                strict_time=args.strict_time,
                as_of=args.as_of,
                evm_url=args.evm_url,
                threads=task_threads(args.dask_local, args.threads),
                check_signatures=not args.no_signatures,
                client=client,
            )
    except (HashcoreError, OSError) as exc:
        # An error names the file it is about; one that doesn't is about the bundle.
        files = [args.bundle, args.policy, *(args.receipts or []), *(args.notes or [])]
        named = any(f is not None and str(f) in str(exc) for f in files)
        return fail(str(exc) if named else f"{args.bundle}: {exc}")
    log_check = None
    if getattr(args, "log_url", None):
        from .audit_log_url import check_log_url, print_log_check

        try:
            log_check = check_log_url(args.bundle, args.log_url, args.policy)
        except (HashcoreError, OSError) as exc:
            return fail(str(exc))
    _summary(out, report)
    data = report.to_json()
    if log_check is not None:
        print_log_check(out, log_check)
        # A key of its own (the v2 keys list stays as it is): the published log's findings.
        data["log_url"] = log_check.to_json()
        data["clean"] = report.clean and log_check.clean
    clean = bool(data["clean"])
    if args.json is not None:
        text = json.dumps(data, indent=2) + "\n"
        try:
            if args.json == "-":
                sys.stdout.write(text)
            else:
                write_atomically(args.json, text)
        except OSError as exc:
            return fail(f"cannot write {args.json}: {exc}")
    if args.html is not None:
        from ..report import render_audit_html_v2, write_html

        try:
            title = f"Audit of {args.bundle}"
            write_html(args.html, render_audit_html_v2(report, title=title, participants=names))
        except OSError as exc:
            return fail(f"cannot write {args.html}: {exc}")
    return EXIT_OK if clean else EXIT_FAILURES
