"""`hashcore demo` end to end on a small trial: a real relay and embedded chain, a clean
bundle with exactly the trial's records, and every attack audited to exactly the verdicts
its expected.json states."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import hashcore
import pytest
from hashcore import _core
from hashcore.anchor.embedded import EmbeddedAnvil
from hashcore.audit import AuditReportV2, audit_bundle
from hashcore.bundle.io_v2 import read_bundle_v2
from hashcore.cli import demo as cli_demo
from hashcore.cli import main as cli_main
from hashcore.relay.keys import load_key
from hashcore.sim import demo
from hashcore.sim.fraud import ATTACKS, compare
from rich.console import Console

PARTICIPANTS, DAYS = 12, 10
EVM_ATTACKS = {
    "export-cut-before-final-anchor",
    "relay-identity-squatted",
    "log-resigned-against-its-anchors",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path, str]:
    """One demo run shared by the tests below: (exit status, out dir, console text)."""
    out = tmp_path_factory.mktemp("demo") / "out"
    console = Console(file=io.StringIO(), width=160, highlight=False)
    options = demo.DemoOptions(out=out, participants=PARTICIPANTS, days=DAYS, seed=3)
    code = demo.run_demo(options, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return code, out, text


@pytest.fixture(scope="module")
def report(run: tuple[int, Path, str]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((run[1] / "report.json").read_text())
    return result


def _log_id(out: Path) -> bytes:
    """The relay's identity from its own key file: the trusted log_id (SPEC 2.2)."""
    return _core.public_key_from_seed(load_key(out / "relay" / "relay.key"))


def test_demo_exits_0_and_leaves_every_output(run: tuple[int, Path, str]) -> None:
    code, out, text = run
    assert code == 0, text
    for name in ("bundle", "attacks", "relay", "report.html", "report.json", "participants.json"):
        assert (out / name).exists(), name
    assert f"report: {out / 'report.html'}" in text
    # Every attack runs: those that need anchors on a chain (on the demo's attack chain)
    # and those that need the witnesses' keys (the demo runs its three witnesses).
    ran = len(ATTACKS)
    assert f"{ran} of {ran} attacks got exactly the audit they must get" in text
    assert f"{ran - 1} caught and localised by the bundle, the receipts and the policy" in text
    assert "1 clean, as expected (payload-erased)" in text
    assert "skipped" not in text
    assert "only on chain" not in text and "caught on chain" not in text
    assert "checkpoints cosigned by all 3; the policy asks for 2 of 3" in text


def test_three_witnesses_cosign_every_checkpoint_on_the_trials_clock(
    run: tuple[int, Path, str], report: dict[str, Any]
) -> None:
    out = run[1]
    names = ["witness.site-a.example", "witness.cro.example", "witness.ethics-board.example"]
    assert [w["name"] for w in report["witnesses"]["witnesses"]] == names
    assert report["witnesses"]["quorum"] == 2
    policy = json.loads((out / "policy.json").read_text())
    assert policy["witness_quorum"] == 2
    assert [(w["name"], w["key"]) for w in policy["witnesses"]] == [
        (w["name"], w["key"]) for w in report["witnesses"]["witnesses"]
    ]
    bundle = read_bundle_v2(out / "bundle")
    origin, log_key = bundle.manifest.origin, bundle.manifest.log_key
    keys = {w["name"]: bytes.fromhex(w["key"]) for w in policy["witnesses"]}
    received = bundle.records.column("received_ms").to_pylist()
    for row in bundle.checkpoints.to_pylist():
        size = _core.note_verify(row["note"], origin, log_key)[0]
        assert size == row["tree_size"]
        times = {n: _core.note_witness_times(row["note"], n, k) for n, k in keys.items()}
        assert all(len(t) == 1 for t in times.values()), times
        # Cosigned on the trial's clock: after the newest entry it covers, and no later
        # than the trial's last entry (the wall clock would be months after both).
        newest = max(received[:size])
        for (t,) in times.values():
            assert newest < t * 1000 + 1000 and t * 1000 <= max(received)
    # Under the policy (2 of these 3), with the phones' evidence: clean, nothing unwitnessed.
    audit = report["clean_audit"]
    assert audit["clean"] is True and audit["log_identity_source"] == "policy"
    assert {c["code"] for c in audit["checkpoints"]} == {"OK"}
    assert audit["time_findings"] == []
    assert all(len(c["cosigned_by"]) == 3 for c in report["relay"]["checkpoints"])
    # A fork of the log (another root at the cosigned size, signed by the relay's key):
    # every witness refuses it (C2SP tlog-witness 422) and keeps it as evidence.
    assert report["witnesses"]["split_view_answers"] == dict.fromkeys(names, 422)
    for name in names:
        db = sqlite3.connect(out / "witnesses" / f"{name}.db")
        try:
            [(conflicts,)] = db.execute("SELECT count(*) FROM conflicts").fetchall()
        finally:
            db.close()
        assert conflicts == 1, name
    assert "refused by 3 of 3 (HTTP 422)" in run[2]


