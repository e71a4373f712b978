"""The device side of SPEC v2 section 1: one enrolled device keeping its signed hashchain,
and the evidence it holds of what its relay signed (receipts, checkpoint notes).

A :class:`Device` holds its current Ed25519 secret key and every record it made. With a
state file, every :meth:`Device.append` and :meth:`Device.rotate_key` is saved before it
returns, atomically (temp file, fsync, rename, fsync of the directory), so a crash leaves
either the old or the new state on disk, never a torn one, and the chain survives a
restart with :meth:`Device.load`.

State file (JSON, mode 0600 because it holds the secret key)::

    {"format": "hashcore-device-state", "version": 2,
     "chain_id": "<32 hex>", "genesis_public_key": "<64 hex>",
     "secret_seed": "<64 hex: RFC 8032 seed of the key in force now>",
     "sent_through": -1,
     "records": [<Record.to_dict()>, ...],
     "log": {"origin": ..., "log_key": "<64 hex>", "witnesses": [...],
             "witness_quorum": 0} or null,
     "receipts": [{"seq", "link", "log_index", "received_ms", "receipt_sig"}, ...],
     "notes": ["<signed checkpoint note text>", ...]}

``sent_through`` is the highest seq a relay has acknowledged with a receipt the device
verified (-1: none yet); the relay client (:class:`hashcore.RelayClient`) moves it with
:meth:`Device.accept_acks`. ``log`` is the relay pinned at enrollment (SPEC 1.5, 2.4);
``notes`` every checkpoint the device verified, oldest first: the newest is its beacon.
"""

from __future__ import annotations

import bisect
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import nacl.signing

from . import _core
from . import device_chain as own_chain
from ._atomic import write_atomically
from .device_state import StateText
from .device_trust import (
    ConsistencyProver,
    DeviceReceipt,
    LogPin,
    VerifiedCheckpoint,
    check_checkpoint,
    check_receipt,
)
from .errors import DeviceError, InvalidInputError, RelayTrustError
from .record import ZERO_LINK, Kind, Record

__all__ = ["STATE_FORMAT", "STATE_VERSION", "Device"]

STATE_FORMAT = "hashcore-device-state"
STATE_VERSION = 2
_SALT_SIZE = 16

Clock = Callable[[], int]


