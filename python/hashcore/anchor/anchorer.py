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

This module holds the loop and the public API; the steps of a pass are in
:mod:`.anchorer_core` (state, plumbing), :mod:`.anchorer_tracking` (receipts,
confirmations, reorgs, replacement), :mod:`.anchorer_preflight` (configuration checks,
the store's anchors at start) and :mod:`.anchorer_sending` (anchoring the newest
checkpoint); the values it reports are in :mod:`.anchorer_status`.
"""

from __future__ import annotations

import time

from ..errors import AnchorError
from .anchorer_sending import AnchorerSending
from .anchorer_status import AnchorConfigError, AnchorerStatus, AnchorReceipt, now_ms
from .chain_types import ChainUnreachableError
from .store import Anchor

__all__ = ["AnchorConfigError", "AnchorReceipt", "Anchorer", "AnchorerStatus"]


class Anchorer(AnchorerSending):
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

    async def preflight(self, *, scan_store: bool = True) -> None:
        """Check the configuration against the chain; call before the relay serves.

        Checks: the chain id (if ``expected_chain_id``), that the contract address holds
        the anchor contract, that no other account anchored this relay's ``log_id``
        first, and that the account can pay for an anchor; then loads the store's
        anchors, forgetting those the chain lost. If the node does not answer,
        logs a warning and returns: the same checks run when it first answers.

        ``scan_store=False``: the checks only, nothing read from or written to the
        store's anchors (a relay frontend that does not sequence: the anchors and their
        write-ahead state belong to the sequencer's anchorer, which scans them when it
        starts; :mod:`hashcore.relay.frontend_anchoring`).

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
            if scan_store:
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

    async def _attempt(self, *, anchor: bool) -> None:
        self.status.last_attempt_ms = now_ms()
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
        self.status.last_success_ms = now_ms()
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
