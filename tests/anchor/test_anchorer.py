"""The anchorer against real chains: the embedded one, and anvil for everything a real
node does (confirmations, reorgs, stuck and dropped transactions, a node that stops)."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hashcore.anchor import AnchorConfigError, Anchorer, ChainUnreachableError, EvmChain
from hashcore.anchor.chain_access import read_key_file
from hashcore.errors import AnchorError
from hashcore.relay.store.base import Anchor

from .conftest import (
    ANVIL_CHAIN_ID,
    ANVIL_KEY_1,
    AnvilNode,
    MemoryStore,
    anchor_gas,
    embedded_account,
    free_port,
    relay_log_id,
    root_of,
)

LOG_ID = relay_log_id()


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def events(chain: EvmChain, contract: str) -> list[tuple[int, bytes]]:
    return [(e.tree_size, e.root) for e in chain.anchored_events(contract, LOG_ID)]


# =========================================================================== embedded


@pytest.fixture
def chain(embedded: EvmChain) -> EvmChain:
    """The module's embedded chain with a fresh sending account per test (eth-tester has
    ten funded accounts), and so a fresh first sender; one contract per test."""
    return embedded


@pytest.fixture
def fresh(embedded: EvmChain, request: pytest.FixtureRequest) -> tuple[EvmChain, str]:
    """A new contract per test on the module's embedded chain (deploying costs ~30 ms)."""
    return embedded, embedded.deploy_anchor_contract()


def test_anchors_only_the_newest_checkpoint_then_finality(
    fresh: tuple[EvmChain, str], store: MemoryStore
) -> None:
    chain, contract = fresh
    store.add(3, 7)
    a = Anchorer(store, chain, contract, confirmations=3)
    nonce = chain.nonce("latest")
    run(a.anchor_once())
    assert chain.nonce("latest") == nonce + 1  # exactly one transaction
    assert events(chain, contract) == [(7, root_of(7))]
    assert store.anchor(3) is None
    anchor = store.anchor(7)
    assert anchor is not None
    [event] = chain.anchored_events(contract, LOG_ID)
    assert (anchor.tx_hash, anchor.block_number) == (event.tx_hash, event.block_number)
    assert (anchor.evm_chain_id, anchor.contract, anchor.final) == (
        chain.chain_id(),
        contract,
        False,
    )
    # The first store write is the write-ahead one (no block yet), then the receipt's.
    assert [(ts, a_.block_number) for ts, a_ in store.set_anchor_calls] == [
        (7, None),
        (7, event.block_number),
    ]
    s = a.status
    assert (s.txs_sent, s.anchored_tree_size, s.final_tree_size, s.pending_tx) == (1, 7, None, None)
    assert s.last_gas_used == anchor_gas(LOG_ID, 7, root_of(7), first=True)
    assert s.reachable is True and s.consecutive_failures == 0 and s.healthy

    receipt = a.anchor_receipt(store.anchor(7))
    assert receipt is not None
    assert (receipt.confirmations, receipt.final, receipt.state) == (1, False, "pending")

    chain.mine(1)  # 2 confirmations of 3
    run(a.follow_once())
    assert store.anchor(7).final is False  # type: ignore[union-attr]
    chain.mine(1)  # 3 of 3
    run(a.follow_once())
    final = store.anchor(7)
    assert final is not None and final.final is True
    assert final.block_number == event.block_number
    assert a.status.final_tree_size == 7
    r = a.anchor_receipt(final)
    assert r is not None
    assert r.to_dict() == {
        "evm_chain_id": chain.chain_id(),
        "contract": contract,
        "tx_hash": "0x" + event.tx_hash.hex(),
        "block_number": event.block_number,
        "confirmations": 3,
        "final": True,
        "state": "final",
    }

    # Nothing new: no transaction. A new checkpoint: one more.
    run(a.anchor_once())
    assert chain.nonce("latest") == nonce + 1
    store.add(12)
    run(a.anchor_once())
    assert chain.nonce("latest") == nonce + 2
    assert events(chain, contract) == [(7, root_of(7)), (12, root_of(12))]
    assert a.status.last_gas_used == anchor_gas(LOG_ID, 12, root_of(12), first=False)
    assert a.status.txs_sent == 2


