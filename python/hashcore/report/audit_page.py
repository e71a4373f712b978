"""The audit report page (``hashcore audit --html FILE``): cards, verdict counts, failures,
checkpoints and chains of one audit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from .kit import (
    Markup,
    card_row,
    code_pill,
    concat,
    element,
    html_page,
    html_table,
    number,
    participant_of,
    pill,
    ranges,
    ranges_text,
    short_hex,
    status_pill,
)

#: Per-chain rows shown (chains with problems first).
MAX_CHAIN_ROWS = 60


_PRIMARY_EXCLUDED = "NOT_LOGGED"


def _audit_notes(report: Mapping[str, Any]) -> list[str]:
    notes = []
    if report.get("log_id_source") == "bundle":
        notes.append(
            "The log identity was taken from the bundle itself, not from a trusted source "
            "(SPEC 2.2): pass --log-id with the relay's registered key."
        )
    if report.get("manifest_log_id_mismatch"):
        notes.append("The bundle's manifest names another log_id than the trusted one.")
    if report.get("signatures_checked") is False:
        notes.append("Signatures were not checked.")
    evm = report.get("evm")
    if not report.get("anchors_checked") and not evm:
        notes.append("Anchors were not checked on an EVM chain.")
    if isinstance(evm, Mapping):
        notes.extend(str(n) for n in evm.get("notes") or [])
    return notes


def _audit_cards(report: Mapping[str, Any]) -> Markup:
    counts: Mapping[str, int] = report.get("counts") or {}
    failures = len(report.get("failures") or [])
    cps = report.get("checkpoints") or []
    cps_ok = sum(1 for c in cps if c.get("code") == "OK")
    missing = sum(b - a for a, b in report.get("missing_log_positions") or [])
    items: list[tuple[str, object, str]] = [
        ("records", number(report.get("records", 0)), ""),
        ("OK", number(counts.get("OK", 0)), "ok"),
        ("erased (OK_REDACTED)", number(counts.get("OK_REDACTED", 0)), "ok"),
        ("failed records", number(failures), "bad" if failures else "ok"),
        ("checkpoints OK", f"{cps_ok} / {len(cps)}", "ok" if cps and cps_ok == len(cps) else "bad"),
        ("missing log positions", number(missing), "bad" if missing else "ok"),
    ]
    evm = report.get("evm")
    if isinstance(evm, Mapping) and evm.get("anchors") is not None:
        anchors = evm["anchors"]
        final = sum(1 for a in anchors if a.get("state") == "final")
        tone = "ok" if anchors and final == len(anchors) else "bad"
        items.append(("anchors final on chain", f"{final} / {len(anchors)}", tone))
    return card_row(items)


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


def _checkpoint_table(report: Mapping[str, Any]) -> Markup:
    cps: list[Mapping[str, Any]] = report.get("checkpoints") or []
    if not cps:
        return element("p", "No checkpoints: nothing attests that any record was logged.", "note")
    evm = report.get("evm")
    anchors: list[Mapping[str, Any]] = []
    if isinstance(evm, Mapping):
        anchors = list(evm.get("anchors") or [])
    rows = []
    for i, cp in enumerate(cps):
        # EvmAudit lists one anchor check per checkpoint row, in the same order.
        a: Mapping[str, Any] = anchors[i] if i < len(anchors) else {}
        state = a.get("state")
        state_cell: object = (
            pill(str(state), "ok" if state == "final" else "bad") if state else "not checked"
        )
        rows.append(
            [
                number(cp.get("tree_size")),
                short_hex(cp.get("root")),
                code_pill(str(cp.get("code"))),
                state_cell,
                short_hex(a.get("tx_hash"), 18),
                number(a.get("block_number")),
                number(a.get("confirmations")),
                a.get("reason") or "",
            ]
        )
    headers = ["tree size", "root", "verdict", "anchor", "tx hash", "block", "conf.", "why"]
    table = html_table(headers, rows, numeric=[0, 5, 6])
    if isinstance(evm, Mapping) and evm.get("chain_id") is not None:
        where = (
            f"EVM chain id {evm.get('chain_id')}, contract {evm.get('contract')}, "
            f"head block {evm.get('head_block')}"
        )
        return concat([table, element("p", where, "note")])
    return table


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


def audit_body(
    report: Mapping[str, Any], participants: Mapping[str, str] | None, *, h: str = "h2"
) -> Markup:
    """Everything about one audit, below its title: verdict, cards, tables, notes."""
    clean = bool(report.get("clean"))
    banner = Markup(
        f'<div class="banner {"ok" if clean else "bad"}">'
        f"{'CLEAN: every record and checkpoint verified' if clean else 'NOT CLEAN'}</div>"
    )
    notes = [element("p", n, "note") for n in _audit_notes(report)]
    missing = report.get("missing_log_positions") or []
    missing_p = (
        element(
            "p",
            "Missing log positions (no record below the largest signed checkpoint): "
            + ", ".join(f"{a:,}–{b - 1:,}" if b - a > 1 else f"{a:,}" for a, b in missing[:20]),
        )
        if missing
        else Markup("")
    )
    return concat(
        [
            banner,
            _audit_cards(report),
            *notes,
            element(h, "Record verdicts"),
            verdict_counts(report),
            element(h, "Failures"),
            failure_tables(report, participants),
            missing_p,
            element(h, "Checkpoints and anchors"),
            _checkpoint_table(report),
            element(h, "Participants' chains"),
            chain_section(report, participants),
        ]
    )


def render_audit_html(
    report_json: Mapping[str, Any],
    *,
    title: str,
    participants: Mapping[str, str] | None = None,
) -> str:
    """One audit as an HTML page.

    ``report_json`` is what ``hashcore audit --json`` writes (``VerifyReport.to_json()``,
    or ``EvmAudit.to_json()`` with its ``evm`` member); ``participants`` maps chain_id
    hex to a participant id (the site's enrollment register) for the tables.
    """
    body = concat([element("h1", title), audit_body(report_json, participants)])
    return html_page(title, body)
