"""Anchoring on relay frontends (``--frontend --evm url``): one account, one contract, and
an anchorer that runs only on the frontend holding the sequencer lock.

Every frontend is configured alike: the same ``--evm-url`` chain and the same
``--evm-key`` account (a copy of one key file, like ``relay.key``). It has to be one
account: the anchor contract lets only the first sender of a logId anchor it again
(SPEC 2.2), and an auditor's policy names that one ``anchorer``. The store holds the
contract and the account per chain (``a:evm-contract@<chain id>``, ``a:evm-account@<chain
id>:<contract>`` in its meta table), so the first frontend started deploys the contract
(under an advisory lock: two frontends starting together deploy one) and every other one
uses it; a frontend with another account or another ``--evm-contract`` is refused at
start with one line. A recorded contract the chain no longer holds (a dev node restarted
empty) is replaced: by ``--evm-contract``, else by a new deployment.

:class:`AnchorDuty` stands in for the server's :class:`~hashcore.anchor.Anchorer`. At
start it checks the configuration against the chain and nothing else (it does not touch
the anchors in the store: they belong to whoever sequences). When this frontend is
elected it makes a *new* anchorer and runs it; when it steps down it stops it. A new
anchorer starts from the stored state, as a restarted relay does: its first pass loads the
store's anchors (final, mined, and the write-ahead hash of a transaction the previous
sequencer may have sent), follows up the transaction in flight (receipt, still in the
mempool, or dropped), and takes the nonce from the chain; a checkpoint anchored on chain
but missing from the store is adopted, not sent again. So a fail-over anchors nothing
twice, and the contract refuses a treeSize not larger than the last one anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from eth_utils.address import to_checksum_address

from ..anchor.anchorer_status import AnchorConfigError, AnchorerStatus, AnchorReceipt
from ..errors import AnchorError
from .store.postgres_queue import connect

if TYPE_CHECKING:
    from ..anchor import Anchorer, EvmChain
    from ..anchor.store import Anchor

__all__ = ["AnchorDuty", "shared_contract"]

log = logging.getLogger("hashcore.relay")

# Advisory key (with the schema's hash, as the frontends' other locks) held while a
# frontend finds or deploys the log's contract: "evmc".
_CONTRACT_LOCK = 0x65766D63
_SCHEMA_KEY = "hashtext(coalesce(current_schema(), ''))"


def shared_contract(url: str, chain: EvmChain, configured: str | None, known: str | None) -> str:
    """The contract every frontend of the log anchors to on this chain, and the one
    account they anchor from, recorded in the store (see the module doc).

    ``configured`` is ``--evm-contract``, ``known`` the contract the store's anchors name.

    Raises:
        AnchorConfigError: this frontend's ``--evm-contract`` or account is not the log's,
            or ``--evm-contract`` holds no code.
    """
    chain_id = chain.chain_id()
    conn = connect(url, "anchor-setup")
    try:
        conn.execute(f"SELECT pg_advisory_lock(%s, {_SCHEMA_KEY})", (_CONTRACT_LOCK,))
        key = f"a:evm-contract@{chain_id}"
        recorded = _read(conn, key)
        if recorded is not None and chain.code_at(recorded):
            if configured and configured.lower() != recorded.lower():
                raise AnchorConfigError(
                    f"--evm-contract {configured}: the frontends of this log anchor to "
                    f"{recorded} on chain id {chain_id}; give that one (or none)"
                )
            contract = recorded
        else:
            contract = _new_contract(chain, chain_id, configured, known, recorded)
            _write(conn, key, contract)
        _claim_account(conn, chain, chain_id, contract)
    finally:
        conn.close()  # the session lock goes with it
    return contract


def _new_contract(
    chain: EvmChain, chain_id: int, configured: str | None, known: str | None, lost: str | None
) -> str:
    if lost is not None:
        log.warning(
            "EVM: chain id %d holds no contract at %s, the log's recorded anchor contract "
            "(a dev node restarted empty?): the frontends move to another one",
            chain_id,
            lost,
        )
    if configured:
        if not chain.code_at(configured):
            raise AnchorConfigError(
                f"no contract at --evm-contract {configured} on chain id {chain_id}"
            )
        return str(to_checksum_address(configured))
    if known is not None and known != lost and chain.code_at(known):
        return str(to_checksum_address(known))
    contract = chain.deploy_anchor_contract()
    log.warning(
        "deployed the log's anchor contract at %s on chain id %d; every frontend of this "
        "log uses it (recorded in the store)",
        contract,
        chain_id,
    )
    return contract


def _claim_account(conn: Any, chain: EvmChain, chain_id: int, contract: str) -> None:
    key = f"a:evm-account@{chain_id}:{contract}"
    mine = str(chain.address)
    held = _read(conn, key)
    if held is None:
        _write(conn, key, mine)
    elif held.lower() != mine.lower():
        raise AnchorConfigError(
            f"--evm-key: this log anchors on {contract} (chain id {chain_id}) from {held}, "
            f"and this frontend's key is {mine}: every frontend uses the same account "
            "(copy its key file)"
        )


# The records live in the store's meta table under "a:" (the store's own set-once
# values are under "v:"): replaced when the chain lost a contract.
def _read(conn: Any, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
    return bytes(row[0]).decode() if row is not None else None


def _write(conn: Any, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (%s, %s) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value.encode()),
    )


class AnchorDuty:
    """The server's anchorer on a frontend: ``run``, ``stop``, ``status``,
    ``anchor_receipt`` and the final anchoring act on the anchorer of the moment, which
    runs only while this frontend sequences (see the module doc).

    ``make`` builds a fresh :class:`Anchorer` for the log (one per election, and one at
    start for the configuration checks and the status while not sequencing)."""

    def __init__(self, make: Callable[[], Anchorer], ledger: Any, poll_s: float = 0.1) -> None:
        self._make = make
        self._ledger = ledger
        self._standby = make()
        self._poll_s = poll_s
        self.current: Anchorer | None = None
        self._running: asyncio.Task[None] | None = None
        self._last: Anchorer | None = None  # the one that ran when stopped
        self._stopping = False
        self._wake = asyncio.Event()
        self.finality_poll_s = self._standby.finality_poll_s

    @property
    def status(self) -> AnchorerStatus:
        return (self.current or self._last or self._standby).status

    @property
    def anchors_here(self) -> bool:
        """This frontend anchored until stopped and still sequences: the final
        checkpoint is its to anchor."""
        return self._last is not None and bool(self._ledger.log_thread.is_sequencer)

    def anchor_receipt(self, anchor: Anchor | None) -> AnchorReceipt | None:
        return (self.current or self._last or self._standby).anchor_receipt(anchor)

    async def preflight(self) -> None:
        """The configuration checks only (the anchors are the sequencer's)."""
        await self._standby.preflight(scan_store=False)

    async def run(self) -> None:
        """Follow this frontend's role until :meth:`stop`: anchor while sequencing."""
        next_head = 0.0
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping:
                try:
                    next_head = await self._follow_role(next_head, loop.time())
                except Exception:  # a bug: log it, keep following the role
                    log.exception("anchoring: following the frontend's role failed")
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_s)
        finally:
            if self.current is not None:
                self._last = self.current
                await self._stop_current()

    async def _follow_role(self, next_head: float, now: float) -> float:
        sequencing = bool(self._ledger.log_thread.is_sequencer)
        if sequencing and self.current is None:
            self.current = self._make()
            self._running = asyncio.create_task(self.current.run(), name="hashcore-anchorer")
            log.info("anchoring: this frontend sequences; its anchorer goes on from the store")
        elif not sequencing and self.current is not None:
            await self._stop_current()
            log.info("anchoring stopped: this frontend no longer sequences")
        elif self.current is None and now >= next_head:
            # Receipts served here count confirmations from the newest block.
            await self._see_head()
            return now + self.finality_poll_s
        return next_head

    async def _see_head(self) -> None:
        status = self._standby.status
        try:
            status.head_block = await asyncio.to_thread(self._standby.chain.block_number)
            status.reachable = True
        except AnchorError as exc:
            status.reachable, status.last_error = False, str(exc)

    async def _stop_current(self) -> None:
        current, running = self.current, self._running
        self.current = self._running = None
        if current is not None:
            current.stop()
        if running is not None:
            await running

    def stop(self) -> None:
        """Ask :meth:`run` to return (it stops the anchorer of the moment)."""
        self._stopping = True
        self._wake.set()

    async def anchor_once(self) -> None:
        if self._last is not None:
            await self._last.anchor_once()

    async def follow_once(self) -> None:
        if self._last is not None:
            await self._last.follow_once()
