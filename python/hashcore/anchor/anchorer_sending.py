"""Anchoring the newest checkpoint: simulate, sign, store the hash (write-ahead), send;
or adopt an anchor already on chain that a crash kept out of the store."""

from __future__ import annotations

import time

from ..errors import AnchorError
from .anchorer_preflight import AnchorerPreflight
from .anchorer_status import AnchorConfigError, InFlight
from .chain_types import TxRejectedError
from .contract import REVERT_NOT_FIRST_SENDER
from .store import StoredCheckpoint


class AnchorerSending(AnchorerPreflight):
    """Sends one anchor transaction for the newest checkpoint not yet anchored."""

    async def _anchor_newest(self, log_id: bytes) -> None:
        if self._inflight is not None:
            return
        cp = await self._s(self.store.latest_checkpoint)
        if cp is None or cp.tree_size <= self._anchored_max():
            return
        chain = self.chain
        first, on_chain = await self._c(chain.anchor_state, self.contract, log_id)
        if first is not None and first != chain.address:
            raise AnchorConfigError(self._squatted(log_id, first))
        if first is not None and on_chain >= cp.tree_size:
            await self._adopt_existing(log_id, cp, on_chain)
            return
        reason = await self._c(chain.simulate_anchor, self.contract, log_id, cp.tree_size, cp.root)
        if reason == REVERT_NOT_FIRST_SENDER:
            raise AnchorConfigError(self._squatted(log_id, first or "another account"))
        if reason is not None:
            raise AnchorError(f"anchor() of tree_size {cp.tree_size} would revert: {reason}")
        if self._nonce is None:
            self._nonce = await self._c(chain.nonce, "pending")
        fees = await self._c(chain.fees)
        signed = await self._sign_write_ahead(log_id, cp, nonce=self._nonce, fees=fees)
        self._inflight = InFlight(
            cp.tree_size, signed.tx_hash, signed.nonce, fees, time.monotonic()
        )
        try:
            await self._c(chain.send_raw, signed.raw)
        except TxRejectedError as exc:
            self._inflight = None
            await self._s(self.store.set_anchor, cp.tree_size, None)
            if exc.reason == "nonce":
                self._nonce = None
            raise
        # ChainUnreachableError propagates with the transaction in flight: the node may
        # have it; the next pass finds out (receipt, or dropped and sent again).
        self.status.txs_sent += 1
        self.log.info(
            "EVM anchor of tree_size %d sent: 0x%s (nonce %d, gas limit %d, max fee %d wei)",
            cp.tree_size,
            signed.tx_hash.hex(),
            signed.nonce,
            self.gas_limit,
            fees.cap,
        )
        await self._wait_receipt()

    async def _adopt_existing(self, log_id: bytes, cp: StoredCheckpoint, on_chain: int) -> None:
        """The chain already holds an anchor at or past ``cp``: find the one of ``cp``
        (sent before a crash that lost its record) and store it."""
        events = await self._c(
            self.chain.anchored_events, self.contract, log_id, tree_size=cp.tree_size
        )
        for event in reversed(events):
            if event.root != cp.root:
                continue
            receipt = await self._c(self.chain.receipt, event.tx_hash)
            if receipt is None:
                continue
            head = await self._c(self.chain.block_number)
            self.log.info(
                "EVM: tree_size %d is already anchored in 0x%s (block %d); recorded it",
                cp.tree_size,
                event.tx_hash.hex(),
                event.block_number,
            )
            await self._record(cp.tree_size, receipt, head)
            return
        raise AnchorError(
            f"logId {log_id.hex()} is anchored on chain up to tree_size {on_chain}, but "
            f"not with this relay's newest checkpoint (tree_size {cp.tree_size}, root "
            f"{cp.root.hex()}): the store is behind the chain (restored from an older "
            "backup?) or another relay uses this key; waiting for a larger checkpoint"
        )
