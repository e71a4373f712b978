"""The demo's fraud stage (hashcore.sim.demo_attacks) on a make_sample v2 bundle with its
policy, evidence and keys: every attack caught and localised but the erasure, nothing
"only on chain", the EVM attacks skipped with their reason, and the table and HTML."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hashcore.report import render_demo_html
from hashcore.sim.demo_attacks import (
    CAUGHT,
    CLEAN_AS_EXPECTED,
    SKIPPED,
    AttackInput,
    outcome_line,
    print_attacks,
    run_attacks,
)
from hashcore.sim.fraud import ATTACKS
from hashcore.sim.sample import make_sample
from rich.console import Console

EVM_ATTACKS = {"export-cut-before-final-anchor", "relay-identity-squatted"}


@pytest.fixture(scope="module")
def attacks(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    root = tmp_path_factory.mktemp("demo-attacks")
    info = make_sample(
        root / "bundle",
        devices=6,
        records=15,
        seed=3,
        checkpoint_every=20,
        witnesses=3,
        evidence_dir=root / "evidence",
        policy_path=root / "policy.json",
        keys_path=root / "keys.json",
    )
    assert info.receipts_file is not None and info.notes_file is not None
    source = AttackInput(
        info.path,
        root / "policy.json",
        receipts=[info.receipts_file],
        notes=[info.notes_file],
        keys=root / "keys.json",
    )
    names = {c.hex(): f"P{d + 1:04d}" for d, c in enumerate(info.keys.device_seeds)}
    console = Console(file=io.StringIO(), width=200)
    return run_attacks(source, root / "attacks", seed=1, participants=names, console=console)


def test_every_attack_caught_but_the_erasure(attacks: list[dict[str, Any]]) -> None:
    assert [a["name"] for a in attacks] == list(ATTACKS)
    outcomes = {a["name"]: a["outcome"] for a in attacks}
    assert {n for n, o in outcomes.items() if o == CLEAN_AS_EXPECTED} == {"payload-erased"}
    assert {n for n, o in outcomes.items() if o == SKIPPED} == EVM_ATTACKS
    assert {o for n, o in outcomes.items() if n not in EVM_ATTACKS | {"payload-erased"}} == {CAUGHT}
    for a in attacks:
        if a["outcome"] != SKIPPED:
            assert a["caught"] is True and a["differences"] == [], a["name"]
            # "caught" is what the expectation says, derived from the attack: not clean.
            assert a["expected"]["clean_with_strict_time"] is (a["name"] == "payload-erased")


def test_skipped_attacks_say_why_and_what_they_would_give(attacks: list[dict[str, Any]]) -> None:
    for a in attacks:
        if a["name"] in EVM_ATTACKS:
            assert "EVM" in a["skipped"] and a["expected"]["summary"] != "clean"


def test_attacks_are_localised(attacks: list[dict[str, Any]]) -> None:
    by = {a["name"]: a for a in attacks}
    edited = by["payload-edited"]
    target = edited["expected"]["target"]["edited"]
    [where] = edited["where"]["failures"]
    assert (where["log_index"], where["chain_id"], where["seq"], where["verdict"]) == (
        target["log_index"],
        target["chain_id"],
        target["seq"],
        "BAD_COMMIT",
    )
    assert where["participant"] is not None and where["participant"].startswith("P")
    assert edited["where_text"].startswith(f"BAD_COMMIT @{target['log_index']:,} ")
    assert edited["caught_by"] == ["bundle"]
    assert by["log-position-promised-twice"]["caught_by"] == ["receipts"]
    assert by["split-view-to-one-device"]["caught_by"] == ["notes"]
    assert by["backdated-entry"]["caught_by"] == ["time bounds"]
    assert by["beacon-regressed"]["caught_by"] == ["time bounds"]
    assert "receipts" in by["chain-head-deleted-log-resigned"]["caught_by"]
    assert "witnesses" in by["chain-head-deleted-log-resigned"]["caught_by"]
    cut = by["log-tail-cut-past-merge-delay"]["where"]
    assert list(cut["receipts"]) == ["RECEIPT_WITHHELD"] and cut["incomplete"] is True


def test_table_and_summary_line(attacks: list[dict[str, Any]]) -> None:
    console = Console(file=io.StringIO(), width=250)
    print_attacks(console, attacks)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "only on chain" not in text and "caught on chain" not in text
    assert text.count("clean, as expected") == 1
    line = outcome_line(attacks)
    assert line.startswith(f"{len(ATTACKS) - 3} caught and localised by the bundle, the receipts")
    assert "1 clean, as expected (payload-erased)" in line
    assert "2 skipped" in line


def test_html_names_every_attack(attacks: list[dict[str, Any]], tmp_path: Path) -> None:
    demo = {"ok": True, "attacks": attacks, "clean_audit": {"clean": True}}
    json.dumps(demo)  # report.json must be able to hold it
    text = render_demo_html(demo)
    for a in attacks:
        assert f'id="attack-{a["name"]}"' in text
    assert "caught on chain" not in text and "RECEIPT_CONFLICT" in text
