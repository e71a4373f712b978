"""HTML reports a person would rather read than the console: one audit
(:func:`render_audit_html`, ``hashcore audit --html FILE``) or the whole demo story
(:func:`render_demo_html`, ``hashcore demo``).

Each report is one self-contained file: inline CSS, no script, no external asset, so it
can be mailed or archived with the bundle and opened anywhere, offline. Everything taken
from the data (participant ids, reasons, paths) is HTML-escaped: a bundle is untrusted
input, and a report must not become a way to run script in an auditor's browser. Cells
are escaped by default; only markup built here is wrapped in :class:`Markup`.
"""

from __future__ import annotations

import html
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["Markup", "render_audit_html", "render_demo_html", "write_html"]

#: Rows shown per table before an "N more" note (the JSON report holds them all).
MAX_ROWS = 100
#: Failures shown per attack in the demo report.
MAX_ATTACK_ROWS = 12
#: Per-chain rows shown (chains with problems first).
MAX_CHAIN_ROWS = 60

_OK_CODES = frozenset({"OK", "OK_REDACTED"})
_PRIMARY_EXCLUDED = "NOT_LOGGED"

_CSS = """
:root { --ok: #17703a; --ok-bg: #e3f4e8; --bad: #a4161a; --bad-bg: #fbe4e4;
  --warn: #8a5a00; --warn-bg: #fff3d6; --ink: #1d2430; --muted: #5c6675; --line: #d9dee6; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); margin: 0; background: #f6f7f9; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px;
  border-bottom: 2px solid var(--line); }
h3 { font-size: 17px; margin: 26px 0 6px; }
p.sub, .muted { color: var(--muted); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 13px; }
.banner { padding: 14px 18px; border-radius: 8px; font-weight: 600; font-size: 17px;
  margin: 14px 0; }
.banner.ok { background: var(--ok-bg); color: var(--ok); border: 1px solid #9fd3b0; }
.banner.bad { background: var(--bad-bg); color: var(--bad); border: 1px solid #eba9a9; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px;
  margin: 12px 0; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card .v { font-size: 22px; font-weight: 700; }
.card .l { color: var(--muted); font-size: 13px; }
.card.ok { border-left: 5px solid var(--ok); }
.card.bad { border-left: 5px solid var(--bad); }
.card.warn { border-left: 5px solid var(--warn); }
table { border-collapse: collapse; width: 100%; background: #fff; margin: 8px 0;
  border: 1px solid var(--line); }
th, td { text-align: left; padding: 5px 9px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { background: #eef1f5; font-size: 13px; }
table.facts th { width: 32%; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.diff td { background: var(--warn-bg); }
.pill { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
  font-weight: 700; }
.pill.ok { background: var(--ok-bg); color: var(--ok); }
.pill.bad { background: var(--bad-bg); color: var(--bad); }
.pill.warn { background: var(--warn-bg); color: var(--warn); }
.note { color: var(--muted); font-size: 13px; margin: 4px 0; }
section.attack { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 4px 18px 14px; margin: 14px 0; }
section.attack table { border: 1px solid var(--line); }
ul { margin: 6px 0; }
"""


class Markup(str):
    """HTML built here: inserted as is, where any other string is escaped."""


def _e(value: object) -> str:
    """Escape ``value`` unless it is :class:`Markup` (None shows as a dash)."""
    if isinstance(value, Markup):
        return str(value)
    if value is None:
        return "–"
    return html.escape(str(value), quote=True)


def _tag(name: str, content: object, cls: str | None = None) -> Markup:
    attr = f' class="{_e(cls)}"' if cls else ""
    return Markup(f"<{name}{attr}>{_e(content)}</{name}>")


def _join(parts: Iterable[object]) -> Markup:
    return Markup("".join(_e(p) for p in parts))


def _pill(text: str, tone: str) -> Markup:
    return _tag("span", text, f"pill {tone}")


