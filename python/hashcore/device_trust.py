"""What a device checks of a relay's answers before it believes them (SPEC v2 1.5, 2.4).

A device pins the relay's ``origin`` and ``log_key`` at enrollment (and, when the trial
gives it the SPEC 3 policy, its witnesses and quorum). Then:

- a **receipt** counts only when its signature verifies under the pinned key over the
  entry the device builds itself from its own record's ``link`` and the acknowledged
  ``received_ms`` (:func:`check_receipt`);
- a **checkpoint** is verified when its note has a valid line by the pinned log key, the
  policy's witness quorum where the device knows the policy, and a valid consistency proof
  from the previous checkpoint the device verified (:func:`check_checkpoint`). The newest
  verified one is the device's beacon, which never goes back.

Everything that fails raises :class:`~hashcore.errors.RelayTrustError` naming what failed;
the caller then changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import _core
from .errors import DeviceError, HashcoreError, RelayTrustError
from .policy import Policy, Witness
from .record import Record

__all__ = [
    "ConsistencyProver",
    "DeviceReceipt",
    "LogPin",
    "VerifiedCheckpoint",
    "check_checkpoint",
    "check_receipt",
    "evidence_from_state",
]

#: (from_size, to_size) -> (from_root, to_root, RFC 9162 path), asked of the relay.
ConsistencyProver = Callable[[int, int], tuple[bytes, bytes, list[bytes]]]


@dataclass(frozen=True, slots=True)
class LogPin:
    """The relay a device trusts: its origin and log key, and (from a policy) the
    witnesses whose quorum a checkpoint needs."""

    origin: str
    log_key: bytes
    witnesses: tuple[Witness, ...] = ()
    witness_quorum: int = 0

    @classmethod
    def from_policy(cls, policy: Policy) -> LogPin:
        return cls(policy.origin, policy.log_key, policy.witnesses, policy.witness_quorum)

    def to_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "log_key": self.log_key.hex(),
            "witnesses": [{"name": w.name, "key": w.key.hex()} for w in self.witnesses],
            "witness_quorum": self.witness_quorum,
        }

    @classmethod
    def from_dict(cls, data: object) -> LogPin:
        """Raises ValueError / KeyError / TypeError on a malformed dict (the state file's
        loader words it)."""
        if not isinstance(data, Mapping):
            raise TypeError("log must be an object")
        origin = data["origin"]
        key = bytes.fromhex(data["log_key"])
        if not isinstance(origin, str) or not _core.is_key_name(origin) or len(key) != 32:
            raise ValueError("origin must be a key name and log_key 64 hex digits")
        witnesses = tuple(
            Witness(str(w["name"]), bytes.fromhex(w["key"])) for w in data.get("witnesses", [])
        )
        quorum = data.get("witness_quorum", 0)
        if isinstance(quorum, bool) or not isinstance(quorum, int):
            raise TypeError("witness_quorum must be an integer")
        if not 0 <= quorum <= len(witnesses):
            raise ValueError(f"witness_quorum must be 0..{len(witnesses)}")
        return cls(origin, key, witnesses, quorum)


@dataclass(frozen=True, slots=True)
class DeviceReceipt:
    """A receipt the device verified (one row of SPEC 4's ``receipts.parquet``)."""

    chain_id: bytes
    seq: int
    link: bytes
    log_index: int
    received_ms: int
    receipt_sig: bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "link": self.link.hex(),
            "log_index": self.log_index,
            "received_ms": self.received_ms,
            "receipt_sig": self.receipt_sig.hex(),
        }


@dataclass(frozen=True, slots=True)
class VerifiedCheckpoint:
    """A checkpoint note the device verified, with the size and root its body names."""

    note: bytes
    tree_size: int
    root: bytes


def check_receipt(
    pin: LogPin,
    chain_id: bytes,
    seq: int,
    link: bytes,
    log_index: int,
    received_ms: int,
    receipt_sig: bytes,
) -> DeviceReceipt:
    """SPEC 2.4: the receipt of the device's own record ``(seq, link)``.

    Raises:
        RelayTrustError: the signature is not 64 bytes or does not verify under the
            pinned log key over ``0x02 || link || i64be(received_ms)`` at ``log_index``.
    """
    where = f"the relay's receipt for seq {seq} (log_index {log_index})"
    if len(receipt_sig) != 64:
        raise RelayTrustError(f"{where}: receipt_sig must be 64 bytes, got {len(receipt_sig)}")
    try:
        entry = _core.log_entry(link, received_ms)
        ok = _core.receipt_verify(pin.log_key, log_index, entry, receipt_sig)
    except HashcoreError as exc:
        raise RelayTrustError(f"{where}: {exc}") from None
    if not ok:
        raise RelayTrustError(
            f"{where} does not verify under the pinned log key {pin.log_key.hex()} "
            f"({pin.origin}): not counted as acknowledged; the record stays unsent"
        )
    return DeviceReceipt(chain_id, seq, link, log_index, received_ms, bytes(receipt_sig))


def _witness_count(pin: LogPin, note: bytes) -> int:
    count = 0
    for w in pin.witnesses:
        try:
            if _core.note_witness_times(note, w.name, w.key):
                count += 1
        except HashcoreError:
            continue  # a key that verifies nothing counts for nothing
    return count


