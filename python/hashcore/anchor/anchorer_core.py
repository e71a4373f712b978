"""The anchorer's configuration and state, and the plumbing every step of a pass uses:
store and chain calls off the event loop, the anchor values it stores, its status.

The steps build on :class:`AnchorerCore` in a line: ``anchorer_tracking`` (receipts,
confirmations, reorgs, replacement), ``anchorer_preflight`` (configuration checks and
the store's anchors at start), ``anchorer_sending`` (anchoring the newest checkpoint),
and :class:`~.anchorer.Anchorer` (the loop and the public API)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from eth_utils.address import to_checksum_address

from .anchorer_status import AnchorConfigError, AnchorerStatus, InFlight, now_ms
from .chain import EvmChain
from .chain_types import Fees, SignedTransaction
from .contract import ANCHOR_GAS_LIMIT
from .store import Anchor, StoredCheckpoint
from .store import AnchorStore as Store

T = TypeVar("T")


class AnchorerCore:
    """The anchorer's settings and state (the arguments are documented on
    :class:`~.anchorer.Anchorer`), and the helpers every step of a pass uses."""

    def __init__(
        self,
        store: Store,
        chain: EvmChain,
        contract_address: str,
        *,
        interval_s: float = 30.0,
        confirmations: int = 12,
        gas_limit: int = ANCHOR_GAS_LIMIT,
        receipt_timeout_s: float | None = None,
        replace_after_s: float | None = None,
        finality_poll_s: float | None = None,
        poll_s: float = 0.1,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 300.0,
        expected_chain_id: int | None = None,
        store_executor: Executor | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s!r}")
        if confirmations < 0:
            raise ValueError(f"confirmations must be >= 0, got {confirmations!r}")
        try:
            self.contract = to_checksum_address(contract_address)
        except ValueError:
            raise AnchorConfigError(
                f"EVM contract address {contract_address!r} is not 0x and 40 hex digits"
            ) from None
        self.store = store
        self.chain = chain
        self.interval_s = interval_s
        self.confirmations = confirmations
        self.gas_limit = gas_limit
        self.receipt_timeout_s = (
            min(interval_s, 30.0) if receipt_timeout_s is None else receipt_timeout_s
        )
        self.replace_after_s = (
            max(3 * interval_s, 60.0) if replace_after_s is None else replace_after_s
        )
        self.finality_poll_s = min(interval_s, 2.0) if finality_poll_s is None else finality_poll_s
        self.poll_s = poll_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.expected_chain_id = expected_chain_id
        self._store_executor = store_executor
        self.log = log or logging.getLogger("hashcore.anchor")
        self.status = AnchorerStatus(
            chain=chain.description,
            contract=self.contract,
            confirmations=confirmations,
            sender=chain.address,
        )
        self._stopping = False
        self._stop_event: asyncio.Event | None = None
        self._stop_loop: asyncio.AbstractEventLoop | None = None
        self._ready = False  # configuration checked against the chain
        self._scanned = False  # store's anchors loaded
        self._chain_id: int | None = None
        self._inflight: InFlight | None = None
        self._unfinal: dict[int, Anchor] = {}  # mined, not yet final: tree_size -> anchor
        self._final_max = -1
        self._nonce: int | None = None  # next nonce to use, None: ask the chain

    # ------------------------------------------------------------------ plumbing

    async def _s(self, fn: Callable[..., T], *args: Any) -> T:
        """A store call, off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._store_executor, functools.partial(fn, *args))

    async def _c(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A chain call, off the event loop."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    def _anchor(self, tx_hash: bytes, block: int | None, final: bool) -> Anchor:
        assert self._chain_id is not None
        return Anchor(
            tx_hash=tx_hash,
            block_number=block,
            evm_chain_id=self._chain_id,
            contract=self.contract,
            final=final,
            updated_ms=now_ms(),
        )

    async def _sign_write_ahead(
        self, log_id: bytes, cp: StoredCheckpoint, *, nonce: int, fees: Fees
    ) -> SignedTransaction:
        """Sign ``anchor()`` of ``cp`` and store its hash (no block yet) before anything is
        sent: write-ahead, so that after a crash the store knows what may be on chain."""
        signed = await self._c(
            self.chain.prepare_anchor,
            self.contract,
            log_id,
            cp.tree_size,
            cp.root,
            nonce=nonce,
            fees=fees,
            gas_limit=self.gas_limit,
        )
        await self._s(
            self.store.set_anchor, cp.tree_size, self._anchor(signed.tx_hash, None, False)
        )
        return signed

    def _ours(self, anchor: Anchor) -> bool:
        return anchor.evm_chain_id == self._chain_id and anchor.contract.lower() == (
            self.contract.lower()
        )

    def _anchored_max(self) -> int:
        sizes = [self._final_max, *self._unfinal]
        if self._inflight is not None:
            sizes.append(self._inflight.tree_size)
        return max(sizes)

    def _is_final(self, block: int, head: int) -> bool:
        return head - block + 1 >= self.confirmations

    def _refresh_status(self) -> None:
        s = self.status
        f = self._inflight
        s.pending_tx = "0x" + f.tx_hash.hex() if f else None
        s.pending_tree_size = f.tree_size if f else None
        s.pending_since_ms = f.sent_ms if f else None
        mined = [self._final_max, *self._unfinal]
        s.anchored_tree_size = max(mined) if max(mined) >= 0 else None
        s.final_tree_size = self._final_max if self._final_max >= 0 else None

    async def _sleep(self, seconds: float) -> None:
        """Sleep, waking early on :meth:`stop`."""
        loop = asyncio.get_running_loop()
        if self._stop_event is None or self._stop_loop is not loop:
            # One event per loop (tests drive one anchorer from several asyncio.run).
            self._stop_event, self._stop_loop = asyncio.Event(), loop
            if self._stopping:
                self._stop_event.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), timeout=seconds)
