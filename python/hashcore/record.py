"""One device-chain record (SPEC v2 section 1) as an immutable Python value.

A :class:`Record` carries exactly the columns of a v2 ``records.parquet`` row (SPEC v2
section 4): the 138-byte header of SPEC 1.2 includes the beacon of SPEC 1.5.
It is the convenient form for a few records (a device, a test, a relay handling one
upload); bulk audits work on Arrow tables through :func:`hashcore.verify_bulk` instead.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Protocol

from . import _core
from ._validate import as_bytes, int_in
from .errors import InvalidInputError

__all__ = ["ZERO_LINK", "ChainRecord", "Kind", "Record", "check_chain_segment"]

#: ``prev`` of every genesis record (SPEC section 1.2).
ZERO_LINK = bytes(32)

_U64_MAX = 2**64 - 1
_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1

# Fixed sizes of SPEC section 1.2/1.3; salt is fixed too when present (section 1.1).
_FIXED_SIZES: dict[str, int] = {
    "chain_id": 16,
    "prev": 32,
    "commit": 32,
    "link": 32,
    "signature": 64,
}
_FIXED_SIZES["beacon_root"] = 32
_SALT_SIZE = 16
_BYTES_FIELDS = (*_FIXED_SIZES, "salt", "payload")


class Kind(enum.IntEnum):
    """Record kinds of SPEC section 1.4."""

    GENESIS = 0
    DATA = 1
    ROTATION = 2


@dataclass(frozen=True, slots=True)
class Record:
    """A device-chain record: the signed header fields plus salt/payload and log position.

    ``salt`` and ``payload`` are both ``None`` once the record was erased (SPEC 1.1).
    ``log_index`` and ``received_ms`` are set by the relay and are ``None`` on a device
    before upload. ``beacon_size`` / ``beacon_root`` name the newest checkpoint the device
    had verified when it made the record (SPEC 1.5; 0 and 32 zero bytes: none).
    Construction checks every size, so a ``Record`` is always encodable; whether it is
    *valid* is what :meth:`verify` (or an audit) decides.
    """

    chain_id: bytes
    seq: int
    time_ms: int
    kind: int
    prev: bytes
    commit: bytes
    link: bytes
    signature: bytes
    salt: bytes | None
    payload: bytes | None
    log_index: int | None = None
    received_ms: int | None = None
    beacon_size: int = 0
    beacon_root: bytes = ZERO_LINK

    def __post_init__(self) -> None:
        # Frozen dataclass: normalise through object.__setattr__ (bytearray -> bytes, and
        # IntEnum -> int so equality and to_dict don't depend on how kind was passed).
        for name, size in _FIXED_SIZES.items():
            value = as_bytes(name, getattr(self, name))
            if len(value) != size:
                raise InvalidInputError(f"{name} must be {size} bytes, got {len(value)}")
            object.__setattr__(self, name, value)
        salt = None if self.salt is None else as_bytes("salt", self.salt)
        payload = None if self.payload is None else as_bytes("payload", self.payload)
        if salt is not None and len(salt) != _SALT_SIZE:
            raise InvalidInputError(f"salt must be {_SALT_SIZE} bytes, got {len(salt)}")
        if (salt is None) != (payload is None):
            # SPEC 4 makes "exactly one of salt/payload null" MALFORMED; refuse to build it.
            missing = "salt" if salt is None else "payload"
            raise InvalidInputError(
                f"{missing} is None but the other is not: salt and payload are erased together"
            )
        object.__setattr__(self, "salt", salt)
        object.__setattr__(self, "payload", payload)
        int_in("seq", self.seq, 0, _U64_MAX)
        int_in("beacon_size", self.beacon_size, 0, _U64_MAX)
        int_in("time_ms", self.time_ms, _I64_MIN, _I64_MAX)
        object.__setattr__(self, "kind", int(int_in("kind", self.kind, 0, 255)))
        if self.log_index is not None:
            int_in("log_index", self.log_index, 0, _U64_MAX)
        if self.received_ms is not None:
            int_in("received_ms", self.received_ms, _I64_MIN, _I64_MAX)

    @classmethod
    def create(
        cls,
        *,
        chain_id: bytes,
        seq: int,
        time_ms: int,
        kind: int,
        prev: bytes,
        salt: bytes,
        payload: bytes,
        sign: Callable[[bytes], bytes],
        beacon_size: int = 0,
        beacon_root: bytes = ZERO_LINK,
    ) -> Record:
        """Build and sign a new record: commit, header, link, then ``sign(link)``.

        ``sign`` maps the 32-byte link to a 64-byte Ed25519 signature; it is a callable
        so the secret key never has to pass through this module.
        """
        salt_b = as_bytes("salt", salt)
        payload_b = as_bytes("payload", payload)
        if len(salt_b) != _SALT_SIZE:
            raise InvalidInputError(f"salt must be {_SALT_SIZE} bytes, got {len(salt_b)}")
        commit = _core.commitment(salt_b, payload_b)
        link = _core.v2_link(
            chain_id, seq, time_ms, int(kind), prev, commit, beacon_size, beacon_root
        )
        return cls(
            chain_id=chain_id,
            seq=seq,
            time_ms=time_ms,
            kind=kind,
            prev=prev,
            commit=commit,
            link=link,
            signature=sign(link),
            salt=salt_b,
            payload=payload_b,
            beacon_size=beacon_size,
            beacon_root=beacon_root,
        )

    @property
    def header(self) -> bytes:
        """The 138-byte header of SPEC v2 section 1.2 (what the link hashes)."""
        return _core.v2_record_header(
            self.chain_id,
            self.seq,
            self.time_ms,
            self.kind,
            self.prev,
            self.commit,
            self.beacon_size,
            self.beacon_root,
        )

    @property
    def erased_payload(self) -> bool:
        """True when payload and salt were erased (the record can only be OK_REDACTED)."""
        return self.payload is None

    def compute_link(self) -> bytes:
        """The link of the stored header; equals ``self.link`` for an untampered record."""
        return _core.v2_link_of_header(self.header)

    def compute_commit(self) -> bytes | None:
        """The commitment of the stored salt and payload, or ``None`` once erased."""
        if self.salt is None or self.payload is None:
            return None
        return _core.commitment(self.salt, self.payload)

    def verify(self, public_key: bytes) -> bool:
        """Check this record on its own under ``public_key``.

        True when the link recomputes from the header, the commitment matches (unless
        erased), and the signature over the link is valid under ``public_key`` by ZIP-215.
        A key of small order or not on the curve is never valid (SPEC 1.3), so it gives
        False. Chain rules (seq order, prev, which key is in force) need the other records
        of the chain: see :class:`hashcore.device.Device` and :func:`hashcore.verify_bulk`.

        Raises:
            InvalidInputError: ``public_key`` is not 32 bytes.
        """
        key = as_bytes("public_key", public_key)
        if len(key) != 32:
            raise InvalidInputError(f"public_key must be 32 bytes, got {len(key)}")
        if self.compute_link() != self.link:
            return False
        commit = self.compute_commit()
        if commit is not None and commit != self.commit:
            return False
        # ZIP-215 alone accepts every signature under some small-order keys; SPEC 1.3
        # forbids those keys outright, so check the key before the signature.
        if _core.check_public_key(key) != "valid":
            return False
        return _core.verify_signature(key, self.link, self.signature)

    def erased(self) -> Record:
        """A copy with payload and salt removed (right to erasure): commit and link stay."""
        return replace(self, salt=None, payload=None)

    def with_log_position(self, log_index: int, received_ms: int) -> Record:
        """A copy carrying the relay's log position and receive time."""
        return replace(self, log_index=log_index, received_ms=received_ms)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict: bytes as lowercase hex, integers as is, ``None`` kept."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.hex() if isinstance(value, bytes) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Record:
        """The inverse of :meth:`to_dict`. ``log_index``/``received_ms`` and the beacon
        (then none: 0 and zero bytes) may be absent.

        Raises:
            InvalidInputError: a field is missing, not hex, or has the wrong size or range.
        """
        if not isinstance(data, Mapping):
            raise InvalidInputError(f"a record must be a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInputError(f"unknown record field(s): {', '.join(map(str, unknown))}")
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                if f.name in ("log_index", "received_ms", "beacon_size", "beacon_root"):
                    continue
                raise InvalidInputError(f"record field '{f.name}' is missing")
            value = data[f.name]
            if f.name in _BYTES_FIELDS and value is not None:
                if not isinstance(value, str):
                    raise InvalidInputError(
                        f"{f.name} must be a hex string, got {type(value).__name__}"
                    )
                try:
                    value = bytes.fromhex(value)
                except ValueError:
                    raise InvalidInputError(f"{f.name} is not valid hex: {value!r}") from None
            kwargs[f.name] = value
        return cls(**kwargs)


class ChainRecord(Protocol):
    """The header, content and signature of a record, whatever carries them (a
    :class:`Record`, a submitted protobuf record)."""

    @property
    def chain_id(self) -> bytes: ...
    @property
    def seq(self) -> int: ...
    @property
    def time_ms(self) -> int: ...
    @property
    def kind(self) -> int: ...
    @property
    def prev(self) -> bytes: ...
    @property
    def commit(self) -> bytes: ...
    @property
    def beacon_size(self) -> int: ...
    @property
    def beacon_root(self) -> bytes: ...
    @property
    def salt(self) -> bytes | None: ...
    @property
    def payload(self) -> bytes | None: ...
    @property
    def signature(self) -> bytes: ...


def check_chain_segment(
    head: tuple[int, bytes, bytes] | None,
    records: Sequence[ChainRecord],
    *,
    versions: Sequence[int],
    claimed: Sequence[bytes],
    max_payload_bytes: int | None = None,
    max_seq: int | None = None,
) -> tuple[bytes, tuple[int, bytes, bytes] | None, tuple[int, str, str, str] | None]:
    """The complete check (``_core.check_chains``: shape, sequencing, key schedule,
    links, commitments, signatures) of one chain's ``records`` after ``head`` ((seq,
    link, key), or None for a chain that starts with its genesis). Returns the links
    hashed, the new head, and the first fault (index, reason, code, message) or None."""
    [result] = _core.check_chains(
        [head],
        [len(records)],
        versions,
        [r.chain_id for r in records],
        [r.seq for r in records],
        [r.time_ms for r in records],
        [r.kind for r in records],
        [r.prev for r in records],
        [r.commit for r in records],
        [r.beacon_size for r in records],
        [r.beacon_root for r in records],
        [r.salt for r in records],
        [r.payload for r in records],
        [r.signature for r in records],
        claimed,
        max_payload_bytes=max_payload_bytes,
        max_seq=max_seq,
    )
    return result