def test_confirmations_zero_and_one_are_final_once_mined(
    fresh: tuple[EvmChain, str], store: MemoryStore
) -> None:
    chain, contract = fresh
    store.add(4)
    for n, size in ((0, 4), (1, 5)):
        store.add(size)
        a = Anchorer(store, chain, contract, confirmations=n)
        run(a.anchor_once())
        anchor = store.anchor(size)
        assert anchor is not None and anchor.final is True


def test_restart_adopts_a_transaction_the_store_lost(
    fresh: tuple[EvmChain, str], store: MemoryStore
) -> None:
    """A crash after the node took the transaction but before the store kept its hash:
    the new anchorer finds the event and records it, sending nothing."""
    chain, contract = fresh
    store.add(5)
    run(Anchorer(store, chain, contract, confirmations=1).anchor_once())
    kept = store.anchor(5)
    store.set_anchor(5, None)  # the record is lost
    nonce = chain.nonce("latest")
    a = Anchorer(store, chain, contract, confirmations=1)
    run(a.anchor_once())
    assert chain.nonce("latest") == nonce
    again = store.anchor(5)
    assert again is not None and kept is not None
    assert (again.tx_hash, again.block_number, again.final) == (
        kept.tx_hash,
        kept.block_number,
        True,
    )


def test_restart_follows_a_write_ahead_anchor(
    fresh: tuple[EvmChain, str], store: MemoryStore
) -> None:
    """A crash after the write-ahead record (hash, no block): the next process looks the
    hash up and records the block."""
    chain, contract = fresh
    store.add(5)
    run(Anchorer(store, chain, contract, confirmations=1).anchor_once())
    mined = store.anchor(5)
    assert mined is not None
    store.set_anchor(5, Anchor(mined.tx_hash, None, mined.evm_chain_id, contract, False, 1))
    nonce = chain.nonce("latest")
    run(Anchorer(store, chain, contract, confirmations=1).follow_once())
    assert store.anchor(5) == Anchor(
        mined.tx_hash,
        mined.block_number,
        mined.evm_chain_id,
        contract,
        True,
        store.anchor(5).updated_ms,  # type: ignore[union-attr]
    )
    assert chain.nonce("latest") == nonce


def test_chain_that_lost_its_history_is_anchored_again(
    fresh: tuple[EvmChain, str], store: MemoryStore
) -> None:
    """A final anchor whose transaction the chain no longer has (an embedded chain or a
    dev node restarted): the store's record is cleared and the checkpoint anchored anew."""
    chain, contract = fresh
    store.add(6)
    store.set_anchor(6, Anchor(b"\x77" * 32, 1, chain.chain_id(), contract, True, 1))
    a = Anchorer(store, chain, contract, confirmations=1)
    run(a.anchor_once())
    anchor = store.anchor(6)
    assert anchor is not None and anchor.tx_hash != b"\x77" * 32 and anchor.final
    assert events(chain, contract) == [(6, root_of(6))]


def test_other_chain_anchors_are_left_alone(
    fresh: tuple[EvmChain, str], store: MemoryStore
) -> None:
    chain, contract = fresh
    store.add(2, 8)
    elsewhere = Anchor(b"\x55" * 32, 10, 1, "0x" + "12" * 20, True, 1)
    store.set_anchor(2, elsewhere)
    run(Anchorer(store, chain, contract, confirmations=1).anchor_once())
    assert store.anchor(2) == elsewhere
    assert events(chain, contract) == [(8, root_of(8))]


def test_run_anchors_in_the_background_and_stops(
    fresh: tuple[EvmChain, str], store: MemoryStore
) -> None:
    chain, contract = fresh
    store.add(1)

    async def scenario() -> None:
        a = Anchorer(store, chain, contract, interval_s=0.05, confirmations=1)
        task = asyncio.create_task(a.run())
        for _ in range(200):
            await asyncio.sleep(0.02)
            if a.status.final_tree_size == 1:
                break
        assert a.status.running
        store.add(4)  # ingest goes on; the next pass anchors the newer checkpoint
        for _ in range(200):
            await asyncio.sleep(0.02)
            if a.status.final_tree_size == 4:
                break
        a.stop()
        await asyncio.wait_for(task, 5)
        assert not a.status.running
        assert a.status.final_tree_size == 4

    run(scenario())
    assert events(chain, contract) == [(1, root_of(1)), (4, root_of(4))]


