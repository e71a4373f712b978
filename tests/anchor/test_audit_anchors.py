"""The auditor's anchor check: each checkpoint's Anchored event on chain, as
OK / UNCONFIRMED / NOT_ANCHORED, with a reason naming the checkpoint and the cause."""

from __future__ import annotations

import http.server
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hashcore import Checkpoint, read_bundle, write_bundle
from hashcore.anchor import (
    ChainUnreachableError,
    EvmChain,
    anchor_states,
    audit_bundle_with_evm,
    check_anchors,
)
from hashcore.anchor.chain_types import Receipt
from hashcore.bundle import Bundle
from hashcore.sim.sample_v1 import make_sample_v1 as make_sample

from .conftest import free_port

CONFIRMATIONS = 3


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """A valid bundle without anchors: 10 records, checkpoints at 3, 6, 9 and 10."""
    path = tmp_path_factory.mktemp("plain") / "bundle"
    make_sample(path, devices=2, records=5, seed=7, checkpoint_every=3)
    bundle = read_bundle(path)
    assert bundle.checkpoints.column("tree_size").to_pylist() == [3, 6, 9, 10]
    return bundle


@pytest.fixture
def chain() -> EvmChain:
    """A fresh embedded chain per test, so block numbers and confirmations are exact."""
    return EvmChain.embedded(block_time_s=None)


@pytest.fixture
def contract(chain: EvmChain) -> str:
    return chain.deploy_anchor_contract()


def cps(bundle: Bundle) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = bundle.checkpoints.to_pylist()
    return rows


def anchor(chain: EvmChain, contract: str, log_id: bytes, tree_size: int, root: bytes) -> Receipt:
    signed = chain.send_anchor(
        contract, log_id, tree_size, root, nonce=chain.nonce(), fees=chain.fees()
    )
    deadline = time.monotonic() + 10
    while (receipt := chain.receipt(signed.tx_hash)) is None:
        assert time.monotonic() < deadline, "not mined in 10 s"
        time.sleep(0.01)  # anvil mines at once, but may answer a moment later
    assert receipt.status == 1
    return receipt


def write(
    path: Path,
    plain: Bundle,
    evm: dict[str, Any] | None,
    hints: dict[int, Receipt] | None = None,
    fake_hints: dict[int, tuple[bytes, int]] | None = None,
) -> Path:
    rows = []
    for cp in cps(plain):
        r = (hints or {}).get(cp["tree_size"])
        tx, block = (r.tx_hash, r.block_number) if r else (None, None)
        tx, block = (fake_hints or {}).get(cp["tree_size"], (tx, block))
        rows.append(Checkpoint(cp["tree_size"], cp["root"], cp["signature"], tx, block))
    return write_bundle(path, plain.records, rows, log_id=plain.log_id, evm=evm)


def anchor_first_three(chain: EvmChain, contract: str, plain: Bundle) -> dict[int, Receipt]:
    out = {}
    for cp in cps(plain)[:3]:
        out[cp["tree_size"]] = anchor(chain, contract, plain.log_id, cp["tree_size"], cp["root"])
    return out


def evm_of(chain: EvmChain, contract: str, **over: Any) -> dict[str, Any]:
    return {
        "chain_id": chain.chain_id(),
        "contract": contract,
        "confirmations": CONFIRMATIONS,
        **over,
    }


def h(b: bytes) -> str:
    return "0x" + b.hex()


def test_final_pending_and_missing(
    chain: EvmChain, contract: str, plain: Bundle, tmp_path: Path
) -> None:
    receipts = anchor_first_three(chain, contract, plain)
    chain.mine(1)
    head = chain.block_number()
    assert [receipts[n].block_number for n in (3, 6, 9)] == [head - 3, head - 2, head - 1]
    path = write(tmp_path / "b", plain, evm_of(chain, contract), receipts)
    audit = audit_bundle_with_evm(path, chain)
    report = audit.report
    assert [c.code for c in report.checkpoints] == ["OK", "OK", "UNCONFIRMED", "NOT_ANCHORED"]
    assert [c.state for c in audit.anchors] == ["final", "final", "pending", "missing"]
    assert report.anchors_checked is True
    assert report.counts["OK"] == 10 and not report.failures
    assert report.clean is False  # an unconfirmed and an unanchored checkpoint
    r3, r6, r9 = receipts[3], receipts[6], receipts[9]
    assert [c.reason for c in audit.anchors] == [
        f"anchored in tx {h(r3.tx_hash)} in block {r3.block_number}, 4 confirmations (>= 3)",
        f"anchored in tx {h(r6.tx_hash)} in block {r6.block_number}, 3 confirmations (>= 3)",
        f"anchored in tx {h(r9.tx_hash)} in block {r9.block_number}, 2 confirmations of 3 needed",
        f"no Anchored event of tree_size 10 for this log_id from {contract} on chain id "
        f"{chain.chain_id()}",
    ]
    assert audit.reasons() == {2: audit.anchors[2].reason, 3: audit.anchors[3].reason}
    assert [(c.tx_hash, c.block_number, c.confirmations) for c in audit.anchors[:3]] == [
        (r3.tx_hash, r3.block_number, 4),
        (r6.tx_hash, r6.block_number, 3),
        (r9.tx_hash, r9.block_number, 2),
    ]
    assert (audit.evm_chain_id, audit.contract, audit.head_block) == (
        chain.chain_id(),
        contract,
        head,
    )
    assert audit.first_sender == chain.address
    assert audit.notes == [
        "the log identity was taken from the bundle (SPEC 2.2)",
        f"log_id {plain.log_id.hex()} was first anchored by {chain.address}",
    ]
    js = audit.to_json()
    assert js["evm"]["anchors"][2]["verdict"] == "UNCONFIRMED"
    assert js["checkpoints"][3]["code"] == "NOT_ANCHORED"
    # One more block: the third is final too. A lower bar from the auditor: same.
    chain.mine(1)
    assert [c.code for c in audit_bundle_with_evm(path, chain).report.checkpoints] == [
        "OK",
        "OK",
        "OK",
        "NOT_ANCHORED",
    ]
    again = audit_bundle_with_evm(path, chain, confirmations=100)
    assert [c.state for c in again.anchors] == ["pending", "pending", "pending", "missing"]


