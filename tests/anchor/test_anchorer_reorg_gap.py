"""A reorg that removes a mined anchor while the next anchor is in flight (found by the
fault campaign's evm-reorg trials): the in-flight transaction waits behind the freed
nonce, which nothing sends again, so the anchorer sends its anchor at that nonce instead
of replacing it at its own for ever."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hashcore.anchor import Anchorer, EvmChain

from .conftest import MemoryStore, relay_log_id, root_of

LOG_ID = relay_log_id()


def test_an_anchor_waiting_behind_a_reorged_nonce_is_sent_at_it(
    anvil: str, key_file: Path, store: MemoryStore
) -> None:
    chain = EvmChain.connect(anvil, key_file)
    contract = chain.deploy_anchor_contract()
    store.add(5)
    a = Anchorer(store, chain, contract, confirmations=3, receipt_timeout_s=0.2)
    asyncio.run(a.anchor_once())
    first = store.anchor(5)
    assert first is not None and first.block_number == 2  # nonce 1 (0: the deployment)
    chain.rpc("evm_setAutomine", [False])
    store.add(9)
    asyncio.run(a.anchor_once())  # nonce 2, in flight
    waiting = store.anchor(9)
    assert waiting is not None and waiting.block_number is None
    chain.rpc("anvil_reorg", [1, []])  # block 2 goes: nonce 1 is free again
    assert chain.receipt(first.tx_hash) is None and chain.nonce("latest") == 1

    asyncio.run(a.follow_once())
    chain.rpc("evm_mine", [])
    asyncio.run(a.follow_once())
    anchored = store.anchor(9)
    assert anchored is not None and anchored.block_number is not None
    assert anchored.tx_hash != waiting.tx_hash
    events = [(e.tree_size, e.root) for e in chain.anchored_events(contract, LOG_ID)]
    assert events == [(9, root_of(9))]
    assert store.anchor(5) is None  # the reorg took it; 9 vouches for it