class Device:
    """One enrolled device: its key, its chain, and (optionally) its state file.

    Make one with :meth:`new` or :meth:`load`, not the constructor.
    """

    def __init__(
        self,
        *,
        signing_key: nacl.signing.SigningKey,
        genesis_public_key: bytes,
        records: list[Record],
        path: Path | None,
        clock: Clock,
        sent_through: int = -1,
        pin: LogPin | None = None,
        receipts: list[DeviceReceipt] | None = None,
        notes: list[VerifiedCheckpoint] | None = None,
    ) -> None:
        self._key = signing_key
        self._genesis_public_key = genesis_public_key
        self._chain_id = _core.chain_id_for_key(genesis_public_key)
        self._records = records
        self._path = path
        self._clock = clock
        self._sent_through = sent_through
        self._pin = pin
        self._receipts: list[DeviceReceipt] = receipts or []
        self._notes: list[VerifiedCheckpoint] = notes or []
        # Indexes kept beside the lists, so that a record, an acknowledgement or a note
        # costs O(1) amortised however long the chain is (no copies, no rebuilt sets).
        self._held = set(self._receipts)
        self._acked = {r.seq for r in self._receipts}
        self._note_texts = {n.note for n in self._notes}
        self._text = StateText()

    # ----------------------------------------------------------------- construction

    @classmethod
    def new(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        clock: Clock | None = None,
    ) -> Device:
        """Enroll a new device: a fresh key, its chain_id, and the genesis record.

        With ``path`` the state is saved there at once and after every change; an existing
        file is never overwritten (it would destroy another chain's secret key).

        Raises:
            DeviceError: ``path`` already exists or can't be written.
        """
        state_path = Path(path) if path is not None else None
        if state_path is not None and state_path.exists():
            raise DeviceError(f"{state_path}: device state file already exists; not overwriting")
        key = nacl.signing.SigningKey.generate()
        pk = own_chain.public_key_of(key)
        device = cls(
            signing_key=key,
            genesis_public_key=pk,
            records=[],
            path=state_path,
            clock=clock or own_chain.system_clock,
        )
        genesis = Record.create(
            chain_id=device._chain_id,
            seq=0,
            time_ms=device._now(),
            kind=Kind.GENESIS,
            prev=ZERO_LINK,
            salt=os.urandom(_SALT_SIZE),
            payload=pk,
            sign=own_chain.sign_with(key),
        )
        try:
            device._commit(genesis, key)
        except OSError as exc:
            raise DeviceError(f"{state_path}: cannot write device state: {exc}") from exc
        return device

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
    ) -> Device:
        """Load a device from its state file and check everything in it.

        Later changes are saved back to ``path``.

        Raises:
            DeviceError: the file is missing or unreadable, not a device state file, or its
                chain or key is inconsistent; the message names the problem.
        """
        state_path = Path(path)
        try:
            raw = state_path.read_bytes()
        except FileNotFoundError:
            raise DeviceError(f"{state_path}: device state file does not exist") from None
        except OSError as exc:
            raise DeviceError(f"{state_path}: cannot read device state: {exc}") from exc
        try:
            state = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DeviceError(f"{state_path}: device state is not valid JSON: {exc}") from None
        try:
            return cls._from_state(state, state_path, clock or own_chain.system_clock)
        except DeviceError as exc:
            raise DeviceError(f"{state_path}: {exc}") from None

    @classmethod
    def _from_state(cls, state: object, path: Path, clock: Clock) -> Device:
        fields = own_chain.fields_from_state(state, STATE_FORMAT, STATE_VERSION)
        return cls(**fields, path=path, clock=clock)

    # ----------------------------------------------------------------- chain growth

    def append(self, payload: bytes | bytearray | memoryview) -> Record:
        """Add a data record (kind 1) with ``payload``, signed by the current key.

        Raises:
            InvalidInputError: ``payload`` is not bytes.
            OSError: saving the state file failed; the record is then not added.
        """
        if isinstance(payload, bytearray | memoryview):
            payload = bytes(payload)
        if not isinstance(payload, bytes):
            raise InvalidInputError(f"payload must be bytes, got {type(payload).__name__}")
        record = self._next(Kind.DATA, payload, self._key)
        self._commit(record, self._key)
        return record

    def rotate_key(self) -> Record:
        """Replace the device key: a kind-2 record carrying the new public key.

        The rotation is signed by the old key (that is what authorises the new one);
        every later record is signed by the new key. The old secret key is dropped.

        Raises:
            OSError: saving the state file failed; the rotation is then not made.
        """
        new_key = nacl.signing.SigningKey.generate()
        record = self._next(Kind.ROTATION, own_chain.public_key_of(new_key), self._key)
        self._commit(record, new_key)
        return record

    def _next(self, kind: Kind, payload: bytes, signer: nacl.signing.SigningKey) -> Record:
        head = self.head
        beacon_size, beacon_root = self.beacon
        return Record.create(
            chain_id=self._chain_id,
            seq=head.seq + 1,
            time_ms=self._now(),
            kind=kind,
            prev=head.link,
            salt=os.urandom(_SALT_SIZE),
            payload=payload,
            sign=own_chain.sign_with(signer),
            beacon_size=beacon_size,
            beacon_root=beacon_root,
        )

    def _commit(self, record: Record, key: nacl.signing.SigningKey) -> None:
        """Persist, then adopt, ``record`` and ``key``: a failed save takes the record back
        off, so memory never runs ahead of disk."""
        self._records.append(record)
        if self._path is not None:
            try:
                self._write(self._path, key)
            except BaseException:
                self._records.pop()
                raise
        self._key = key

    def _now(self) -> int:
        now = self._clock()
        if isinstance(now, bool) or not isinstance(now, int):
            raise InvalidInputError(f"clock must return int milliseconds, got {now!r}")
        return now

    # ----------------------------------------------------------------- persistence

    def _state_bytes(self, key: nacl.signing.SigningKey) -> bytes:
        """The state file (``json.dumps(state, indent=1)``, see the module docstring)."""
        head: dict[str, Any] = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "chain_id": self._chain_id.hex(),
            "genesis_public_key": self._genesis_public_key.hex(),
            "secret_seed": own_chain.seed_of(key).hex(),
            "sent_through": self._sent_through,
        }
        pin = None if self._pin is None else self._pin.to_dict()
        notes = [n.note.decode() for n in self._notes]
        return self._text.render(head, self._records, pin, self._receipts, notes)

    def _write(self, path: Path, key: nacl.signing.SigningKey) -> None:
        write_atomically(path, self._state_bytes(key), mode=0o600)

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the state file atomically (mode 0600) and return its path.

        With ``path`` the device saves there from now on (including automatic saves).

        Raises:
            InvalidInputError: no ``path`` given and the device has none.
            DeviceError: the file can't be written there.
        """
        target = Path(path) if path is not None else self._path
        if target is None:
            raise InvalidInputError("save() needs a path: this device was created without one")
        try:
            self._write(target, self._key)
        except OSError as exc:
            raise DeviceError(f"{target}: cannot write device state: {exc}") from exc
        self._path = target
        return target

    # ----------------------------------------------------------------- accessors

    @property
    def path(self) -> Path | None:
        """The state file saved after every change, or ``None`` (in memory only)."""
        return self._path

    @property
    def chain_id(self) -> bytes:
        """16 bytes derived from the genesis public key (SPEC 1)."""
        return self._chain_id

    @property
    def public_key(self) -> bytes:
        """The public key in force now (the genesis key, or the latest rotation's)."""
        return own_chain.public_key_of(self._key)

    @property
    def genesis_public_key(self) -> bytes:
        """The key the device enrolled with; it names the chain."""
        return self._genesis_public_key

    @property
    def head(self) -> Record:
        """The latest record."""
        return self._records[-1]

    @property
    def seq(self) -> int:
        """The seq the next record will get."""
        return self.head.seq + 1

    @property
    def sent_through(self) -> int:
        """Highest seq a relay has durably acknowledged (-1: none, not even enrolled)."""
        return self._sent_through

    def unsent(self) -> list[Record]:
        """The records no relay has acknowledged yet, in seq order."""
        return self._records[self._sent_through + 1 :]

    def mark_sent(self, seq: int) -> None:
        """Record that a relay acknowledged every record up to ``seq`` (saved at once, so a
        restarted phone does not send them again; resending would be harmless anyway: the
        relay answers a known record with its original position).

        Raises:
            InvalidInputError: ``seq`` is beyond the head or goes backwards.
        """
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise InvalidInputError(f"seq must be an int, got {type(seq).__name__}")
        if seq > self.head.seq:
            raise InvalidInputError(f"seq {seq} is beyond the head (seq {self.head.seq})")
        if seq < self._sent_through:
            raise InvalidInputError(
                f"seq {seq} is below what was already acknowledged ({self._sent_through})"
            )
        previous = self._sent_through
        self._sent_through = seq
        if self._path is not None:
            try:
                self._write(self._path, self._key)
            except OSError:
                self._sent_through = previous
                raise

    # ----------------------------------------------------------------- the relay's word

    @property
    def log_pin(self) -> LogPin | None:
        """The relay this device trusts (pinned at enrollment), or None before."""
        return self._pin

    def pin_log(self, pin: LogPin) -> None:
        """Pin the relay's origin and log key (and the policy's witnesses). A device pins
        once: another origin or key later is a relay it never trusted.

        Raises:
            RelayTrustError: the device already pinned another origin or log key.
        """
        if self._pin is not None:
            if (self._pin.origin, self._pin.log_key) != (pin.origin, pin.log_key):
                raise RelayTrustError(
                    f"the relay says it is {pin.origin!r} with log key {pin.log_key.hex()}, "
                    f"but this device pinned {self._pin.origin!r} with log key "
                    f"{self._pin.log_key.hex()}"
                )
            if pin.witness_quorum <= self._pin.witness_quorum:
                return  # never weaken what the device checks
        saved, self._pin = self._pin, pin
        self._save_or_undo(lambda: setattr(self, "_pin", saved))

    def _require_pin(self) -> LogPin:
        if self._pin is None:
            raise RelayTrustError(
                "this device has pinned no relay (origin and log key) yet: enroll it first"
            )
        return self._pin

    def accept_acks(self, acks: Sequence[tuple[int, int, int, bytes]]) -> list[DeviceReceipt]:
        """Count records as acknowledged: ``acks`` are (seq, log_index, received_ms,
        receipt_sig). Every receipt is verified first (SPEC 2.4); only if all verify are
        they kept and ``sent_through`` moved (to the end of the acknowledged run).

        Raises:
            RelayTrustError: a receipt does not verify, or names a seq the device never
                made; nothing is changed (the records stay unsent).
        """
        pin = self._require_pin()
        checked = []
        for seq, log_index, received_ms, sig in acks:
            if not 0 <= seq <= self.head.seq:
                raise RelayTrustError(
                    f"the relay acknowledged seq {seq}, which this device never made"
                )
            rec = self._records[seq]
            checked.append(
                check_receipt(pin, self._chain_id, seq, rec.link, log_index, received_ms, sig)
            )
        # Every distinct receipt is kept: a second, different one for a seq (another
        # position or time) is the relay promising twice, evidence for the auditor.
        fresh = list(dict.fromkeys(r for r in checked if r not in self._held))
        new_seqs = {r.seq for r in fresh} - self._acked
        through = previous = self._sent_through
        # Amortised O(1): sent_through only moves forward, one seq per step.
        while through + 1 in self._acked or through + 1 in new_seqs:
            through += 1
        kept = len(self._receipts)
        self._receipts.extend(fresh)
        self._held.update(fresh)
        self._acked |= new_seqs
        self._sent_through = through

        def undo() -> None:
            del self._receipts[kept:]
            self._held.difference_update(fresh)
            self._acked -= new_seqs
            self._sent_through = previous

        self._save_or_undo(undo)
        return checked

    def accept_checkpoint(
        self, note: bytes, prove: ConsistencyProver | None = None
    ) -> VerifiedCheckpoint:
        """Verify a checkpoint note (SPEC 1.5) against the pinned log and the newest one
        the device verified (``prove(from, to)`` gives the relay's consistency proof), keep
        it, and make it the beacon if it is newer (a beacon never goes back).

        Raises:
            RelayTrustError: naming what failed; nothing is changed.
        """
        pin = self._require_pin()
        last = self._notes[-1] if self._notes else None
        got = check_checkpoint(pin, note, last, prove)
        if got.note in self._note_texts:
            return got
        # Kept in tree order: an older one (verified evidence, consistent with the beacon)
        # goes before the beacon, which stays the last (the newest: it never goes back);
        # after the notes of its size that the device already holds.
        at = bisect.bisect_right(self._notes, got.tree_size, key=lambda n: n.tree_size)
        self._notes.insert(at, got)
        self._note_texts.add(got.note)

        def undo() -> None:
            del self._notes[at]
            self._note_texts.discard(got.note)

        self._save_or_undo(undo)
        return got

    @property
    def beacon(self) -> tuple[int, bytes]:
        """(tree_size, root) of the newest checkpoint the device verified; (0, zeros)."""
        if not self._notes:
            return 0, ZERO_LINK
        newest = self._notes[-1]
        return newest.tree_size, newest.root

    def receipts(self) -> list[DeviceReceipt]:
        """Every receipt the device verified, in the order it got them."""
        return list(self._receipts)

    def notes(self) -> list[bytes]:
        """Every checkpoint note the device verified, smallest tree first."""
        return [n.note for n in self._notes]

    def _save_or_undo(self, undo: Callable[[], None]) -> None:
        """Save the change just made in memory; on a failed save ``undo`` it and raise."""
        if self._path is None:
            return
        try:
            self._write(self._path, self._key)
        except OSError:
            undo()
            raise

    def records(self) -> list[Record]:
        """Every record of the chain, seq 0 first (a copy: changing it changes nothing)."""
        return list(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def __repr__(self) -> str:
        return f"Device(chain_id={self._chain_id.hex()}, records={len(self._records)})"