def test_every_checkpoint_final_is_clean(
    chain: EvmChain, contract: str, plain: Bundle, tmp_path: Path
) -> None:
    receipts = {
        cp["tree_size"]: anchor(chain, contract, plain.log_id, cp["tree_size"], cp["root"])
        for cp in cps(plain)
    }
    chain.mine(CONFIRMATIONS - 1)
    path = write(tmp_path / "b", plain, evm_of(chain, contract), receipts)
    audit = audit_bundle_with_evm(path, chain, log_id=plain.log_id)
    assert [c.code for c in audit.report.checkpoints] == ["OK"] * 4
    assert audit.report.clean is True
    assert audit.report.log_id_source == "trusted"
    assert audit.notes == [f"log_id {plain.log_id.hex()} was first anchored by {chain.address}"]
    # The same events, looked up one block at a time (a provider's range limit).
    assert (
        anchor_states(plain.checkpoints, plain.log_id, chain, contract, CONFIRMATIONS, max_range=1)
        == ["final"] * 4
    )


def test_wrong_contract_address_without_code(
    chain: EvmChain, contract: str, plain: Bundle, tmp_path: Path
) -> None:
    receipts = anchor_first_three(chain, contract, plain)
    nowhere = "0x" + "00" * 19 + "42"
    path = write(tmp_path / "b", plain, evm_of(chain, nowhere), receipts)
    audit = audit_bundle_with_evm(path, chain)
    assert [c.code for c in audit.report.checkpoints] == ["NOT_ANCHORED"] * 4
    reason = (
        f"no contract at 0x0000000000000000000000000000000000000042 on chain id {chain.chain_id()}"
    )
    assert [c.reason for c in audit.anchors] == [reason] * 4
    assert audit.first_sender is None


def test_wrong_contract_address_of_another_anchor_contract(
    chain: EvmChain, contract: str, plain: Bundle, tmp_path: Path
) -> None:
    receipts = anchor_first_three(chain, contract, plain)
    decoy = chain.deploy_anchor_contract()
    path = write(tmp_path / "b", plain, evm_of(chain, decoy), receipts)
    audit = audit_bundle_with_evm(path, chain)
    assert [c.code for c in audit.report.checkpoints] == ["NOT_ANCHORED"] * 4
    cid = chain.chain_id()
    r3 = receipts[3]
    assert audit.anchors[0].reason == (
        f"no Anchored event of tree_size 3 for this log_id from {decoy} on chain id {cid}; "
        f"the bundle's tx {h(r3.tx_hash)} (block {r3.block_number}) emitted Anchored from "
        f"{contract}, not from {decoy}"
    )
    assert audit.anchors[3].reason == (
        f"no Anchored event of tree_size 10 for this log_id from {decoy} on chain id {cid}"
    )


def test_wrong_chain_id(chain: EvmChain, contract: str, plain: Bundle, tmp_path: Path) -> None:
    receipts = anchor_first_three(chain, contract, plain)
    chain.mine(5)
    path = write(tmp_path / "b", plain, evm_of(chain, contract, chain_id=1), receipts)
    audit = audit_bundle_with_evm(path, chain)
    assert [c.code for c in audit.report.checkpoints] == ["NOT_ANCHORED"] * 4
    assert {c.reason for c in audit.anchors} == {
        f"the EVM node serves chain id {chain.chain_id()}, but the anchors should be on "
        "chain id 1: its events are no evidence"
    }
    assert audit.first_sender is None


