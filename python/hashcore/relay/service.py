"""The gRPC servicers: protobuf in, ledger call on the writer thread, protobuf out (Submit:
bytes in and out, through the Rust hot path of :mod:`.fast_ingest`).

Every ledger call goes through :class:`Writer`, which runs them one at a time on a single
thread (the ledger's threading rule) and batches concurrent submissions into groups that
share one transaction.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from grpc import aio

from .. import _core
from .fast_ingest import records_in
from .ledger import Ack
from .ratelimit import BurstDetector, PeerBuckets, peer_address
from .rejection import Rejected, invalid
from .store.base import StoredCheckpoint
from .submit_stream import pipelined
from .v2 import relay_pb2 as pb
from .v2 import relay_pb2_grpc as pb_grpc
from .writer import Writer

__all__ = ["OperatorService", "RelayService", "Writer"]

log = logging.getLogger("hashcore.relay")


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
            tree_size=max(self._ledger.size, self._w.durable_size),
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

    async def _one_raw(self, raw: bytes, staged: asyncio.Future[bool] | None = None) -> bytes:
        """The hot path: request bytes in, SubmitResponse bytes out (:mod:`.fast_ingest`).
        ``staged`` is told whether the batch was accepted, before it is durable."""
        started = time.perf_counter()
        try:
            reply = await self._w.submit_raw(raw, staged)
        except Rejected as r:
            refused = records_in(raw)
            if refused:
                self._metrics.rejected.labels(r.reason).inc(refused)
            raise
        finally:
            if staged is not None and not staged.done():  # the writer never got to it
                staged.set_result(False)
        self._metrics.accepted.inc(reply.fresh)
        self._metrics.duplicates.inc(reply.duplicates)
        self._metrics.batch_latency.observe(time.perf_counter() - started)
        return reply.response(max(self._ledger.size, self._w.durable_size))

    async def SubmitRaw(
        self, requests: AsyncIterator[bytes], context: aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        """Submit as the server registers it: requests and responses as bytes, a
        stream's batches pipelined (:mod:`.submit_stream`)."""
        loop = asyncio.get_running_loop()

        def submit(raw: bytes) -> tuple[asyncio.Future[bool], Awaitable[bytes]]:
            staged: asyncio.Future[bool] = loop.create_future()
            return staged, self._one_raw(raw, staged)

        async for response in pipelined(requests, submit):
            yield response

    async def SubmitBatchRaw(self, raw: bytes, context: aio.ServicerContext) -> bytes:
        """SubmitBatch as the server registers it: request and response as bytes."""
        return await self._one_raw(raw)

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
