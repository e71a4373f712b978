"""The demo's fraud stage (protocol v2): every tampered copy of a clean v2 bundle audited
under the policy with the devices' evidence, compared with its derived expectation,
localised (participant, log ranges, checkpoints, receipts, notes, time findings) and told
in a terminal table.

:func:`run_attacks` takes a clean v2 bundle directory, its policy, the evidence the devices
hand in and the keys the simulation may play the relay, the witnesses or a device with; it
doesn't care where they came from (the relay's export, or ``make_sample``). An attack's
outcome is "caught" when its audit names something (a verdict, a receipt, a note, a time
finding, an anchor), which its expectation says it must; the only attack whose
expectation is clean is the erasure ("clean, as expected"). Attacks that need an EVM chain
write their anchors on ``evm_url`` (an anvil node) and are audited with the anchors read
from it; without one they are "skipped", as are attacks that need a key not given.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..audit.v2_report import AuditReportV2
from ..policy import Policy
from .sample_keys import SampleKeys

__all__ = [
    "OUTCOMES",
    "AttackInput",
    "audit_attack",
    "caught_by",
    "outcome_line",
    "print_attacks",
    "progress_bar",
    "run_attacks",
]

#: Failures listed per attack in report.json (the tampered copy's audit has them all).
_LISTED = 12
CAUGHT = "caught"
CLEAN_AS_EXPECTED = "clean, as expected"
NOT_AS_EXPECTED = "NOT AS EXPECTED"
SKIPPED = "skipped"
OUTCOMES = (CAUGHT, CLEAN_AS_EXPECTED, NOT_AS_EXPECTED, SKIPPED)
_UNCLEAN_RECEIPTS = frozenset({"RECEIPT_CONFLICT", "RECEIPT_CONTRADICTED", "RECEIPT_WITHHELD"})
_BUNDLE_CHECKPOINT_CODES = frozenset({"BAD_CHECKPOINT_SIG", "ROOT_MISMATCH", "INCONSISTENT"})
_ANCHOR_CHECKPOINT_CODES = frozenset({"NOT_ANCHORED", "UNCONFIRMED"})
#: An anchor beyond the bundle makes it INCOMPLETE; a contradicted one is the relay's lie.
_UNCLEAN_ANCHORS = frozenset({"ANCHOR_CONTRADICTED", "ANCHOR_BEYOND_BUNDLE"})


@dataclass(frozen=True)
class AttackInput:
    """What the fraud stage starts from: a clean v2 bundle and what an auditor gets with
    it. ``keys`` lets attacks act as the relay, a witness or a device (None: those skip)."""

    bundle: Path
    policy: Policy | str | os.PathLike[str]
    receipts: Sequence[Path] = field(default_factory=list)
    notes: Sequence[Path] = field(default_factory=list)
    keys: SampleKeys | str | os.PathLike[str] | None = None


def progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def _ranges(positions: Sequence[int]) -> list[list[int]]:
    from ..report import ranges

    return [list(r) for r in ranges(sorted(positions))]


def caught_by(report: AuditReportV2) -> list[str]:
    """Which part of the evidence named the attack: the bundle itself, the policy's
    witnesses, the devices' receipts or notes, the time bounds, the anchors on chain."""
    by = []
    if (
        report.failures
        or report.missing_log_positions
        or any(c.code in _BUNDLE_CHECKPOINT_CODES for c in report.checkpoints)
    ):
        by.append("bundle")
    if any(c.code == "UNWITNESSED" for c in report.checkpoints):
        by.append("witnesses")
    if any(r.code in _UNCLEAN_RECEIPTS for r in report.receipts):
        by.append("receipts")
    if any(n.code in ("EQUIVOCATION", "INCOMPLETE") for n in report.evidence_notes):
        by.append("notes")
    if report.time_findings:
        by.append("time bounds")
    if any(c.code in _ANCHOR_CHECKPOINT_CODES for c in report.checkpoints) or any(
        a.code in _UNCLEAN_ANCHORS for a in report.anchors
    ):
        by.append("anchors")
    return by


