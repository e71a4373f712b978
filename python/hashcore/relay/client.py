"""``RelayClient``: what a phone (or a test, or an operator script) uses to talk to a relay.

Offline-first like a phone: a :class:`~hashcore.Device` keeps making records whether or
not the relay is reachable; :meth:`RelayClient.sync` later sends every unacknowledged
record, in order, in batches, retrying with exponential backoff while the relay is
unreachable. A record whose acknowledgement was lost is simply sent again: the relay
answers a record it already holds with its original log position, so nothing enters the
log twice.

Trust (SPEC v2 1.5, 2.4): the device pins the relay's origin and log key at enrollment;
a record counts as acknowledged only once its receipt verifies under that key; after a
sync the client fetches the newest checkpoint and the device verifies it (its note, the
witness quorum where the device knows the policy, consistency with the last one it
verified) before using it as its beacon. A relay answer that fails raises
:class:`hashcore.errors.RelayTrustError` and the device changes nothing.

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
from ..device import Device
from ..device_trust import LogPin, VerifiedCheckpoint
from ..errors import DeviceError, HashcoreError, RelayError, RelayTrustError
from ..record import Record
from .grpc_api import OperatorStub, RelayStub
from .rejection import RETRY_AFTER_KEY
from .v2 import relay_pb2 as pb

__all__ = [
    "Ack",
    "AnchorInfo",
    "CheckpointNote",
    "DeviceInfo",
    "Receipt",
    "RelayClient",
    "RetryPolicy",
    "SyncResult",
]

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
    """An acknowledgement as the relay sent it (not verified here: the device does)."""

    chain_id: bytes
    seq: int
    log_index: int
    duplicate: bool
    received_ms: int
    receipt_sig: bytes


@dataclass(frozen=True, slots=True)
class CheckpointNote:
    """A checkpoint as the relay serves it: the signed note (what to verify), and the
    size and root the relay says it names (not to be trusted before the note verifies)."""

    note: bytes
    tree_size: int
    root: bytes
    created_ms: int

    def verify(self, origin: str, log_key: bytes) -> bool:
        """True iff the note is a checkpoint of ``origin`` valid under ``log_key`` and its
        body names this ``tree_size`` and ``root``."""
        try:
            return _core.note_verify(self.note, origin, log_key) == (self.tree_size, self.root)
        except HashcoreError:
            return False


def _ack(a: pb.Ack) -> Ack:
    return Ack(
        bytes(a.chain_id), a.seq, a.log_index, a.duplicate, a.received_ms, bytes(a.receipt_sig)
    )


def _note(c: pb.Checkpoint) -> CheckpointNote:
    return CheckpointNote(bytes(c.note), c.tree_size, bytes(c.root), c.created_ms)


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
    """A record's acknowledgement again (its receipt, SPEC 2.4), and proof that it is in
    the relay's log: the inclusion path to the newest checkpoint (empty while that does
    not cover it yet), with that checkpoint's anchor on chain when there is one."""

    ack: Ack
    link: bytes
    inclusion_path: list[bytes]
    checkpoint: CheckpointNote | None
    anchor: AnchorInfo | None

    @property
    def entry(self) -> bytes:
        return _core.log_entry(self.link, self.ack.received_ms)

    def covered(self) -> bool:
        return self.checkpoint is not None and self.checkpoint.tree_size > self.ack.log_index

    def verify(self, origin: str, log_key: bytes, record: Record | None = None) -> bool:
        """True iff the receipt signature verifies under ``log_key`` (which you must know
        from elsewhere) and, when a checkpoint covers the record, that checkpoint is a
        valid note of ``origin`` and the entry is in it at ``log_index``. With ``record``,
        its link must also be this receipt's link."""
        if record is not None and record.link != self.link:
            return False
        if len(self.ack.receipt_sig) != 64 or not _core.receipt_verify(
            log_key, self.ack.log_index, self.entry, self.ack.receipt_sig
        ):
            return False
        if not self.covered():
            return True
        assert self.checkpoint is not None
        if not self.checkpoint.verify(origin, log_key):
            return False
        return _core.sha256_verify_inclusion(
            _core.sha256_leaf_hash(self.entry),
            self.ack.log_index,
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
        version=_core.V2_VERSION,
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
        beacon_size=record.beacon_size,
        beacon_root=record.beacon_root,
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
        repeat after a lost reply (the relay recognises the same genesis).

        The device pins the relay's origin and log key from the answer (a device given a
        policy beforehand has them pinned already: another relay is refused), verifies
        the genesis receipt, and the newest checkpoint when there is one.

        Raises:
            RelayTrustError: the relay is not the one pinned, or its receipt or checkpoint
                does not verify.
        """
        genesis = device.records()[0]
        reply: pb.EnrollResponse = self._call(
            self._relay.Enroll, pb.EnrollRequest(token=token, genesis=record_pb(genesis))
        )
        if len(reply.log_key) != 32 or not _core.is_key_name(reply.origin):
            raise RelayTrustError(
                f"the relay's enrollment answer names no usable log: origin "
                f"{reply.origin!r}, log_key of {len(reply.log_key)} bytes"
            )
        device.pin_log(LogPin(reply.origin, bytes(reply.log_key)))
        a = _ack(reply.ack)
        device.accept_acks([(0, a.log_index, a.received_ms, a.receipt_sig)])
        if reply.HasField("checkpoint"):
            device.accept_checkpoint(bytes(reply.checkpoint.note), self._prover)
        return int(a.log_index)

    def _prover(self, from_size: int, to_size: int) -> tuple[bytes, bytes, list[bytes]]:
        return self.consistency_proof(from_size, to_size)

    def refresh_beacon(self, device: Device) -> VerifiedCheckpoint | None:
        """Fetch the newest checkpoint and have the device verify it (SPEC 1.5); the
        device's next records name it. None when the relay has no checkpoint yet.

        Raises:
            RelayTrustError: the note, its witnesses or its consistency proof fail.
        """
        try:
            c = self.checkpoint()
        except RelayError as exc:
            if exc.code == "NOT_FOUND":
                return None
            raise
        return device.accept_checkpoint(c.note, self._prover)

    def submit(self, records: Sequence[Record]) -> list[Ack]:
        """Send one all-or-nothing batch (any chains); returns one Ack per record."""
        request = pb.SubmitRequest(
            batch_id=next(self._batch_ids), records=[record_pb(r) for r in records]
        )
        reply: pb.SubmitResponse = self._call(self._relay.SubmitBatch, request)
        return [_ack(a) for a in reply.acks]

    def stream(self, batches: Iterable[Sequence[Record]]) -> Iterator[list[Ack]]:
        """Send batches over one Submit stream, yielding each batch's acks in order. A
        refused batch ends the stream with a RelayError (earlier batches stay stored)."""
        requests = (
            pb.SubmitRequest(batch_id=next(self._batch_ids), records=[record_pb(r) for r in batch])
            for batch in batches
        )
        try:
            for reply in self._relay.Submit(requests, timeout=None):
                yield [_ack(a) for a in reply.acks]
        except grpc.RpcError as exc:
            raise _error(exc) from None

    def sync(
        self, device: Device, *, batch_size: int = 256, refresh_beacon: bool = True
    ) -> SyncResult:
        """Send every record of ``device`` not yet acknowledged, in order; the device
        verifies each batch's receipts and moves its ``sent_through`` (saved to its state
        file). Then (``refresh_beacon``) the newest checkpoint becomes its beacon.

        Raises:
            RelayTrustError: a receipt or the checkpoint does not verify; the batch stays
                unsent (a later sync sends it again).
        """
        if device.sent_through < 0:
            raise DeviceError("the device is not enrolled yet: call enroll(device, token) first")
        sent = duplicates = batches = 0
        while device.unsent():
            batch = device.unsent()[:batch_size]
            acks = self.submit(batch)
            for rec, a in zip(batch, acks, strict=False):
                if (a.chain_id, a.seq) != (rec.chain_id, rec.seq):
                    raise RelayTrustError(
                        f"the relay acknowledged chain {a.chain_id.hex()} seq {a.seq} for "
                        f"seq {rec.seq}: not counted"
                    )
            if len(acks) != len(batch):
                raise RelayTrustError(
                    f"the relay acknowledged {len(acks)} of the {len(batch)} records sent"
                )
            device.accept_acks([(a.seq, a.log_index, a.received_ms, a.receipt_sig) for a in acks])
            sent += len(acks)
            duplicates += sum(a.duplicate for a in acks)
            batches += 1
        if refresh_beacon:
            self.refresh_beacon(device)
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
            ack=_ack(r.ack),
            link=bytes(r.link),
            inclusion_path=[bytes(p) for p in r.inclusion_path],
            checkpoint=_note(r.checkpoint) if r.HasField("checkpoint") else None,
            anchor=anchor,
        )

    def checkpoint(self, tree_size: int = 0) -> CheckpointNote:
        """The newest checkpoint (or the one at ``tree_size``), as served: verify it."""
        c: pb.Checkpoint = self._call(
            self._relay.GetCheckpoint, pb.GetCheckpointRequest(tree_size=tree_size)
        )
        return _note(c)

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

    def create_checkpoint(self) -> CheckpointNote:
        c: pb.Checkpoint = self._call(
            self._operator.CreateCheckpoint, pb.CreateCheckpointRequest(), operator=True
        )
        return _note(c)
