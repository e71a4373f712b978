"""The demo report page (``hashcore demo``): the trial, the relay, the clean audit and every
attack with what it was expected to give and what the audit found."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .audit_page_v2 import audit_body
from .kit import (
    Markup,
    card_row,
    code_pill,
    concat,
    element,
    esc,
    fact_list,
    html_page,
    html_table,
    mono,
    number,
    pill,
    ranges_text,
    short_hex,
    status_pill,
)

#: Failures shown per attack in the demo report.
MAX_ATTACK_ROWS = 12


def _trial_section(demo: Mapping[str, Any]) -> Markup:
    t: Mapping[str, Any] = demo.get("trial") or {}
    rows: list[tuple[str, object]] = [
        ("participants enrolled (one-time tokens)", number(t.get("participants"))),
        ("diary days", number(t.get("days"))),
        ("records acknowledged (geneses included)", number(t.get("records"))),
        ("sync sessions", number(t.get("syncs"))),
        ("batches sent", number(t.get("batches"))),
        (
            "offline spells (3–10 days offline, then a batched sync)",
            number(t.get("offline_spells")),
        ),
        ("key rotations", number(t.get("rotations"))),
        ("seed", number(t.get("seed"))),
    ]
    erasure = t.get("erasure")
    if isinstance(erasure, Mapping):
        rows.append(
            (
                "right-to-erasure request",
                f"{erasure.get('participant')}: seq {erasure.get('seq')} of chain "
                f"{erasure.get('chain_id')} (log index {erasure.get('log_index')}); payload "
                "and salt deleted, commit and link kept",
            )
        )
    return fact_list(rows)


def _relay_section(demo: Mapping[str, Any]) -> Markup:
    r: Mapping[str, Any] = demo.get("relay") or {}
    facts = fact_list(
        [
            ("log_id (the relay's public key)", mono(r.get("log_id"))),
            ("log size", number(r.get("log_size"))),
            ("EVM chain", f"embedded, chain id {r.get('evm_chain_id')}"),
            ("anchor contract", mono(r.get("contract"))),
            ("confirmations for an anchor to be final", number(r.get("confirmations"))),
            ("witnesses (the policy's quorum)", _witnesses_text(demo.get("witnesses") or {})),
        ]
    )
    rows = [
        [
            number(cp.get("tree_size")),
            short_hex(cp.get("root")),
            short_hex(cp.get("tx_hash"), 18),
            number(cp.get("block_number")),
            status_pill(bool(cp.get("final")), "final", "not final"),
            ", ".join(cp.get("cosigned_by") or []) or "none",
        ]
        for cp in r.get("checkpoints") or []
    ]
    heads = ["tree size", "root", "anchor tx", "block", "anchor", "cosigned by"]
    cps = html_table(heads, rows, numeric=[0, 3])
    return concat([facts, element("h3", "Signed checkpoints and their anchors"), cps])


def _witnesses_text(w: Mapping[str, Any]) -> str:
    listed = w.get("witnesses") or []
    if not listed:
        return "none"
    names = ", ".join(f"{x.get('who')} ({x.get('name')})" for x in listed)
    return f"{names}; {w.get('quorum')} of {len(listed)} must cosign"


def _counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{code} {n:,}" for code, n in sorted(counts.items()) if n) or "none"


#: An attack's outcome (``outcome`` in the demo's report.json) and its colour.
_OUTCOME_TONES = {
    "caught": "ok",
    "clean, as expected": "warn",
    "skipped": "warn",
}


def _outcome(a: Mapping[str, Any]) -> Markup:
    outcome = str(a.get("outcome") or ("caught" if a.get("caught") else "NOT AS EXPECTED"))
    return pill(outcome, _OUTCOME_TONES.get(outcome, "bad"))


def _attack_overview(attacks: Sequence[Mapping[str, Any]]) -> Markup:
    rows = []
    for a in attacks:
        found = a.get("found") or {}
        link = Markup(f'<a href="#attack-{esc(a.get("name"))}">{esc(a.get("name"))}</a>')
        rows.append(
            [
                link,
                (a.get("expected") or {}).get("summary", a.get("skipped") or ""),
                found.get("summary", a.get("skipped") or ""),
                a.get("where_text", ""),
                ", ".join(a.get("caught_by") or []),
                _outcome(a),
            ]
        )
    return html_table(
        ["attack", "expected", "audit found", "where", "caught by", "result"], rows, limit=1000
    )


def _expected_vs_found(a: Mapping[str, Any]) -> Markup:
    exp: Mapping[str, Any] = a.get("expected") or {}
    found: Mapping[str, Any] = a.get("found") or {}
    rows: list[list[object]] = []
    classes: list[str] = []
    for kind in ("records", "checkpoints", "receipts", "notes", "time_findings"):
        want: Mapping[str, int] = exp.get(kind) or {}
        got: Mapping[str, int] = found.get(kind) or {}
        for code in sorted(set(want) | set(got)):
            w, g = want.get(code, 0), got.get(code, 0)
            rows.append([kind.rstrip("s").replace("_", " "), code_pill(code), number(w), number(g)])
            classes.append("" if w == g else "diff")
    for key in ("incomplete", "clean", "clean_with_strict_time"):
        rows.append(["audit", key.replace("_", " "), str(exp.get(key)), str(found.get(key))])
        classes.append("" if exp.get(key) == found.get(key) else "diff")
    return html_table(
        ["", "verdict", "expected", "found"], rows, numeric=[2, 3], row_classes=classes, limit=1000
    )


def _where_section(a: Mapping[str, Any]) -> Markup:
    where: Mapping[str, Any] = a.get("where") or {}
    parts: list[object] = []
    listed: list[Mapping[str, Any]] = where.get("failures") or []
    if listed:
        rows = [
            [
                number(f.get("log_index")),
                f.get("participant") or "–",
                short_hex(f.get("chain_id"), 32),
                number(f.get("seq")),
                code_pill(str(f.get("verdict"))),
            ]
            for f in listed
        ]
        total = int(where.get("primary_failures", len(listed)))
        table = html_table(
            ["log index", "participant", "chain", "seq", "verdict"],
            rows,
            numeric=[0, 3],
            limit=MAX_ATTACK_ROWS,
        )
        parts.append(table)
        if total > len(listed):
            parts.append(element("p", f"… and {total - len(listed):,} more in the JSON.", "note"))
    unlogged = where.get("not_logged") or {}
    if unlogged.get("count"):
        parts.append(
            element(
                "p",
                f"NOT_LOGGED: {unlogged['count']:,} records at log positions "
                f"{ranges_text(unlogged.get('ranges') or [])} — later records the broken "
                "log no longer vouches for.",
            )
        )
    cps = where.get("checkpoints") or []
    if cps:
        items = "".join(
            f"<li>checkpoint of tree size {number(cp.get('tree_size'))}: "
            f"{code_pill(str(cp.get('verdict')))}</li>"
            for cp in cps
        )
        parts.append(Markup(f"<ul>{items}</ul>"))
    receipts: Mapping[str, Mapping[str, Any]] = where.get("receipts") or {}
    if receipts:
        items = "".join(
            f"<li>{code_pill(code)} {number(r.get('count'))} receipts at log positions "
            f"{esc(ranges_text(r.get('ranges') or []))}</li>"
            for code, r in receipts.items()
        )
        parts.append(Markup(f"<p>Receipts the devices handed in:</p><ul>{items}</ul>"))
    notes = where.get("notes") or []
    if notes:
        items = "".join(
            f"<li>note of tree size {number(n.get('tree_size'))}: "
            f"{code_pill(str(n.get('verdict')))}</li>"
            for n in notes
        )
        parts.append(Markup(f"<p>Notes the devices verified:</p><ul>{items}</ul>"))
    findings = where.get("time_findings") or []
    if findings:
        items = "".join(
            f"<li>{code_pill(str(t.get('code')))} log index {number(t.get('log_index'))}, "
            f"{esc(t.get('participant') or short_hex(t.get('chain_id'), 32))} seq "
            f"{number(t.get('seq'))}</li>"
            for t in findings
        )
        parts.append(Markup(f"<p>Time findings:</p><ul>{items}</ul>"))
    if where.get("incomplete"):
        parts.append(element("p", "INCOMPLETE: the relay signed a larger log than it exported."))
    missing = where.get("missing_log_positions") or []
    if missing:
        parts.append(
            element(
                "p", "missing log positions: " + ranges_text([(a0, b - 1) for a0, b in missing])
            )
        )
    if not parts:
        parts.append(element("p", "Nothing: the audit is clean.", "note"))
    return concat(parts)


def _attack_section(a: Mapping[str, Any]) -> Markup:
    name = str(a.get("name"))
    head = Markup(f'<h3 id="attack-{esc(name)}">{esc(name)} {_outcome(a)}</h3>')
    parts: list[object] = [head, element("p", a.get("description", ""))]
    if a.get("skipped"):
        parts.append(element("p", f"Skipped: {a['skipped']}", "note"))
        would = (a.get("expected") or {}).get("summary")
        if would:
            parts.append(element("p", f"Its derived expectation: {would}", "note"))
        return Markup(f'<section class="attack">{concat(parts)}</section>')
    target = (a.get("expected") or {}).get("target")
    if target:
        changed = json.dumps(target, separators=(", ", ": "))
        parts.append(Markup(f"<p>What the attack changed: {mono(changed)}</p>"))
    parts += [
        element("h4", "Expected vs found"),
        _expected_vs_found(a),
    ]
    diffs = a.get("differences") or []
    if diffs:
        items = "".join(f"<li>{esc(d)}</li>" for d in diffs)
        parts.append(Markup(f"<p><strong>Differences:</strong></p><ul>{items}</ul>"))
    parts += [element("h4", "Where"), _where_section(a)]
    if a.get("path"):
        parts.append(element("p", f"tampered bundle: {a['path']}", "note"))
    return Markup(f'<section class="attack">{concat(parts)}</section>')


def render_demo_html(demo: Mapping[str, Any]) -> str:
    """The whole ``hashcore demo`` story (``report.json``'s content) as an HTML page."""
    t: Mapping[str, Any] = demo.get("trial") or {}
    attacks: list[Mapping[str, Any]] = demo.get("attacks") or []
    ran = [a for a in attacks if not a.get("skipped")]
    caught = sum(1 for a in ran if a.get("caught"))
    clean: Mapping[str, Any] = demo.get("clean_audit") or {}
    participants: Mapping[str, str] | None = demo.get("participants")
    ok = bool(demo.get("ok"))
    title = "hashcore demo: an insomnia-therapy trial, end to end"
    verdict = (
        f"The clean bundle audits clean, and all {caught} attacks got exactly the audit "
        "they must get: caught and localised."
        if ok
        else f"Something is wrong: clean audit {'clean' if clean.get('clean') else 'NOT clean'}, "
        f"{caught} of {len(ran)} attacks as expected."
    )
    cps = (demo.get("relay") or {}).get("checkpoints") or []
    cards = card_row(
        [
            ("participants", number(t.get("participants")), ""),
            ("diary days", number(t.get("days")), ""),
            ("records", number(t.get("records")), ""),
            ("sync sessions", number(t.get("syncs")), ""),
            ("offline spells", number(t.get("offline_spells")), ""),
            ("key rotations", number(t.get("rotations")), ""),
            ("erasures", 1 if t.get("erasure") else 0, ""),
            (
                "checkpoints anchored (final)",
                f"{sum(1 for c in cps if c.get('final'))} / {len(cps)}",
                "ok",
            ),
            (
                "clean audit",
                "clean" if clean.get("clean") else "NOT clean",
                "ok" if clean.get("clean") else "bad",
            ),
            (
                "attacks as expected",
                f"{caught} / {len(ran)}",
                "ok" if caught == len(ran) else "bad",
            ),
        ]
    )
    sub = (
        f"Generated {demo.get('generated', '')} in {demo.get('elapsed_s', '?')} s; files in "
        f"{demo.get('out_dir', '')}"
    )
    body = concat(
        [
            element("h1", title),
            element("p", sub, "sub"),
            Markup(f'<div class="banner {"ok" if ok else "bad"}">{esc(verdict)}</div>'),
            cards,
            element("h2", "1. The trial"),
            element(
                "p",
                "Phones enrolled with one-time tokens, wrote a sleep diary every morning and "
                "synced to a real relay over gRPC on loopback; some were offline for days and "
                "sent everything later in batches.",
            ),
            _trial_section(demo),
            element("h2", "2. The relay's log and its anchors"),
            _relay_section(demo),
            element("h2", "3. Audit of the exported bundle"),
            element("p", f"bundle: {demo.get('bundle', '')}", "note"),
            audit_body(clean, participants, h="h3"),
            element("h2", "4. Fraud simulation"),
            element(
                "p",
                "Each attack tampers with a copy of the clean v2 bundle (and, where the attack "
                "says so, with the receipts and notes the devices kept); the expected audit is "
                "derived from what the attack changed (SPEC v2 section 5), then the copy is "
                "audited under the policy with the devices' evidence and compared field by "
                "field: record, checkpoint, receipt and note verdicts, time findings, missing "
                "positions, INCOMPLETE. Every attack is caught and localised but the erasure.",
            ),
            _attack_overview(attacks),
            *[_attack_section(a) for a in attacks],
        ]
    )
    return html_page(title, body)
