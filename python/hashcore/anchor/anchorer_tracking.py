"""Following anchor transactions after they are sent: receipts, confirmations until
final, reorgs that remove a mined anchor, and replacement (same nonce, higher fees) of
a transaction that is dropped or stays unmined."""

from __future__ import annotations

import time

from .anchorer_core import AnchorerCore
from .anchorer_status import InFlight, now_ms
from .chain_types import Receipt, TxRejectedError


class AnchorerTracking(AnchorerCore):
    """Confirmation tracking of the transaction in flight and of mined, unfinal anchors."""

    async def _record(self, tree_size: int, receipt: Receipt, head: int) -> None:
        """Store what a mined anchor transaction did for checkpoint ``tree_size``."""
        ours = any(
            e.tree_size == tree_size and e.contract.lower() == self.contract.lower()
            for e in receipt.events
        )
        if receipt.status != 1 or not ours:
            self.log.error(
                "EVM anchor transaction 0x%s for tree_size %d failed in block %d (reverted); "
                "anchoring again",
                receipt.tx_hash.hex(),
                tree_size,
                receipt.block_number,
            )
            self._unfinal.pop(tree_size, None)
            await self._s(self.store.set_anchor, tree_size, None)
            return
        final = self._is_final(receipt.block_number, head)
        anchor = self._anchor(receipt.tx_hash, receipt.block_number, final)
        await self._s(self.store.set_anchor, tree_size, anchor)
        self.status.last_gas_used = receipt.gas_used
        if final:
            self._unfinal.pop(tree_size, None)
            self._final_max = max(self._final_max, tree_size)
        else:
            self._unfinal[tree_size] = anchor

    async def _follow_inflight(self, head: int) -> None:
        f = self._inflight
        assert f is not None
        for tx_hash, tree_size in [(f.tx_hash, f.tree_size), *f.replaced.items()]:
            receipt = await self._c(self.chain.receipt, tx_hash)
            if receipt is None:
                continue
            self._inflight = None
            self._nonce = f.nonce + 1
            if tree_size != f.tree_size:
                # A transaction it replaced was mined first: the replacement is void.
                await self._s(self.store.set_anchor, f.tree_size, None)
            await self._record(tree_size, receipt, head)
            return
        known = await self._c(self.chain.transaction, f.tx_hash)
        if known is None:
            used = await self._c(self.chain.nonce, "latest")
            if used > f.nonce:
                # The nonce went to a transaction this anchorer does not know of (another
                # process with the same key?): the anchor is void.
                self.log.warning(
                    "EVM nonce %d was used by another transaction; anchor 0x%s for "
                    "tree_size %d is void, anchoring again",
                    f.nonce,
                    f.tx_hash.hex(),
                    f.tree_size,
                )
                self._inflight = None
                self._nonce = None
                await self._s(self.store.set_anchor, f.tree_size, None)
                return
            await self._replace(f, why="dropped from the mempool")
        elif (latest := await self._c(self.chain.nonce, "latest")) < f.nonce:
            # An earlier transaction of ours left the chain (a reorg removed its block) and
            # this one waits behind its nonce, which nothing would send again: anchor at
            # that nonce (the fault campaign found anchoring stalled for good otherwise).
            stale = f.nonce
            f.nonce = latest
            await self._replace(
                f, why=f"waiting at nonce {stale} behind {latest}, freed by a reorg"
            )
        elif time.monotonic() - f.sent_at >= self.replace_after_s:
            await self._replace(f, why=f"not mined after {self.replace_after_s:g} s")

    async def _replace(self, f: InFlight, *, why: str) -> None:
        """Send a transaction with the same nonce and higher fees, anchoring the newest
        checkpoint (which may be newer than the one ``f`` anchors)."""
        log_id = await self._s(self.store.get_log_id)
        cp = await self._s(self.store.latest_checkpoint)
        if log_id is None or cp is None:  # a store emptied under us: nothing to anchor
            return
        fees = f.fees.bumped(await self._c(self.chain.fees))
        signed = await self._sign_write_ahead(log_id, cp, nonce=f.nonce, fees=fees)
        if cp.tree_size != f.tree_size:
            await self._s(self.store.set_anchor, f.tree_size, None)
        f.replaced[f.tx_hash] = f.tree_size
        f.tx_hash, f.tree_size, f.fees, f.sent_at, f.sent_ms = (
            signed.tx_hash,
            cp.tree_size,
            fees,
            time.monotonic(),
            now_ms(),
        )
        self.log.warning(
            "EVM anchor transaction %s: replacing it with 0x%s (nonce %d, max fee %d wei) "
            "anchoring tree_size %d",
            why,
            signed.tx_hash.hex(),
            f.nonce,
            fees.cap,
            cp.tree_size,
        )
        try:
            await self._c(self.chain.send_raw, signed.raw)
        except TxRejectedError as exc:
            if exc.reason == "nonce":
                return  # the nonce is used: one of ours was mined; the next pass sees it
            raise
        self.status.replacements += 1
        self.status.txs_sent += 1
        await self._wait_receipt()

    async def _follow_mined(self, head: int) -> None:
        for tree_size, a in sorted(self._unfinal.items()):
            receipt = await self._c(self.chain.receipt, a.tx_hash)
            if receipt is not None:
                final = self._is_final(receipt.block_number, head)
                if receipt.block_number != a.block_number or final != a.final:
                    await self._record(tree_size, receipt, head)
                continue
            # Mined before, gone now: a reorg removed its block.
            self.status.reorgs += 1
            self._unfinal.pop(tree_size)
            self._nonce = None
            tx = await self._c(self.chain.transaction, a.tx_hash)
            if tx is not None and self._inflight is None:
                self.log.warning(
                    "EVM reorg: anchor 0x%s of tree_size %d left block %d and is pending again",
                    a.tx_hash.hex(),
                    tree_size,
                    a.block_number,
                )
                self._inflight = InFlight(tree_size, a.tx_hash, tx.nonce, tx.fees, time.monotonic())
                await self._s(
                    self.store.set_anchor, tree_size, self._anchor(a.tx_hash, None, False)
                )
                continue
            self.log.warning(
                "EVM reorg removed anchor 0x%s of tree_size %d (was in block %d); anchoring again",
                a.tx_hash.hex(),
                tree_size,
                a.block_number,
            )
            await self._s(self.store.set_anchor, tree_size, None)

    async def _wait_receipt(self) -> None:
        """Wait up to ``receipt_timeout_s`` for the in-flight transaction to be mined."""
        f = self._inflight
        assert f is not None
        self._refresh_status()
        deadline = time.monotonic() + self.receipt_timeout_s
        while True:
            receipt = await self._c(self.chain.receipt, f.tx_hash)
            if receipt is not None:
                head = await self._c(self.chain.block_number)
                self.status.head_block = head
                self._inflight = None
                self._nonce = f.nonce + 1
                await self._record(f.tree_size, receipt, head)
                self._refresh_status()
                return
            if time.monotonic() >= deadline or self._stopping:
                return
            await self._sleep(self.poll_s)
