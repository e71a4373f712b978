"""The gRPC servicers: protobuf in, ledger call on the writer thread, protobuf out.

Every ledger call goes through :class:`Writer`, which runs them one at a time on a single
thread (the ledger's threading rule) and batches concurrent submissions into groups that
share one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from grpc import aio

from .. import _core
from ..errors import StoreError
from .ledger import Ack, Ledger, Sealed, SubmittedRecord
from .metrics import RelayMetrics
from .ratelimit import BurstDetector, PeerBuckets, peer_address
from .rejection import Rejected, invalid
from .store.base import StoredCheckpoint, StoreUnavailableError
from .v2 import relay_pb2 as pb
from .v2 import relay_pb2_grpc as pb_grpc

__all__ = ["OperatorService", "RelayService", "Writer"]

T = TypeVar("T")

log = logging.getLogger("hashcore.relay")

#: How long a client should wait before retrying after the disk was full.
DISK_FULL_RETRY_MS = 5000


class _Batch:
    __slots__ = ("fut", "records")

    def __init__(self, records: Sequence[SubmittedRecord], fut: asyncio.Future[list[Ack]]) -> None:
        self.records = records
        self.fut = fut


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
            count = len(item.records)
            while count < self._group_max and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if isinstance(nxt, _Call):
                    self._held = nxt  # a call ends the group; it runs after it is stored
                    break
                group.append(nxt)
                count += len(nxt.records)
            try:
                results, sealed = await self._on_writer(
                    self.ledger.prepare_group, [b.records for b in group]
                )
            except BaseException as exc:  # nothing of the group was accepted
                refusal = store_failure(exc, self.metrics)
                for b in group:
                    if not b.fut.done():
                        b.fut.set_exception(refusal)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            # Refusals can be answered at once: nothing of theirs will be stored.
            for b, result in zip(group, results, strict=True):
                if isinstance(result, Rejected) and not b.fut.done():
                    b.fut.set_exception(result)
            await self._settle()  # groups are stored in order, one at a time
            self._persisting = asyncio.create_task(self._persist(group, results, sealed))

    async def _settle(self) -> None:
        if self._persisting is not None:
            await self._persisting
            self._persisting = None

    async def _persist(
        self, group: list[_Batch], results: list[list[Ack] | Rejected], sealed: Sealed | None
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
            await self._on_writer(self.ledger.apply, sealed)
        for b, result in zip(group, results, strict=True):
            if not isinstance(result, Rejected) and not b.fut.done():
                b.fut.set_result(result)
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


def checkpoint_pb(cp: StoredCheckpoint) -> pb.Checkpoint:
    """The checkpoint as served: the signed note's bytes (what a client verifies) and,
    for convenience, the size and root its body names."""
    return pb.Checkpoint(
        note=cp.note, tree_size=cp.tree_size, root=cp.root, created_ms=cp.created_ms
    )


def ack_pb(a: Ack) -> pb.Ack:
    return pb.Ack(
        chain_id=a.chain_id,
        seq=a.seq,
        log_index=a.log_index,
        duplicate=a.duplicate,
        received_ms=a.received_ms,
        receipt_sig=a.receipt_sig,
    )


def _chain_id(raw: bytes) -> bytes:
    if len(raw) != _core.CHAIN_ID_LEN:
        raise invalid("malformed", f"chain_id must be {_core.CHAIN_ID_LEN} bytes, got {len(raw)}")
    return bytes(raw)


def _buckets(rate: float, burst: int) -> PeerBuckets | None:
    return PeerBuckets(rate, burst) if rate > 0 else None


class RelayService(pb_grpc.RelayServicer):
    def __init__(
        self,
        writer: Writer,
        anchor_info: Callable[[StoredCheckpoint], pb.Anchor | None] | None = None,
    ) -> None:
        self._w = writer
        self._ledger = writer.ledger
        self._metrics = writer.metrics
        self._anchor_info = anchor_info
        limits = writer.ledger.limits
        # Per source address (Limits): Enroll on its own, every read call together.
        self._enroll_rate = _buckets(limits.enroll_per_s, limits.enroll_burst)
        self._read_rate = _buckets(limits.reads_per_s, limits.reads_burst)
        self._token_bursts = BurstDetector(limits.token_burst_quiet_s)
        self._limited_bursts = BurstDetector(limits.token_burst_quiet_s)

    def _admit(self, call: str, buckets: PeerBuckets | None, context: aio.ServicerContext) -> None:
        """Refuse the call (RESOURCE_EXHAUSTED, retry-after) if its peer is over the rate."""
        if buckets is None:
            return
        peer = peer_address(context.peer())
        wait = buckets.take(peer)
        if wait is None:
            return
        self._metrics.rate_limited.labels(call).inc()
        previous = self._limited_bursts.note(f"{call} {peer}")
        if previous is not None:
            log.warning(
                "rate limit: %s calls from %s refused (%g a second, bursts of %d); logged "
                "once per burst, counted in hashcore_relay_rate_limited_total%s",
                call,
                peer,
                buckets.rate,
                buckets.burst,
                f" (its previous burst: {previous} refused)" if previous else "",
            )
        raise Rejected(
            "RESOURCE_EXHAUSTED",
            "rate_limited",
            f"too many {call} calls from this address; retry in {wait:.1f} s",
            retry_after_ms=math.ceil(wait * 1000),
        )

    def _token_refused(self, context: aio.ServicerContext) -> None:
        """Count a refused enrollment token; log the first of each burst per address."""
        self._metrics.token_refusals.inc()
        peer = peer_address(context.peer())
        previous = self._token_bursts.note(peer)
        if previous is None:
            return
        self._metrics.token_refusal_bursts.inc()
        log.warning(
            "enrollment tokens refused from %s: a burst begins (logged once; each refusal "
            "is counted in hashcore_relay_enroll_tokens_refused_total)%s",
            peer,
            f" (its previous burst: {previous} refused)" if previous else "",
        )

    async def Enroll(
        self, request: pb.EnrollRequest, context: aio.ServicerContext
    ) -> pb.EnrollResponse:
        self._admit("Enroll", self._enroll_rate, context)
        if not request.HasField("genesis"):
            raise invalid("malformed", "EnrollRequest.genesis is missing")
        try:
            if not request.token:
                raise Rejected("UNAUTHENTICATED", "token", "EnrollRequest.token is missing")
            device, ack = await self._w.call(self._ledger.enroll, request.token, request.genesis)
        except Rejected as r:
            if r.reason == "token":
                self._token_refused(context)
            raise
        self._metrics.enrolled.inc()
        response = pb.EnrollResponse(
            chain_id=device.chain_id,
            participant=device.participant,
            origin=self._ledger.origin,
            log_key=self._ledger.log_key,
            ack=ack_pb(ack),
        )
        latest = self._ledger.latest
        if latest is not None:
            response.checkpoint.CopyFrom(checkpoint_pb(latest))
        return response

    async def _one_batch(self, request: pb.SubmitRequest) -> pb.SubmitResponse:
        started = time.perf_counter()
        records = request.records
        try:
            acks = await self._w.submit(records)
        except Rejected as r:
            self._metrics.rejected.labels(r.reason).inc(len(records))
            raise
        fresh = sum(1 for a in acks if not a.duplicate)
        self._metrics.accepted.inc(fresh)
        self._metrics.duplicates.inc(len(acks) - fresh)
        self._metrics.batch_latency.observe(time.perf_counter() - started)
        return pb.SubmitResponse(
            batch_id=request.batch_id,
            acks=[ack_pb(a) for a in acks],
            tree_size=self._ledger.size,
        )

    async def Submit(
        self, requests: AsyncIterator[pb.SubmitRequest], context: aio.ServicerContext
    ) -> AsyncIterator[pb.SubmitResponse]:
        async for request in requests:
            yield await self._one_batch(request)

    async def SubmitBatch(
        self, request: pb.SubmitRequest, context: aio.ServicerContext
    ) -> pb.SubmitResponse:
        return await self._one_batch(request)

    async def GetReceipt(
        self, request: pb.GetReceiptRequest, context: aio.ServicerContext
    ) -> pb.Receipt:
        self._admit("GetReceipt", self._read_rate, context)
        chain_id = _chain_id(request.chain_id)
        ack, rec, cp, path = await self._w.call(self._ledger.receipt, chain_id, request.seq)
        receipt = pb.Receipt(ack=ack_pb(ack), link=rec.link, inclusion_path=path)
        if cp is None:
            return receipt
        receipt.checkpoint.CopyFrom(checkpoint_pb(cp))
        if self._anchor_info is not None:
            # No chain call: the anchorer counts confirmations from the last block it saw.
            anchor = self._anchor_info(cp)
            if anchor is not None:
                receipt.anchor.CopyFrom(anchor)
        return receipt

    async def GetCheckpoint(
        self, request: pb.GetCheckpointRequest, context: aio.ServicerContext
    ) -> pb.Checkpoint:
        self._admit("GetCheckpoint", self._read_rate, context)
        cp = await self._w.call(self._ledger.checkpoint_at, request.tree_size)
        if cp is None:
            what = (
                "no checkpoint yet"
                if request.tree_size == 0
                else f"no checkpoint at tree_size {request.tree_size}"
            )
            raise Rejected("NOT_FOUND", "no_checkpoint", what)
        return checkpoint_pb(cp)

    async def GetConsistencyProof(
        self, request: pb.GetConsistencyProofRequest, context: aio.ServicerContext
    ) -> pb.ConsistencyProof:
        self._admit("GetConsistencyProof", self._read_rate, context)
        to_size, first_root, second_root, path = await self._w.call(
            self._ledger.consistency, request.from_size, request.to_size
        )
        return pb.ConsistencyProof(
            from_size=request.from_size,
            to_size=to_size,
            from_root=first_root,
            to_root=second_root,
            path=path,
        )

    async def GetChainHead(
        self, request: pb.GetChainHeadRequest, context: aio.ServicerContext
    ) -> pb.ChainHead:
        self._admit("GetChainHead", self._read_rate, context)
        chain_id = _chain_id(request.chain_id)
        head, index = await self._w.call(self._ledger.chain_head, chain_id)
        return pb.ChainHead(
            chain_id=chain_id, head_seq=head.seq, head_link=head.link, head_log_index=index
        )


class OperatorService(pb_grpc.OperatorServicer):
    def __init__(self, writer: Writer, default_ttl_s: int) -> None:
        self._w = writer
        self._ledger = writer.ledger
        self._default_ttl_s = default_ttl_s

    async def IssueToken(
        self, request: pb.IssueTokenRequest, context: aio.ServicerContext
    ) -> pb.IssueTokenResponse:
        participant = request.participant.strip()
        if not participant:
            raise invalid("malformed", "IssueTokenRequest.participant is empty")
        token = new_token()
        ttl_s = request.ttl_seconds or self._default_ttl_s
        expires = await self._w.call(self._ledger.issue_token, token, participant, ttl_s * 1000)
        return pb.IssueTokenResponse(token=token, expires_ms=expires)

    async def ListDevices(
        self, request: pb.ListDevicesRequest, context: aio.ServicerContext
    ) -> pb.ListDevicesResponse:
        devices = await self._w.call(self._ledger.store.list_devices, request.participant or None)
        return pb.ListDevicesResponse(
            devices=[
                pb.DeviceInfo(
                    chain_id=d.chain_id,
                    participant=d.participant,
                    head_seq=d.head_seq,
                    enrolled_ms=d.enrolled_ms,
                )
                for d in devices
            ]
        )

    async def EraseRecord(
        self, request: pb.EraseRequest, context: aio.ServicerContext
    ) -> pb.EraseResponse:
        chain_id = _chain_id(request.chain_id)
        erasure = await self._w.call(
            self._ledger.erase, chain_id, request.seq, request.reason or "right to erasure"
        )
        return pb.EraseResponse(log_index=erasure.log_index, erased_ms=erasure.erased_ms)

    async def CreateCheckpoint(
        self, request: pb.CreateCheckpointRequest, context: aio.ServicerContext
    ) -> pb.Checkpoint:
        cp = await self._w.call(self._ledger.checkpoint)
        if cp is None:
            raise Rejected(
                "FAILED_PRECONDITION", "empty_log", "the log is empty; nothing to checkpoint"
            )
        return checkpoint_pb(cp)


def new_token() -> str:
    """A one-time enrollment token: 32 random bytes, URL-safe (fits a QR code)."""
    return "hct_" + secrets.token_urlsafe(32)
