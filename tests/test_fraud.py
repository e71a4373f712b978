"""hashcore.sim.fraud: every simulated attack audits exactly as its expected.json says.

The expectations come from the attacks' semantics
(hashcore.sim.fraud.expect.derive_expectation), not from the auditor, so these tests compare
two independent derivations of SPEC section 4. A bug the two could share is caught by the
literal tests below, whose numbers are worked out here by hand from the sample's layout
(checkpoints every 25 positions), and by the slow pure-Python reference auditor on a smaller
bundle.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hashcore import _core
from hashcore.audit import audit_bundle
from hashcore.bundle import read_bundle, write_bundle
from hashcore.cli.fraud import add_parser, main, run
from hashcore.errors import BundleError, InvalidInputError
from hashcore.sim.fraud import ATTACKS, EXPECTED_FILE, AttackResult, compare, simulate_fraud
from hashcore.sim.sample import SampleInfo, make_sample
from reference import auditor

DEVICES, RECORDS, EVERY = 8, 30, 25
TOTAL = DEVICES * RECORDS  # 240: checkpoints at 25, 50, ..., 225 and 240
SIZES = [*range(EVERY, TOTAL + 1, EVERY), TOTAL]
NEEDS_LOG_KEY = {
    "history-rewritten-after-checkpoint",
    "checkpoint-false-root-signed",
    "chain-head-deleted-log-resigned",
}
# Clean by design (erasure) or invisible to a bundle-only audit (see the descriptions).
UNDETECTABLE = {
    "payload-erased",
    "log-tail-truncated",
    "received-time-edited",
    "chain-head-deleted-log-resigned",
}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleInfo:
    path = tmp_path_factory.mktemp("fraud") / "clean"
    return make_sample(path, devices=DEVICES, records=RECORDS, seed=11, checkpoint_every=EVERY)


@pytest.fixture(scope="module")
def simulated(sample: SampleInfo, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("fraud") / "attacks"
    results = simulate_fraud(sample.path, out, log_seed=sample.log_seed, seed=5)
    return {r.name: r for r in results}


def _done(simulated: dict[str, AttackResult], name: str) -> tuple[Path, dict[str, Any]]:
    result = simulated[name]
    assert result.skipped is None, result.skipped
    assert result.path is not None and result.expected is not None
    return result.path, result.expected


def _verdicts(expected: dict[str, Any]) -> Counter[str]:
    return Counter(f["verdict"] for f in expected["failures"])


def _attested_below(position: int) -> int:
    """The largest checkpoint size that does not cover ``position`` (0 if none)."""
    return max((s for s in SIZES if s <= position), default=0)


# --------------------------------------------------------------------------- every attack


def test_every_attack_ran(simulated: dict[str, AttackResult]) -> None:
    assert list(simulated) == list(ATTACKS)
    assert all(r.skipped is None for r in simulated.values())


@pytest.mark.parametrize("name", list(ATTACKS))
def test_audit_matches_expectation(
    name: str, simulated: dict[str, AttackResult], sample: SampleInfo
) -> None:
    path, expected = _done(simulated, name)
    assert json.loads((path / EXPECTED_FILE).read_text()) == expected
    assert expected["attack"] == name
    assert expected["clean"] is (name in UNDETECTABLE)
    report = audit_bundle(path, log_id=sample.log_id)
    assert compare(expected, report) == []


def test_expected_failures_are_sorted(simulated: dict[str, AttackResult]) -> None:
    for result in simulated.values():
        assert result.expected is not None
        failures = result.expected["failures"]
        keys = [(f["log_index"], f["verdict"]) for f in failures]
        assert keys == sorted(keys), result.name


# --------------------------------------------------------------------------- literal verdicts


def _one(expected: dict[str, Any], key: str) -> dict[str, Any]:
    target: dict[str, Any] = expected["target"][key]
    return target


def test_payload_edited_is_one_bad_commit(simulated: dict[str, AttackResult]) -> None:
    _, expected = _done(simulated, "payload-edited")
    edited = _one(expected, "edited")
    assert expected["failures"] == [{**edited, "verdict": "BAD_COMMIT"}]
    assert expected["checkpoints"] == [] and expected["missing_log_positions"] == []
    assert edited["seq"] > 0


def test_payload_and_commit_edited_is_one_bad_link(simulated: dict[str, AttackResult]) -> None:
    _, expected = _done(simulated, "payload-and-commit-edited")
    assert expected["failures"] == [{**_one(expected, "edited"), "verdict": "BAD_LINK"}]
    assert expected["checkpoints"] == []


def test_relay_forged_record_by_hand(simulated: dict[str, AttackResult]) -> None:
    _, expected = _done(simulated, "relay-forged-record")
    p = _one(expected, "rewritten")["log_index"]
    succ = _one(expected, "successor")
    attested = _attested_below(p)
    assert 0 < attested <= p < succ["log_index"]  # the target is mid-log, as chosen
    assert _verdicts(expected) == {
        "BAD_SIGNATURE": 1,
        "BROKEN_CHAIN": 1,
        "NOT_LOGGED": TOTAL - attested - 2,
    }
    by_index = {f["log_index"]: f["verdict"] for f in expected["failures"]}
    assert by_index[p] == "BAD_SIGNATURE"
    assert by_index[succ["log_index"]] == "BROKEN_CHAIN"
    # NOT_LOGGED starts at the largest checkpoint below the forged leaf, not at the leaf.
    assert min(li for li, v in by_index.items() if v == "NOT_LOGGED") == attested
    assert expected["checkpoints"] == [
        {"tree_size": s, "verdict": "ROOT_MISMATCH"} for s in SIZES if s > p
    ]


def test_record_deleted_by_hand(simulated: dict[str, AttackResult]) -> None:
    path, expected = _done(simulated, "record-deleted")
    p = _one(expected, "deleted")["log_index"]
    attested = _attested_below(p)
    assert expected["missing_log_positions"] == [[p, p + 1]]
    assert _verdicts(expected) == {"GAP": 1, "NOT_LOGGED": TOTAL - attested - 2}
    assert {"verdict": "GAP", **_one(expected, "successor")} in expected["failures"]
    assert read_bundle(path).records.num_rows == TOTAL - 1


def test_insertion_replay_and_impersonation(simulated: dict[str, AttackResult]) -> None:
    _, inserted = _done(simulated, "forged-record-inserted")
    assert (
        inserted["failures"] == [{**_one(inserted, "inserted"), "verdict": "BAD_SIGNATURE"}]
        and inserted["failures"][0]["log_index"] == TOTAL
    )
    _, replayed = _done(simulated, "record-replayed")
    original = _one(replayed, "original")
    assert replayed["failures"] == [
        {**original, "verdict": "FORK"},
        {**original, "log_index": TOTAL, "verdict": "FORK"},
    ]
    _, impostor = _done(simulated, "device-impersonation")
    assert [f["log_index"] for f in impostor["failures"]] == [TOTAL, TOTAL + 1, TOTAL + 2]
    assert _verdicts(impostor) == {"BAD_SIGNATURE": 3}


def test_chain_attacks_by_hand(simulated: dict[str, AttackResult]) -> None:
    _, swapped = _done(simulated, "chain-ids-swapped")
    assert _verdicts(swapped) == {"MALFORMED": 2, "BAD_LINK": 2 * (RECORDS - 1)}
    _, genesis = _done(simulated, "genesis-payload-erased")
    assert _verdicts(genesis) == {"MALFORMED": 1, "NO_GENESIS": RECORDS - 1}
    assert {f["chain_id"] for f in genesis["failures"]} == {_one(genesis, "erased")["chain_id"]}
    _, records = _done(simulated, "records-swapped")
    first, second = records["target"]["swapped"]
    assert _verdicts(records)["BAD_LINK"] == 2 and _verdicts(records)["BROKEN_CHAIN"] == 1
    assert (first["seq"], second["seq"]) == (second["seq"] + 1, first["seq"] - 1)


def test_checkpoint_attacks_by_hand(simulated: dict[str, AttackResult]) -> None:
    _, altered = _done(simulated, "checkpoint-root-altered")
    size = altered["target"]["checkpoint_tree_size"]
    assert size < TOTAL  # an earlier one: later checkpoints still attest every record
    assert altered["checkpoints"] == [{"tree_size": size, "verdict": "BAD_CHECKPOINT_SIG"}]
    assert altered["failures"] == []
    _, forged = _done(simulated, "checkpoint-signature-forged")
    assert forged["checkpoints"] == [{"tree_size": TOTAL, "verdict": "BAD_CHECKPOINT_SIG"}]
    assert [f["log_index"] for f in forged["failures"]] == list(range(SIZES[-2], TOTAL))
    assert _verdicts(forged) == {"NOT_LOGGED": TOTAL - SIZES[-2]}


def test_history_rewrite_by_hand(simulated: dict[str, AttackResult]) -> None:
    path, expected = _done(simulated, "history-rewritten-after-checkpoint")
    p = _one(expected, "rewritten")["log_index"]
    # The new checkpoint still attests the whole rewritten log: no NOT_LOGGED at all,
    # but it is INCONSISTENT with the old ones, which no longer rebuild.
    assert _verdicts(expected) == {"BAD_SIGNATURE": 1, "BROKEN_CHAIN": 1}
    old = [{"tree_size": s, "verdict": "ROOT_MISMATCH"} for s in SIZES if s > p]
    new = {"tree_size": TOTAL, "verdict": "INCONSISTENT"}
    assert sorted(expected["checkpoints"], key=lambda c: (c["tree_size"], c["verdict"])) == sorted(
        [*old, new], key=lambda c: (c["tree_size"], c["verdict"])
    )
    assert read_bundle(path).checkpoints.num_rows == len(SIZES) + 1


def test_erasure_is_clean_and_redacted(
    simulated: dict[str, AttackResult], sample: SampleInfo
) -> None:
    path, expected = _done(simulated, "payload-erased")
    report = audit_bundle(path, log_id=sample.log_id)
    assert report.clean and expected["clean"]
    assert report.counts["OK_REDACTED"] == 1 and report.counts["OK"] == TOTAL - 1


def test_undetectable_attacks_audit_clean(
    simulated: dict[str, AttackResult], sample: SampleInfo
) -> None:
    # Findings, not bugs in the simulation: a relay can cut its log back to an earlier
    # checkpoint, and received_ms is covered by nothing. The bundle-only audit is clean.
    for name in UNDETECTABLE - {"payload-erased"}:
        path, _ = _done(simulated, name)
        assert audit_bundle(path, log_id=sample.log_id).clean, name
    path, expected = _done(simulated, "log-tail-truncated")
    assert read_bundle(path).records.num_rows == expected["target"]["kept_tree_size"] < TOTAL
    # A relay holding its log key can even drop a chain's latest record from mid-log.
    path, expected = _done(simulated, "chain-head-deleted-log-resigned")
    deleted = _one(expected, "deleted")
    assert deleted["log_index"] < TOTAL - 1
    records = read_bundle(path).records
    assert records.num_rows == TOTAL - 1
    chain = [c.hex() for c in records.column("chain_id").to_pylist()].count(deleted["chain_id"])
    assert chain == RECORDS - 1


# --------------------------------------------------------------------------- reference auditor


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> SampleInfo:
    path = tmp_path_factory.mktemp("fraud") / "small"
    return make_sample(path, devices=3, records=7, seed=4, checkpoint_every=5)


REFERENCE_ATTACKS = [
    "relay-forged-record",
    "records-swapped",
    "history-rewritten-after-checkpoint",
    "genesis-forged",
    "log-index-duplicated",
    "checkpoint-false-root-signed",
    "chain-head-deleted-log-resigned",
]


def test_reference_auditor_agrees(small: SampleInfo, tmp_path: Path) -> None:
    results = simulate_fraud(
        small.path, tmp_path, log_seed=small.log_seed, seed=2, attacks=REFERENCE_ATTACKS
    )
    for result in results:
        assert result.path is not None and result.expected is not None, result.skipped
        bundle = read_bundle(result.path)
        rows = bundle.records.to_pylist()
        ref = auditor.audit(rows, bundle.checkpoints.to_pylist(), small.log_id)
        got = Counter(
            (row["log_index"], row["chain_id"].hex(), row["seq"], verdict)
            for row, verdict in zip(rows, ref["record_verdicts"], strict=True)
            if verdict not in ("OK", "OK_REDACTED")
        )
        want = Counter(
            (f["log_index"], f["chain_id"], f["seq"], f["verdict"])
            for f in result.expected["failures"]
        )
        assert got == want, result.name
        cps = Counter(
            (cp["tree_size"], verdict)
            for cp, verdict in zip(
                bundle.checkpoints.to_pylist(), ref["checkpoint_verdicts"], strict=True
            )
            if verdict != "OK"
        )
        assert cps == Counter(
            (c["tree_size"], c["verdict"]) for c in result.expected["checkpoints"]
        )
        assert ref["missing_log_positions"] == result.expected["missing_log_positions"]
        assert ref["clean"] is result.expected["clean"]


# --------------------------------------------------------------------------- other bundles


def test_rotating_multipart_bundle(tmp_path: Path) -> None:
    info = make_sample(
        tmp_path / "clean",
        devices=4,
        records=12,
        seed=8,
        checkpoint_every=7,
        rotate_every=5,
        part_rows=10,
    )
    results = simulate_fraud(info.path, tmp_path / "out", log_seed=info.log_seed, seed=1)
    # Rotations at seq 5 and 10 leave runs of data records long enough for every attack,
    # whose targets avoid rotations (their consequences would involve key changes).
    assert [r.skipped for r in results] == [None] * len(ATTACKS)
    for result in results:
        assert result.path is not None and result.expected is not None
        report = audit_bundle(result.path, log_id=info.log_id)
        assert compare(result.expected, report) == [], result.name


def test_deterministic_in_seed(sample: SampleInfo, tmp_path: Path) -> None:
    names = ["relay-forged-record", "device-impersonation", "checkpoint-root-altered"]
    a = simulate_fraud(sample.path, tmp_path / "a", seed=3, attacks=names)
    b = simulate_fraud(sample.path, tmp_path / "b", seed=3, attacks=names)
    c = simulate_fraud(sample.path, tmp_path / "c", seed=4, attacks=names)
    assert [r.expected for r in a] == [r.expected for r in b]
    for x, y in zip(a, b, strict=True):
        assert x.path is not None and y.path is not None
        assert read_bundle(x.path).records.equals(read_bundle(y.path).records)
    assert [r.expected for r in a] != [r.expected for r in c]


def test_log_key_attacks_skipped_without_it(sample: SampleInfo, tmp_path: Path) -> None:
    results = simulate_fraud(
        sample.path, tmp_path, attacks=[*sorted(NEEDS_LOG_KEY), "payload-edited"]
    )
    assert [r.skipped is not None for r in results] == [True] * len(NEEDS_LOG_KEY) + [False]
    assert all("log key" in (r.skipped or "") for r in results[:-1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["payload-edited"]


# --------------------------------------------------------------------------- compare


def test_compare_reports_every_kind_of_difference(
    simulated: dict[str, AttackResult], sample: SampleInfo
) -> None:
    path, expected = _done(simulated, "record-deleted")
    report = audit_bundle(path, log_id=sample.log_id)
    # Against the clean bundle's report, everything expected is missing.
    clean_report = audit_bundle(sample.path, log_id=sample.log_id)
    diffs = compare(expected, clean_report)
    assert any(d.startswith("expected failure not reported") for d in diffs)
    assert any(d.startswith("expected checkpoint verdict not reported") for d in diffs)
    assert any(d.startswith("missing log positions") for d in diffs)
    assert "clean: expected False, reported True" in diffs
    # One failure too few in the expectation: exactly that one is unexpected.
    fewer = {**expected, "failures": expected["failures"][1:]}
    first = expected["failures"][0]
    assert compare(fewer, report) == [
        "unexpected failure reported: "
        f"({first['log_index']}, '{first['chain_id']}', {first['seq']}, '{first['verdict']}')"
    ]
    # A long list of differences is cut short.
    none_expected = {**expected, "failures": []}
    long = compare(none_expected, report)
    assert long[-1].startswith("unexpected failure reported: ... and ")


# --------------------------------------------------------------------------- errors


def test_refuses_unclean_input(simulated: dict[str, AttackResult], tmp_path: Path) -> None:
    path, _ = _done(simulated, "payload-edited")
    with pytest.raises(InvalidInputError, match="does not audit clean"):
        simulate_fraud(path, tmp_path)


def test_refuses_wrong_log_seed_unknown_attack_and_existing_output(
    sample: SampleInfo, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInputError, match="not of this bundle"):
        simulate_fraud(sample.path, tmp_path, log_seed=bytes(32))
    with pytest.raises(InvalidInputError, match="unknown attack"):
        simulate_fraud(sample.path, tmp_path, attacks=["payload-edited", "nope"])
    (tmp_path / "payload-edited").mkdir()
    (tmp_path / "payload-edited" / "x").write_text("keep me")
    with pytest.raises(BundleError, match="not overwriting"):
        simulate_fraud(sample.path, tmp_path, attacks=["payload-edited"])
    assert (tmp_path / "payload-edited" / "x").read_text() == "keep me"


def test_needs_a_checkpoint(sample: SampleInfo, tmp_path: Path) -> None:
    b = read_bundle(sample.path)
    # No checkpoints: not clean either (nothing attests the records).
    write_bundle(tmp_path / "nocp", b.records, None, log_id=b.log_id)
    with pytest.raises(InvalidInputError):
        simulate_fraud(tmp_path / "nocp", tmp_path / "out")


# --------------------------------------------------------------------------- CLI


def test_cli_writes_and_checks(
    sample: SampleInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "relay.key"
    key.write_text(sample.log_seed.hex() + "\n")
    out = tmp_path / "out"
    argv = [str(sample.path), "--out", str(out), "--log-key", str(key), "--seed", "2", "--check"]
    argv += ["--attack", "payload-edited", "--attack", "history-rewritten-after-checkpoint"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("payload-edited: BAD_COMMIT 1 -> ")
    assert lines[0].endswith("[audit matches]")
    assert lines[1].startswith("history-rewritten-after-checkpoint: BAD_SIGNATURE 1, ")
    assert (out / "payload-edited" / EXPECTED_FILE).exists()


def test_cli_check_reports_a_difference(
    sample: SampleInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--check exits 1 when an audit differs; here the expectation is made wrong."""
    import hashcore.sim.fraud as fraud

    original = fraud.simulate_fraud

    def wrong(*args: Any, **kwargs: Any) -> list[AttackResult]:
        results = original(*args, **kwargs)
        return [
            AttackResult(r.name, r.description, r.path, {**(r.expected or {}), "failures": []})
            for r in results
        ]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fraud, "simulate_fraud", wrong)
        code = main(
            [str(sample.path), "--out", str(tmp_path), "--attack", "payload-edited", "--check"]
        )
    assert code == 1
    assert "AUDIT DIFFERS: unexpected failure reported" in capsys.readouterr().out


