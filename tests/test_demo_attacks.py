"""The demo's fraud stage (hashcore.sim.demo_attacks) on a make_sample v2 bundle with its
policy, evidence and keys, and an anvil node for the attacks' anchors: every attack caught
and localised but the erasure (the EVM ones by the anchors the audit reads from the chain),
nothing "only on chain", nothing skipped, and the table and HTML."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hashcore.anchor.embedded import EmbeddedAnvil
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

EVM_ATTACKS = {
    "export-cut-before-final-anchor",
    "relay-identity-squatted",
    "log-resigned-against-its-anchors",
}


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
    node = EmbeddedAnvil.start(root / "anvil-state.json")
    try:
        return run_attacks(
            source, root / "attacks", seed=1, participants=names, console=console, evm_url=node.url
        )
    finally:
        node.stop()


def test_every_attack_caught_but_the_erasure(attacks: list[dict[str, Any]]) -> None:
    assert [a["name"] for a in attacks] == list(ATTACKS)
    outcomes = {a["name"]: a["outcome"] for a in attacks}
    assert {n for n, o in outcomes.items() if o == CLEAN_AS_EXPECTED} == {"payload-erased"}
    assert SKIPPED not in outcomes.values()
    assert {o for n, o in outcomes.items() if n != "payload-erased"} == {CAUGHT}
    for a in attacks:
        assert a["caught"] is True and a["differences"] == [], a["name"]
        # "caught" is what the expectation says, derived from the attack: not clean.
        assert a["expected"]["clean_with_strict_time"] is (a["name"] == "payload-erased")


def test_evm_attacks_are_audited_with_the_anchors_on_chain(attacks: list[dict[str, Any]]) -> None:
    by = {a["name"]: a for a in attacks}
    for name in EVM_ATTACKS:
        a = by[name]
        assert a["evm_url"] is not None and a["caught_by"] == ["anchors"], name
        policy = json.loads(Path(a["policy"]).read_text())
        assert policy["evm"]["confirmations"] == 2 and policy["evm"]["from_block"] > 0
    # The export cut back: the anchors beyond it make the bundle INCOMPLETE.
    cut = by["export-cut-before-final-anchor"]
    assert cut["found"]["anchors"] == cut["expected"]["anchors"]
    assert cut["found"]["anchors"].get("ANCHOR_BEYOND_BUNDLE", 0) >= 1
    assert cut["where"]["incomplete"] is True and cut["found"]["records"] == {}
    # Squatted: the squatter's anchors don't count, so no checkpoint is anchored.
    squat = by["relay-identity-squatted"]
    assert squat["found"]["anchors"] == {} and set(squat["found"]["checkpoints"]) == {
        "NOT_ANCHORED"
    }
    # Re-signed and cosigned: only the anchor on chain, of the first root, contradicts it.
    resigned = by["log-resigned-against-its-anchors"]
    assert resigned["found"]["anchors"]["ANCHOR_CONTRADICTED"] == 1
    assert resigned["found"]["records"] == {} and resigned["found"]["receipts"] == {
        "RECEIPT_OK": resigned["found"]["receipts"]["RECEIPT_OK"]
    }
    [contradicted] = resigned["where"]["anchors"]
    assert contradicted["verdict"] == "ANCHOR_CONTRADICTED"
    assert f"anchor {contradicted['tree_size']:,} ANCHOR_CONTRADICTED" in resigned["where_text"]
    # Other attacks' policies have no evm: nothing read from a chain.
    assert all(a["evm_url"] is None for n, a in by.items() if n not in EVM_ATTACKS)


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
    assert line == (
        f"{len(ATTACKS) - 1} caught and localised by the bundle, the receipts and the policy; "
        "1 clean, as expected (payload-erased)"
    )


def test_html_names_every_attack(attacks: list[dict[str, Any]], tmp_path: Path) -> None:
    demo = {"ok": True, "attacks": attacks, "clean_audit": {"clean": True}}
    json.dumps(demo)  # report.json must be able to hold it
    text = render_demo_html(demo)
    for a in attacks:
        assert f'id="attack-{a["name"]}"' in text
    assert "caught on chain" not in text and "RECEIPT_CONFLICT" in text
