"""The v2 HTML report: verdicts, evidence and the time picture as inline SVG plots made by
matplotlib (entry delay per participant; records outside their window), counted element
by element; untrusted labels stay text."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import hashcore
import pytest
from hashcore.audit import AuditReportV2
from hashcore.cli import main
from hashcore.report import render_audit_html_v2

from .chain_bundles import chain_bundles, write_chain_bundle

BY_NAME = {c["case"]: c for c in chain_bundles()}
SVG = "{http://www.w3.org/2000/svg}"


def audited(name: str, tmp_path: Path) -> tuple[AuditReportV2, Path, Path | None]:
    bundle, policy = write_chain_bundle(BY_NAME[name], tmp_path)
    report = hashcore.audit_bundle(bundle, policy=policy)
    assert isinstance(report, AuditReportV2)
    return report, bundle, policy


def figures(html: str) -> dict[str, ET.Element]:
    """Each ``<figure class="plot" id=...>``'s SVG, parsed, by the figure's id."""
    found = re.findall(r'<figure class="plot" id="([a-z-]+)">(<svg.*?</svg>)', html, re.S)
    return {fid: ET.fromstring(svg) for fid, svg in found}


def by_id(svg: ET.Element, prefix: str) -> list[ET.Element]:
    return [e for e in svg.iter() if (e.get("id") or "").startswith(prefix)]


def participants_of(case: dict[str, Any], names: list[str]) -> dict[str, str]:
    chains = sorted({r["chain_id"] for r in case["records"]})
    return dict(zip(chains, names, strict=False))


def test_clean_bundle_has_the_delay_plot_and_no_window_plot(tmp_path: Path) -> None:
    report, _, _ = audited("clean", tmp_path)
    names = participants_of(BY_NAME["clean"], ["P001", "P002", "P003"])
    html = render_audit_html_v2(report, title="t", participants=names)
    assert html.count("<svg") == 1 and html.count('<figure class="plot"') == 1
    plots = figures(html)
    assert list(plots) == ["entry-delay"]
    boxes = by_id(plots["entry-delay"], "delay-box-")
    assert len(boxes) == 3 and not by_id(plots["entry-delay"], "delay-box-flagged-")
    labels = {t.text for t in plots["entry-delay"].iter(f"{SVG}text")}
    assert {"P001", "P002", "P003"} <= labels
    assert "No record is outside its window." in html
    assert "CLEAN: every record" in html and "<script" not in html


def test_backdated_record_is_drawn_outside_its_window(tmp_path: Path) -> None:
    case = BY_NAME["backdated_record"]
    report, _, _ = audited("backdated_record", tmp_path)
    assert [t.code for t in report.time_findings] == ["TIME_BEFORE_BEACON"]
    finding = report.time_findings[0]
    assert finding.chain_id is not None
    names = participants_of(case, ["P001", "P002", "P003"])
    html = render_audit_html_v2(report, title="t", participants=names)
    plots = figures(html)
    assert list(plots) == ["entry-delay", "time-windows"]
    # One dot per finding, in the group the plot names; one window bar.
    (times,) = by_id(plots["time-windows"], "record-times")
    assert len(list(times.iter(f"{SVG}use"))) == 1
    (windows,) = by_id(plots["time-windows"], "windows")
    assert len(list(windows.iter(f"{SVG}path"))) == 1
    who = names[finding.chain_id.hex()]
    labels = {t.text for t in plots["time-windows"].iter(f"{SVG}text")}
    assert f"{who} seq {finding.seq} (TIME_BEFORE_BEACON)" in labels
    # The participant with the finding is the one red box.
    assert len(by_id(plots["entry-delay"], "delay-box-flagged-")) == 1
    assert len(by_id(plots["entry-delay"], "delay-box-")) == 3
    assert html.count(">TIME_BEFORE_BEACON</span>") == 1  # the findings table


def test_labels_from_the_register_stay_text(tmp_path: Path) -> None:
    report, _, _ = audited("backdated_record", tmp_path)
    hostile = ["<script>alert(1)</script>", "$\\frac{a}{b}$", "P&3"]
    names = participants_of(BY_NAME["backdated_record"], hostile)
    html = render_audit_html_v2(report, title="<b>t</b>", participants=names)
    assert "<script" not in html and "<b>t</b>" not in html
    labels = {t.text for svg in figures(html).values() for t in svg.iter(f"{SVG}text")}
    assert set(hostile) <= labels  # as written: neither markup nor math


def test_the_same_audit_gives_the_same_page(tmp_path: Path) -> None:
    report, _, _ = audited("backdated_record", tmp_path)
    assert render_audit_html_v2(report, title="t") == render_audit_html_v2(report, title="t")


def test_evidence_sections(tmp_path: Path) -> None:
    report, _, _ = audited("truncate_tail_withheld", tmp_path)
    html = render_audit_html_v2(report, title="t")
    withheld = sum(1 for r in report.receipts if r.code == "RECEIPT_WITHHELD")
    assert withheld > 0
    # The counts table and one row per receipt against the relay.
    assert html.count('<span class="pill bad">RECEIPT_WITHHELD</span>') == withheld + 1
    assert "Anchors were not checked (the policy has no evm)." in html


def test_cli_writes_the_v2_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = BY_NAME["backdated_record"]
    bundle, policy = write_chain_bundle(case, tmp_path)
    register = tmp_path / "participants.json"
    register.write_text(json.dumps(participants_of(case, ["P001", "P002", "P003"])))
    out = tmp_path / "report.html"
    args = ["audit", str(bundle), "--policy", str(policy), "--html", str(out)]
    assert main([*args, "--participants", str(register)]) == 0
    assert list(figures(out.read_text())) == ["entry-delay", "time-windows"]
    assert main([*args, "--participants", str(tmp_path / "missing.json")]) == 2
    assert "not a participants file" in capsys.readouterr().err
