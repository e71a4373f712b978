"""SPEC v2 2.5 / 5.2 / 5.4 with ``evm``: the v2 audit reads the policy's anchorer's Anchored
events from a real anvil node with the real anchor contract, and the engine turns them into
anchor codes, NOT_ANCHORED / UNCONFIRMED checkpoints and INCOMPLETE.

The bundle is chain.json's ``clean`` case (checkpoints at 5, 10, 15 and 18 under its
policy), written as a Parquet bundle directory; its log key is the logId anchored."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import hashcore
import pytest
from eth_account import Account
from hashcore.anchor import EvmChain
from hashcore.anchor.chain_types import Receipt
from hashcore.audit import AuditReportV2
from hashcore.cli import main
from hashcore.errors import AnchorError, InvalidInputError
from v2.chain_bundles import chain_bundles, write_chain_bundle

from .conftest import ANVIL_CHAIN_ID, ANVIL_KEY_0, ANVIL_KEY_1

CLEAN = next(c for c in chain_bundles() if c["case"] == "clean")
LOG_KEY = bytes.fromhex(CLEAN["manifest"]["log_key"])
ROOTS = {c["tree_size"]: bytes.fromhex(c["root"]) for c in CLEAN["checkpoints"]}
WRONG = b"\x5a" * 32


class Node:
    """anvil with the anchor contract deployed by the anchorer (account 0)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.anchorer = EvmChain.connect(url).with_account(Account.from_key(ANVIL_KEY_0))
        self.squatter = self.anchorer.with_account(Account.from_key(ANVIL_KEY_1))
        self.contract = self.anchorer.deploy_anchor_contract()

    def anchor(self, tree_size: int, root: bytes, *, by: EvmChain | None = None) -> Receipt:
        chain = by or self.anchorer
        signed = chain.send_anchor(
            self.contract, LOG_KEY, tree_size, root, nonce=chain.nonce(), fees=chain.fees()
        )
        deadline = time.monotonic() + 10
        while (receipt := chain.receipt(signed.tx_hash)) is None:
            assert time.monotonic() < deadline, "not mined in 10 s"
            time.sleep(0.01)
        return receipt

    def head(self) -> int:
        return self.anchorer.block_number()


@pytest.fixture
def node(anvil: str) -> Node:
    return Node(anvil)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path, _ = write_chain_bundle(CLEAN, tmp_path_factory.mktemp("clean"))
    return path


def policy_file(
    tmp_path: Path, node: Node, *, confirmations: int = 1, from_block: int = 0, **evm: Any
) -> Path:
    policy = dict(CLEAN["policy"])
    policy["evm"] = {
        "chain_id": ANVIL_CHAIN_ID,
        "contract": node.contract,
        "from_block": from_block,
        "anchorer": node.anchorer.address,
        "confirmations": confirmations,
        **evm,
    }
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy))
    return path


def audit(bundle: Path, policy: Path, node: Node, **kwargs: Any) -> AuditReportV2:
    report = hashcore.audit_bundle(bundle, policy=policy, evm_url=node.url, **kwargs)
    assert isinstance(report, AuditReportV2)
    return report


def codes(report: AuditReportV2) -> tuple[list[tuple[int, str]], list[str]]:
    """(anchors as (tree_size, code), checkpoint codes in row order 5, 10, 15, 18)."""
    return [(a.tree_size, a.code) for a in report.anchors], [c.code for c in report.checkpoints]


def test_the_bundle_is_clean_without_evm(bundle: Path) -> None:
    report = hashcore.audit_bundle(bundle, policy=json_policy(None))
    assert isinstance(report, AuditReportV2)
    assert report.clean and not report.anchors_checked and report.anchors == []
    assert [c.tree_size for c in report.checkpoints] == [5, 10, 15, 18]


def json_policy(evm: Any) -> hashcore.policy.Policy:
    from hashcore.policy import parse_policy

    return parse_policy(json.dumps({**CLEAN["policy"], "evm": evm}))