def test_cli_errors_are_one_line(
    sample: SampleInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        [str(sample.path), "--out", str(tmp_path), "--attack", "nope"],
        [str(sample.path), "--out", str(tmp_path), "--log-seed", "abcd"],
        [str(sample.path), "--out", str(tmp_path), "--log-seed", "00" * 32],
        [str(tmp_path / "absent"), "--out", str(tmp_path)],
        [str(sample.path)],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith("hashcore: error: "), (argv, err)
    bad_key = tmp_path / "bad.key"
    bad_key.write_text("not hex")
    assert main([str(sample.path), "--out", str(tmp_path), "--log-key", str(bad_key)]) == 2
    assert "not a log key" in capsys.readouterr().err


def test_add_parser_and_run_on_a_plain_parser(
    sample: SampleInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="hashcore")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["simulate-fraud", str(sample.path), "--out", str(tmp_path), "--attack", "record-replayed"]
    )
    assert run(args) == 0
    assert capsys.readouterr().out.startswith("record-replayed: FORK 2 -> ")


def test_log_seed_is_the_sample_relay_key(sample: SampleInfo) -> None:
    # The CLI tests pass sample.log_seed as the relay key; make sure it is that key.
    assert _core.public_key_from_seed(sample.log_seed) == sample.log_id