def test_embedded_chain_says_it_is_ephemeral_and_makes_blocks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, "hashcore.anchor"):
        chain = EvmChain.embedded(block_time_s=0.05)
    assert "it lives only as long as this process" in caplog.text
    start = chain.block_number()
    time.sleep(0.3)
    assert 5 <= chain.block_number() - start <= 64  # a block per 0.05 s, made lazily
    fast = EvmChain.embedded(block_time_s=0.001)
    start = fast.block_number()
    time.sleep(0.2)  # some 200 blocks due: at most 64 are made at once
    assert fast.block_number() - start == 64


# --------------------------------------------------------------------------- misconfig


def test_preflight_accepts_a_good_configuration(
    fresh: tuple[EvmChain, str], store: MemoryStore
) -> None:
    chain, contract = fresh
    a = Anchorer(store, chain, contract, expected_chain_id=chain.chain_id())
    run(a.preflight())
    assert a.status.evm_chain_id == chain.chain_id()
    assert a.status.reachable is True


def test_preflight_no_contract_at_address(embedded: EvmChain, store: MemoryStore) -> None:
    nowhere = "0x" + "00" * 19 + "42"
    a = Anchorer(store, embedded, nowhere)
    with pytest.raises(AnchorConfigError) as err:
        run(a.preflight())
    assert str(err.value) == (
        f"no contract at 0x0000000000000000000000000000000000000042 on embedded (chain id "
        f"{embedded.chain_id()}): wrong contract address or wrong chain"
    )


def test_preflight_not_an_anchor_contract(embedded: EvmChain, store: MemoryStore) -> None:
    # A contract whose code is a single STOP: answers every call with nothing.
    initcode = bytes.fromhex("600160" + "0c" + "600039" + "6001" + "6000" + "f3") + b"\x00"
    tx = embedded._tx(
        nonce=embedded.nonce(), fees=embedded.fees(), gas_limit=100_000, data=initcode, to=None
    )
    tx_hash, raw = embedded._sign(tx)
    embedded.send_raw(raw)
    receipt = embedded.receipt(tx_hash)
    assert receipt is not None and receipt.contract_address is not None
    assert embedded.code_at(receipt.contract_address) == b"\x00"
    a = Anchorer(store, embedded, receipt.contract_address)
    with pytest.raises(AnchorConfigError, match="is not a hashcore anchor contract"):
        run(a.preflight())


def test_preflight_wrong_chain_id(fresh: tuple[EvmChain, str], store: MemoryStore) -> None:
    chain, contract = fresh
    a = Anchorer(store, chain, contract, expected_chain_id=11155111)
    with pytest.raises(AnchorConfigError) as err:
        run(a.preflight())
    assert str(err.value) == (
        f"EVM chain at embedded has chain id {chain.chain_id()}, but the relay is "
        "configured for chain id 11155111"
    )


def test_preflight_log_id_first_anchored_by_someone_else(
    fresh: tuple[EvmChain, str], store: MemoryStore
) -> None:
    chain, contract = fresh
    squatter = chain.with_account(embedded_account(2))
    squatter.send_anchor(
        contract, LOG_ID, 1, b"\x00" * 32, nonce=squatter.nonce(), fees=squatter.fees()
    )
    a = Anchorer(store, chain, contract)
    with pytest.raises(AnchorConfigError) as err:
        run(a.preflight())
    assert str(err.value) == (
        f"logId {LOG_ID.hex()} was first anchored on {contract} by {squatter.address}; "
        f"only that account may anchor it (SPEC 2.2), and this relay's EVM key is "
        f"{chain.address}"
    )
    # Found while running (the chain was down at start): anchoring stops, status says why.
    store.add(3)
    b = Anchorer(store, chain, contract, interval_s=0.01)
    run(asyncio.wait_for(b.run(), 5))
    assert b.status.fatal == str(err.value)
    assert not b.status.healthy
    assert events(chain, contract) == [(1, b"\x00" * 32)]