def check_checkpoint(
    pin: LogPin,
    note: bytes,
    last: VerifiedCheckpoint | None,
    prove: ConsistencyProver | None,
) -> VerifiedCheckpoint:
    """SPEC 1.5: verify ``note`` against the pinned log and the last checkpoint verified.

    A note of the same size as ``last`` must name the same root (no proof needed); a
    larger one needs a consistency proof from ``last`` (asked of ``prove``); a smaller one
    is verified by a proof from it to ``last`` too (it is evidence, though not a beacon).

    Raises:
        RelayTrustError: the note does not parse or has no valid line by the pinned key
            under the pinned origin; fewer than ``witness_quorum`` policy witnesses
            cosigned it; it names another root for ``last``'s size; or the consistency
            proof is missing or fails.
    """
    try:
        size, root = _core.note_verify(note, pin.origin, pin.log_key)
    except HashcoreError as exc:
        raise RelayTrustError(
            f"the relay's checkpoint is not a note signed by the pinned log key "
            f"{pin.log_key.hex()} as {pin.origin!r}: {exc}"
        ) from None
    where = f"the relay's checkpoint at tree_size {size}"
    if pin.witness_quorum:
        have = _witness_count(pin, note)
        if have < pin.witness_quorum:
            raise RelayTrustError(
                f"{where} has {have} valid policy witness cosignature(s); the quorum is "
                f"{pin.witness_quorum}"
            )
    got = VerifiedCheckpoint(bytes(note), size, root)
    if last is None or last.tree_size == 0:
        return got
    if size == last.tree_size:
        if root != last.root:
            raise RelayTrustError(
                f"{where} names root {root.hex()}, but the checkpoint of that size this "
                f"device verified names {last.root.hex()}: the relay signed two histories"
            )
        return got
    small, large = (got, last) if size < last.tree_size else (last, got)
    if prove is None:
        raise RelayTrustError(f"{where}: no consistency proof from tree_size {last.tree_size}")
    try:
        # The roots in the answer are the relay's word: the proof is checked against the
        # roots of the two verified notes.
        _, _, path = prove(small.tree_size, large.tree_size)
    except HashcoreError as exc:
        raise RelayTrustError(
            f"{where}: the relay gave no consistency proof from tree_size "
            f"{small.tree_size} to {large.tree_size}: {exc}"
        ) from None
    ok = _core.sha256_verify_consistency(
        small.tree_size, large.tree_size, small.root, large.root, path
    )
    if not ok:
        raise RelayTrustError(
            f"{where} is not consistent with the checkpoint at tree_size {last.tree_size} "
            "this device verified (the consistency proof fails): the relay rewrote its log"
        )
    return got


def receipts_from_dicts(chain_id: bytes, items: Sequence[Any]) -> list[DeviceReceipt]:
    """The inverse of :meth:`DeviceReceipt.to_dict` (raises ValueError/KeyError/TypeError)."""
    out = []
    for item in items:
        if not isinstance(item, Mapping):
            raise TypeError("a receipt must be an object")
        out.append(
            DeviceReceipt(
                chain_id,
                _int(item["seq"]),
                bytes.fromhex(item["link"]),
                _int(item["log_index"]),
                _int(item["received_ms"]),
                bytes.fromhex(item["receipt_sig"]),
            )
        )
    return out


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def evidence_from_state(
    state: Mapping[str, Any], chain_id: bytes, records: Sequence[Record]
) -> tuple[LogPin | None, list[DeviceReceipt], list[VerifiedCheckpoint]]:
    """The pinned log, receipts and notes of a state file, each checked again: a state
    file is not trusted more than the relay was."""
    raw_pin = state.get("log")
    pin = None
    if raw_pin is not None:
        try:
            pin = LogPin.from_dict(raw_pin)
        except (KeyError, TypeError, ValueError) as exc:
            raise DeviceError(f"field 'log' is malformed: {exc}") from None
    raw_receipts = state.get("receipts", [])
    raw_notes = state.get("notes", [])
    if not isinstance(raw_receipts, list) or not isinstance(raw_notes, list):
        raise DeviceError("fields 'receipts' and 'notes' must be lists")
    if pin is None and (raw_receipts or raw_notes):
        raise DeviceError("receipts or notes without a pinned log ('log' is null)")
    try:
        receipts = receipts_from_dicts(chain_id, raw_receipts)
    except (KeyError, TypeError, ValueError) as exc:
        raise DeviceError(f"field 'receipts' is malformed: {exc}") from None
    for r in receipts:
        assert pin is not None
        if not 0 <= r.seq < len(records) or records[r.seq].link != r.link:
            raise DeviceError(f"receipt for seq {r.seq} is not for this chain's record")
        try:
            check_receipt(pin, chain_id, r.seq, r.link, r.log_index, r.received_ms, r.receipt_sig)
        except RelayTrustError as exc:
            raise DeviceError(f"stored {exc}") from None
    notes: list[VerifiedCheckpoint] = []
    for i, text in enumerate(raw_notes):
        assert pin is not None
        if not isinstance(text, str):
            raise DeviceError(f"note {i} is not a string")
        try:
            size, root = _core.note_verify(text.encode(), pin.origin, pin.log_key)
        except HashcoreError as exc:
            raise DeviceError(f"note {i} does not verify under the pinned log: {exc}") from None
        notes.append(VerifiedCheckpoint(text.encode(), size, root))
    return pin, receipts, notes
