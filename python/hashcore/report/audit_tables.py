"""The tables of an audit report's JSON (``AuditReportV2.to_json()``, what ``hashcore audit
--json`` writes): record verdict counts, failures, participants' chains. The audit page and
the demo page's clean-bundle audit (:mod:`.audit_page_v2`) both show them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from .kit import (
    Markup,
    code_pill,
    concat,
    element,
    html_table,
    number,
    participant_of,
    ranges,
    ranges_text,
    short_hex,
    status_pill,
)

#: Per-chain rows shown (chains with problems first).
MAX_CHAIN_ROWS = 60

_PRIMARY_EXCLUDED = "NOT_LOGGED"


def verdict_counts(report: Mapping[str, Any]) -> Markup:
    counts: Mapping[str, int] = report.get("counts") or {}
    rows = [[code_pill(code), number(n)] for code, n in counts.items() if n]
    if not rows:
        return element("p", "No records.", "note")
    return html_table(["record verdict", "records"], rows, numeric=[1])


def failure_tables(report: Mapping[str, Any], participants: Mapping[str, str] | None) -> Markup:
    failures: list[Mapping[str, Any]] = report.get("failures") or []
    if not failures:
        return element("p", "Every record verified.", "note")
    # NOT_LOGGED follows from a log problem named elsewhere and can cover most of the
    # log: list the primary failures one by one and the NOT_LOGGED ones as ranges.
    primary = [f for f in failures if f.get("code") != _PRIMARY_EXCLUDED]
    unlogged = [f["log_index"] for f in failures if f.get("code") == _PRIMARY_EXCLUDED]
    parts: list[object] = []
    if primary:
        rows = [
            [
                number(f.get("log_index")),
                participant_of(f.get("chain_id"), participants),
                short_hex(f.get("chain_id"), 32),
                number(f.get("seq")),
                code_pill(str(f.get("code"))),
                f.get("reason", ""),
            ]
            for f in primary
        ]
        headers = ["log index", "participant", "chain", "seq", "verdict", "reason"]
        parts.append(html_table(headers, rows, numeric=[0, 3]))
    if unlogged:
        parts.append(
            element(
                "p",
                f"NOT_LOGGED: {len(unlogged):,} records at log positions "
                f"{ranges_text(ranges(unlogged))} (no attesting checkpoint covers them).",
            )
        )
    return concat(parts)


def _derived_chains(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per-chain failure counts, when the report has no "chains" list of its own."""
    by_chain: dict[str, Counter[str]] = {}
    for f in report.get("failures") or []:
        if isinstance(f.get("chain_id"), str):
            by_chain.setdefault(f["chain_id"], Counter())[str(f.get("code"))] += 1
    return [
        {"chain_id": c, "failures": sum(codes.values()), "codes": codes}
        for c, codes in sorted(by_chain.items())
    ]


def chain_section(report: Mapping[str, Any], participants: Mapping[str, str] | None) -> Markup:
    chains = report.get("chains")
    if isinstance(chains, list):
        # Chains with a problem first: those are the ones a reader is looking for.
        ordered = sorted(
            chains,
            key=lambda c: (
                bool(c.get("complete")),
                participant_of(c.get("chain_id"), participants),
                str(c.get("chain_id")),
            ),
        )
        complete = sum(1 for c in chains if c.get("complete"))
        summary = element(
            "p",
            f"{complete:,} of {len(chains):,} chains are complete up to the last checkpoint "
            "(every record from seq 0 on present, verified and attested).",
        )
        rows = [
            [
                participant_of(c.get("chain_id"), participants),
                short_hex(c.get("chain_id"), 32),
                number(c.get("records")),
                number(c.get("max_seq")),
                number(c.get("ok")),
                number(c.get("failures")),
                status_pill(bool(c.get("complete")), "complete", "incomplete"),
            ]
            for c in ordered
        ]
        headers = ["participant", "chain", "records", "max seq", "OK", "failures", "status"]
        table = html_table(headers, rows, numeric=[2, 3, 4, 5], limit=MAX_CHAIN_ROWS)
        return concat([summary, table])
    derived = _derived_chains(report)
    if not derived:
        return element("p", "No chain has a failing record.", "note")
    rows = [
        [
            participant_of(c["chain_id"], participants),
            short_hex(c["chain_id"], 32),
            number(c["failures"]),
            ", ".join(f"{code} {n}" for code, n in sorted(c["codes"].items())),
        ]
        for c in derived
    ]
    note = element(
        "p",
        "Only chains with failing records are listed (this report carries no per-chain "
        "record counts); every other chain had none.",
        "note",
    )
    return concat(
        [html_table(["participant", "chain", "failures", "verdicts"], rows, numeric=[2]), note]
    )
