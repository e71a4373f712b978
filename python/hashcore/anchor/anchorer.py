"""The relay's anchorer: puts the newest signed checkpoint on an EVM chain (SPEC 2.2).

It runs as its own asyncio task beside ingest, which never waits for it. Every
``interval_s`` it takes the newest checkpoint of the store and, unless that one is
anchored already, sends one ``anchor()`` transaction (explicit gas limit, EIP-1559 fees
where the chain has a base fee, its own nonce), waits for the receipt, and stores the
transaction hash and block with :meth:`Store.set_anchor`. An anchor is *final* once its
block has ``confirmations`` confirmations (the block itself counts as one: final when
``head - block + 1 >= confirmations``); until then it is *pending* and is checked again
on every pass.

What goes wrong, and what it does:

- a reorg removes a pending anchor's transaction: the anchor is cleared in the store
  and the newest checkpoint is anchored again (a reorg deeper than ``confirmations``
  is not looked for: that is what ``confirmations`` means);
- the transaction is dropped from the mempool, or stays unmined for
  ``replace_after_s``: it is replaced (same nonce, fees raised by 25 %, anchoring the
  newest checkpoint);
- the node does not answer: the pass fails, the next is tried after a backoff (1 s,
  2 s, 4 s ... up to ``backoff_max_s``), :attr:`Anchorer.status` says so, and when the
  node is back the newest checkpoint is anchored: every record is covered, nothing lost;
- the configuration does not fit the chain (chain id, contract, key): :meth:`preflight`
  raises :class:`AnchorConfigError` with one line, and the relay should not start;
  found only later (the chain was down at start), the anchorer stops anchoring and
  :attr:`AnchorerStatus.fatal` holds that line.

The transaction hash is stored (with ``block_number=None``) *before* the transaction
is sent, so a crash at any point leaves the store knowing what may be on chain; on
restart the anchorer picks the thread up again from the store and the chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from eth_utils.address import to_checksum_address

from ..errors import AnchorError
from .chain import ChainUnreachableError, EvmChain, Fees, Receipt, TxRejectedError
from .contract import ANCHOR_GAS_LIMIT, REVERT_NOT_FIRST_SENDER
from .store import Anchor, StoredCheckpoint
from .store import AnchorStore as Store

__all__ = ["AnchorConfigError", "AnchorReceipt", "Anchorer", "AnchorerStatus"]

T = TypeVar("T")


class AnchorConfigError(AnchorError):
    """The relay's EVM configuration does not fit the chain (one line says how)."""


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class AnchorerStatus:
    """What the anchorer is doing, for health checks and metrics (read it any time)."""

    #: Where the chain is ("embedded" or a URL without path/query).
    chain: str
    contract: str
    confirmations: int
    evm_chain_id: int | None = None
    sender: str | None = None
    #: Whether the node answered on the last try (None before the first).
    reachable: bool | None = None
    consecutive_failures: int = 0
    last_error: str | None = None
    last_attempt_ms: int | None = None
    last_success_ms: int | None = None
    #: Seconds the run loop waits before its next pass.
    next_attempt_in_s: float | None = None
    head_block: int | None = None
    #: The transaction sent and not yet mined (0x hex), its checkpoint and since when.
    pending_tx: str | None = None
    pending_tree_size: int | None = None
    pending_since_ms: int | None = None
    #: The largest tree_size anchored in a block (final or not), and the largest final.
    anchored_tree_size: int | None = None
    final_tree_size: int | None = None
    txs_sent: int = 0
    replacements: int = 0
    reorgs: int = 0
    last_gas_used: int | None = None
    #: A configuration error found after start: anchoring has stopped.
    fatal: str | None = None
    running: bool = False

    @property
    def healthy(self) -> bool:
        """Anchoring works: no fatal error and the last pass reached the chain."""
        return self.fatal is None and self.reachable is not False

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["healthy"] = self.healthy
        return out


@dataclass(frozen=True, slots=True)
class AnchorReceipt:
    """A checkpoint's anchor as a relay receipt shows it (SPEC 2.2 / section 3)."""

    evm_chain_id: int
    contract: str
    tx_hash: bytes
    block_number: int | None
    confirmations: int
    final: bool

    @property
    def state(self) -> str:
        """ "final", or "pending" (sent, or in a block not yet buried deep enough)."""
        return "final" if self.final else "pending"

    def to_dict(self) -> dict[str, Any]:
        return {
            "evm_chain_id": self.evm_chain_id,
            "contract": self.contract,
            "tx_hash": "0x" + self.tx_hash.hex(),
            "block_number": self.block_number,
            "confirmations": self.confirmations,
            "final": self.final,
            "state": self.state,
        }


