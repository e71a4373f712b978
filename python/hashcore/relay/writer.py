"""The single writer: every ledger call, in arrival order, on one thread, with
concurrent submissions batched into groups that share one transaction (group commit).
Acks go out only once their group is durable and logged."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ..errors import StoreError
from .fast_ingest import Batch, RawReply, RawRequest, Result
from .ledger import Ack, Ledger, Sealed, SubmittedRecord
from .metrics import RelayMetrics
from .rejection import Rejected
from .store.base import StoreUnavailableError

__all__ = ["DISK_FULL_RETRY_MS", "Writer", "store_failure"]

log = logging.getLogger("hashcore.relay")

T = TypeVar("T")

#: How long a client should wait before retrying after the disk was full.
DISK_FULL_RETRY_MS = 5000


class _Batch:
    __slots__ = ("fut", "records", "size", "staged")

    def __init__(
        self,
        records: Batch,
        fut: asyncio.Future[Any],
        staged: asyncio.Future[bool] | None = None,
    ) -> None:
        self.records = records
        self.fut = fut
        #: Told once the batch is checked: accepted (its ack follows once durable) or not.
        self.staged = staged
        #: Records it counts for in a group (estimated for a raw request).
        self.size = records.estimated_records() if isinstance(records, RawRequest) else len(records)


def _answer(group: list[_Batch], results: list[Result]) -> None:
    for b, result in zip(group, results, strict=True):
        if not isinstance(result, Rejected) and not b.fut.done():
            b.fut.set_result(result)


def _staged(b: _Batch, accepted: bool) -> None:
    if b.staged is not None and not b.staged.done():
        b.staged.set_result(accepted)


class _Call:
    __slots__ = ("args", "fn", "fut")

    def __init__(
        self, fn: Callable[..., Any], args: tuple[Any, ...], fut: asyncio.Future[Any]
    ) -> None:
        self.fn = fn
        self.args = args
        self.fut = fut


def store_failure(exc: BaseException, metrics: RelayMetrics) -> BaseException:
    """What a client is told of a store failure: UNAVAILABLE (RESOURCE_EXHAUSTED, with a
    retry-after, for a full disk), never the server's path or URL. The failure itself is
    logged with them and counted. Anything else is returned as it is."""
    if not isinstance(exc, StoreError):
        return exc
    kind = exc.kind if isinstance(exc, StoreUnavailableError) else "other"
    log.error("store failure (%s): %s", kind, exc)
    metrics.store_errors.labels(kind).inc()
    if kind == "disk_full":
        return Rejected(
            "RESOURCE_EXHAUSTED",
            "store",
            "the relay's store is full; nothing was stored; retry later",
            retry_after_ms=DISK_FULL_RETRY_MS,
        )
    return Rejected(
        "UNAVAILABLE",
        "store",
        f"the relay's store failed ({kind}); nothing was stored; retry later",
    )


class Writer:
    """The single writer: every ledger call, in arrival order, on one thread.

    Submissions that queue up while the writer is busy form one group (one transaction,
    one fsync). Groups are pipelined: while the store makes group k durable on a second
    thread, the writer already checks group k+1 against it (in the ledger's in-flight
    overlay). Acks go out only once their group is stored. Any other call (enroll,
    receipt, erase, checkpoint, ...) waits for the groups before it to be stored, so it
    sees exactly the durable state.
    """

    def __init__(
        self, ledger: Ledger, metrics: RelayMetrics, group_max_records: int = 16384
    ) -> None:
        self.ledger = ledger
        self.metrics = metrics
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hashcore-writer")
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hashcore-commit")
        self._queue: asyncio.Queue[_Batch | _Call] = asyncio.Queue()
        self._group_max = group_max_records
        self._task: asyncio.Task[None] | None = None
        self._persisting: asyncio.Task[None] | None = None
        self._held: _Batch | _Call | None = None  # taken from the queue, not yet handled
        #: Log size once the newest stored group is durable: acks go out before the
        #: ledger's own size catches up (see _persist), and say at least this much.
        self.durable_size = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="hashcore-writer")

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the writer thread, after everything queued before it."""
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Call(fn, args, fut))
        return await fut

    async def submit(self, records: Sequence[SubmittedRecord]) -> list[Ack]:
        fut: asyncio.Future[list[Ack]] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Batch(records, fut))
        return await fut

    async def submit_raw(self, raw: bytes, staged: asyncio.Future[bool] | None = None) -> RawReply:
        """A SubmitRequest's bytes through the hot path (:mod:`.fast_ingest`). ``staged``
        (if given) is set once the batch is checked: True if accepted (the reply follows
        when its group is durable), False if refused or its group failed."""
        fut: asyncio.Future[RawReply] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Batch(RawRequest(raw), fut, staged))
        return await fut

    async def _on_writer(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _run(self) -> None:
        while True:
            item = self._held or await self._queue.get()
            self._held = None
            if isinstance(item, _Call):
                await self._settle()
                try:
                    result = await self._on_writer(item.fn, *item.args)
                except BaseException as exc:
                    if not item.fut.done():
                        item.fut.set_exception(store_failure(exc, self.metrics))
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                else:
                    if not item.fut.done():
                        item.fut.set_result(result)
                continue
            group = [item]
            count = item.size
            while count < self._group_max and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if isinstance(nxt, _Call):
                    self._held = nxt  # a call ends the group; it runs after it is stored
                    break
                group.append(nxt)
                count += nxt.size
            self.metrics.group_batches.observe(len(group))
            try:
                results, sealed = await self._on_writer(
                    self.ledger.prepare_group, [b.records for b in group]
                )
            except BaseException as exc:  # nothing of the group was accepted
                refusal = store_failure(exc, self.metrics)
                for b in group:
                    if not b.fut.done():
                        b.fut.set_exception(refusal)
                    _staged(b, False)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            # Refusals can be answered at once: nothing of theirs will be stored.
            for b, result in zip(group, results, strict=True):
                if isinstance(result, Rejected) and not b.fut.done():
                    b.fut.set_exception(result)
                _staged(b, not isinstance(result, Rejected))
            await self._settle()  # groups are stored in order, one at a time
            self._persisting = asyncio.create_task(self._persist(group, results, sealed))

    async def _settle(self) -> None:
        if self._persisting is not None:
            await self._persisting
            self._persisting = None

    async def _persist(
        self, group: list[_Batch], results: list[Result], sealed: Sealed | None
    ) -> None:
        if sealed is not None:
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(self._committer, self.ledger.persist, sealed)
            except BaseException as exc:  # the store failed: none of the group is stored
                refusal = store_failure(exc, self.metrics)
                try:
                    await self._on_writer(self.ledger.abort_inflight)
                except Exception as again:
                    # The store is still failing: answer anyway and keep the writer
                    # alive. The tree may still hold this group's leaves: the store's
                    # position check refuses the next group, which rebuilds again.
                    store_failure(again, self.metrics)
                for b, result in zip(group, results, strict=True):
                    if not isinstance(result, Rejected) and not b.fut.done():
                        b.fut.set_exception(refusal)
                return
            # Durable: answer now. The committed in-memory state (heads, size) follows on
            # the writer thread, behind whatever group it is checking (which reads the
            # in-flight overlay meanwhile); every other ledger call waits for it (_settle).
            self.durable_size = max(self.durable_size, sealed.new_size)
            _answer(group, results)
            await self._on_writer(self.ledger.apply, sealed)
        else:
            _answer(group, results)
        self.metrics.log_size.set(self.ledger.size)
        if self.ledger.latest is not None:
            self.metrics.checkpoint_size.set(self.ledger.latest.tree_size)

    async def drain(self) -> None:
        """Wait until everything queued so far is answered and stored (graceful stop)."""
        await self.call(lambda: None)

    async def close(self) -> None:
        await self.drain()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._settle()
        self._executor.shutdown(wait=True)
        self._committer.shutdown(wait=True)