def _status(ok: bool, yes: str = "OK", no: str = "FAIL") -> Markup:
    return _pill(yes, "ok") if ok else _pill(no, "bad")


def _code_pill(code: str) -> Markup:
    return _pill(code, "ok" if code in _OK_CODES else "bad")


def _page(title: str, body: Markup) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def _cards(items: Sequence[tuple[str, object, str]]) -> Markup:
    """Summary cards: (label, value, tone) with tone "ok", "bad", "warn" or ""."""
    cells = [
        f'<div class="card {_e(tone)}"><div class="v">{_e(value)}</div>'
        f'<div class="l">{_e(label)}</div></div>'
        for label, value, tone in items
    ]
    return Markup(f'<div class="cards">{"".join(cells)}</div>')


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    numeric: Iterable[int] = (),
    limit: int = MAX_ROWS,
    more: str = "see the JSON report for all of them",
    row_classes: Sequence[str] | None = None,
) -> Markup:
    """A table of at most ``limit`` rows, then a note saying how many were left out."""
    right = set(numeric)

    def cell(tag: str, i: int, value: object) -> str:
        cls = ' class="n"' if i in right else ""
        return f"<{tag}{cls}>{_e(value)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows[:limit]):
        cls = row_classes[r] if row_classes is not None and row_classes[r] else ""
        attr = f' class="{_e(cls)}"' if cls else ""
        body.append(f"<tr{attr}>{''.join(cell('td', i, v) for i, v in enumerate(row))}</tr>")
    out = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    if len(rows) > limit:
        out += _tag("p", f"… and {len(rows) - limit:,} more ({more}).", "note")
    return Markup(out)


def _facts(rows: Sequence[tuple[str, object]]) -> Markup:
    """A two-column table of label and value, without a header row."""
    body = "".join(f'<tr><th scope="row">{_e(k)}</th><td>{_e(v)}</td></tr>' for k, v in rows)
    return Markup(f'<table class="facts"><tbody>{body}</tbody></table>')


