"""What only the sequencing frontend does besides sequencing: pushing checkpoints to the
witnesses. Every frontend is configured alike (the same ``--witness`` list); the pusher
runs on whichever frontend holds the sequencer lock, started when it is elected and
stopped when it steps down, so the witnesses see one pusher per log at a time. A new
sequencer's pusher starts without knowing what the witnesses have: their 409 answers
name their sizes, and it goes on from there (C2SP tlog-witness).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.registry import Collector

from .witnessing import Witnessing, start_witnessing

if TYPE_CHECKING:
    from .config import RelayConfig
    from .ledger import Ledger
    from .writer import Writer

__all__ = ["WitnessDuty", "start_for_config"]

log = logging.getLogger("hashcore.relay")


class _Slot:
    """Stands in for the registry: keeps the collector of the pusher of the moment."""

    collector: Collector | None = None

    def register(self, collector: Collector) -> None:
        self.collector = collector


class _CurrentCollector(Collector):
    """The metrics of whichever pusher runs now (none while not sequencing)."""

    def __init__(self, slot: _Slot, duty: WitnessDuty) -> None:
        self._slot, self._duty = slot, duty

    def collect(self) -> Iterator[Any]:
        if self._duty.current is not None and self._slot.collector is not None:
            yield from self._slot.collector.collect()


class WitnessDuty:
    """The server's ``Witnessing`` for a frontend: ``settle`` and ``stop`` act on the pusher
    of the moment; a task starts and stops it as the frontend's role changes."""

    def __init__(
        self,
        witnesses: tuple[Any, ...],
        quorum: int,
        writer: Any,
        ledger: Any,
        registry: Any,
        poll_s: float = 0.2,
    ) -> None:
        self._args = (witnesses, quorum, writer, ledger)
        self._ledger = ledger
        self._slot = _Slot()
        registry.register(_CurrentCollector(self._slot, self))
        self.current: Witnessing | None = None
        self._poll_s = poll_s
        self._task = asyncio.create_task(self._follow_role(), name="hashcore-witness-duty")

    async def _follow_role(self) -> None:
        while True:
            sequencing = self._ledger.log_thread.is_sequencer
            if sequencing and self.current is None:
                witnesses, quorum, writer, ledger = self._args
                try:
                    self.current = await start_witnessing(
                        witnesses, quorum, writer, ledger, self._slot
                    )
                except Exception:
                    log.exception("starting the witness pusher failed; will retry")
            elif not sequencing and self.current is not None:
                current, self.current = self.current, None
                await current.stop()
                log.info("witness pusher stopped: this frontend no longer sequences")
            await asyncio.sleep(self._poll_s)

    async def settle(self, tree_size: int, timeout_s: float) -> bool:
        # Elected since the role was last looked at (a stop right after a fail-over): the
        # pusher starts within a poll; without this wait the final checkpoint went out
        # uncosigned, as if another frontend sequenced.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.current is None and self._ledger.log_thread.is_sequencer:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        if self.current is None:
            return True  # another frontend sequences, and pushes
        return await self.current.settle(tree_size, max(0.0, deadline - loop.time()))

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self.current is not None:
            await self.current.stop()
            self.current = None


async def start_for_config(
    config: RelayConfig, writer: Writer, ledger: Ledger, registry: Any
) -> Witnessing | WitnessDuty:
    """The relay's witnessing for its config: on a frontend, a duty that pushes only while
    this frontend sequences (:mod:`.frontend_duties`); else the pusher, started now."""
    if config.frontend:
        args = (config.witnesses, config.witness_quorum, writer, ledger)
        return WitnessDuty(*args, registry)
    return await start_witnessing(config.witnesses, config.witness_quorum, writer, ledger, registry)
