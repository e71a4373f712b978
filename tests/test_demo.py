"""`make demo` end to end on a small trial: clean audit, then exactly the planted failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hashcore import demo


def test_demo_finds_exactly_the_planted_tampering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert demo.main(["--out", str(tmp_path), "--participants", "12", "--days", "20"]) == 0
    out = capsys.readouterr().out
    edited = int(out.split("edited the payload at log_index ")[1].split(";")[0])
    deleted = int(out.split("deleted log_index ")[1].split()[0])
    report = json.loads((tmp_path / "tampered-report.json").read_text())
    primary = [(f["log_index"], f["code"]) for f in report["failures"] if f["code"] != "NOT_LOGGED"]
    assert primary[0] == (edited, "BAD_COMMIT")
    assert [code for _, code in primary] == ["BAD_COMMIT", "GAP"]
    assert report["missing_log_positions"] == [[deleted, deleted + 1]]
    assert report["clean"] is False
    assert report["counts"]["OK"] + report["counts"]["NOT_LOGGED"] == report["records"] - 2
