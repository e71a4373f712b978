"""hashcore.sim.fraud (protocol v2): every simulated attack audits exactly as its
expected.json says, field by field, under the sample's policy with the devices' evidence.

The expectations come from the attacks' semantics (hashcore.sim.fraud.expect), not from the
auditor, so these tests compare two independent derivations of SPEC v2 section 5. A bug the
two could share is caught by the literal tests below, whose numbers are worked out here by
hand from the sample's layout (checkpoints every 25 positions, 240 records)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import hashcore
import pyarrow.parquet as pq
import pytest
from hashcore.audit import AuditReportV2
from hashcore.bundle import read_bundle_v2
from hashcore.cli.fraud import add_parser, main, run
from hashcore.errors import BundleError, InvalidInputError
from hashcore.sim.fraud import ATTACKS, EXPECTED_FILE, AttackResult, compare, simulate_fraud
from hashcore.sim.sample import SampleInfo, make_sample

DEVICES, RECORDS, EVERY = 8, 30, 25
TOTAL = DEVICES * RECORDS  # 240: checkpoints at 25, 50, ..., 225 and 240
SIZES = [*range(EVERY, TOTAL + 1, EVERY), TOTAL]
NEEDS_EVM = {
    "export-cut-before-final-anchor",
    "relay-identity-squatted",
    "log-resigned-against-its-anchors",
}
NEEDS_KEYS = {
    "history-rewritten-after-checkpoint",
    "checkpoint-false-root-signed",
    "chain-head-deleted-log-resigned",
    "backdated-entry",
    "forged-beacon",
    "beacon-beyond-its-position",
    "beacon-regressed",
    "split-view-to-one-device",
    "log-position-promised-twice",
    "log-tail-cut-past-merge-delay",
}
#: The erasure is the only attack that audits clean; the back-dated entry and the regressed
#: beacon are clean only without strict time (their findings are findings, SPEC 5.3).
CLEAN = {"payload-erased"}
CLEAN_WITHOUT_STRICT_TIME = {"payload-erased", "backdated-entry", "beacon-regressed"}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleInfo:
    root = tmp_path_factory.mktemp("fraud")
    return make_sample(
        root / "clean",
        devices=DEVICES,
        records=RECORDS,
        seed=11,
        checkpoint_every=EVERY,
        witnesses=3,
        evidence_dir=root / "evidence",
        policy_path=root / "policy.json",
        keys_path=root / "keys.json",
    )


def _simulate(sample: SampleInfo, out: Path, **kwargs: Any) -> list[AttackResult]:
    kwargs.setdefault("keys", sample.keys_file)
    return simulate_fraud(
        sample.path,
        out,
        policy=sample.policy_file,  # type: ignore[arg-type]
        receipts=[sample.receipts_file],  # type: ignore[list-item]
        notes=[sample.notes_file],  # type: ignore[list-item]
        **kwargs,
    )


@pytest.fixture(scope="module")
def simulated(sample: SampleInfo, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    results = _simulate(sample, tmp_path_factory.mktemp("fraud") / "attacks", seed=5)
    return {r.name: r for r in results}


def _audit(result: AttackResult, **kwargs: Any) -> AuditReportV2:
    assert result.path is not None and result.receipts is not None and result.notes is not None
    report = hashcore.audit_bundle(
        result.path,
        policy=result.policy,
        receipts=[result.receipts],
        notes=[result.notes],
        **kwargs,
    )
    assert isinstance(report, AuditReportV2)
    return report


def _done(simulated: dict[str, AttackResult], name: str) -> tuple[AttackResult, dict[str, Any]]:
    result = simulated[name]
    assert result.skipped is None, result.skipped
    assert result.path is not None and result.expected is not None
    return result, result.expected


def _attested_below(position: int) -> int:
    """The largest checkpoint size that does not cover ``position`` (0 if none)."""
    return max((s for s in SIZES if s <= position), default=0)


def _note_sizes(sample: SampleInfo) -> list[int]:
    """The tree sizes of the notes the devices verified (the sample's evidence)."""
    assert sample.notes_file is not None
    notes = pq.read_table(sample.notes_file).column("note").to_pylist()
    return [hashcore._core.note_verify(n, sample.origin, sample.log_key)[0] for n in notes]


# --------------------------------------------------------------------------- every attack


def test_every_attack_ran_but_the_evm_ones(simulated: dict[str, AttackResult]) -> None:
    assert list(simulated) == list(ATTACKS)
    for name, r in simulated.items():
        if name in NEEDS_EVM:
            assert r.skipped is not None and "EVM" in r.skipped and r.path is None
        else:
            assert r.skipped is None, (name, r.skipped)


@pytest.mark.parametrize("name", sorted(set(ATTACKS) - NEEDS_EVM))
def test_audit_matches_expectation(name: str, simulated: dict[str, AttackResult]) -> None:
    result, expected = _done(simulated, name)
    assert result.path is not None
    assert json.loads((result.path.parent / EXPECTED_FILE).read_text()) == expected
    assert expected["attack"] == name
    assert expected["clean"] is (name in CLEAN_WITHOUT_STRICT_TIME)
    assert expected["clean_with_strict_time"] is (name in CLEAN)
    assert compare(expected, _audit(result)) == []
    strict = _audit(result, strict_time=True)
    assert strict.clean is expected["clean_with_strict_time"]


def test_the_relay_export_carries_no_evidence(simulated: dict[str, AttackResult]) -> None:
    result, _ = _done(simulated, "payload-edited")
    bundle = read_bundle_v2(result.path)  # type: ignore[arg-type]
    assert bundle.receipts.num_rows == 0 and bundle.notes.num_rows == 0
    assert pq.read_table(result.receipts).num_rows == TOTAL  # type: ignore[arg-type]


# --------------------------------------------------------------------------- literal verdicts


def _one(expected: dict[str, Any], key: str) -> dict[str, Any]:
    target: dict[str, Any] = expected["target"][key]
    return target


def _codes(items: list[dict[str, Any]], key: str = "verdict") -> Counter[str]:
    return Counter(i[key] for i in items)


def _checkpoint_codes(expected: dict[str, Any]) -> dict[int, str]:
    return {c["tree_size"]: c["verdict"] for c in expected["checkpoints"]}


def test_payload_edited_is_one_bad_commit(simulated: dict[str, AttackResult]) -> None:
    _, expected = _done(simulated, "payload-edited")
    assert expected["failures"] == [{**_one(expected, "edited"), "verdict": "BAD_COMMIT"}]
    assert set(_checkpoint_codes(expected).values()) == {"OK"}
    assert expected["receipts"] == [] and expected["receipt_counts"] == {"RECEIPT_OK": TOTAL}
    assert expected["time_findings"] == [] and not expected["incomplete"]


def test_record_deleted_breaks_the_log_from_its_position(
    simulated: dict[str, AttackResult], sample: SampleInfo
) -> None:
    _, expected = _done(simulated, "record-deleted")
    li = _one(expected, "deleted")["log_index"]
    attested = _attested_below(li)
    succ = _one(expected, "successor")
    assert expected["missing_log_positions"] == [[li, li + 1]]
    codes = _codes(expected["failures"])
    assert codes["GAP"] == 1
    # Every other record from the largest checkpoint below the hole on: TOTAL - attested
    # positions, less the deleted one and the GAP successor (if it is past attested).
    assert codes["NOT_LOGGED"] == TOTAL - attested - 1 - (succ["log_index"] >= attested)
    assert {s for s, v in _checkpoint_codes(expected).items() if v == "ROOT_MISMATCH"} == {
        s for s in SIZES if s > li
    }
    # Every receipt from the attested size on is no longer covered (the deleted one too);
    # the deadline is the last covered entry's arrival, within a day of them: PENDING.
    assert expected["receipt_counts"] == {
        "RECEIPT_OK": attested,
        "RECEIPT_PENDING": TOTAL - attested,
    }
    # The devices' notes of trees past the hole sign a log the bundle doesn't hold.
    notes = Counter(n["tree_size"] for n in expected["notes"] if n["verdict"] == "EQUIVOCATION")
    assert sorted(notes) == sorted({s for s in _note_sizes(sample) if s > li})


def test_received_time_edited_is_caught_by_the_log(simulated: dict[str, AttackResult]) -> None:
    _, expected = _done(simulated, "received-time-edited")
    edited = _one(expected, "edited")
    li = edited["log_index"]
    assert {s for s, v in _checkpoint_codes(expected).items() if v == "ROOT_MISMATCH"} == {
        s for s in SIZES if s > li
    }
    (finding,) = expected["time_findings"]
    assert finding["code"] == "TIME_AFTER_RECEIPT" and finding["log_index"] == li
    assert finding["time_ms"] - finding["upper"] == 300_000 + 3_600_000


def test_chain_head_deleted_is_caught_by_the_receipts(simulated: dict[str, AttackResult]) -> None:
    _, expected = _done(simulated, "chain-head-deleted-log-resigned")
    li = _one(expected, "deleted")["log_index"]
    # The re-signed log has TOTAL - 1 entries and its largest checkpoint attests them
    # all: every receipt from li to TOTAL - 2 names an entry that moved down one.
    assert expected["receipt_counts"] == {
        "RECEIPT_CONTRADICTED": TOTAL - 1 - li,
        "RECEIPT_OK": li,
        "RECEIPT_PENDING": 1,
    }
    contradicted = sorted(
        r["log_index"] for r in expected["receipts"] if r["verdict"] == "RECEIPT_CONTRADICTED"
    )
    assert contradicted == list(range(li, TOTAL - 1))
    assert expected["failures"] == []
    # No witness cosigns the re-signed checkpoints past the deletion.
    resigned = {s for s, v in _checkpoint_codes(expected).items() if v == "UNWITNESSED"}
    assert resigned == {min(s, TOTAL - 1) for s in SIZES if s > li}
    assert expected["incomplete"] is True  # the devices' note of 240 > T = 239


def test_tail_cuts_before_and_after_the_merge_delay(simulated: dict[str, AttackResult]) -> None:
    _, early = _done(simulated, "log-tail-cut-within-merge-delay")
    _, late = _done(simulated, "log-tail-cut-past-merge-delay")
    cut = TOTAL - SIZES[-2]
    assert early["receipt_counts"] == {"RECEIPT_OK": SIZES[-2], "RECEIPT_PENDING": cut}
    assert late["receipt_counts"] == {"RECEIPT_OK": SIZES[-2], "RECEIPT_WITHHELD": cut}
    for expected in (early, late):
        assert expected["failures"] == [] and expected["covered_size"] == SIZES[-2]
        assert expected["incomplete"] is True
        assert {n["tree_size"] for n in expected["notes"] if n["verdict"] == "INCOMPLETE"} == {
            TOTAL
        }
    # The late cut's deadline is the witnesses' clock, past every cut receipt's due time.
    assert late["deadline_clock_ms"] >= late["target"]["witnessed_again_at_ms"]


def test_split_view_blames_the_relay_not_the_device(simulated: dict[str, AttackResult]) -> None:
    _, expected = _done(simulated, "split-view-to-one-device")
    assert expected["failures"] == [] and expected["time_findings"] == []
    size = expected["target"]["split_view_tree_size"]
    assert size == TOTAL
    # The fork the device kept, and the relay's own note of that size: two roots, one size.
    assert sorted(n["tree_size"] for n in expected["notes"] if n["verdict"] == "EQUIVOCATION") == [
        size,
        size,
    ]
    assert expected["receipt_counts"] == {"RECEIPT_OK": TOTAL + 1}


def test_beacon_attacks(simulated: dict[str, AttackResult], sample: SampleInfo) -> None:
    _, forged = _done(simulated, "forged-beacon")
    assert forged["failures"] == [{**_one(forged, "record"), "verdict": "BAD_BEACON"}]
    _, backdated = _done(simulated, "backdated-entry")
    assert backdated["failures"] == []
    (finding,) = backdated["time_findings"]
    record = _one(backdated, "record")
    assert (finding["log_index"], finding["code"]) == (record["log_index"], "TIME_BEFORE_BEACON")
    assert record["log_index"] == TOTAL
    # lower is the arrival of the last entry the newest checkpoint (240) holds.
    last = read_bundle_v2(sample.path).records.to_pylist()[TOTAL - 1]
    assert finding["lower"] == last["received_ms"]
    assert finding["time_ms"] == finding["lower"] - 3 * 86_400_000


def test_beacon_beyond_position_and_regressed(simulated: dict[str, AttackResult]) -> None:
    _, beyond = _done(simulated, "beacon-beyond-its-position")
    record = _one(beyond, "record")
    assert beyond["failures"] == [{**record, "verdict": "BAD_BEACON"}]
    assert record["log_index"] == TOTAL  # its beacon names 245 > 240: no checkpoint reaches it
    assert beyond["time_findings"] == []
    _, regressed = _done(simulated, "beacon-regressed")
    (finding,) = regressed["time_findings"]
    assert (finding["log_index"], finding["code"]) == (TOTAL, "BEACON_REGRESSED")
    assert regressed["failures"] == [] and regressed["target"]["previous_beacon_size"] > 0


def test_one_position_promised_twice(simulated: dict[str, AttackResult]) -> None:
    _, expected = _done(simulated, "log-position-promised-twice")
    p = expected["target"]["position"]
    assert sorted((r["log_index"], r["verdict"]) for r in expected["receipts"]) == [
        (p, "RECEIPT_CONFLICT"),
        (p, "RECEIPT_CONFLICT"),
    ]
    assert expected["failures"] == [] and not expected["clean"]


def test_evm_attacks_are_derived_but_skipped(simulated: dict[str, AttackResult]) -> None:
    cut = simulated["export-cut-before-final-anchor"].expected
    squat = simulated["relay-identity-squatted"].expected
    assert cut is not None and squat is not None
    # Only the final anchor of the full log shows the cut: no receipt or note beyond it.
    assert cut["incomplete"] is True and cut["receipts"] == [] and cut["failures"] == []
    assert {n["verdict"] for n in cut["notes"]} == {"OK"}
    assert {c["verdict"] for c in cut["checkpoints"]} == {"OK"}
    assert [c["verdict"] for c in squat["checkpoints"]] == ["NOT_ANCHORED"] * len(SIZES)
    assert squat["anchors"] == []  # the squatter's anchors don't count


def test_nothing_is_clean_but_the_erasure(simulated: dict[str, AttackResult]) -> None:
    for name, r in simulated.items():
        assert r.expected is not None, name
        assert r.expected["clean_with_strict_time"] is (name in CLEAN), name


# --------------------------------------------------------------------------- other inputs


def test_rotating_multipart_bundle_with_evidence_inside(tmp_path: Path) -> None:
    info = make_sample(
        tmp_path / "clean",
        devices=4,
        records=12,
        seed=8,
        checkpoint_every=7,
        rotate_every=5,
        part_rows=10,
        witnesses=1,
        policy_path=tmp_path / "policy.json",
        keys_path=tmp_path / "keys.json",
    )
    results = simulate_fraud(
        info.path, tmp_path / "out", policy=tmp_path / "policy.json", keys=info.keys_file, seed=1
    )
    for result in results:
        if result.name in NEEDS_EVM:
            continue
        assert result.skipped is None, (result.name, result.skipped)
        assert compare(result.expected, _audit(result)) == [], result.name  # type: ignore[arg-type]


def test_deterministic_in_seed(sample: SampleInfo, tmp_path: Path) -> None:
    names = ["relay-forged-record", "device-impersonation", "forged-beacon"]
    a = _simulate(sample, tmp_path / "a", seed=3, attacks=names)
    b = _simulate(sample, tmp_path / "b", seed=3, attacks=names)
    c = _simulate(sample, tmp_path / "c", seed=4, attacks=names)
    assert [r.expected for r in a] == [r.expected for r in b]
    for x, y in zip(a, b, strict=True):
        assert x.path is not None and y.path is not None
        assert read_bundle_v2(x.path).records.equals(read_bundle_v2(y.path).records)
    assert [r.expected for r in a] != [r.expected for r in c]


def test_key_attacks_skipped_without_keys(sample: SampleInfo, tmp_path: Path) -> None:
    names = [*sorted(NEEDS_KEYS), "payload-edited"]
    results = _simulate(sample, tmp_path, attacks=names, keys=None)
    assert [r.skipped is not None for r in results] == [True] * len(NEEDS_KEYS) + [False]
    assert all("keys file" in (r.skipped or "") for r in results[:-1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["payload-edited"]


# --------------------------------------------------------------------------- compare


def test_compare_reports_every_kind_of_difference(
    simulated: dict[str, AttackResult], sample: SampleInfo
) -> None:
    result, expected = _done(simulated, "record-deleted")
    report = _audit(result)
    clean = hashcore.audit_bundle(
        sample.path,
        policy=sample.policy_file,
        receipts=[sample.receipts_file],  # type: ignore[list-item]
        notes=[sample.notes_file],  # type: ignore[list-item]
    )
    assert isinstance(clean, AuditReportV2)
    diffs = compare(expected, clean)
    for start in (
        "expected failure not reported",
        "expected checkpoint verdict not reported",
        "expected receipt verdict not reported",
        "expected evidence note verdict not reported",
        "receipt counts: ",
        "missing log positions",
        "clean: expected False, reported True",
    ):
        assert any(d.startswith(start) for d in diffs), start
    fewer = {**expected, "failures": expected["failures"][1:]}
    first = expected["failures"][0]
    assert compare(fewer, report) == [
        "unexpected failure reported: "
        f"({first['log_index']}, '{first['chain_id']}', {first['seq']}, '{first['verdict']}')"
    ]
    long = compare({**expected, "failures": []}, report)
    assert long[-1].startswith("unexpected failure reported: ... and ")
    _, backdated = _done(simulated, "backdated-entry")
    diffs = compare({**backdated, "time_findings": []}, _audit(simulated["backdated-entry"]))
    assert len(diffs) == 1 and diffs[0].startswith("unexpected time finding reported: ")


# --------------------------------------------------------------------------- errors


def test_refuses_unclean_input(simulated: dict[str, AttackResult], tmp_path: Path) -> None:
    result, _ = _done(simulated, "payload-edited")
    with pytest.raises(InvalidInputError, match="does not audit clean"):
        simulate_fraud(result.path, tmp_path, policy=result.policy)  # type: ignore[arg-type]


def test_refuses_bad_keys_unknown_attack_and_existing_output(
    sample: SampleInfo, tmp_path: Path
) -> None:
    other = make_sample(
        tmp_path / "other", devices=1, records=2, seed=99, keys_path=tmp_path / "k.json"
    )
    with pytest.raises(InvalidInputError, match="not of the policy's"):
        _simulate(sample, tmp_path / "o", keys=other.keys_file)
    with pytest.raises(InvalidInputError, match="unknown attack"):
        _simulate(sample, tmp_path / "o", attacks=["payload-edited", "nope"])
    (tmp_path / "o" / "payload-edited").mkdir(parents=True)
    (tmp_path / "o" / "payload-edited" / "x").write_text("keep me")
    with pytest.raises(BundleError, match="not overwriting"):
        _simulate(sample, tmp_path / "o", attacks=["payload-edited"])
    assert (tmp_path / "o" / "payload-edited" / "x").read_text() == "keep me"


# --------------------------------------------------------------------------- CLI


def _argv(sample: SampleInfo, out: Path) -> list[str]:
    return [
        str(sample.path),
        "--out",
        str(out),
        "--policy",
        str(sample.policy_file),
        "--receipts",
        str(sample.receipts_file),
        "--notes",
        str(sample.notes_file),
    ]


def test_cli_writes_and_checks(
    sample: SampleInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*_argv(sample, tmp_path / "out"), "--keys", str(sample.keys_file), "--seed", "2"]
    argv += ["--check", "--attack", "payload-edited", "--attack", "log-position-promised-twice"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("payload-edited: BAD_COMMIT 1 -> ")
    assert lines[0].endswith("[audit matches]")
    assert lines[1].startswith("log-position-promised-twice: receipts RECEIPT_CONFLICT 2 -> ")
    assert (tmp_path / "out" / "payload-edited" / EXPECTED_FILE).exists()


def test_cli_check_reports_a_difference(
    sample: SampleInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--check exits 1 when an audit differs; here the expectation is made wrong."""
    import hashcore.sim.fraud as fraud

    original = fraud.simulate_fraud

    def wrong(*args: Any, **kwargs: Any) -> list[AttackResult]:
        return [
            AttackResult(
                r.name,
                r.description,
                r.path,
                {**(r.expected or {}), "failures": []},
                receipts=r.receipts,
                notes=r.notes,
                policy=r.policy,
            )
            for r in original(*args, **kwargs)
        ]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fraud, "simulate_fraud", wrong)
        code = main([*_argv(sample, tmp_path), "--attack", "payload-edited", "--check"])
    assert code == 1
    assert "AUDIT DIFFERS: unexpected failure reported" in capsys.readouterr().out


def test_cli_errors_are_one_line(
    sample: SampleInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        [*_argv(sample, tmp_path), "--attack", "nope"],
        [*_argv(sample, tmp_path), "--keys", str(tmp_path / "absent.json")],
        [str(tmp_path / "absent"), "--out", str(tmp_path), "--policy", str(sample.policy_file)],
        [str(sample.path), "--out", str(tmp_path)],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith("hashcore: error: "), (argv, err)


def test_add_parser_and_run_on_a_plain_parser(
    sample: SampleInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="hashcore")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["simulate-fraud", *_argv(sample, tmp_path), "--attack", "record-replayed"]
    )
    assert run(args) == 0
    assert capsys.readouterr().out.startswith("record-replayed: FORK 2 -> ")