def _where(report: AuditReportV2, participants: dict[str, str]) -> dict[str, Any]:
    """Where an audit found things: primary failures (with participant), NOT_LOGGED as
    log ranges, the non-OK checkpoints, receipts, notes and time findings."""

    def who(chain_id: bytes | None) -> dict[str, Any]:
        chain = chain_id.hex() if chain_id is not None else None
        return {"chain_id": chain, "participant": participants.get(chain or "")}

    primary = [f for f in report.failures if f.code != "NOT_LOGGED"]
    unlogged = [f.log_index for f in report.failures if f.code == "NOT_LOGGED"]
    receipts: dict[str, list[int]] = {}
    for r in report.receipts:
        if r.code not in ("RECEIPT_OK", "RECEIPT_BAD_SIG") and r.log_index is not None:
            receipts.setdefault(r.code, []).append(r.log_index)
    return {
        "failures": [
            {"log_index": f.log_index, **who(f.chain_id), "seq": f.seq, "verdict": f.code}
            for f in primary[:_LISTED]
        ],
        "primary_failures": len(primary),
        "not_logged": {"count": len(unlogged), "ranges": _ranges(unlogged)},
        "checkpoints": [
            {"tree_size": c.tree_size, "verdict": c.code}
            for c in report.checkpoints
            if c.code != "OK"
        ],
        "receipts": {
            code: {"count": len(lis), "ranges": _ranges(lis)}
            for code, lis in sorted(receipts.items())
        },
        "notes": [
            {"tree_size": n.tree_size, "verdict": n.code}
            for n in report.evidence_notes
            if n.code != "OK"
        ],
        "time_findings": [
            {"log_index": t.log_index, **who(t.chain_id), "seq": t.seq, "code": t.code}
            for t in report.time_findings[:_LISTED]
        ],
        "missing_log_positions": [list(m) for m in report.missing_log_positions],
        "anchors": [
            {"tree_size": a.tree_size, "verdict": a.code}
            for a in report.anchors
            if a.code in _UNCLEAN_ANCHORS
        ],
        "incomplete": report.incomplete,
    }


def _where_text(where: dict[str, Any]) -> str:
    """One compact line: ``BAD_COMMIT @4,512 P0042/17; NOT_LOGGED 9,800–11,411; ...``."""
    from ..report import ranges_text

    parts = []
    for f in where["failures"][:2]:
        name = f["participant"] or (f["chain_id"] or "?")[:8]
        parts.append(f"{f['verdict']} @{f['log_index']:,} {name}/{f['seq']}")
    if where["primary_failures"] > 2:
        parts.append(f"+{where['primary_failures'] - 2} more")
    if where["not_logged"]["count"]:
        parts.append(f"NOT_LOGGED {ranges_text(where['not_logged']['ranges'], 2)}")
    for c in where["checkpoints"][:2]:
        parts.append(f"checkpoint {c['tree_size']:,} {c['verdict']}")
    if len(where["checkpoints"]) > 2:
        parts.append(f"+{len(where['checkpoints']) - 2} checkpoints")
    for code, r in where["receipts"].items():
        parts.append(f"{code} @{ranges_text(r['ranges'], 2)}")
    notes = Counter(str(n["verdict"]) for n in where["notes"])
    for code, n in sorted(notes.items()):
        sizes = sorted({int(x["tree_size"]) for x in where["notes"] if x["verdict"] == code})
        parts.append(f"note {code} x{n} (size {', '.join(f'{s:,}' for s in sizes[:3])})")
    for t in where["time_findings"][:2]:
        name = t["participant"] or (t["chain_id"] or "?")[:8]
        parts.append(f"{t['code']} @{t['log_index']:,} {name}/{t['seq']}")
    for a in where.get("anchors", [])[:2]:
        parts.append(f"anchor {a['tree_size']:,} {a['verdict']}")
    if where["missing_log_positions"]:
        runs = [(a, b - 1) for a, b in where["missing_log_positions"]]
        parts.append(f"missing {ranges_text(runs, 2)}")
    if where["incomplete"]:
        parts.append("INCOMPLETE")
    return "; ".join(parts) or "–"


def _found(report: AuditReportV2) -> dict[str, Any]:
    """The audit in expected.json's shape, so that expected_summary() words both alike."""
    return {
        "clean": report.clean_without_strict_time,
        "clean_with_strict_time": report.clean_with_strict_time,
        "failures": [{"verdict": f.code} for f in report.failures],
        "checkpoints": [{"verdict": c.code} for c in report.checkpoints],
        "receipt_counts": dict(Counter(r.code for r in report.receipts)),
        "notes": [{"verdict": n.code} for n in report.evidence_notes],
        "time_findings": [{"code": t.code} for t in report.time_findings],
        "anchors": [{"verdict": a.code} for a in report.anchors],
        "missing_log_positions": [list(m) for m in report.missing_log_positions],
        "incomplete": report.incomplete,
    }


def _counts(items: Sequence[dict[str, Any]], key: str = "verdict") -> dict[str, int]:
    return dict(sorted(Counter(str(i[key]) for i in items).items()))


def _digest(expected: dict[str, Any]) -> dict[str, Any]:
    from .fraud import expected_summary

    return {
        "clean": expected["clean"],
        "clean_with_strict_time": expected["clean_with_strict_time"],
        "records": _counts(expected["failures"]),
        "checkpoints": _counts(expected["checkpoints"]),
        "receipts": dict(sorted(expected["receipt_counts"].items())),
        "notes": _counts(expected["notes"]),
        "time_findings": _counts(expected["time_findings"], "code"),
        "anchors": _counts(expected.get("anchors", [])),
        "missing_log_positions": expected["missing_log_positions"],
        "incomplete": expected["incomplete"],
        "summary": expected_summary(expected),
    }


