"""The fraud simulation's EVM attacks on a real anvil node (hashcore.sim.fraud.onchain):
each writes its anchors on its own contract, its policy names that chain, and its audit
(the anchors read from the node as an auditor reads them, SPEC 2.5) is exactly what was
derived from the attack. Numbers worked out by hand from the sample's layout."""

from __future__ import annotations

import json
from pathlib import Path

import hashcore
import pytest
from hashcore.anchor.chain import EvmChain
from hashcore.anchor.embedded import EmbeddedAnvil
from hashcore.anchor.policy_anchors import read_policy_anchors
from hashcore.audit import AuditReportV2
from hashcore.errors import InvalidInputError
from hashcore.policy import load_policy
from hashcore.sim.fraud import compare, simulate_fraud
from hashcore.sim.fraud.model import Anchor
from hashcore.sim.fraud.onchain import AnchorReplay
from hashcore.sim.sample import SampleInfo, make_sample

DEVICES, RECORDS, EVERY = 6, 10, 20
TOTAL = DEVICES * RECORDS  # 60: checkpoints at 20, 40 and 60
SIZES = [20, 40, 60]
NEEDS_EVM = [
    "export-cut-before-final-anchor",
    "relay-identity-squatted",
    "log-resigned-against-its-anchors",
]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleInfo:
    root = tmp_path_factory.mktemp("fraud-onchain")
    return make_sample(
        root / "clean",
        devices=DEVICES,
        records=RECORDS,
        seed=4,
        checkpoint_every=EVERY,
        witnesses=3,
        evidence_dir=root / "evidence",
        policy_path=root / "policy.json",
        keys_path=root / "keys.json",
    )


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedAnvil:
    anvil = EmbeddedAnvil.start(tmp_path_factory.mktemp("anvil") / "anvil-state.json")
    yield anvil  # type: ignore[misc]
    anvil.stop()


def test_evm_attacks_audit_exactly_as_derived(
    sample: SampleInfo, node: EmbeddedAnvil, tmp_path: Path
) -> None:
    results = simulate_fraud(
        sample.path,
        tmp_path / "out",
        policy=sample.policy_file,  # type: ignore[arg-type]
        receipts=[sample.receipts_file],  # type: ignore[list-item]
        notes=[sample.notes_file],  # type: ignore[list-item]
        keys=sample.keys_file,
        seed=5,
        attacks=NEEDS_EVM,
        evm_url=node.url,
    )
    reports = {}
    contracts = set()
    for r in results:
        assert r.skipped is None and r.evm_url == node.url and r.policy is not None, r.name
        evm = json.loads(r.policy.read_text())["evm"]
        assert evm["confirmations"] == 2 and evm["from_block"] > 0
        contracts.add(evm["contract"])
        report = hashcore.audit_bundle(
            r.path,  # type: ignore[arg-type]
            policy=r.policy,
            receipts=[r.receipts],  # type: ignore[list-item]
            notes=[r.notes],  # type: ignore[list-item]
            evm_url=node.url,
        )
        assert isinstance(report, AuditReportV2)
        assert compare(r.expected, report) == [], r.name  # type: ignore[arg-type]
        reports[r.name] = report
    assert len(contracts) == 3  # a contract each: one squatted leaves the others alone

    # The export cut back to 40 of 60; all three checkpoints anchored and final, so the
    # anchor of 60 lies beyond the bundle: INCOMPLETE, nothing else.
    cut = reports["export-cut-before-final-anchor"]
    assert [(a.tree_size, a.code) for a in cut.anchors] == [
        (20, "ANCHOR_OK"),
        (40, "ANCHOR_OK"),
        (60, "ANCHOR_BEYOND_BUNDLE"),
    ]
    assert cut.incomplete and cut.covered_size == 40 and not cut.clean
    assert [c.code for c in cut.checkpoints] == ["OK", "OK"] and cut.failures == []
    # Squatted: the squatter's anchors are on chain, but not by the policy's anchorer.
    squat = reports["relay-identity-squatted"]
    assert squat.anchors == [] and squat.anchors_checked
    assert [c.code for c in squat.checkpoints] == ["NOT_ANCHORED"] * len(SIZES)
    # Re-signed and cosigned by every witness, the evidence silent: only the anchor of 60
    # on chain, of the root the relay first signed, contradicts the log.
    resigned = reports["log-resigned-against-its-anchors"]
    assert [(a.tree_size, a.code) for a in resigned.anchors] == [
        (20, "ANCHOR_OK"),
        (40, "ANCHOR_OK"),
        (60, "ANCHOR_CONTRADICTED"),
    ]
    assert [c.code for c in resigned.checkpoints] == ["OK", "OK", "NOT_ANCHORED"]
    assert resigned.failures == [] and resigned.time_findings == []
    assert not resigned.incomplete and not resigned.clean
    assert {r.code for r in resigned.receipts} == {"RECEIPT_OK"}
    assert {n.code for n in resigned.evidence_notes} == {"OK"}
    squatted = next(r for r in results if r.name == "relay-identity-squatted")
    evm = load_policy(squatted.policy).evm  # type: ignore[arg-type]
    assert evm is not None
    reading = read_policy_anchors(EvmChain.connect(node.url), evm, sample.log_key)
    assert reading.anchors == () and len(reading.other_senders) == 1


def test_without_a_chain_they_are_skipped_with_the_reason(
    sample: SampleInfo, tmp_path: Path
) -> None:
    results = simulate_fraud(
        sample.path,
        tmp_path / "out",
        policy=sample.policy_file,  # type: ignore[arg-type]
        keys=sample.keys_file,
        attacks=NEEDS_EVM,
    )
    for r in results:
        assert r.path is None and r.evm_url is None and r.expected is not None
        assert r.skipped == "needs an EVM chain to write its anchors on (an anvil node: evm_url)"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_replay_refuses_anchors_it_cannot_keep_pending(node: EmbeddedAnvil) -> None:
    pending = Anchor(10, bytes(32), "original", by_anchorer=True, final=False)
    with pytest.raises(InvalidInputError, match="not final can't be replayed"):
        AnchorReplay(node.url).replay(bytes(32), [pending])
