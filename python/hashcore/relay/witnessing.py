"""The relay's witnesses (SPEC v2 2.3, C2SP tlog-witness): every new checkpoint is pushed
to the configured witnesses by :class:`hashcore.witness.pusher.WitnessPusher`, and their
cosignature lines are merged into the stored note, which GetCheckpoint, receipts and
exports then serve. Ingest never waits for a witness: the pusher runs beside the writer
on the event loop, reads through the writer (the one thread that touches the ledger) and
is woken every ``poll_s``, which is cheap (a witness that has the newest size is skipped).

The size each witness has is kept in the store (``Store.set_witness_size``, under
``known_size_key``), written when it changes (once per checkpoint and witness at most), so
a restarted relay sends each witness the proof from its size at once instead of learning
it from a 409.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..witness.pusher import WitnessEndpoint, WitnessPusher
    from .ledger import Ledger
    from .service import Writer

log = logging.getLogger("hashcore.relay")


def known_size_key(witness: WitnessEndpoint) -> str:
    """The store's name of the size ``witness`` has (its name and key: another witness
    under the same name starts from 0)."""
    return f"{witness.name}/{witness.key.hex()}"


def _load_known_sizes(ledger: Ledger, witnesses: tuple[WitnessEndpoint, ...]) -> dict[Any, int]:
    kept = ledger.store.witness_sizes()
    out = {}
    for w in witnesses:
        if known_size_key(w) in kept:
            out[w] = min(kept[known_size_key(w)], ledger.size)  # never past this store's log
    return out


class _LedgerSource:
    """The pusher's view of the log: the newest stored note and consistency proofs."""

    def __init__(self, writer: Writer, ledger: Ledger) -> None:
        self.writer, self.ledger = writer, ledger

    async def latest_note(self) -> bytes | None:
        cp = await self.writer.call(self.ledger.checkpoint_at, 0)
        return None if cp is None else cp.note

    async def notes_after(self, size: int, limit: int) -> list[bytes]:
        cps = await self.writer.call(self.ledger.store.checkpoints_after, size, limit)
        return [cp.note for cp in cps]

    async def consistency_proof(self, old: int, new: int) -> list[bytes]:
        _, _, _, proof = await self.writer.call(self.ledger.consistency, old, new)
        return proof


class Witnessing:
    """The pusher and the task that wakes it; ``stop()`` ends both."""

    def __init__(self, pusher: WitnessPusher, poll_s: float) -> None:
        self.pusher = pusher
        self._poll_s = poll_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.pusher.start()
        self._task = asyncio.create_task(self._wake(), name="hashcore-witness-wake")

    async def _wake(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            self.pusher.notify()

    async def settle(self, tree_size: int, timeout_s: float) -> bool:
        """Wake the pusher and wait (at most ``timeout_s``) until every witness that is up
        has cosigned ``tree_size``; True when all of them did."""
        self.pusher.notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            if all((s.cosigned_size or 0) >= tree_size for s in self.pusher.statuses()):
                return True
            await asyncio.sleep(0.05)
        return False

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.pusher.stop()


async def start_witnessing(
    witnesses: tuple[WitnessEndpoint, ...],
    quorum: int,
    writer: Writer,
    ledger: Ledger,
    registry: Any,
    poll_s: float = 1.0,
) -> Witnessing:
    from ..witness.pusher import WitnessPusher  # aiohttp: only for a relay with witnesses

    async def on_cosigned(tree_size: int, root: bytes, lines: list[bytes]) -> None:
        if not await writer.call(ledger.add_cosignatures, tree_size, root, lines):
            log.warning("cosignatures for tree_size %d match no stored checkpoint", tree_size)

    async def on_known_size(witness: WitnessEndpoint, size: int) -> None:
        await writer.call(ledger.store.set_witness_size, known_size_key(witness), size)

    known = await writer.call(_load_known_sizes, ledger, witnesses)
    pusher = WitnessPusher(
        list(witnesses),
        _LedgerSource(writer, ledger),
        on_cosigned,
        quorum=quorum,
        known_sizes=known,
        on_known_size=on_known_size,
    )
    registry.register(pusher.collector())
    witnessing = Witnessing(pusher, poll_s)
    await witnessing.start()
    log.info(
        "pushing checkpoints to %d witnesses (%s), quorum %d",
        len(witnesses),
        ", ".join(w.name for w in witnesses),
        quorum,
    )
    return witnessing
