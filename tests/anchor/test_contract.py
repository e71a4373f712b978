"""The Vyper anchor contract on the embedded chain: event, views, every refusal, gas."""

from __future__ import annotations

from pathlib import Path

import pytest
from hashcore.anchor import ANCHORED_TOPIC, EvmChain, compiled
from hashcore.anchor.contract import (
    REVERT_NOT_FIRST_SENDER,
    REVERT_NOT_LARGER,
    decode_anchored_log,
    encode_anchor_call,
    source,
)
from hashcore.errors import InvalidInputError

from .conftest import REPO, anchor_gas, embedded_account

LOG_A = b"\xaa" * 32
LOG_B = b"\xbb" * 32
LOG_C = b"\xcc" * 32
ROOT_1 = b"\x01" * 32
ROOT_2 = b"\x02" * 32


@pytest.fixture(scope="module")
def contract(embedded: EvmChain) -> str:
    return embedded.deploy_anchor_contract()


@pytest.fixture(scope="module")
def other(embedded: EvmChain) -> EvmChain:
    """The same chain, sending from eth-tester's funded account 1."""
    return embedded.with_account(embedded_account(1))


def send(chain: EvmChain, contract: str, log_id: bytes, size: int, root: bytes):  # type: ignore[no-untyped-def]
    signed = chain.send_anchor(
        contract, log_id, size, root, nonce=chain.nonce("pending"), fees=chain.fees()
    )
    receipt = chain.receipt(signed.tx_hash)
    assert receipt is not None  # the embedded chain mines at once
    return receipt


def test_source_ships_in_package_and_repo_symlink() -> None:
    text = source()
    assert "event Anchored:" in text
    link = REPO / "contracts" / "Anchor.vy"
    assert link.is_symlink()
    assert link.read_text() == text
    assert Path(link.resolve()) == REPO / "python" / "hashcore" / "anchor" / "Anchor.vy"


def test_compiled_once_per_process() -> None:
    first = compiled()
    assert compiled() is first
    assert first.vyper_version == "0.4.3"
    names = sorted(e["name"] for e in first.abi)
    assert names == ["Anchored", "anchor", "firstSender", "latestTreeSize"]


def test_anchored_topic_matches_spec() -> None:
    # docs/protocol.md ("The anchor event"): keccak256("Anchored(bytes32,uint64,bytes32)")
    assert ANCHORED_TOPIC.hex() == (
        "bea4d11b910aad40d2df2a90d97a3329219b6389f85777c99daad7eb5fafd439"
    )
    event = next(e for e in compiled().abi if e.get("name") == "Anchored")
    assert [(i["name"], i["type"], i["indexed"]) for i in event["inputs"]] == [
        ("logId", "bytes32", True),
        ("treeSize", "uint64", True),
        ("root", "bytes32", False),
    ]


def test_deployed_code_is_the_compiled_runtime(embedded: EvmChain, contract: str) -> None:
    assert embedded.code_at(contract) == compiled().runtime_bytecode


def test_first_anchor_emits_event_and_records_sender(embedded: EvmChain, contract: str) -> None:
    assert embedded.anchor_state(contract, LOG_A) == (None, 0)
    r = send(embedded, contract, LOG_A, 5, ROOT_1)
    assert r.status == 1
    assert len(r.events) == 1
    e = r.events[0]
    assert (e.contract, e.log_id, e.tree_size, e.root) == (contract, LOG_A, 5, ROOT_1)
    assert (e.tx_hash, e.block_number, e.log_index) == (r.tx_hash, r.block_number, 0)
    assert embedded.anchor_state(contract, LOG_A) == (embedded.address, 5)
    # The raw log, as an auditor's eth_getLogs sees it (SPEC 2.5; docs/protocol.md).
    raw = embedded.w3.eth.get_transaction_receipt(r.tx_hash)["logs"][0]
    assert [bytes(t) for t in raw["topics"]] == [ANCHORED_TOPIC, LOG_A, (5).to_bytes(32, "big")]
    assert bytes(raw["data"]) == ROOT_1
    [found] = embedded.anchored_events(contract, LOG_A)
    assert found == e


def test_same_sender_larger_size_is_accepted(embedded: EvmChain, contract: str) -> None:
    r = send(embedded, contract, LOG_A, 9, ROOT_2)
    assert r.status == 1
    assert [(e.tree_size, e.root) for e in r.events] == [(9, ROOT_2)]
    assert embedded.anchor_state(contract, LOG_A) == (embedded.address, 9)
    assert [e.tree_size for e in embedded.anchored_events(contract, LOG_A)] == [5, 9]
    assert [e.tree_size for e in embedded.anchored_events(contract, LOG_A, tree_size=9)] == [9]