def test_clean_bundle_holds_exactly_the_trials_records(
    run: tuple[int, Path, str], report: dict[str, Any]
) -> None:
    out = run[1]
    log_id = _log_id(out)
    assert report["relay"]["log_id"] == log_id.hex()
    audit = audit_bundle(out / "bundle")
    assert audit.clean
    assert (audit.manifest_origin_matches, audit.manifest_log_key_matches) == (True, True)  # type: ignore[union-attr]
    assert read_bundle_v2(out / "bundle").manifest.log_key == log_id
    # Every record's receipt, as the phones kept it, is RECEIPT_OK.
    receipts = report["clean_audit"]["receipts"]
    assert len(receipts) == audit.records
    assert {r["code"] for r in receipts} == {"RECEIPT_OK"}
    assert audit.records == report["trial"]["records"] == report["relay"]["log_size"]
    # Twelve geneses and one diary entry per participant and day, plus key rotations.
    assert audit.records == PARTICIPANTS * (DAYS + 1) + report["trial"]["rotations"]
    assert audit.counts["OK_REDACTED"] == 1  # the right-to-erasure request
    # Week 1 and the end of the trial, each anchored and final on chain.
    cps = report["relay"]["checkpoints"]
    assert [c["final"] for c in cps] == [True, True]
    assert cps[-1]["tree_size"] == audit.records
    assert report["clean_audit"]["clean"] is True
    assert [a["state"] for a in report["clean_audit"]["evm"]["anchors"]] == ["final", "final"]
    assert report["clean_audit_problems"] == []


def test_participants_register_names_every_chain(
    run: tuple[int, Path, str], report: dict[str, Any]
) -> None:
    out = run[1]
    register = json.loads((out / "participants.json").read_text())
    bundle = read_bundle_v2(out / "bundle")
    chains = {c.hex() for c in bundle.records.column("chain_id").to_pylist()}
    assert set(register) == chains
    assert sorted(register.values()) == [f"P{n:04d}" for n in range(1, PARTICIPANTS + 1)]
    rows = report["clean_audit"]["chains"]
    assert len(rows) == PARTICIPANTS and all(r["complete"] for r in rows)


def test_every_attack_ran_and_audits_exactly_as_expected(
    run: tuple[int, Path, str], report: dict[str, Any]
) -> None:
    attacks = {a["name"]: a for a in report["attacks"]}
    assert list(attacks) == list(ATTACKS)
    out = run[1]
    # The attacks' anchors are on the demo's attack chain, which it stopped: started
    # again from its state file, the chain still holds them.
    node = EmbeddedAnvil.start(out / "attack-chain" / "anvil-state.json")
    try:
        for name, a in attacks.items():
            assert a["skipped"] is None, name
            expected = json.loads((Path(a["path"]).parent / "expected.json").read_text())
            on_chain = name in EVM_ATTACKS
            assert (a["evm_url"] is not None) is on_chain, name
            assert (json.loads(Path(a["policy"]).read_text())["evm"] is not None) is on_chain
            # Audited again here: every verdict, receipt, note, anchor and finding.
            found = hashcore.audit_bundle(
                a["path"],
                policy=a["policy"],
                receipts=[a["evidence"]["receipts"]],
                notes=[a["evidence"]["notes"]],
                evm_url=node.url if on_chain else None,
            )
            assert isinstance(found, AuditReportV2)
            assert compare(expected, found) == []
            assert a["caught"] is True and a["differences"] == [], name
    finally:
        node.stop()
    cut, squat = attacks["export-cut-before-final-anchor"], attacks["relay-identity-squatted"]
    assert cut["caught_by"] == ["anchors"] and cut["where"]["incomplete"] is True
    assert "ANCHOR_BEYOND_BUNDLE" in cut["found"]["anchors"]
    assert squat["caught_by"] == ["anchors"] and squat["found"]["anchors"] == {}
    assert set(squat["found"]["checkpoints"]) == {"NOT_ANCHORED"}


def test_attack_outcomes_and_locations(report: dict[str, Any]) -> None:
    attacks = {a["name"]: a for a in report["attacks"]}
    outcomes = {a["outcome"] for a in attacks.values()}
    assert outcomes <= {"caught", "clean, as expected", "skipped"}
    assert {n for n, a in attacks.items() if a["outcome"] == "clean, as expected"} == {
        "payload-erased"
    }
    edited = attacks["payload-edited"]
    target = edited["expected"]["target"]["edited"]
    [where] = edited["where"]["failures"]
    assert (where["log_index"], where["chain_id"], where["seq"], where["verdict"]) == (
        target["log_index"],
        target["chain_id"],
        target["seq"],
        "BAD_COMMIT",
    )
    assert where["participant"] is not None
    assert edited["where_text"].startswith(f"BAD_COMMIT @{target['log_index']:,} ")


def test_html_report_names_every_attack(run: tuple[int, Path, str], report: dict[str, Any]) -> None:
    text = (run[1] / "report.html").read_text()
    assert text.startswith("<!DOCTYPE html>")
    for name in ATTACKS:
        assert f'id="attack-{name}"' in text
    assert f"all {len(ATTACKS)} attacks got exactly the audit they must get" in text
    assert "witness.ethics-board.example" in text and "2 of 3 must cosign" in text
    assert "<script" not in text and "http://" not in text and "https://" not in text
    assert report["trial"]["erasure"]["participant"] in text


def test_demo_refuses_a_non_empty_out_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "old.txt").write_text("x")
    assert cli_demo.main(["--out", str(tmp_path), "--participants", "2", "--days", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hashcore: error: ") and "not an empty directory" in err
    assert "\n" not in err


def test_hashcore_demo_subcommand(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`hashcore demo` (what `make demo` runs), on a tiny trial: attacks without a
    suitable target are skipped, the rest still match, and the exit status is 0."""
    code = cli_main(["demo", "--out", str(tmp_path), "--participants", "3", "--days", "3"])
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ok"] is True and report["trial"]["days"] == 3
    ran = [a for a in report["attacks"] if a["skipped"] is None]
    assert ran and all(a["caught"] for a in ran)
    for a in ran:
        assert (tmp_path / "attacks" / a["name"] / "expected.json").is_file()
        assert a["outcome"] in ("caught", "clean, as expected")
    assert report["clean_audit"]["clean"] is True


def test_demo_help_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["demo", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--out", "--participants", "--days", "--seed"):
        assert option in text
