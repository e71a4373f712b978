"""hashcore.report: the demo page and the audit summary it shows (``audit_body``, from an
audit's JSON), from hand-built report dicts (exact strings), escaping of everything that
comes from data, and ``hashcore audit --html`` (the full page's sections:
tests/v2/test_report_html_v2.py)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from hashcore.cli import main as cli_main
from hashcore.report import render_demo_html
from hashcore.report.audit_page_v2 import audit_body
from hashcore.sim.sample import make_sample

EVIL = "<script>alert(1)</script>"
CHAIN_A = "aa" * 16
CHAIN_B = "bb" * 16


def _report(**extra: Any) -> dict[str, Any]:
    """A report as `hashcore audit --json` writes it: one edited entry, the log broken
    after it, one checkpoint whose note does not verify."""
    report: dict[str, Any] = {
        "clean": False,
        "records": 14,
        "counts": {"OK": 10, "OK_REDACTED": 0, "BAD_COMMIT": 1, "NOT_LOGGED": 3},
        "failures": [
            {
                "log_index": 7,
                "chain_id": CHAIN_A,
                "seq": 3,
                "code": "BAD_COMMIT",
                "reason": "payload <b>edited</b> & commit kept",
            },
            *(
                {
                    "log_index": i,
                    "chain_id": CHAIN_B,
                    "seq": i - 9,
                    "code": "NOT_LOGGED",
                    "reason": "",
                }
                for i in (10, 11, 12)
            ),
        ],
        "checkpoints": [
            {"tree_size": 8, "root": "11" * 32, "code": "OK"},
            {"tree_size": 14, "root": "22" * 32, "code": "BAD_CHECKPOINT_SIG"},
        ],
        "missing_log_positions": [[13, 14]],
        "signatures_checked": True,
        "anchors_checked": False,
        "log_identity_source": "bundle",
        "manifest_origin_matches": True,
        "manifest_log_key_matches": True,
        "receipts": [{"log_index": 7, "chain_id": CHAIN_A, "seq": 3, "code": "RECEIPT_CONFLICT"}],
        "elapsed_s": 0.01,
    }
    report.update(extra)
    return report


def _body(report: dict[str, Any], participants: dict[str, str] | None = None) -> str:
    return str(audit_body(report, participants))


def test_audit_html_escapes_everything_from_the_data() -> None:
    text = _body(_report(), participants={CHAIN_A: EVIL, CHAIN_B: "P0002"})
    assert "<script" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "payload &lt;b&gt;edited&lt;/b&gt; &amp; commit kept" in text
    assert "<b>edited" not in text


def test_audit_html_sections_and_exact_strings() -> None:
    text = _body(_report(), participants={CHAIN_A: "P0001"})
    assert '<div class="banner bad">NOT CLEAN</div>' in text
    for heading in (
        "Record verdicts",
        "Failures",
        "Checkpoints and anchors",
        "Participants' chains",
    ):
        assert f"<h2>{html.escape(heading)}</h2>" in text
    # The failure row: log index, participant, chain, seq, verdict, reason.
    assert '<td class="n">7</td><td>P0001</td>' in text
    assert '<span class="pill bad">BAD_COMMIT</span>' in text
    assert (
        "NOT_LOGGED: 3 records at log positions 10–12 (no attesting checkpoint covers them)."
        in text
    )
    assert '<div class="v">1</div><div class="l">missing log positions</div>' in text
    assert '<span class="pill bad">BAD_CHECKPOINT_SIG</span>' in text
    assert '<div class="v">1</div><div class="l">receipts against the relay</div>' in text
    assert "The log identity was taken from the bundle itself" in text
    # No "chains" list: derived from the failures, and it says so.
    assert "Only chains with failing records are listed" in text
    assert "BAD_COMMIT 1" in text and "NOT_LOGGED 3" in text
    assert '<div class="v">1 / 2</div><div class="l">checkpoints OK</div>' in text


def test_audit_html_caps_long_tables() -> None:
    failures = [
        {"log_index": i, "chain_id": CHAIN_A, "seq": i, "code": "BAD_SIGNATURE", "reason": "sig"}
        for i in range(150)
    ]
    text = _body(_report(failures=failures, counts={"OK": 0, "BAD_SIGNATURE": 150}))
    assert text.count('<span class="pill bad">BAD_SIGNATURE</span>') == 100 + 1  # + counts table
    assert "… and 50 more (see the JSON report for all of them)." in text


def test_audit_html_uses_the_reports_chain_list_and_anchors() -> None:
    chains = [
        {
            "chain_id": CHAIN_A,
            "records": 5,
            "max_seq": 4,
            "ok": 4,
            "failures": 1,
            "complete": False,
        },
        {"chain_id": CHAIN_B, "records": 9, "max_seq": 8, "ok": 9, "failures": 0, "complete": True},
    ]
    # The demo's form: each checkpoint's anchor as the relay's store holds it.
    evm = {
        "anchors": [
            {"tree_size": 8, "state": "final", "tx_hash": "0x" + "ee" * 32},
            {"tree_size": 14, "state": "pending", "tx_hash": "0x" + "ff" * 32},
        ]
    }
    text = _body(_report(chains=chains, evm=evm), participants={CHAIN_A: "P0001", CHAIN_B: "P0002"})
    assert "1 of 2 chains are complete up to the last checkpoint" in text
    # The incomplete chain comes first.
    assert text.index("P0001</td>") < text.index("P0002</td>")
    assert '<span class="pill bad">incomplete</span>' in text
    assert '<span class="pill ok">complete</span>' in text
    assert '<span class="pill ok">final</span>' in text
    assert '<span class="pill bad">pending</span>' in text
    assert "0xeeeeeeee" in text


def test_clean_audit_html() -> None:
    report = _report(
        clean=True,
        counts={"OK": 13, "OK_REDACTED": 1},
        failures=[],
        checkpoints=[{"tree_size": 14, "root": "11" * 32, "code": "OK"}],
        missing_log_positions=[],
        receipts=[],
        log_identity_source="policy",
    )
    text = _body(report)
    assert (
        '<div class="banner ok">CLEAN: every record, checkpoint and piece of evidence '
        "verified</div>" in text
    )
    assert "Every record verified." in text
    assert "No chain has a failing record." in text
    assert "taken from the bundle" not in text


def _demo(caught: bool = True) -> dict[str, Any]:
    attack = {
        "name": "payload-edited",
        "description": f"a diary entry edited {EVIL}",
        "skipped": None,
        "path": "/x/attacks/payload-edited",
        "expected": {
            "clean": False,
            "records": {"BAD_COMMIT": 1},
            "checkpoints": {},
            "missing_log_positions": [],
            "target": {"edited": {"log_index": 7, "chain_id": CHAIN_A, "seq": 3}},
            "summary": "BAD_COMMIT 1",
        },
        "found": {
            "clean": False,
            "records": {"BAD_COMMIT": 1} if caught else {"BAD_LINK": 1},
            "checkpoints": {},
            "missing_log_positions": [],
            "summary": "BAD_COMMIT 1" if caught else "BAD_LINK 1",
        },
        "differences": [] if caught else ["expected failure not reported: (7, ...)"],
        "caught": caught,
        "detected": True,
        "outcome": "caught" if caught else "NOT AS EXPECTED",
        "where": {
            "failures": [
                {
                    "log_index": 7,
                    "chain_id": CHAIN_A,
                    "participant": EVIL,
                    "seq": 3,
                    "verdict": "BAD_COMMIT",
                }
            ],
            "primary_failures": 1,
            "not_logged": {"count": 0, "ranges": []},
            "checkpoints": [],
            "missing_log_positions": [],
        },
        "where_text": "BAD_COMMIT @7 P0001/3",
        "on_chain": {"findings": [], "not_final": []},
    }
    skipped = {
        "name": "genesis-forged",
        "description": "d",
        "skipped": "no target",
        "outcome": "skipped",
        "caught": None,
    }
    return {
        "ok": caught,
        "generated": "2026-01-01T00:00:00+00:00",
        "elapsed_s": 1.5,
        "out_dir": "/x",
        "trial": {
            "participants": 2,
            "days": 3,
            "records": 8,
            "syncs": 4,
            "batches": 4,
            "offline_spells": 0,
            "rotations": 0,
            "seed": 0,
            "erasure": {"participant": "P0002", "chain_id": CHAIN_B, "seq": 1, "log_index": 5},
        },
        "relay": {
            "log_id": "ab" * 32,
            "log_size": 8,
            "evm_chain_id": 1,
            "contract": "0x00",
            "confirmations": 2,
            "checkpoints": [
                {
                    "tree_size": 8,
                    "root": "11" * 32,
                    "tx_hash": "0x" + "ee" * 32,
                    "block_number": 2,
                    "final": True,
                }
            ],
        },
        "clean_audit": _report(clean=True, failures=[], missing_log_positions=[], receipts=[]),
        "attacks": [attack, skipped],
        "participants": {CHAIN_A: "P0001", CHAIN_B: "P0002"},
    }


def test_demo_html_story() -> None:
    text = render_demo_html(_demo())
    for heading in (
        "1. The trial",
        "2. The relay's log and its anchors",
        "3. Audit of the exported bundle",
        "4. Fraud simulation",
    ):
        assert f"<h2>{html.escape(heading)}</h2>" in text
    assert "all 1 attacks got exactly the audit they must get: caught and localised." in text
    assert (
        '<h3 id="attack-payload-edited">payload-edited <span class="pill ok">caught</span>' in text
    )
    assert '<a href="#attack-payload-edited">payload-edited</a>' in text
    assert "P0002: seq 1 of chain " + CHAIN_B + " (log index 5)" in text
    assert '<span class="pill warn">skipped</span>' in text and "Skipped: no target" in text
    assert "<script" not in text and "&lt;script&gt;" in text
    assert "What the attack changed:" in text and "&quot;log_index&quot;: 7" in text


def test_demo_html_marks_a_mismatch() -> None:
    text = render_demo_html(_demo(caught=False))
    assert '<div class="banner bad">' in text
    assert '<span class="pill bad">NOT AS EXPECTED</span>' in text
    assert "<strong>Differences:</strong>" in text
    assert '<tr class="diff">' in text


def test_cli_audit_writes_html(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    make_sample(bundle, devices=2, records=3, seed=1)
    page = tmp_path / "report.html"
    assert cli_main(["audit", str(bundle), "--html", str(page)]) == 0
    text = page.read_text()
    assert f"<h1>Audit of {bundle}</h1>" in text
    assert "CLEAN: every record, checkpoint and piece of evidence verified" in text
    assert cli_main(["audit", str(bundle), "--html", str(tmp_path / "no" / "r.html")]) == 2