def test_anchored_root_differs(
    chain: EvmChain, contract: str, plain: Bundle, tmp_path: Path
) -> None:
    """The relay signed one root and anchored another for tree_size 10."""
    receipts = anchor_first_three(chain, contract, plain)
    wrong = b"\xee" * 32
    r10 = anchor(chain, contract, plain.log_id, 10, wrong)
    chain.mine(5)
    path = write(tmp_path / "b", plain, evm_of(chain, contract), {**receipts, 10: r10})
    audit = audit_bundle_with_evm(path, chain)
    assert [c.code for c in audit.report.checkpoints] == ["OK", "OK", "OK", "NOT_ANCHORED"]
    real = cps(plain)[3]["root"]
    assert audit.anchors[3].reason == (
        f"the Anchored event of tree_size 10 (tx {h(r10.tx_hash)} in block "
        f"{r10.block_number}) has root {'ee' * 32}, not the checkpoint's root {real.hex()}"
    )


def test_bundle_names_a_transaction_that_is_not_there(
    chain: EvmChain, contract: str, plain: Bundle, tmp_path: Path
) -> None:
    receipts = anchor_first_three(chain, contract, plain)
    chain.mine(5)
    fake = b"\x99" * 32
    path = write(tmp_path / "b", plain, evm_of(chain, contract), receipts, {10: (fake, 3)})
    audit = audit_bundle_with_evm(path, chain)
    assert audit.anchors[3].reason == (
        f"no Anchored event of tree_size 10 for this log_id from {contract} on chain id "
        f"{chain.chain_id()}; the bundle's tx {h(fake)} is not on this chain"
    )
    # A hint naming another transaction than the event's is noted, not a failure.
    path2 = write(tmp_path / "b2", plain, evm_of(chain, contract), receipts, {3: (fake, 3)})
    audit2 = audit_bundle_with_evm(path2, chain)
    assert audit2.anchors[0].state == "final"
    assert audit2.anchors[0].reason.endswith(f"; the bundle names tx {h(fake)} instead")


def test_manifest_without_evm_is_not_checked(
    chain: EvmChain, plain: Bundle, tmp_path: Path
) -> None:
    path = write(tmp_path / "b", plain, None)
    audit = audit_bundle_with_evm(path, chain)
    assert audit.anchors == []
    assert audit.report.anchors_checked is False
    assert [c.code for c in audit.report.checkpoints] == ["OK"] * 4
    assert audit.report.clean is True
    assert "the manifest's evm is null: anchors were not checked on chain" in audit.notes


def test_anchor_states_of_checkpoint_objects(chain: EvmChain, contract: str, plain: Bundle) -> None:
    anchor_first_three(chain, contract, plain)
    objects = [Checkpoint(c["tree_size"], c["root"], c["signature"]) for c in cps(plain)]
    states = anchor_states(objects, plain.log_id, chain, contract, 1)
    assert states == ["final", "final", "final", "missing"]
    # Another log_id has no anchors at all.
    other = check_anchors(objects, b"\x01" * 32, chain, contract, 1)
    assert [c.state for c in other] == ["missing"] * 4


def test_unreachable_node(plain: Bundle, tmp_path: Path) -> None:
    path = write(
        tmp_path / "b", plain, {"chain_id": 1, "contract": "0x" + "11" * 20, "confirmations": 1}
    )
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(
        ChainUnreachableError, match=r"EVM chain at http://127\.0\.0\.1:\d+ unreachable"
    ):
        audit_bundle_with_evm(path, url)


# --------------------------------------------------------------------------- a lying RPC


class _LyingProxy(http.server.BaseHTTPRequestHandler):
    """Forwards JSON-RPC to a real node, but rewrites the root of one tree size's
    Anchored events in eth_getLogs answers."""

    upstream = ""
    lie_about = b""  # the treeSize topic whose root it changes

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = json.loads(body)
        forward = urllib.request.Request(
            self.upstream, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(forward, timeout=10) as r:
            answer = json.loads(r.read())
        if request.get("method") == "eth_getLogs":
            for log in answer.get("result") or []:
                if log["topics"][2] == "0x" + self.lie_about.hex():
                    log["data"] = "0x" + "ab" * 32
        out = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def lying_rpc(anvil: str) -> Iterator[str]:
    handler = type(
        "Lying", (_LyingProxy,), {"upstream": anvil, "lie_about": (6).to_bytes(32, "big")}
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_rpc_that_lies_about_a_root(
    anvil: str, key_file: Path, lying_rpc: str, plain: Bundle, tmp_path: Path
) -> None:
    honest = EvmChain.connect(anvil, key_file)
    contract = honest.deploy_anchor_contract()
    receipts = {
        cp["tree_size"]: anchor(honest, contract, plain.log_id, cp["tree_size"], cp["root"])
        for cp in cps(plain)
    }
    honest.mine(CONFIRMATIONS)
    path = write(tmp_path / "b", plain, evm_of(honest, contract), receipts)
    assert audit_bundle_with_evm(path, anvil).report.clean is True
    audit = audit_bundle_with_evm(path, lying_rpc)
    assert [c.code for c in audit.report.checkpoints] == ["OK", "NOT_ANCHORED", "OK", "OK"]
    r6 = receipts[6]
    root6 = cps(plain)[1]["root"]
    assert audit.anchors[1].reason == (
        f"the Anchored event of tree_size 6 (tx {h(r6.tx_hash)} in block {r6.block_number}) "
        f"has root {'ab' * 32}, not the checkpoint's root {root6.hex()}"
    )
    assert audit.report.clean is False