def audit_attack(result: Any, participants: dict[str, str]) -> dict[str, Any]:
    """Audit one tampered copy with its policy and evidence, compare it with its
    expectation, and say where the audit found the attack."""
    from ..audit.v2_bundle import audit_bundle_v2
    from ..bundle_audit import read_anchors_for
    from ..policy import load_policy
    from .fraud import compare

    base: dict[str, Any] = {"name": result.name, "description": result.description}
    if result.path is None or result.expected is None or result.skipped is not None:
        expected = _digest(result.expected) if result.expected is not None else None
        return {
            **base,
            "skipped": result.skipped,
            "caught": None,
            "outcome": SKIPPED,
            "expected": expected,
        }
    expected = result.expected
    policy = load_policy(result.policy)
    report = audit_bundle_v2(
        result.path,
        policy=policy,
        receipts=[result.receipts],
        notes=[result.notes],
        # The anchors the attack wrote on chain, read as an auditor does (SPEC 2.5).
        chain_anchors=read_anchors_for(policy, result.evm_url),
    )
    differences = compare(expected, report)
    where = _where(report, participants)
    if differences:
        outcome = NOT_AS_EXPECTED
    elif not report.clean_with_strict_time:
        outcome = CAUGHT
    else:
        outcome = CLEAN_AS_EXPECTED
    return {
        **base,
        "skipped": None,
        "path": str(result.path),
        "evidence": {"receipts": str(result.receipts), "notes": str(result.notes)},
        "policy": str(result.policy),
        "evm_url": result.evm_url,
        "expected": {**_digest(expected), "target": expected.get("target")},
        "found": _digest(_found(report)),
        "differences": differences,
        "caught": not differences,
        "detected": not report.clean_with_strict_time,
        "caught_by": caught_by(report),
        "outcome": outcome,
        "where": where,
        "where_text": _where_text(where),
    }


def run_attacks(
    source: AttackInput,
    out: Path,
    *,
    seed: int,
    participants: dict[str, str],
    console: Console,
    evm_url: str | None = None,
) -> list[dict[str, Any]]:
    """Write one tampered copy of ``source`` per attack to ``out`` and audit each."""
    from .fraud import simulate_fraud

    with console.status("writing one tampered copy of the bundle per attack ..."):
        results = simulate_fraud(
            source.bundle,
            out,
            policy=source.policy,
            receipts=list(source.receipts),
            notes=list(source.notes),
            keys=source.keys,
            seed=seed,
            evm_url=evm_url,
        )
    attacks = []
    with progress_bar(console) as progress:
        task = progress.add_task("auditing attacks", total=len(results))
        for result in results:
            progress.update(task, description=f"auditing {result.name}")
            attacks.append(audit_attack(result, participants))
            progress.advance(task)
    return attacks


_OUTCOME_STYLES = {CAUGHT: "green", CLEAN_AS_EXPECTED: "yellow", SKIPPED: "dim"}


def print_attacks(console: Console, attacks: Sequence[dict[str, Any]]) -> None:
    table = Table(title="fraud simulation", title_justify="left", show_lines=False)
    table.add_column("attack", no_wrap=True)
    table.add_column("audit found")
    table.add_column("where")
    table.add_column("by")
    table.add_column("result", no_wrap=True)
    for a in attacks:
        style = _OUTCOME_STYLES.get(a["outcome"], "red")
        if a["skipped"]:
            found, where, by = escape(str(a["skipped"])), "", ""
            if a.get("expected"):
                where = escape(f"would give: {a['expected']['summary']}")
        else:
            found = escape(a["found"]["summary"])
            where = escape(a["where_text"])
            by = escape(", ".join(a["caught_by"]))
        table.add_row(escape(a["name"]), found, where, by, f"[{style}]{escape(a['outcome'])}[/]")
    console.print(table)


def outcome_line(attacks: Sequence[dict[str, Any]]) -> str:
    """``30 caught and localised ...; 1 clean, as expected (payload-erased)`` (and how many
    were NOT AS EXPECTED or skipped, if any)."""
    by = Counter(a["outcome"] for a in attacks)
    clean = [a["name"] for a in attacks if a["outcome"] == CLEAN_AS_EXPECTED]
    parts = [f"{by[CAUGHT]} caught and localised by the bundle, the receipts and the policy"]
    if clean:
        parts.append(f"{len(clean)} clean, as expected ({', '.join(clean)})")
    if by[NOT_AS_EXPECTED]:
        parts.append(f"{by[NOT_AS_EXPECTED]} NOT AS EXPECTED")
    if by[SKIPPED]:
        parts.append(f"{by[SKIPPED]} skipped (an EVM chain or a key they need)")
    return "; ".join(parts)