def test_anchored_bundle_is_clean(bundle: Path, node: Node, tmp_path: Path) -> None:
    node.anchor(5, ROOTS[5])
    node.anchor(18, ROOTS[18])
    report = audit(bundle, policy_file(tmp_path, node), node)
    assert codes(report) == ([(5, "ANCHOR_OK"), (18, "ANCHOR_OK")], ["OK"] * 4)
    assert report.anchors_checked and report.clean and not report.incomplete
    assert report.head_block == node.head()
    out = report.to_json()
    assert out["anchors"] == [
        {"tree_size": 5, "code": "ANCHOR_OK"},
        {"tree_size": 18, "code": "ANCHOR_OK"},
    ]
    assert out["anchors_checked"] is True and out["clean"] is True


def test_a_later_anchor_vouches_for_earlier_checkpoints_only(
    bundle: Path, node: Node, tmp_path: Path
) -> None:
    node.anchor(10, ROOTS[10])
    report = audit(bundle, policy_file(tmp_path, node), node)
    assert codes(report) == (
        [(10, "ANCHOR_OK")],
        ["OK", "OK", "NOT_ANCHORED", "NOT_ANCHORED"],
    )
    assert not report.clean


def test_no_anchor_at_all_is_not_anchored(bundle: Path, node: Node, tmp_path: Path) -> None:
    report = audit(bundle, policy_file(tmp_path, node), node)
    assert codes(report) == ([], ["NOT_ANCHORED"] * 4)
    assert report.anchors_checked and not report.clean


def test_squatters_anchors_are_ignored(bundle: Path, node: Node, tmp_path: Path) -> None:
    """The squatter anchors the logId first (with the right root, then a wrong one); the
    contract then refuses the anchorer (SPEC 2.5: only the first sender anchors a logId
    again), and the auditor, reading only the anchorer's anchors, finds none."""
    assert node.anchor(15, ROOTS[15], by=node.squatter).status == 1
    assert node.anchor(18, WRONG, by=node.squatter).status == 1
    refused = node.anchor(25, ROOTS[18])
    assert refused.status == 0 and refused.events == ()
    report = audit(bundle, policy_file(tmp_path, node), node)
    assert codes(report) == ([], ["NOT_ANCHORED"] * 4)
    assert not report.clean and not report.incomplete


def test_a_squatter_cannot_make_a_clean_bundle_by_anchoring_it(
    bundle: Path, node: Node, tmp_path: Path
) -> None:
    """The same chain, audited under a policy naming the squatter: its anchors count, so
    the anchorer named in the policy is what decides (here: contradicted at 18)."""
    node.anchor(15, ROOTS[15], by=node.squatter)
    node.anchor(18, WRONG, by=node.squatter)
    path = policy_file(tmp_path, node, anchorer=node.squatter.address)
    report = audit(bundle, path, node)
    assert codes(report) == (
        [(15, "ANCHOR_OK"), (18, "ANCHOR_CONTRADICTED")],
        ["OK", "OK", "OK", "NOT_ANCHORED"],
    )
    assert not report.clean


def test_contradicted_root(bundle: Path, node: Node, tmp_path: Path) -> None:
    node.anchor(10, WRONG)
    node.anchor(18, ROOTS[18])
    report = audit(bundle, policy_file(tmp_path, node), node)
    # 18's anchor vouches for every checkpoint; the anchor of 10 shows another history.
    assert codes(report) == ([(10, "ANCHOR_CONTRADICTED"), (18, "ANCHOR_OK")], ["OK"] * 4)
    assert not report.clean and not report.incomplete
    assert report.failures == [] and report.missing_log_positions == []


def test_unconfirmed_until_buried(bundle: Path, node: Node, tmp_path: Path) -> None:
    node.anchor(18, ROOTS[18])
    path = policy_file(tmp_path, node, confirmations=3)
    report = audit(bundle, path, node)
    assert codes(report) == ([(18, "ANCHOR_UNCONFIRMED")], ["UNCONFIRMED"] * 4)
    assert report.anchors[0].confirmations == 1 and not report.clean
    node.anchorer.mine(1)
    report = audit(bundle, path, node)
    assert codes(report) == ([(18, "ANCHOR_UNCONFIRMED")], ["UNCONFIRMED"] * 4)
    node.anchorer.mine(1)
    report = audit(bundle, path, node)
    assert codes(report) == ([(18, "ANCHOR_OK")], ["OK"] * 4)
    assert report.anchors[0].confirmations == 3 and report.clean