@dataclass
class _InFlight:
    """The one anchor transaction sent and not yet mined (with the ones it replaced)."""

    tree_size: int
    tx_hash: bytes
    nonce: int
    fees: Fees
    sent_at: float  # time.monotonic()
    sent_ms: int = field(default_factory=_now_ms)  # wall clock, for the status
    #: Transactions with the same nonce that this one replaced: hash -> tree_size. One of
    #: them may still be mined instead.
    replaced: dict[bytes, int] = field(default_factory=dict)


class Anchorer:
    """Anchors a relay's checkpoints on an EVM chain; see the module docstring.

    Args:
        store: the relay's store (its methods are called in ``store_executor``).
        chain: the chain, with the sending account (:meth:`EvmChain.connect` with a key
            file, or :meth:`EvmChain.embedded`).
        contract_address: the anchor contract (0x + 40 hex).
        interval_s: how often the newest checkpoint is anchored.
        confirmations: blocks (the anchoring block included) after which an anchor is
            final; 0 and 1 both mean "final once mined".
        gas_limit: explicit gas limit of each anchor transaction.
        receipt_timeout_s: how long one pass waits for the receipt (default:
            ``min(interval_s, 30)``); an unmined transaction is followed up next pass.
        replace_after_s: a transaction unmined this long is replaced with higher fees
            (default: ``max(3 * interval_s, 60)``).
        finality_poll_s: while an anchor is pending, passes come this often (default
            ``min(interval_s, 2)``); new checkpoints are still anchored every
            ``interval_s`` only.
        backoff_initial_s, backoff_max_s: the retry delays after failures.
        expected_chain_id: refuse a chain with another id (recommended for URLs).
        store_executor: where store calls run (e.g. the relay's single writer thread);
            None: the default thread pool. Chain calls always run in the default pool.
        log: the logger (default ``hashcore.anchor``).
    """

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
        self._inflight: _InFlight | None = None
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
            updated_ms=_now_ms(),
        )

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

    # ------------------------------------------------------------------ public API

    def anchor_receipt(self, anchor: Anchor | None) -> AnchorReceipt | None:
        """A stored anchor as a receipt shows it; confirmations counted from the newest
        block the anchorer saw (no chain call, so it is cheap to call per request)."""
        if anchor is None:
            return None
        head = self.status.head_block
        confirmations = 0
        if anchor.block_number is not None and head is not None:
            confirmations = max(0, head - anchor.block_number + 1)
        return AnchorReceipt(
            evm_chain_id=anchor.evm_chain_id,
            contract=anchor.contract,
            tx_hash=anchor.tx_hash,
            block_number=anchor.block_number,
            confirmations=confirmations,
            final=anchor.final,
        )

    async def preflight(self) -> None:
        """Check the configuration against the chain; call before the relay serves.

        Checks: the chain id (if ``expected_chain_id``), that the contract address holds
        the anchor contract, that no other account anchored this relay's ``log_id``
        first, and that the account can pay for an anchor; then loads the store's
        anchors, forgetting those the chain lost. If the node does not answer,
        logs a warning and returns: the same checks run when it first answers.

        Raises:
            AnchorConfigError: one line saying what does not fit.
        """
        self.log.info(
            "EVM anchoring to %s on %s%s, every %g s, final after %d confirmations",
            self.contract,
            self.chain.description,
            " (embedded chain: private to this host)" if self.chain.is_embedded else "",
            self.interval_s,
            self.confirmations,
        )
        try:
            log_id = await self._s(self.store.get_log_id)
            await self._check_config(log_id, check_balance=True)
            self.status.reachable = True
            # Before the relay serves: anchors the chain no longer holds (a dev node or
            # the embedded chain restarted from an older state) must not reach a receipt.
            head = await self._c(self.chain.block_number)
            self.status.head_block = head
            await self._scan_store(head)
        except ChainUnreachableError as exc:
            self.status.reachable = False
            self.status.last_error = str(exc)
            self.log.warning(
                "EVM chain not reachable at start (%s); anchoring will retry with backoff "
                "and check the configuration when it answers",
                exc,
            )

    def stop(self) -> None:
        """Ask :meth:`run` to return (after the chain call in progress, if any). Call it
        from the event loop's thread."""
        self._stopping = True
        if self._stop_event is not None:
            self._stop_event.set()

    async def run(self) -> None:
        """Anchor until :meth:`stop`. Never raises (except on cancellation): failures
        are logged and retried with backoff; a configuration error found on chain sets
        ``status.fatal`` and ends the loop."""
        self.status.running = True
        next_anchor = 0.0
        try:
            while not self._stopping:
                due = time.monotonic() >= next_anchor
                try:
                    await self._attempt(anchor=due)
                except AnchorConfigError as exc:
                    self.status.fatal = str(exc)
                    self.log.error("EVM anchoring stopped: %s", exc)
                    return
                except Exception as exc:
                    delay = min(
                        self.backoff_max_s,
                        self.backoff_initial_s * 2 ** (self.status.consecutive_failures - 1),
                    )
                    if isinstance(exc, AnchorError):
                        self.log.warning(
                            "EVM anchoring failed (%d in a row, next try in %g s): %s",
                            self.status.consecutive_failures,
                            delay,
                            exc,
                        )
                    else:
                        self.log.exception(
                            "EVM anchoring failed unexpectedly (next try in %g s)", delay
                        )
                else:
                    if due:
                        next_anchor = time.monotonic() + self.interval_s
                    delay = max(0.0, next_anchor - time.monotonic())
                    if self._inflight is not None or self._unfinal:
                        delay = min(delay, self.finality_poll_s)
                self.status.next_attempt_in_s = delay
                await self._sleep(delay)
        finally:
            self.status.running = False
            self.status.next_attempt_in_s = None

    async def anchor_once(self) -> None:
        """One full pass now (follow pending anchors, anchor the newest checkpoint, wait
        for its receipt), whatever the interval. For tests and tools.

        Raises:
            AnchorError: the pass failed (ChainUnreachableError, TxRejectedError,
                AnchorConfigError...); ``status`` records it.
        """
        await self._attempt(anchor=True)

    async def follow_once(self) -> None:
        """Like :meth:`anchor_once` but sends nothing new: only follows the transaction in
        flight and the pending anchors (receipts, confirmations, reorgs, replacement)."""
        await self._attempt(anchor=False)

    # ------------------------------------------------------------------ one pass

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

    async def _attempt(self, *, anchor: bool) -> None:
        self.status.last_attempt_ms = _now_ms()
        try:
            await self._pass(anchor=anchor)
        except ChainUnreachableError as exc:
            self.status.reachable = False
            self._failed(exc)
            raise
        except Exception as exc:
            self._failed(exc)
            raise
        self.status.consecutive_failures = 0
        self.status.last_error = None
        self.status.last_success_ms = _now_ms()
        self._refresh_status()

    def _failed(self, exc: BaseException) -> None:
        self.status.consecutive_failures += 1
        self.status.last_error = f"{type(exc).__name__}: {exc}"
        self._refresh_status()

    async def _pass(self, *, anchor: bool) -> None:
        log_id = await self._s(self.store.get_log_id)
        head = await self._c(self.chain.block_number)
        self.status.reachable = True
        self.status.head_block = head
        if not self._ready:
            await self._check_config(log_id, check_balance=False)
        if not self._scanned:
            await self._scan_store(head)
        if self._inflight is not None:
            await self._follow_inflight(head)
        if self._unfinal:
            await self._follow_mined(head)
        if anchor and log_id is not None:
            await self._anchor_newest(log_id)

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
            self._inflight = _InFlight(tree_size, a.tx_hash, tx.nonce, tx.fees, time.monotonic())
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
        elif time.monotonic() - f.sent_at >= self.replace_after_s:
            await self._replace(f, why=f"not mined after {self.replace_after_s:g} s")

    async def _replace(self, f: _InFlight, *, why: str) -> None:
        """Send a transaction with the same nonce and higher fees, anchoring the newest
        checkpoint (which may be newer than the one ``f`` anchors)."""
        log_id = await self._s(self.store.get_log_id)
        cp = await self._s(self.store.latest_checkpoint)
        if log_id is None or cp is None:  # a store emptied under us: nothing to anchor
            return
        fees = f.fees.bumped(await self._c(self.chain.fees))
        signed = await self._c(
            self.chain.prepare_anchor,
            self.contract,
            log_id,
            cp.tree_size,
            cp.root,
            nonce=f.nonce,
            fees=fees,
            gas_limit=self.gas_limit,
        )
        await self._s(
            self.store.set_anchor, cp.tree_size, self._anchor(signed.tx_hash, None, False)
        )
        if cp.tree_size != f.tree_size:
            await self._s(self.store.set_anchor, f.tree_size, None)
        f.replaced[f.tx_hash] = f.tree_size
        f.tx_hash, f.tree_size, f.fees, f.sent_at, f.sent_ms = (
            signed.tx_hash,
            cp.tree_size,
            fees,
            time.monotonic(),
            _now_ms(),
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
                self._inflight = _InFlight(
                    tree_size, a.tx_hash, tx.nonce, tx.fees, time.monotonic()
                )
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
        signed = await self._c(
            chain.prepare_anchor,
            self.contract,
            log_id,
            cp.tree_size,
            cp.root,
            nonce=self._nonce,
            fees=fees,
            gas_limit=self.gas_limit,
        )
        # Write-ahead: the store knows the hash before the node does.
        await self._s(
            self.store.set_anchor, cp.tree_size, self._anchor(signed.tx_hash, None, False)
        )
        self._inflight = _InFlight(
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