@pytest.mark.parametrize(
    ("who", "size", "reason"),
    [
        ("self", 9, REVERT_NOT_LARGER),  # the same size again
        ("self", 4, REVERT_NOT_LARGER),  # a smaller size
        ("self", 0, REVERT_NOT_LARGER),
        ("other", 10, REVERT_NOT_FIRST_SENDER),  # another sender, even with a larger size
        ("other", 9, REVERT_NOT_FIRST_SENDER),
    ],
)
def test_refusals(
    embedded: EvmChain, other: EvmChain, contract: str, who: str, size: int, reason: str
) -> None:
    chain = embedded if who == "self" else other
    assert embedded.anchor_state(contract, LOG_A) == (embedded.address, 9)
    assert chain.simulate_anchor(contract, LOG_A, size, ROOT_1) == reason
    # Sent anyway: mined, reverted, no event, nothing changed.
    r = send(chain, contract, LOG_A, size, ROOT_1)
    assert (r.status, r.events) == (0, ())
    assert embedded.anchor_state(contract, LOG_A) == (embedded.address, 9)
    assert [e.tree_size for e in embedded.anchored_events(contract, LOG_A)] == [5, 9]


def test_revert_reasons_are_the_contract_strings() -> None:
    text = source()
    assert f'"{REVERT_NOT_FIRST_SENDER}"' in text
    assert f'"{REVERT_NOT_LARGER}"' in text


def test_another_sender_owns_a_fresh_log_id(
    embedded: EvmChain, other: EvmChain, contract: str
) -> None:
    r = send(other, contract, LOG_B, 1, ROOT_1)
    assert r.status == 1
    assert embedded.anchor_state(contract, LOG_B) == (other.address, 1)
    assert embedded.simulate_anchor(contract, LOG_B, 2, ROOT_1) == REVERT_NOT_FIRST_SENDER


def test_size_zero_first_then_refused_and_uint64_max(embedded: EvmChain, contract: str) -> None:
    assert send(embedded, contract, LOG_C, 0, ROOT_1).status == 1
    assert embedded.anchor_state(contract, LOG_C) == (embedded.address, 0)
    assert embedded.simulate_anchor(contract, LOG_C, 0, ROOT_1) == REVERT_NOT_LARGER
    r = send(embedded, contract, LOG_C, 2**64 - 1, ROOT_2)
    assert [e.tree_size for e in r.events] == [2**64 - 1]
    assert embedded.simulate_anchor(contract, LOG_C, 2**64 - 1, ROOT_1) == REVERT_NOT_LARGER


def test_call_data_is_checked() -> None:
    with pytest.raises(InvalidInputError, match="tree_size must be a uint64"):
        encode_anchor_call(LOG_A, 2**64, ROOT_1)
    with pytest.raises(InvalidInputError, match="root must be 32 bytes, got 31"):
        encode_anchor_call(LOG_A, 1, ROOT_1[:31])
    assert len(encode_anchor_call(LOG_A, 1, ROOT_1)) == 4 + 3 * 32


def test_malformed_logs_are_not_events() -> None:
    good = {
        "address": "0x" + "11" * 20,
        "topics": [ANCHORED_TOPIC, LOG_A, (7).to_bytes(32, "big")],
        "data": ROOT_1,
        "transactionHash": b"\x05" * 32,
        "blockNumber": 3,
        "blockHash": b"\x06" * 32,
        "logIndex": 0,
    }
    assert decode_anchored_log(good) is not None
    assert decode_anchored_log({**good, "topics": [b"\x00" * 32, LOG_A, b"\x00" * 32]}) is None
    assert decode_anchored_log({**good, "data": ROOT_1 + b"\x00"}) is None
    too_big = (2**64).to_bytes(32, "big")
    assert decode_anchored_log({**good, "topics": [ANCHORED_TOPIC, LOG_A, too_big]}) is None
    assert decode_anchored_log({**good, "topics": [ANCHORED_TOPIC, LOG_A]}) is None


def test_gas_per_anchor(embedded: EvmChain, contract: str) -> None:
    """Gas does not grow with the log: whatever the tree size, an anchor writes the same
    storage; only the call data's zero and non-zero bytes differ.

    The first anchor of a logId pays for two fresh slots; later ones overwrite one."""
    log = b"\xdd" * 32
    first = send(embedded, contract, log, 6, ROOT_1).gas_used
    small = send(embedded, contract, log, 10**3, ROOT_1).gas_used
    huge = send(embedded, contract, log, 2**64 - 1, ROOT_1).gas_used
    assert first == 68_618 == anchor_gas(log, 6, ROOT_1, first=True)
    assert small == 31_569 == anchor_gas(log, 10**3, ROOT_1, first=False)
    # 1000 has 2 non-zero bytes, 2**64-1 has 8: 6 x (16 - 4) gas more of call data.
    assert huge == small + 72 == anchor_gas(log, 2**64 - 1, ROOT_1, first=False)