def _n(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else _e(value)


def _short(hex_text: object, keep: int = 16) -> Markup:
    """A long hex string cut for a table cell, whole in the tooltip."""
    if not isinstance(hex_text, str) or len(hex_text) <= keep + 2:
        return Markup(f'<span class="mono">{_e(hex_text)}</span>')
    return Markup(f'<span class="mono" title="{_e(hex_text)}">{_e(hex_text[:keep])}…</span>')


def _mono(value: object) -> Markup:
    return Markup(f'<span class="mono">{_e(value)}</span>')


def _who(chain_id: object, participants: Mapping[str, str] | None) -> str:
    if participants is None or not isinstance(chain_id, str):
        return "–"
    return participants.get(chain_id, "–")


def ranges(positions: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted positions as inclusive (first, last) runs."""
    runs: list[tuple[int, int]] = []
    for p in sorted(positions):
        if runs and p <= runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], max(runs[-1][1], p))
        else:
            runs.append((p, p))
    return runs


def ranges_text(runs: Sequence[Sequence[int]], limit: int = 8) -> str:
    """``12, 40–99`` from inclusive runs, cut after ``limit`` runs."""
    shown = ", ".join(f"{a:,}" if a == b else f"{a:,}–{b:,}" for a, b in runs[:limit])
    if len(runs) > limit:
        shown += f" and {len(runs) - limit} more ranges"
    return shown


# --------------------------------------------------------------------------- one audit


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
        ("records", _n(report.get("records", 0)), ""),
        ("OK", _n(counts.get("OK", 0)), "ok"),
        ("erased (OK_REDACTED)", _n(counts.get("OK_REDACTED", 0)), "ok"),
        ("failed records", _n(failures), "bad" if failures else "ok"),
        ("checkpoints OK", f"{cps_ok} / {len(cps)}", "ok" if cps and cps_ok == len(cps) else "bad"),
        ("missing log positions", _n(missing), "bad" if missing else "ok"),
    ]
    evm = report.get("evm")
    if isinstance(evm, Mapping) and evm.get("anchors") is not None:
        anchors = evm["anchors"]
        final = sum(1 for a in anchors if a.get("state") == "final")
        tone = "ok" if anchors and final == len(anchors) else "bad"
        items.append(("anchors final on chain", f"{final} / {len(anchors)}", tone))
    return _cards(items)


def _verdict_counts(report: Mapping[str, Any]) -> Markup:
    counts: Mapping[str, int] = report.get("counts") or {}
    rows = [[_code_pill(code), _n(n)] for code, n in counts.items() if n]
    if not rows:
        return _tag("p", "No records.", "note")
    return _table(["record verdict", "records"], rows, numeric=[1])


def _failure_tables(report: Mapping[str, Any], participants: Mapping[str, str] | None) -> Markup:
    failures: list[Mapping[str, Any]] = report.get("failures") or []
    if not failures:
        return _tag("p", "Every record verified.", "note")
    # NOT_LOGGED follows from a log problem named elsewhere and can cover most of the
    # log: list the primary failures one by one and the NOT_LOGGED ones as ranges.
    primary = [f for f in failures if f.get("code") != _PRIMARY_EXCLUDED]
    unlogged = [f["log_index"] for f in failures if f.get("code") == _PRIMARY_EXCLUDED]
    parts: list[object] = []
    if primary:
        rows = [
            [
                _n(f.get("log_index")),
                _who(f.get("chain_id"), participants),
                _short(f.get("chain_id"), 32),
                _n(f.get("seq")),
                _code_pill(str(f.get("code"))),
                f.get("reason", ""),
            ]
            for f in primary
        ]
        headers = ["log index", "participant", "chain", "seq", "verdict", "reason"]
        parts.append(_table(headers, rows, numeric=[0, 3]))
    if unlogged:
        parts.append(
            _tag(
                "p",
                f"NOT_LOGGED: {len(unlogged):,} records at log positions "
                f"{ranges_text(ranges(unlogged))} (no attesting checkpoint covers them).",
            )
        )
    return _join(parts)


def _checkpoint_table(report: Mapping[str, Any]) -> Markup:
    cps: list[Mapping[str, Any]] = report.get("checkpoints") or []
    if not cps:
        return _tag("p", "No checkpoints: nothing attests that any record was logged.", "note")
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
            _pill(str(state), "ok" if state == "final" else "bad") if state else "not checked"
        )
        rows.append(
            [
                _n(cp.get("tree_size")),
                _short(cp.get("root")),
                _code_pill(str(cp.get("code"))),
                state_cell,
                _short(a.get("tx_hash"), 18),
                _n(a.get("block_number")),
                _n(a.get("confirmations")),
                a.get("reason") or "",
            ]
        )
    headers = ["tree size", "root", "verdict", "anchor", "tx hash", "block", "conf.", "why"]
    table = _table(headers, rows, numeric=[0, 5, 6])
    if isinstance(evm, Mapping) and evm.get("chain_id") is not None:
        where = (
            f"EVM chain id {evm.get('chain_id')}, contract {evm.get('contract')}, "
            f"head block {evm.get('head_block')}"
        )
        return _join([table, _tag("p", where, "note")])
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


def _chain_section(report: Mapping[str, Any], participants: Mapping[str, str] | None) -> Markup:
    chains = report.get("chains")
    if isinstance(chains, list):
        # Chains with a problem first: those are the ones a reader is looking for.
        ordered = sorted(
            chains,
            key=lambda c: (
                bool(c.get("complete")),
                _who(c.get("chain_id"), participants),
                str(c.get("chain_id")),
            ),
        )
        complete = sum(1 for c in chains if c.get("complete"))
        summary = _tag(
            "p",
            f"{complete:,} of {len(chains):,} chains are complete up to the last checkpoint "
            "(every record from seq 0 on present, verified and attested).",
        )
        rows = [
            [
                _who(c.get("chain_id"), participants),
                _short(c.get("chain_id"), 32),
                _n(c.get("records")),
                _n(c.get("max_seq")),
                _n(c.get("ok")),
                _n(c.get("failures")),
                _status(bool(c.get("complete")), "complete", "incomplete"),
            ]
            for c in ordered
        ]
        headers = ["participant", "chain", "records", "max seq", "OK", "failures", "status"]
        table = _table(headers, rows, numeric=[2, 3, 4, 5], limit=MAX_CHAIN_ROWS)
        return _join([summary, table])
    derived = _derived_chains(report)
    if not derived:
        return _tag("p", "No chain has a failing record.", "note")
    rows = [
        [
            _who(c["chain_id"], participants),
            _short(c["chain_id"], 32),
            _n(c["failures"]),
            ", ".join(f"{code} {n}" for code, n in sorted(c["codes"].items())),
        ]
        for c in derived
    ]
    note = _tag(
        "p",
        "Only chains with failing records are listed (this report carries no per-chain "
        "record counts); every other chain had none.",
        "note",
    )
    return _join(
        [_table(["participant", "chain", "failures", "verdicts"], rows, numeric=[2]), note]
    )


def _audit_body(
    report: Mapping[str, Any], participants: Mapping[str, str] | None, *, h: str = "h2"
) -> Markup:
    """Everything about one audit, below its title: verdict, cards, tables, notes."""
    clean = bool(report.get("clean"))
    banner = Markup(
        f'<div class="banner {"ok" if clean else "bad"}">'
        f"{'CLEAN: every record and checkpoint verified' if clean else 'NOT CLEAN'}</div>"
    )
    notes = [_tag("p", n, "note") for n in _audit_notes(report)]
    missing = report.get("missing_log_positions") or []
    missing_p = (
        _tag(
            "p",
            "Missing log positions (no record below the largest signed checkpoint): "
            + ", ".join(f"{a:,}–{b - 1:,}" if b - a > 1 else f"{a:,}" for a, b in missing[:20]),
        )
        if missing
        else Markup("")
    )
    return _join(
        [
            banner,
            _audit_cards(report),
            *notes,
            _tag(h, "Record verdicts"),
            _verdict_counts(report),
            _tag(h, "Failures"),
            _failure_tables(report, participants),
            missing_p,
            _tag(h, "Checkpoints and anchors"),
            _checkpoint_table(report),
            _tag(h, "Participants' chains"),
            _chain_section(report, participants),
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
    body = _join([_tag("h1", title), _audit_body(report_json, participants)])
    return _page(title, body)


# --------------------------------------------------------------------------- the demo


def _trial_section(demo: Mapping[str, Any]) -> Markup:
    t: Mapping[str, Any] = demo.get("trial") or {}
    rows: list[tuple[str, object]] = [
        ("participants enrolled (one-time tokens)", _n(t.get("participants"))),
        ("diary days", _n(t.get("days"))),
        ("records acknowledged (geneses included)", _n(t.get("records"))),
        ("sync sessions", _n(t.get("syncs"))),
        ("batches sent", _n(t.get("batches"))),
        ("offline spells (3–10 days offline, then a batched sync)", _n(t.get("offline_spells"))),
        ("key rotations", _n(t.get("rotations"))),
        ("seed", _n(t.get("seed"))),
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
    return _facts(rows)


def _relay_section(demo: Mapping[str, Any]) -> Markup:
    r: Mapping[str, Any] = demo.get("relay") or {}
    facts = _facts(
        [
            ("log_id (the relay's public key)", _mono(r.get("log_id"))),
            ("log size", _n(r.get("log_size"))),
            ("EVM chain", f"embedded, chain id {r.get('evm_chain_id')}"),
            ("anchor contract", _mono(r.get("contract"))),
            ("confirmations for an anchor to be final", _n(r.get("confirmations"))),
        ]
    )
    rows = [
        [
            _n(cp.get("tree_size")),
            _short(cp.get("root")),
            _short(cp.get("tx_hash"), 18),
            _n(cp.get("block_number")),
            _status(bool(cp.get("final")), "final", "not final"),
        ]
        for cp in r.get("checkpoints") or []
    ]
    cps = _table(["tree size", "root", "anchor tx", "block", "anchor"], rows, numeric=[0, 3])
    return _join([facts, _tag("h3", "Signed checkpoints and their anchors"), cps])


def _counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{code} {n:,}" for code, n in sorted(counts.items()) if n) or "none"


#: An attack's outcome (``outcome`` in the demo's report.json) and its colour.
_OUTCOME_TONES = {
    "caught": "ok",
    "caught on chain": "ok",
    "clean, as expected": "warn",
    "skipped": "warn",
}


def _outcome(a: Mapping[str, Any]) -> Markup:
    outcome = str(a.get("outcome") or ("caught" if a.get("caught") else "NOT AS EXPECTED"))
    return _pill(outcome, _OUTCOME_TONES.get(outcome, "bad"))


def _attack_overview(attacks: Sequence[Mapping[str, Any]]) -> Markup:
    rows = []
    for a in attacks:
        found = a.get("found") or {}
        link = Markup(f'<a href="#attack-{_e(a.get("name"))}">{_e(a.get("name"))}</a>')
        rows.append(
            [
                link,
                (a.get("expected") or {}).get("summary", a.get("skipped") or ""),
                found.get("summary", ""),
                a.get("where_text", ""),
                _outcome(a),
            ]
        )
    return _table(["attack", "expected", "audit found", "where", "result"], rows, limit=1000)


def _expected_vs_found(a: Mapping[str, Any]) -> Markup:
    exp: Mapping[str, Any] = a.get("expected") or {}
    found: Mapping[str, Any] = a.get("found") or {}
    rows: list[list[object]] = []
    classes: list[str] = []
    for kind in ("records", "checkpoints"):
        want: Mapping[str, int] = exp.get(kind) or {}
        got: Mapping[str, int] = found.get(kind) or {}
        for code in sorted(set(want) | set(got)):
            w, g = want.get(code, 0), got.get(code, 0)
            rows.append([kind[:-1], _code_pill(code), _n(w), _n(g)])
            classes.append("" if w == g else "diff")
    rows.append(["audit", "clean", str(exp.get("clean")), str(found.get("clean"))])
    classes.append("" if exp.get("clean") == found.get("clean") else "diff")
    return _table(
        ["", "verdict", "expected", "found"], rows, numeric=[2, 3], row_classes=classes, limit=1000
    )


def _where_section(a: Mapping[str, Any]) -> Markup:
    where: Mapping[str, Any] = a.get("where") or {}
    parts: list[object] = []
    listed: list[Mapping[str, Any]] = where.get("failures") or []
    if listed:
        rows = [
            [
                _n(f.get("log_index")),
                f.get("participant") or "–",
                _short(f.get("chain_id"), 32),
                _n(f.get("seq")),
                _code_pill(str(f.get("verdict"))),
            ]
            for f in listed
        ]
        total = int(where.get("primary_failures", len(listed)))
        table = _table(
            ["log index", "participant", "chain", "seq", "verdict"],
            rows,
            numeric=[0, 3],
            limit=MAX_ATTACK_ROWS,
        )
        parts.append(table)
        if total > len(listed):
            parts.append(_tag("p", f"… and {total - len(listed):,} more in the JSON.", "note"))
    unlogged = where.get("not_logged") or {}
    if unlogged.get("count"):
        parts.append(
            _tag(
                "p",
                f"NOT_LOGGED: {unlogged['count']:,} records at log positions "
                f"{ranges_text(unlogged.get('ranges') or [])} — later records the broken "
                "log no longer vouches for.",
            )
        )
    cps = where.get("checkpoints") or []
    if cps:
        items = "".join(
            f"<li>checkpoint of tree size {_n(cp.get('tree_size'))}: "
            f"{_code_pill(str(cp.get('verdict')))}</li>"
            for cp in cps
        )
        parts.append(Markup(f"<ul>{items}</ul>"))
    missing = where.get("missing_log_positions") or []
    if missing:
        parts.append(
            _tag("p", "missing log positions: " + ranges_text([(a0, b - 1) for a0, b in missing]))
        )
    if not parts:
        parts.append(_tag("p", "Nothing: the bundle-only audit is clean.", "note"))
    return _join(parts)


def _on_chain(a: Mapping[str, Any]) -> Markup:
    chain = a.get("on_chain")
    if not isinstance(chain, Mapping):
        return Markup("")
    findings: list[str] = list(chain.get("findings") or [])
    if not findings:
        text = "The chain's anchors agree with every checkpoint of this copy."
        return _tag("p", "On chain: " + text, "note")
    items = "".join(f"<li>{_e(f)}</li>" for f in findings)
    return Markup(
        f"<p><strong>On chain</strong> (checked against the anchors):</p><ul>{items}</ul>"
    )


def _attack_section(a: Mapping[str, Any]) -> Markup:
    name = str(a.get("name"))
    head = Markup(f'<h3 id="attack-{_e(name)}">{_e(name)} {_outcome(a)}</h3>')
    parts: list[object] = [head, _tag("p", a.get("description", ""))]
    if a.get("skipped"):
        parts.append(_tag("p", f"Skipped: {a['skipped']}", "note"))
        return Markup(f'<section class="attack">{_join(parts)}</section>')
    target = (a.get("expected") or {}).get("target")
    if target:
        changed = json.dumps(target, separators=(", ", ": "))
        parts.append(Markup(f"<p>What the attack changed: {_mono(changed)}</p>"))
    parts += [
        _tag("h4", "Expected vs found"),
        _expected_vs_found(a),
    ]
    diffs = a.get("differences") or []
    if diffs:
        items = "".join(f"<li>{_e(d)}</li>" for d in diffs)
        parts.append(Markup(f"<p><strong>Differences:</strong></p><ul>{items}</ul>"))
    parts += [_tag("h4", "Where"), _where_section(a), _on_chain(a)]
    if a.get("path"):
        parts.append(_tag("p", f"tampered bundle: {a['path']}", "note"))
    return Markup(f'<section class="attack">{_join(parts)}</section>')


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
    cards = _cards(
        [
            ("participants", _n(t.get("participants")), ""),
            ("diary days", _n(t.get("days")), ""),
            ("records", _n(t.get("records")), ""),
            ("sync sessions", _n(t.get("syncs")), ""),
            ("offline spells", _n(t.get("offline_spells")), ""),
            ("key rotations", _n(t.get("rotations")), ""),
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
    body = _join(
        [
            _tag("h1", title),
            _tag("p", sub, "sub"),
            Markup(f'<div class="banner {"ok" if ok else "bad"}">{_e(verdict)}</div>'),
            cards,
            _tag("h2", "1. The trial"),
            _tag(
                "p",
                "Phones enrolled with one-time tokens, wrote a sleep diary every morning and "
                "synced to a real relay over gRPC on loopback; some were offline for days and "
                "sent everything later in batches.",
            ),
            _trial_section(demo),
            _tag("h2", "2. The relay's log and its anchors"),
            _relay_section(demo),
            _tag("h2", "3. Audit of the exported bundle"),
            _tag("p", f"bundle: {demo.get('bundle', '')}", "note"),
            _audit_body(clean, participants, h="h3"),
            _tag("h2", "4. Fraud simulation"),
            _tag(
                "p",
                "Each attack tampers with a copy of the clean bundle; the expected audit is "
                "derived from what the attack changed (SPEC 4), then the copy is audited "
                "(bundle only, trusted log_id) and compared, verdict by verdict and position "
                "by position. The anchors on chain are then checked too.",
            ),
            _attack_overview(attacks),
            *[_attack_section(a) for a in attacks],
        ]
    )
    return _page(title, body)


def write_html(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (a reader never sees half a report)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
