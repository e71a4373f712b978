"""``RelayClient``: what a phone (or a test, or an operator script) uses to talk to a relay.

Offline-first like a phone: a :class:`~hashcore.Device` keeps making records whether or
not the relay is reachable; :meth:`RelayClient.sync` later sends every unacknowledged
record, in order, in batches, retrying with exponential backoff while the relay is
unreachable. A record whose acknowledgement was lost is simply sent again: the relay
answers a record it already holds with its original log position, so nothing enters the
log twice.

Errors: a refusal is a :class:`hashcore.errors.RelayError` whose ``code`` is the gRPC
status name and whose message names the record.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from .. import _core
from ..checkpoint import Checkpoint
from ..device import Device
from ..errors import DeviceError, RelayError
from ..record import Record
from .grpc_api import OperatorStub, RelayStub
from .rejection import RETRY_AFTER_KEY
from .v1 import relay_pb2 as pb

__all__ = ["Ack", "AnchorInfo", "DeviceInfo", "Receipt", "RelayClient", "RetryPolicy", "SyncResult"]

T = TypeVar("T")

#: Statuses worth retrying: the relay is down, restarting, or its store failed for a
#: moment. RESOURCE_EXHAUSTED is retried only when the relay says when (see _retry_after).
_TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


def _retry_after(exc: grpc.RpcError) -> float | None:
    """Seconds to wait before retrying ``exc``, or None if retrying would not help.

    A batch over the relay's limits (RESOURCE_EXHAUSTED) fails the same way every time;
    a full disk or a rate limit (RESOURCE_EXHAUSTED with a retry-after trailer) does not.
    """
    code = exc.code()
    if code in _TRANSIENT:
        return 0.0
    if code != grpc.StatusCode.RESOURCE_EXHAUSTED:
        return None
    for key, value in exc.trailing_metadata() or ():
        if key == RETRY_AFTER_KEY:
            try:
                return max(0.0, int(value) / 1000)
            except ValueError:
                return None
    return None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 8
    first_delay_s: float = 0.1
    max_delay_s: float = 5.0
    multiplier: float = 2.0

    def delays(self) -> Iterator[float]:
        delay = self.first_delay_s
        for _ in range(self.attempts - 1):
            # Full jitter, so a fleet of phones coming back online does not retry in step.
            yield random.uniform(0, delay)
            delay = min(self.max_delay_s, delay * self.multiplier)


@dataclass(frozen=True, slots=True)
class Ack:
    chain_id: bytes
    seq: int
    log_index: int
    duplicate: bool


@dataclass(frozen=True, slots=True)
class SyncResult:
    sent: int  # records acknowledged in this sync
    duplicates: int  # of which the relay already held (a lost ack, resent)
    batches: int
    sent_through: int


@dataclass(frozen=True, slots=True)
class AnchorInfo:
    evm_chain_id: int
    contract: str
    tx_hash: bytes
    block_number: int | None
    confirmations: int
    final: bool


@dataclass(frozen=True, slots=True)
class Receipt:
    """Proof that a record is in the relay's log: the inclusion path to a signed checkpoint
    (and that checkpoint's anchor on chain, when there is one)."""

    chain_id: bytes
    seq: int
    log_index: int
    link: bytes
    inclusion_path: list[bytes]
    log_id: bytes
    checkpoint: Checkpoint
    anchor: AnchorInfo | None

    def verify(self, log_id: bytes, record: Record | None = None) -> bool:
        """True iff the checkpoint is signed by ``log_id`` (which you must know from
        elsewhere) and the record's link is in it at ``log_index``. With ``record``, its
        link must also be this receipt's link."""
        if record is not None and (record.link != self.link or record.chain_id != self.chain_id):
            return False
        if not self.checkpoint.verify(log_id):
            return False
        return _core.verify_inclusion(
            _core.merkle_leaf_hash(self.link),
            self.log_index,
            self.checkpoint.tree_size,
            self.inclusion_path,
            self.checkpoint.root,
        )


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    chain_id: bytes
    participant: str
    head_seq: int
    enrolled_ms: int


def record_pb(record: Record) -> pb.Record:
    if record.salt is None or record.payload is None:
        raise DeviceError(f"seq {record.seq}: an erased record can't be sent")
    return pb.Record(
        version=1,
        chain_id=record.chain_id,
        seq=record.seq,
        time_ms=record.time_ms,
        kind=int(record.kind),
        prev=record.prev,
        commit=record.commit,
        salt=record.salt,
        payload=record.payload,
        signature=record.signature,
        link=record.link,
    )


def _error(exc: grpc.RpcError) -> RelayError:
    return RelayError(exc.code().name, exc.details() or "")


class RelayClient:
    """A connection to one relay. Thread-safe (gRPC channels are); close() when done."""

    def __init__(
        self,
        target: str,
        *,
        plaintext: bool = False,
        root_certificates: bytes | None = None,
        client_cert: bytes | None = None,
        client_key: bytes | None = None,
        operator_token: str | None = None,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        max_message_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        options = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
        ]
        if plaintext:
            self._channel = grpc.insecure_channel(target, options=options)
        else:
            creds = grpc.ssl_channel_credentials(root_certificates, client_key, client_cert)
            self._channel = grpc.secure_channel(target, creds, options=options)
        self._relay = RelayStub(self._channel)
        self._operator = OperatorStub(self._channel)
        self._operator_token = operator_token
        self._timeout = timeout_s
        self.retry = retry or RetryPolicy()
        self._batch_ids = itertools.count(1)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> RelayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- plumbing

    def _call(self, fn: Callable[..., T], request: Any, *, operator: bool = False) -> T:
        """One call, retried with backoff while the relay is unreachable."""
        metadata = None
        if operator:
            if not self._operator_token:
                raise RelayError("UNAUTHENTICATED", "this client has no operator token")
            metadata = (("authorization", f"Bearer {self._operator_token}"),)
        delays = self.retry.delays()
        while True:
            try:
                return fn(request, timeout=self._timeout, metadata=metadata, wait_for_ready=False)
            except grpc.RpcError as exc:
                after = _retry_after(exc)
                if after is None:
                    raise _error(exc) from None
                delay = next(delays, None)
                if delay is None:
                    raise _error(exc) from None
                # The relay's retry-after, within the policy's longest wait.
                time.sleep(max(delay, min(after, self.retry.max_delay_s)))

    # ----------------------------------------------------------------- devices

    def enroll(self, device: Device, token: str) -> int:
        """Enroll ``device`` with a one-time token; returns its genesis log_index. Safe to
        repeat after a lost reply (the relay recognises the same genesis)."""
        genesis = device.records()[0]
        reply: pb.EnrollResponse = self._call(
            self._relay.Enroll, pb.EnrollRequest(token=token, genesis=record_pb(genesis))
        )
        if device.sent_through < 0:
            device.mark_sent(0)
        return int(reply.log_index)

    def submit(self, records: Sequence[Record]) -> list[Ack]:
        """Send one all-or-nothing batch (any chains); returns one Ack per record."""
        request = pb.SubmitRequest(
            batch_id=next(self._batch_ids), records=[record_pb(r) for r in records]
        )
        reply: pb.SubmitResponse = self._call(self._relay.SubmitBatch, request)
        return [Ack(a.chain_id, a.seq, a.log_index, a.duplicate) for a in reply.acks]

    def stream(self, batches: Iterable[Sequence[Record]]) -> Iterator[list[Ack]]:
        """Send batches over one Submit stream, yielding each batch's acks in order. A
        refused batch ends the stream with a RelayError (earlier batches stay stored)."""
        requests = (
            pb.SubmitRequest(batch_id=next(self._batch_ids), records=[record_pb(r) for r in batch])
            for batch in batches
        )
        try:
            for reply in self._relay.Submit(requests, timeout=None):
                yield [Ack(a.chain_id, a.seq, a.log_index, a.duplicate) for a in reply.acks]
        except grpc.RpcError as exc:
            raise _error(exc) from None

    def sync(self, device: Device, *, batch_size: int = 256) -> SyncResult:
        """Send every record of ``device`` not yet acknowledged, in order, and move its
        ``sent_through`` (saved to its state file) after each acknowledged batch."""
        if device.sent_through < 0:
            raise DeviceError("the device is not enrolled yet: call enroll(device, token) first")
        sent = duplicates = batches = 0
        while device.unsent():
            batch = device.unsent()[:batch_size]
            acks = self.submit(batch)
            device.mark_sent(batch[-1].seq)
            sent += len(acks)
            duplicates += sum(a.duplicate for a in acks)
            batches += 1
        return SyncResult(sent, duplicates, batches, device.sent_through)

    # ----------------------------------------------------------------- proofs

    def receipt(self, chain_id: bytes, seq: int) -> Receipt:
        r: pb.Receipt = self._call(
            self._relay.GetReceipt, pb.GetReceiptRequest(chain_id=chain_id, seq=seq)
        )
        anchor = None
        if r.HasField("anchor"):
            a = r.anchor
            anchor = AnchorInfo(
                a.evm_chain_id,
                a.contract,
                bytes(a.tx_hash),
                None if a.block_number < 0 else a.block_number,
                a.confirmations,
                a.final,
            )
        return Receipt(
            chain_id=chain_id,
            seq=seq,
            log_index=r.log_index,
            link=bytes(r.link),
            inclusion_path=[bytes(p) for p in r.inclusion_path],
            log_id=bytes(r.checkpoint.log_id),
            checkpoint=Checkpoint(
                r.checkpoint.tree_size, bytes(r.checkpoint.root), bytes(r.checkpoint.signature)
            ),
            anchor=anchor,
        )

    def checkpoint(self, tree_size: int = 0) -> Checkpoint:
        """The newest checkpoint (or the one at ``tree_size``)."""
        c: pb.Checkpoint = self._call(
            self._relay.GetCheckpoint, pb.GetCheckpointRequest(tree_size=tree_size)
        )
        return Checkpoint(c.tree_size, bytes(c.root), bytes(c.signature))

    def consistency_proof(
        self, from_size: int, to_size: int = 0
    ) -> tuple[bytes, bytes, list[bytes]]:
        """(from_root, to_root, RFC 9162 proof) between two sizes (to_size 0: the log size)."""
        p: pb.ConsistencyProof = self._call(
            self._relay.GetConsistencyProof,
            pb.GetConsistencyProofRequest(from_size=from_size, to_size=to_size),
        )
        return bytes(p.from_root), bytes(p.to_root), [bytes(x) for x in p.path]

    def chain_head(self, chain_id: bytes) -> tuple[int, bytes, int]:
        """(head_seq, head_link, head_log_index) of a chain as the relay holds it."""
        h: pb.ChainHead = self._call(
            self._relay.GetChainHead, pb.GetChainHeadRequest(chain_id=chain_id)
        )
        return h.head_seq, bytes(h.head_link), h.head_log_index

    # ----------------------------------------------------------------- operator

    def issue_token(self, participant: str, ttl_s: int = 0) -> tuple[str, int]:
        """(token, expires_ms): a one-time enrollment token for one participant."""
        r: pb.IssueTokenResponse = self._call(
            self._operator.IssueToken,
            pb.IssueTokenRequest(participant=participant, ttl_seconds=ttl_s),
            operator=True,
        )
        return r.token, r.expires_ms

    def list_devices(self, participant: str | None = None) -> list[DeviceInfo]:
        r: pb.ListDevicesResponse = self._call(
            self._operator.ListDevices,
            pb.ListDevicesRequest(participant=participant or ""),
            operator=True,
        )
        return [
            DeviceInfo(bytes(d.chain_id), d.participant, d.head_seq, d.enrolled_ms)
            for d in r.devices
        ]

    def erase(self, chain_id: bytes, seq: int, reason: str = "right to erasure") -> int:
        """Erase a data record's payload and salt (SPEC 1.1); returns its log_index."""
        r: pb.EraseResponse = self._call(
            self._operator.EraseRecord,
            pb.EraseRequest(chain_id=chain_id, seq=seq, reason=reason),
            operator=True,
        )
        return int(r.log_index)

    def create_checkpoint(self) -> Checkpoint:
        c: pb.Checkpoint = self._call(
            self._operator.CreateCheckpoint, pb.CreateCheckpointRequest(), operator=True
        )
        return Checkpoint(c.tree_size, bytes(c.root), bytes(c.signature))