def test_final_anchor_beyond_the_bundle_is_incomplete(
    bundle: Path, node: Node, tmp_path: Path
) -> None:
    node.anchor(18, ROOTS[18])
    node.anchor(25, WRONG)  # the relay anchored a larger log than it exported
    path = policy_file(tmp_path, node)
    report = audit(bundle, path, node)
    assert codes(report) == ([(18, "ANCHOR_OK"), (25, "ANCHOR_BEYOND_BUNDLE")], ["OK"] * 4)
    assert report.incomplete and not report.clean
    # --as-of: an older export meant to cover 18 is clean; one meant to cover 19 is not.
    older = audit(bundle, path, node, as_of=18)
    assert codes(older)[0] == [(18, "ANCHOR_OK"), (25, "ANCHOR_BEYOND_BUNDLE")]
    assert older.clean and not older.incomplete and older.as_of_covered
    assert not audit(bundle, path, node, as_of=19).clean


def test_unconfirmed_anchor_beyond_the_bundle_is_not_incomplete(
    bundle: Path, node: Node, tmp_path: Path
) -> None:
    node.anchor(18, ROOTS[18])
    node.anchorer.mine(2)
    node.anchor(25, WRONG)
    report = audit(bundle, policy_file(tmp_path, node, confirmations=3), node)
    assert codes(report) == ([(18, "ANCHOR_OK"), (25, "ANCHOR_UNCONFIRMED")], ["OK"] * 4)
    assert report.clean and not report.incomplete


def test_anchors_before_from_block_are_not_read(bundle: Path, node: Node, tmp_path: Path) -> None:
    node.anchor(10, ROOTS[10])
    start = node.head() + 1
    node.anchor(18, ROOTS[18])
    report = audit(bundle, policy_file(tmp_path, node, from_block=start), node)
    assert codes(report) == ([(18, "ANCHOR_OK")], ["OK"] * 4)
    report = audit(bundle, policy_file(tmp_path, node, from_block=node.head() + 1), node)
    assert codes(report) == ([], ["NOT_ANCHORED"] * 4)


def test_policy_with_evm_needs_a_node(bundle: Path, node: Node, tmp_path: Path) -> None:
    path = policy_file(tmp_path, node)
    with pytest.raises(InvalidInputError, match=r"give a node of that chain \(--evm-url URL"):
        hashcore.audit_bundle(bundle, policy=path)
    assert main(["audit", str(bundle), "--policy", str(path)]) == 2
    with pytest.raises(InvalidInputError, match="but the policy has no evm"):
        hashcore.audit_bundle(bundle, policy=json_policy(None), evm_url=node.url)
    with pytest.raises(InvalidInputError, match="but there is no policy"):
        hashcore.audit_bundle(bundle, evm_url=node.url)


def test_wrong_chain_or_contract_is_refused(bundle: Path, node: Node, tmp_path: Path) -> None:
    with pytest.raises(AnchorError, match="serves chain id 31337, the policy's anchors are on"):
        audit(bundle, policy_file(tmp_path, node, chain_id=1), node)
    nothing = "0x" + "11" * 20
    with pytest.raises(AnchorError, match=f"no contract at the policy's address 0x{'11' * 20}"):
        audit(bundle, policy_file(tmp_path, node, contract=nothing), node)


def test_cli_reads_anchors(
    bundle: Path, node: Node, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node.anchor(18, ROOTS[18])
    node.anchor(25, WRONG)
    path = policy_file(tmp_path, node)
    out = tmp_path / "report.json"
    args = ["audit", str(bundle), "--policy", str(path), "--evm-url", node.url]
    assert main([*args, "--json", str(out)]) == 1
    report = json.loads(out.read_text())
    assert report["anchors"] == [
        {"tree_size": 18, "code": "ANCHOR_OK"},
        {"tree_size": 25, "code": "ANCHOR_BEYOND_BUNDLE"},
    ]
    assert report["anchors_checked"] is True and report["clean"] is False
    assert "ANCHOR_BEYOND_BUNDLE tree_size 25" in capsys.readouterr().out
    html = tmp_path / "report.html"
    assert main([*args, "--as-of", "18", "--html", str(html)]) == 0
    page = html.read_text()
    assert page.count('<span class="pill ok">ANCHOR_OK</span>') == 1  # one row per anchor
    assert page.count('<span class="pill warn">ANCHOR_BEYOND_BUNDLE</span>') == 1
    assert main(["audit", str(bundle), "--policy", str(path)]) == 2
    assert "--evm-url URL" in capsys.readouterr().err
