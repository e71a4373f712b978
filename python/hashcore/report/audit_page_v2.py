"""The v2 audit report page (``hashcore audit BUNDLE --policy ... --html FILE``): the
verdicts of SPEC v2 section 5 (records, checkpoints, anchors, receipts, evidence notes),
and the time picture (5.3) as two plots (:mod:`.time_plots`): entry delay per participant
and the records outside their window. :func:`audit_body` is the shorter summary of an
audit's JSON the demo page shows for its clean bundle."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow.compute as pc

from .audit_tables import chain_section, failure_tables, verdict_counts
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
    short_hex,
)
from .time_plots import MAX_PARTICIPANTS, MAX_WINDOWS, DelaySeries, WindowRow

if TYPE_CHECKING:
    from ..audit.v2_report import AuditReportV2

__all__ = ["audit_body", "render_audit_html_v2"]

#: Codes that say nothing against the relay (shown green).
_GOOD = frozenset(
    {"OK", "OK_REDACTED", "RECEIPT_OK", "RECEIPT_PENDING", "ANCHOR_OK", "ANCHOR_UNCONFIRMED"}
)
_AGAINST_RELAY = frozenset({"RECEIPT_CONFLICT", "RECEIPT_CONTRADICTED", "RECEIPT_WITHHELD"})


def _pill(code: str, as_of: bool = False) -> Markup:
    if code in _GOOD:
        return pill(code, "ok")
    # Rejected evidence, pending or an older export's larger notes are no fault of the relay.
    soft = {"RECEIPT_BAD_SIG", "NOTE_REJECTED"} | (
        {"INCOMPLETE", "ANCHOR_BEYOND_BUNDLE"} if as_of else set()
    )
    return pill(code, "warn" if code in soft else "bad")


def _label(chain_id: bytes | None, participants: Mapping[str, str] | None) -> str:
    hex_id = chain_id.hex() if chain_id is not None else None
    name = participant_of(hex_id, participants)
    if name != "–":
        return name
    return hex_id[:12] + "…" if hex_id is not None else "–"


def _notes(report: AuditReportV2) -> list[str]:
    out = []
    if report.log_identity_source == "bundle":
        out.append(
            "The log identity was taken from the bundle itself (SPEC v2 3): pass --policy with "
            "the trial's registered policy for an independent check."
        )
    if not report.manifest_origin_matches:
        out.append("The bundle's manifest names another origin than the policy.")
    if not report.manifest_log_key_matches:
        out.append("The bundle's manifest names another log key than the policy.")
    if not report.signatures_checked:
        out.append("Signatures were not checked (--no-signatures).")
    if report.anchors_checked:
        out.append(
            f"Anchors: {len(report.anchors)} by the policy's anchorer, read from the chain at "
            f"block {report.head_block}."
        )
    else:
        out.append("Anchors were not checked (the policy has no evm).")
    if report.incomplete:
        out.append(
            "INCOMPLETE: the relay signed or anchored a larger log than the bundle holds "
            f"(the bundle covers {report.covered_size:,} entries)."
        )
    if report.as_of is not None:
        covered = "covers" if report.as_of_covered else "does not cover"
        out.append(f"Audited as of tree size {report.as_of:,}: the bundle {covered} it.")
    if report.strict_time:
        out.append("Strict time: the time findings make the audit unclean.")
    out.extend(report.schema_notes)
    return out


def _cards(report: AuditReportV2) -> Markup:
    counts = report.counts
    failures = len(report.failures)
    cps_ok = sum(1 for c in report.checkpoints if c.code == "OK")
    n_cps = len(report.checkpoints)
    missing = sum(b - a for a, b in report.missing_log_positions)
    against = sum(1 for r in report.receipts if r.code in _AGAINST_RELAY)
    equivocations = sum(1 for n in report.evidence_notes if n.code == "EQUIVOCATION")
    items: list[tuple[str, object, str]] = [
        ("records", number(report.records), ""),
        ("OK", number(counts.get("OK", 0)), "ok"),
        ("erased (OK_REDACTED)", number(counts.get("OK_REDACTED", 0)), "ok"),
        ("failed records", number(failures), "bad" if failures else "ok"),
        ("checkpoints OK", f"{cps_ok} / {n_cps}", "ok" if n_cps and cps_ok == n_cps else "bad"),
        ("missing log positions", number(missing), "bad" if missing else "ok"),
        ("receipts against the relay", number(against), "bad" if against else "ok"),
        ("equivocations", number(equivocations), "bad" if equivocations else "ok"),
        (
            "time findings",
            number(len(report.time_findings)),
            "warn" if report.time_findings else "ok",
        ),
    ]
    if report.anchors_checked:
        ok = sum(1 for a in report.anchors if a.code == "ANCHOR_OK")
        bad = any(a.code == "ANCHOR_CONTRADICTED" for a in report.anchors)
        items.append(("anchors final", f"{ok} / {len(report.anchors)}", "bad" if bad else "ok"))
    return card_row(items)


def _counts(codes: Sequence[str], as_of: bool, what: str) -> Markup:
    tally = Counter(codes)
    rows = [[_pill(code, as_of), number(n)] for code, n in sorted(tally.items())]
    return html_table([what, "count"], rows, numeric=[1])


def _checkpoints(report: AuditReportV2) -> Markup:
    if not report.checkpoints:
        return element("p", "No checkpoints: nothing attests that any record was logged.", "note")
    rows = [
        [
            number(c.tree_size),
            short_hex(c.root.hex() if c.root is not None else None),
            _pill(c.code),
            c.reason or "",
        ]
        for c in report.checkpoints
    ]
    return html_table(["tree size", "root", "verdict", "why"], rows, numeric=[0])


def _anchors(report: AuditReportV2) -> Markup:
    if not report.anchors_checked:
        return element("p", "Not checked: the policy has no evm.", "note")
    if not report.anchors:
        return element("p", "The policy's anchorer has no anchor of this log on chain.", "note")
    as_of = report.as_of is not None
    rows = [
        [
            number(a.tree_size),
            short_hex(a.root.hex()),
            _pill(a.code, as_of),
            short_hex("0x" + a.tx_hash.hex(), 18),
            number(a.block_number),
            number(a.confirmations),
        ]
        for a in report.anchors
    ]
    headers = ["tree size", "root", "code", "tx hash", "block", "conf."]
    return html_table(headers, rows, numeric=[0, 4, 5])


def _receipts(report: AuditReportV2, participants: Mapping[str, str] | None) -> Markup:
    if not report.receipts:
        return element("p", "No receipts were handed in.", "note")
    parts: list[object] = [_counts([r.code for r in report.receipts], False, "receipt verdict")]
    against = [r for r in report.receipts if r.code in _AGAINST_RELAY]
    if against:
        rows = [
            [
                number(r.log_index),
                _label(r.chain_id, participants),
                number(r.seq),
                _pill(r.code),
            ]
            for r in against
        ]
        parts.append(
            html_table(["log index", "participant", "seq", "verdict"], rows, numeric=[0, 2])
        )
    return concat(parts)


def _evidence(report: AuditReportV2) -> Markup:
    if not report.evidence_notes:
        return element("p", "No evidence notes were handed in.", "note")
    as_of = report.as_of is not None
    parts: list[object] = [
        _counts([n.code for n in report.evidence_notes], as_of, "evidence note verdict")
    ]
    listed = [n for n in report.evidence_notes if n.code != "OK"]
    if listed:
        rows = [
            [number(n.row), number(n.tree_size), _pill(n.code, as_of), n.reason or ""]
            for n in listed
        ]
        parts.append(html_table(["row", "tree size", "verdict", "why"], rows, numeric=[0, 1]))
    return concat(parts)


def _delay_series(
    report: AuditReportV2, participants: Mapping[str, str] | None
) -> list[DelaySeries]:
    table = report.records_table
    if table is None or table.num_rows == 0:
        return []
    cols = table.select(["chain_id", "time_ms", "received_ms"])
    ok = pc.and_(pc.is_valid(cols["time_ms"]), pc.is_valid(cols["received_ms"]))
    cols = cols.filter(ok)
    chain = cols["chain_id"].combine_chunks()
    delay = cols["received_ms"].to_numpy().astype(np.float64) - cols["time_ms"].to_numpy().astype(
        np.float64
    )
    # Group by chain: dictionary-encode the chain ids, then split the delays by code.
    codes = pc.dictionary_encode(chain)
    keys = codes.dictionary.to_pylist()
    index = np.asarray(codes.indices.to_numpy(zero_copy_only=False))
    order = np.argsort(index, kind="stable")
    bounds = np.searchsorted(index[order], np.arange(len(keys) + 1))
    return [
        DelaySeries(_label(key, participants), delay[order[bounds[k] : bounds[k + 1]]])
        for k, key in enumerate(keys)
        if bounds[k + 1] > bounds[k]
    ]


def _time_section(report: AuditReportV2, participants: Mapping[str, str] | None) -> Markup:
    from .time_plots import entry_delay_svg, window_svg

    parts: list[object] = []
    series = _delay_series(report, participants)
    flagged = sorted({_label(t.chain_id, participants) for t in report.time_findings})
    if series:
        caption = (
            "Entry delay per participant: how long after the time its device wrote on an "
            "entry the relay received it. Red: a participant with a time finding."
        )
        if len(series) > MAX_PARTICIPANTS:
            caption += (
                f" The {MAX_PARTICIPANTS} participants with the longest median delay of "
                f"{len(series):,} are shown."
            )
        svg = entry_delay_svg(series, flagged=flagged)
        parts.append(
            Markup(
                f'<figure class="plot" id="entry-delay">{svg}'
                f"<figcaption>{element('span', caption)}</figcaption></figure>"
            )
        )
    else:
        parts.append(element("p", "No record has both a device time and a receipt time.", "note"))
    findings = report.time_findings
    if not findings:
        parts.append(element("p", "No record is outside its window.", "note"))
        return concat(parts)
    rows = [
        WindowRow(
            label=f"{_label(t.chain_id, participants)} seq {t.seq}",
            code=t.code,
            time_ms=t.time_ms,
            lower=t.lower,
            upper=t.upper,
            upper_witnessed=t.upper_witnessed,
        )
        for t in findings
    ]
    caption = (
        "Records outside their window (SPEC 5.3): the bar is when the record can have been "
        "made (after the log state its beacon names, before the relay or the witnesses saw "
        "it); the dot is the time its device claims."
    )
    if len(rows) > MAX_WINDOWS:
        caption += f" The first {MAX_WINDOWS} of {len(rows):,} are drawn."
    parts.append(
        Markup(
            f'<figure class="plot" id="time-windows">{window_svg(rows)}'
            f"<figcaption>{element('span', caption)}</figcaption></figure>"
        )
    )
    table_rows = [
        [
            number(t.log_index),
            _label(t.chain_id, participants),
            number(t.seq),
            pill(t.code, "warn"),
            number(t.time_ms),
            number(t.lower),
            number(t.upper),
            number(t.upper_witnessed),
        ]
        for t in findings
    ]
    headers = [
        "log index",
        "participant",
        "seq",
        "finding",
        "time_ms",
        "lower",
        "upper",
        "witnessed",
    ]
    parts.append(html_table(headers, table_rows, numeric=[0, 2, 4, 5, 6, 7]))
    return concat(parts)


def render_audit_html_v2(
    report: AuditReportV2,
    *,
    title: str,
    participants: Mapping[str, str] | None = None,
) -> str:
    """A v2 audit as one self-contained HTML page (plots inline as SVG).

    ``participants`` maps chain_id hex to a participant id (the site's enrollment
    register) for the tables and plots.
    """
    body_json: dict[str, Any] = report.to_json()
    clean = report.clean
    verdict = "CLEAN: every record, checkpoint and piece of evidence verified"
    banner = Markup(
        f'<div class="banner {"ok" if clean else "bad"}">{verdict if clean else "NOT CLEAN"}</div>'
    )
    missing = report.missing_log_positions
    missing_p = (
        element(
            "p",
            "Missing log positions (no record below the largest signed checkpoint): "
            + ", ".join(f"{a:,}–{b - 1:,}" if b - a > 1 else f"{a:,}" for a, b in missing[:20]),
        )
        if missing
        else Markup("")
    )
    body = concat(
        [
            element("h1", title),
            banner,
            _cards(report),
            *(element("p", n, "note") for n in _notes(report)),
            element("h2", "Record verdicts"),
            verdict_counts(body_json),
            element("h2", "Failures"),
            failure_tables(body_json, participants),
            missing_p,
            element("h2", "Time"),
            _time_section(report, participants),
            element("h2", "Checkpoints"),
            _checkpoints(report),
            element("h2", "Anchors"),
            _anchors(report),
            element("h2", "Receipts"),
            _receipts(report, participants),
            element("h2", "Evidence notes"),
            _evidence(report),
            element("h2", "Participants' chains"),
            chain_section(body_json, participants),
        ]
    )
    return html_page(title, body)


def _json_notes(report: Mapping[str, Any]) -> list[str]:
    notes = []
    if report.get("log_identity_source") == "bundle":
        notes.append(
            "The log identity was taken from the bundle itself (SPEC v2 3): pass --policy with "
            "the trial's registered policy for an independent check."
        )
    if report.get("manifest_origin_matches") is False:
        notes.append("The bundle's manifest names another origin than the policy.")
    if report.get("manifest_log_key_matches") is False:
        notes.append("The bundle's manifest names another log key than the policy.")
    if report.get("signatures_checked") is False:
        notes.append("Signatures were not checked.")
    return notes


def _json_checkpoints(report: Mapping[str, Any]) -> Markup:
    """Checkpoint verdicts with the anchor state of each, where the JSON carries an
    ``evm`` member of ``{"anchors": [{tree_size, state, tx_hash}]}`` (the demo's, read
    from the relay's store)."""
    cps: list[Mapping[str, Any]] = report.get("checkpoints") or []
    if not cps:
        return element("p", "No checkpoints: nothing attests that any record was logged.", "note")
    evm = report.get("evm")
    anchors: dict[object, Mapping[str, Any]] = {}
    if isinstance(evm, Mapping):
        anchors = {a.get("tree_size"): a for a in evm.get("anchors") or []}
    rows = []
    for cp in cps:
        a = anchors.get(cp.get("tree_size"), {})
        state = a.get("state")
        rows.append(
            [
                number(cp.get("tree_size")),
                short_hex(cp.get("root")),
                code_pill(str(cp.get("code"))),
                pill(str(state), "ok" if state == "final" else "bad") if state else "–",
                short_hex(a.get("tx_hash"), 18),
            ]
        )
    return html_table(["tree size", "root", "verdict", "anchor", "tx hash"], rows, numeric=[0])


def audit_body(
    report: Mapping[str, Any], participants: Mapping[str, str] | None, *, h: str = "h2"
) -> Markup:
    """An audit's JSON (``AuditReportV2.to_json()``) below its title: verdict, cards,
    record verdicts, failures, checkpoints (and anchors) and chains."""
    clean = bool(report.get("clean"))
    verdict = "CLEAN: every record, checkpoint and piece of evidence verified"
    banner = Markup(
        f'<div class="banner {"ok" if clean else "bad"}">{verdict if clean else "NOT CLEAN"}</div>'
    )
    counts: Mapping[str, int] = report.get("counts") or {}
    failures = len(report.get("failures") or [])
    cps = report.get("checkpoints") or []
    cps_ok = sum(1 for c in cps if c.get("code") == "OK")
    missing = sum(b - a for a, b in report.get("missing_log_positions") or [])
    against = sum(1 for r in report.get("receipts") or [] if r.get("code") in _AGAINST_RELAY)
    cards = card_row(
        [
            ("records", number(report.get("records", 0)), ""),
            ("OK", number(counts.get("OK", 0)), "ok"),
            ("erased (OK_REDACTED)", number(counts.get("OK_REDACTED", 0)), "ok"),
            ("failed records", number(failures), "bad" if failures else "ok"),
            (
                "checkpoints OK",
                f"{cps_ok} / {len(cps)}",
                "ok" if cps and cps_ok == len(cps) else "bad",
            ),
            ("missing log positions", number(missing), "bad" if missing else "ok"),
            ("receipts against the relay", number(against), "bad" if against else "ok"),
        ]
    )
    return concat(
        [
            banner,
            cards,
            *(element("p", n, "note") for n in _json_notes(report)),
            element(h, "Record verdicts"),
            verdict_counts(report),
            element(h, "Failures"),
            failure_tables(report, participants),
            element(h, "Checkpoints and anchors"),
            _json_checkpoints(report),
            element(h, "Participants' chains"),
            chain_section(report, participants),
        ]
    )
