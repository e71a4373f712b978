"""Whether the anchorer's configuration fits the chain (chain id, contract, first
sender, balance), and what the store already holds on this chain when it starts.

A misfit is an :class:`~.anchorer_status.AnchorConfigError` with one line, so that the
relay refuses to start (or, found later, stops anchoring) instead of sending
transactions that can only revert."""

from __future__ import annotations

import time

from ..errors import AnchorError
from .anchorer_status import AnchorConfigError, InFlight
from .anchorer_tracking import AnchorerTracking
from .chain_types import ChainUnreachableError
from .store import Anchor, StoredCheckpoint


class AnchorerPreflight(AnchorerTracking):
    """Configuration checks and the start-up scan of the store's anchors."""

    async def _check_config(self, log_id: bytes | None, *, check_balance: bool) -> None:
        chain = self.chain
        cid = await self._c(chain.chain_id)
        where = f"{chain.description} (chain id {cid})"
        if self.expected_chain_id is not None and cid != self.expected_chain_id:
            raise AnchorConfigError(
                f"EVM chain at {chain.description} has chain id {cid}, but the relay is "
                f"configured for chain id {self.expected_chain_id}"
            )
        sender = chain.address
        if sender is None:
            raise AnchorConfigError(f"EVM chain {where}: no key file, so no account to anchor")
        code = await self._c(chain.code_at, self.contract)
        if not code:
            raise AnchorConfigError(
                f"no contract at {self.contract} on {where}: wrong contract address or wrong chain"
            )
        if log_id is not None:
            try:
                first, _ = await self._c(chain.anchor_state, self.contract, log_id)
            except ChainUnreachableError:
                raise
            except AnchorError as exc:
                raise AnchorConfigError(
                    f"{self.contract} on {where} is not a hashcore anchor contract ({exc})"
                ) from None
            if first is not None and first != sender:
                raise AnchorConfigError(self._squatted(log_id, first))
        if check_balance:
            fees = await self._c(chain.fees)
            balance = await self._c(chain.balance)
            need = self.gas_limit * fees.cap
            if balance < need:
                raise AnchorConfigError(
                    f"EVM account {sender} holds {balance} wei on {where}, less than one "
                    f"anchor may cost ({self.gas_limit} gas x {fees.cap} wei)"
                )
        self._chain_id = cid
        self.status.evm_chain_id = cid
        self._ready = True

    def _squatted(self, log_id: bytes, first: str) -> str:
        return (
            f"logId {log_id.hex()} was first anchored on {self.contract} by {first}; only "
            f"that account may anchor it (SPEC 2.2), and this relay's EVM key is "
            f"{self.chain.address}"
        )

    async def _scan_store(self, head: int) -> None:
        """Load the store's anchors on this chain (once per process)."""
        checkpoints = await self._s(self.store.list_checkpoints)
        unmined: list[tuple[int, Anchor]] = []
        newest_final: tuple[int, Anchor] | None = None
        for cp in checkpoints:
            a = cp.anchor
            if a is None or not self._ours(a):
                continue
            if a.block_number is None:
                unmined.append((cp.tree_size, a))
            elif a.final:
                self._final_max = max(self._final_max, cp.tree_size)
                if newest_final is None or cp.tree_size > newest_final[0]:
                    newest_final = (cp.tree_size, a)
            else:
                self._unfinal[cp.tree_size] = a
        if newest_final is not None:
            receipt = await self._c(self.chain.receipt, newest_final[1].tx_hash)
            if receipt is None:
                await self._forget_lost_history(checkpoints)
        for tree_size, a in unmined:
            receipt = await self._c(self.chain.receipt, a.tx_hash)
            if receipt is not None:
                await self._record(tree_size, receipt, head)
                continue
            tx = await self._c(self.chain.transaction, a.tx_hash)
            if tx is None or self._inflight is not None:
                # Never reached the node, or dropped: forget it (the newest checkpoint is
                # anchored again below).
                await self._s(self.store.set_anchor, tree_size, None)
                continue
            self._inflight = InFlight(tree_size, a.tx_hash, tx.nonce, tx.fees, time.monotonic())
        self._scanned = True

    async def _forget_lost_history(self, checkpoints: list[StoredCheckpoint]) -> None:
        self.log.warning(
            "EVM chain %s no longer holds this relay's newest final anchor: it lost its "
            "history (an embedded chain or a dev node restarted?); clearing the anchors "
            "it does not hold",
            self.chain.description,
        )
        self._final_max = -1
        self._unfinal.clear()
        for cp in checkpoints:
            a = cp.anchor
            if a is None or not self._ours(a) or a.block_number is None:
                continue
            if await self._c(self.chain.receipt, a.tx_hash) is None:
                await self._s(self.store.set_anchor, cp.tree_size, None)
            elif a.final:
                self._final_max = max(self._final_max, cp.tree_size)
            else:
                self._unfinal[cp.tree_size] = a