def test_preflight_account_without_funds(fresh: tuple[EvmChain, str], store: MemoryStore) -> None:
    from eth_account import Account

    chain, contract = fresh
    poor = chain.with_account(Account.from_key("0x" + "42" * 32))
    a = Anchorer(store, poor, contract, gas_limit=100_000)
    with pytest.raises(AnchorConfigError, match=r"^EVM account 0x[0-9a-fA-F]{40} holds 0 wei on"):
        run(a.preflight())


def test_read_only_chain_cannot_anchor(fresh: tuple[EvmChain, str], store: MemoryStore) -> None:
    chain, contract = fresh
    a = Anchorer(store, chain.with_account(None), contract)
    with pytest.raises(AnchorConfigError, match="no key file, so no account to anchor"):
        run(a.preflight())


def test_bad_contract_address_is_refused(embedded: EvmChain, store: MemoryStore) -> None:
    with pytest.raises(AnchorConfigError, match="'0x1234' is not 0x and 40 hex digits"):
        Anchorer(store, embedded, "0x1234")


# --------------------------------------------------------------------------- key files


def test_key_file_errors(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "nope.key"
    with pytest.raises(AnchorError, match=f"EVM key file {re.escape(str(missing))}: cannot read"):
        read_key_file(missing)
    bad = tmp_path / "bad.key"
    for text in ("", "ac09" * 16, "0x" + "ac" * 31, "0x" + "zz" * 32, "0x" + "ac" * 32 + "\n0x"):
        bad.write_text(text)
        with pytest.raises(AnchorError, match="must hold one 0x-prefixed private key"):
            read_key_file(bad)
    zero = tmp_path / "zero.key"
    zero.write_text("0x" + "00" * 32)
    with pytest.raises(AnchorError, match="not a valid secp256k1 private key"):
        read_key_file(zero)
    open_key = tmp_path / "open.key"
    open_key.write_text(ANVIL_KEY_1 + "\n")
    os.chmod(open_key, 0o644)
    with caplog.at_level(logging.WARNING, "hashcore.anchor"):
        account = read_key_file(open_key)
    assert account.address == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    assert "readable by others (mode 644)" in caplog.text


def test_connect_refuses_non_http_url(key_file: Path) -> None:
    with pytest.raises(AnchorError, match="EVM URL must be http:// or https://"):
        EvmChain.connect("ws://127.0.0.1:8545", key_file)


def test_url_is_redacted_in_descriptions(key_file: Path) -> None:
    chain = EvmChain.connect("https://user:pw@node.example:8443/v3/SECRETKEY?x=1", key_file)
    assert chain.description == "https://node.example:8443/…"
    assert chain.address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


# =========================================================================== anvil


def anvil_setup(url: str, key_file: Path) -> tuple[EvmChain, str]:
    chain = EvmChain.connect(url, key_file)
    return chain, chain.deploy_anchor_contract()


def test_anvil_anchor_confirmations_and_eip1559(
    anvil: str, key_file: Path, store: MemoryStore
) -> None:
    chain, contract = anvil_setup(anvil, key_file)
    assert chain.chain_id() == ANVIL_CHAIN_ID
    store.add(10)
    a = Anchorer(store, chain, contract, confirmations=3, expected_chain_id=ANVIL_CHAIN_ID)
    run(a.preflight())
    run(a.anchor_once())
    anchor = store.anchor(10)
    assert anchor is not None and anchor.block_number == 2 and not anchor.final
    tx = chain.w3.eth.get_transaction(anchor.tx_hash)
    assert tx["type"] == 2  # EIP-1559
    assert tx["gas"] == 100_000  # the explicit limit
    assert tx["nonce"] == 1  # the deployment was nonce 0
    assert tx["maxFeePerGas"] > tx["maxPriorityFeePerGas"] > 0
    chain.mine(1)
    run(a.follow_once())
    assert store.anchor(10).final is False  # type: ignore[union-attr]
    chain.mine(1)
    run(a.follow_once())
    assert store.anchor(10).final is True  # type: ignore[union-attr]
    assert a.anchor_receipt(store.anchor(10)).confirmations == 3  # type: ignore[union-attr]


def test_anvil_reorg_drops_the_anchor_and_it_is_sent_again(
    anvil: str, key_file: Path, store: MemoryStore
) -> None:
    chain, contract = anvil_setup(anvil, key_file)
    store.add(5)
    a = Anchorer(store, chain, contract, confirmations=4)
    run(a.anchor_once())
    first = store.anchor(5)
    assert first is not None and first.block_number == 2
    chain.mine(1)
    run(a.follow_once())
    # Replace the last 2 blocks (the anchor's and one above) with empty ones.
    chain.rpc("anvil_reorg", [2, []])
    assert chain.block_number() == 3
    assert chain.receipt(first.tx_hash) is None
    assert events(chain, contract) == []
    run(a.follow_once())
    assert a.status.reorgs == 1
    assert store.anchor(5) is None
    assert store.set_anchor_calls[-1] == (5, None)
    run(a.anchor_once())
    again = store.anchor(5)
    assert again is not None and again.block_number == 4
    assert events(chain, contract) == [(5, root_of(5))]
    assert chain.nonce("latest") == 2  # deployment + the one anchor that stayed
    assert a.status.txs_sent == 2


def test_anvil_snapshot_revert_is_noticed(anvil: str, key_file: Path, store: MemoryStore) -> None:
    chain, contract = anvil_setup(anvil, key_file)
    store.add(3)
    snapshot = chain.rpc("evm_snapshot", [])
    a = Anchorer(store, chain, contract, confirmations=2)
    run(a.anchor_once())
    assert store.anchor(3) is not None
    assert chain.rpc("evm_revert", [snapshot]) is True
    chain.mine(3)  # the chain moves on without it
    run(a.anchor_once())  # notices, clears, and anchors again in one pass
    assert a.status.reorgs == 1
    anchor = store.anchor(3)
    assert anchor is not None and anchor.block_number == 5
    assert events(chain, contract) == [(3, root_of(3))]


def test_anvil_stuck_transaction_is_replaced(
    anvil: str, key_file: Path, store: MemoryStore
) -> None:
    chain, contract = anvil_setup(anvil, key_file)
    chain.rpc("evm_setAutomine", [False])
    store.add(5)
    a = Anchorer(
        store, chain, contract, confirmations=1, receipt_timeout_s=0.2, replace_after_s=0.0
    )
    run(a.anchor_once())
    stuck = store.anchor(5)
    assert stuck is not None and stuck.block_number is None
    assert a.status.pending_tx == "0x" + stuck.tx_hash.hex()
    assert (a.status.pending_tree_size, a.status.txs_sent) == (5, 1)
    assert a.status.pending_since_ms is not None
    first_tx = chain.transaction(stuck.tx_hash)
    assert first_tx is not None
    store.add(8)  # a newer checkpoint meanwhile: the replacement anchors it instead
    run(a.follow_once())
    assert a.status.replacements == 1
    assert store.anchor(5) is None
    replacement = store.anchor(8)
    assert replacement is not None and replacement.block_number is None
    second_tx = chain.transaction(replacement.tx_hash)
    assert second_tx is not None
    assert second_tx.nonce == first_tx.nonce
    assert second_tx.fees.cap >= first_tx.fees.cap * 5 // 4
    assert (
        second_tx.fees.max_priority_fee_per_gas >= first_tx.fees.max_priority_fee_per_gas * 5 // 4
    )  # type: ignore[operator]
    assert chain.transaction(stuck.tx_hash) is None  # the node replaced it
    chain.rpc("evm_mine", [])
    run(a.follow_once())
    mined = store.anchor(8)
    assert mined is not None and mined.final and mined.tx_hash == replacement.tx_hash
    assert chain.receipt(stuck.tx_hash) is None
    assert events(chain, contract) == [(8, root_of(8))]
    assert chain.nonce("latest") == 2
    assert (a.status.pending_tx, a.status.pending_since_ms) == (None, None)
    assert (a.status.txs_sent, a.status.final_tree_size) == (2, 8)


def test_anvil_dropped_transaction_is_sent_again(
    anvil: str, key_file: Path, store: MemoryStore
) -> None:
    chain, contract = anvil_setup(anvil, key_file)
    chain.rpc("evm_setAutomine", [False])
    store.add(4)
    a = Anchorer(store, chain, contract, confirmations=1, receipt_timeout_s=0.1)
    run(a.anchor_once())
    sent = store.anchor(4)
    assert sent is not None
    chain.rpc("anvil_dropTransaction", ["0x" + sent.tx_hash.hex()])
    assert chain.transaction(sent.tx_hash) is None
    run(a.follow_once())
    resent = store.anchor(4)
    assert resent is not None and resent.tx_hash != sent.tx_hash
    assert chain.transaction(resent.tx_hash) is not None
    chain.rpc("evm_mine", [])
    run(a.follow_once())
    final = store.anchor(4)
    assert final is not None and final.final and final.tx_hash == resent.tx_hash
    assert events(chain, contract) == [(4, root_of(4))]
    assert a.status.txs_sent == 2 and a.status.replacements == 1


def test_anvil_node_stops_and_restarts_nothing_lost(
    anvil_factory: Callable[..., AnvilNode], key_file: Path, store: MemoryStore, tmp_path: Path
) -> None:
    node = anvil_factory("--state", str(tmp_path / "anvil-state.json"))
    chain, contract = anvil_setup(node.url, key_file)
    store.add(3)

    async def scenario() -> None:
        a = Anchorer(
            store,
            chain,
            contract,
            interval_s=0.05,
            confirmations=1,
            backoff_initial_s=0.05,
            backoff_max_s=0.2,
        )
        task = asyncio.create_task(a.run())

        async def until(cond: Callable[[], bool], what: str) -> None:
            for _ in range(400):
                if cond():
                    return
                await asyncio.sleep(0.025)
            raise AssertionError(f"timed out waiting for {what}: {a.status}")

        await until(lambda: a.status.final_tree_size == 3, "the first anchor")
        await asyncio.to_thread(node.stop)
        store.add(6, 9)  # ingest goes on while the chain is down
        await until(lambda: a.status.consecutive_failures >= 4, "failures")
        s = a.status
        assert s.reachable is False and not s.healthy
        assert s.last_error is not None and s.last_error.startswith(
            f"ChainUnreachableError: EVM chain at {chain.description} unreachable"
        )
        assert s.next_attempt_in_s == 0.2  # 0.05, 0.1, 0.2, then capped
        await asyncio.to_thread(node.start)
        await until(lambda: a.status.final_tree_size == 9, "catching up")
        assert a.status.reachable is True and a.status.consecutive_failures == 0
        a.stop()
        await asyncio.wait_for(task, 5)

    run(scenario())
    # The state survived the restart, and the newest checkpoint covers everything.
    assert events(chain, contract) == [(3, root_of(3)), (9, root_of(9))]
    assert store.anchor(6) is None


def test_anvil_unreachable_at_start_is_not_fatal(
    key_file: Path, store: MemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    chain = EvmChain.connect(url, key_file)
    a = Anchorer(store, chain, "0x" + "12" * 20)
    with caplog.at_level(logging.WARNING, "hashcore.anchor"):
        run(a.preflight())
    assert a.status.reachable is False
    assert "EVM chain not reachable at start" in caplog.text
    store.add(1)
    with pytest.raises(ChainUnreachableError):
        run(a.anchor_once())
    assert a.status.consecutive_failures == 1


def test_anvil_misconfigured_chain_id_and_key(
    anvil: str, key_file: Path, store: MemoryStore
) -> None:
    chain, contract = anvil_setup(anvil, key_file)
    a = Anchorer(store, chain, contract, expected_chain_id=1)
    with pytest.raises(AnchorConfigError) as err:
        run(a.preflight())
    assert str(err.value) == (
        f"EVM chain at {chain.description} has chain id 31337, but the relay is configured "
        "for chain id 1"
    )
    # Another account took the log_id first: the relay's key can't anchor it.
    store.add(2)
    run(Anchorer(store, chain, contract, confirmations=1).anchor_once())
    other_key = key_file.with_name("other.key")
    other_key.write_text(ANVIL_KEY_1)
    other = EvmChain.connect(anvil, other_key)
    with pytest.raises(AnchorConfigError, match=f"by {chain.address}; only that account"):
        run(Anchorer(store, other, contract).preflight())
