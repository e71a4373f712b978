"""``compare``: the differences between an expected.json and a v2 audit report, one line
each, field by field: record failures, checkpoint verdicts, receipt and evidence-note
verdicts, the anchors' verdicts, time findings, missing positions, INCOMPLETE, T, the
deadline clock and both clean flags."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ...audit.v2_report import AuditReportV2
from .model import RECEIPT_OK

_MAX_LISTED_DIFFERENCES = 20


def _listed(kind: str, items: Counter[Any]) -> list[str]:
    lines = [f"{kind}: {item}" for item in sorted(items.elements(), key=repr)]
    if len(lines) > _MAX_LISTED_DIFFERENCES:
        more = len(lines) - _MAX_LISTED_DIFFERENCES
        lines = [*lines[:_MAX_LISTED_DIFFERENCES], f"{kind}: ... and {more} more"]
    return lines


def _both(what: str, want: Counter[Any], got: Counter[Any]) -> list[str]:
    return _listed(f"expected {what} not reported", want - got) + _listed(
        f"unexpected {what} reported", got - want
    )


def _hex(b: bytes | None) -> str | None:
    return b.hex() if b is not None else None


def compare(expected: dict[str, Any], report: AuditReportV2) -> list[str]:
    """Differences between ``expected`` (an expected.json) and the v2 audit ``report``
    of the copy with its policy and evidence; empty when they agree on every field."""
    diffs = _both(
        "failure",
        Counter(
            (f["log_index"], f["chain_id"], f["seq"], f["verdict"]) for f in expected["failures"]
        ),
        Counter((f.log_index, _hex(f.chain_id), f.seq, f.code) for f in report.failures),
    )
    diffs += _both(
        "checkpoint verdict",
        Counter((c["tree_size"], c["verdict"]) for c in expected["checkpoints"]),
        Counter((c.tree_size, c.code) for c in report.checkpoints),
    )
    diffs += _both(
        "receipt verdict",
        Counter(
            (r["log_index"], r["chain_id"], r["seq"], r["verdict"]) for r in expected["receipts"]
        ),
        Counter(
            (r.log_index, _hex(r.chain_id), r.seq, r.code)
            for r in report.receipts
            if r.code != RECEIPT_OK
        ),
    )
    diffs += _both(
        "anchor verdict",
        Counter((a["tree_size"], a["verdict"]) for a in expected.get("anchors", [])),
        Counter((a.tree_size, a.code) for a in report.anchors),
    )
    got_counts = dict(sorted(Counter(r.code for r in report.receipts).items()))
    if got_counts != expected["receipt_counts"]:
        diffs.append(
            f"receipt counts: expected {expected['receipt_counts']}, reported {got_counts}"
        )
    diffs += _both(
        "evidence note verdict",
        Counter((n["tree_size"], n["verdict"]) for n in expected["notes"]),
        Counter((n.tree_size, n.code) for n in report.evidence_notes),
    )
    diffs += _both(
        "time finding",
        Counter(
            (t["log_index"], t["code"], t["time_ms"], t["lower"], t["upper"], t["upper_witnessed"])
            for t in expected["time_findings"]
        ),
        Counter(
            (t.log_index, t.code, t.time_ms, t.lower, t.upper, t.upper_witnessed)
            for t in report.time_findings
        ),
    )
    scalars = {
        "missing log positions": (
            [list(m) for m in expected["missing_log_positions"]],
            [list(m) for m in report.missing_log_positions],
        ),
        "incomplete": (expected["incomplete"], report.incomplete),
        "covered tree size T": (expected["covered_size"], report.covered_size),
        "deadline clock": (expected["deadline_clock_ms"], report.deadline_clock_ms),
        "clean": (expected["clean"], report.clean_without_strict_time),
        "clean with strict time": (
            expected["clean_with_strict_time"],
            report.clean_with_strict_time,
        ),
    }
    for what, (want, got) in scalars.items():
        if want != got:
            diffs.append(f"{what}: expected {want}, reported {got}")
    return diffs
