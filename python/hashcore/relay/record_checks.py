"""The checks of a submitted record that need no chain state: its shape (sizes, version,
kind, the request limits: ``_core.check_chains``, the Rust rules), its time against the
relay's clock, and the hashing and signature verdicts of records whose signing keys the
caller decided (``_core.check_submissions``). Every refusal names the record."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .. import _core
from ..record import ChainRecord, check_chain_segment
from .limits import DAY_MS, Limits
from .rejection import Rejected, invalid, too_large

__all__ = [
    "MAX_SEQ",
    "Columns",
    "SubmittedRecord",
    "check_genesis",
    "check_time",
    "hash_and_verify",
    "refuse_content",
    "where",
]

#: The largest seq the stores can hold (a signed 64-bit column).
MAX_SEQ = 2**63 - 1
#: Faults of a genesis that ``_core.check_chains`` words without naming the record.
_GENESIS_FAULTS = frozenset(
    {"genesis_key_size", "genesis_key_invalid", "chain_id_not_derived", "genesis_prev_not_zero"}
)
#: A stand-in head for checking shapes alone: shape faults come before any fault the
#: head could cause, and the check stops at the first one.
_ANY_HEAD = (0, bytes(_core.LINK_LEN), bytes(_core.KEY_LEN))
_ZERO = bytes(_core.LINK_LEN)


class SubmittedRecord(ChainRecord, Protocol):
    """What a submitted record must look like (the protobuf ``Record`` fits): salt and
    payload always there (erasure comes later), a version, and maybe a claimed link."""

    @property
    def version(self) -> int: ...
    @property
    def salt(self) -> bytes: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def link(self) -> bytes: ...


def where(i: int, rec: SubmittedRecord) -> str:
    """How a refusal names record ``i`` of a request."""
    return f"record {i} (chain {bytes(rec.chain_id).hex()} seq {rec.seq})"


def _named(i: int, rec: SubmittedRecord) -> str:
    # A chain_id of the wrong size is no name: say only which record it is.
    return where(i, rec) if len(rec.chain_id) == _core.CHAIN_ID_LEN else f"record {i}"


def _span(ms: int) -> str:
    if ms % DAY_MS == 0:
        days = ms // DAY_MS
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{ms} ms"


def check_time(i: int, rec: SubmittedRecord, limits: Limits, now_ms: int) -> None:
    """A new record's time_ms must be one a device clock near the relay's can produce."""
    low, high = limits.time_window(now_ms)
    if rec.time_ms > high:
        raise invalid(
            "bad_time",
            f"{where(i, rec)}: time_ms {rec.time_ms} is more than "
            f"{_span(limits.max_clock_ahead_ms)} ahead of the relay's clock",
        )
    if rec.time_ms < low:
        raise invalid(
            "bad_time",
            f"{where(i, rec)}: time_ms {rec.time_ms} is more than "
            f"{_span(limits.max_clock_behind_ms)} behind the relay's clock",
        )


def _check_chains(
    head: tuple[int, bytes, bytes] | None,
    records: Sequence[SubmittedRecord],
    limits: Limits,
    claimed: Sequence[bytes],
) -> tuple[bytes, tuple[int, str, str, str] | None]:
    """``_core.check_chains`` of ``records`` as one segment after ``head``: (links, fault)."""
    links, _, fault = check_chain_segment(
        head,
        records,
        versions=[r.version for r in records],
        claimed=claimed,
        max_payload_bytes=limits.max_payload_bytes,
        max_seq=MAX_SEQ,
    )
    return links, fault


def _shape_refusal(i: int, rec: SubmittedRecord, reason: str, message: str) -> Rejected:
    named = f"{_named(i, rec)}: {message}"
    return too_large(named) if reason == "too_large" else invalid(reason, named)


def check_genesis(genesis: SubmittedRecord, limits: Limits) -> bytes:
    """The complete check of an enrollment's genesis (shape, its key, the chain_id the
    key names, the zero prev, commitment and signature); returns its link. The claimed
    link is the caller's to compare (it is judged after the signature)."""
    links, fault = _check_chains(None, [genesis], limits, [b""])
    if fault is None:
        return links
    _, reason, code, message = fault
    if code in _GENESIS_FAULTS:
        raise invalid(reason, message)
    if links:  # the record was hashed: commitment, key or signature failed
        raise invalid(reason, f"genesis: {message}")
    raise _shape_refusal(0, genesis, reason, message)


class Columns:
    """A batch's fields as columns (pulled out of the messages once)."""

    __slots__ = (
        "beacon_roots",
        "beacon_sizes",
        "chain_ids",
        "claimed",
        "commits",
        "kinds",
        "payloads",
        "prevs",
        "salts",
        "seqs",
        "signatures",
        "times",
        "versions",
    )

    def __init__(self, batch: Sequence[SubmittedRecord]) -> None:
        self.versions = [r.version for r in batch]
        self.chain_ids = [r.chain_id for r in batch]
        self.seqs = [r.seq for r in batch]
        self.times = [r.time_ms for r in batch]
        self.kinds = [r.kind for r in batch]
        self.prevs = [r.prev for r in batch]
        self.commits = [r.commit for r in batch]
        self.beacon_sizes = [r.beacon_size for r in batch]
        self.beacon_roots = [r.beacon_root for r in batch]
        self.salts = [r.salt for r in batch]
        self.payloads = [r.payload for r in batch]
        self.signatures = [r.signature for r in batch]
        self.claimed = [r.link for r in batch]

    def check_shapes(self, batch: Sequence[SubmittedRecord], limits: Limits) -> None:
        """Sizes, version and kind of every record (a genesis is refused: it comes only
        through Enroll). A whole-column screen first (C-speed ``set(map(len, ...))``);
        only when it fails does ``_core.check_chains`` judge the records, to name the
        first bad one in the words of the Rust rules."""
        ok = (
            set(self.versions) == {_core.V2_VERSION}
            and set(map(len, self.chain_ids)) == {_core.CHAIN_ID_LEN}
            and set(map(len, self.prevs)) == {_core.LINK_LEN}
            and set(map(len, self.commits)) == {_core.COMMIT_LEN}
            and set(map(len, self.beacon_roots)) == {_core.LINK_LEN}
            and all(
                s or r == _ZERO for s, r in zip(self.beacon_sizes, self.beacon_roots, strict=True)
            )
            and set(map(len, self.salts)) == {_core.SALT_LEN}
            and set(map(len, self.signatures)) == {_core.SIGNATURE_LEN}
            and set(map(len, self.claimed)) <= {0, _core.LINK_LEN}
            and max(map(len, self.payloads)) <= limits.max_payload_bytes
            and set(self.kinds) <= {_core.KIND_DATA, _core.KIND_ROTATION}
            and max(self.seqs) <= MAX_SEQ
        )
        if ok:
            return
        # One segment after a stand-in head: the shapes of all its records are judged
        # before anything else, so the first fault is the first bad record's.
        _, fault = _check_chains(_ANY_HEAD, batch, limits, self.claimed)
        if fault is not None:
            i, reason, _, message = fault
            raise _shape_refusal(i, batch[i], reason, message)


def hash_and_verify(records: Sequence[Columns], keys: bytes) -> tuple[list[bytes], bytes]:
    """Links and reject codes of the records of ``records`` in order, each checked against
    its key in ``keys`` (32 bytes each), in ONE Rust call (without the GIL)."""
    records = [c for c in records if c.seqs]
    if not records:
        return [], b""
    links, codes = _core.check_submissions(
        b"".join(b"".join(c.chain_ids) for c in records),
        [s for c in records for s in c.seqs],
        [t for c in records for t in c.times],
        b"".join(bytes(c.kinds) for c in records),
        b"".join(b"".join(c.prevs) for c in records),
        b"".join(b"".join(c.commits) for c in records),
        [s for c in records for s in c.beacon_sizes],
        b"".join(b"".join(c.beacon_roots) for c in records),
        b"".join(b"".join(c.salts) for c in records),
        [p for c in records for p in c.payloads],
        b"".join(b"".join(c.signatures) for c in records),
        keys,
    )
    n = _core.LINK_LEN
    return [links[i : i + n] for i in range(0, len(links), n)], codes


def refuse_content(i: int, rec: SubmittedRecord, code: int) -> Rejected:
    """The refusal of a ``check_submissions`` reject code (bad commit, key or signature)."""
    reason, text = _core.REJECT_CODES[code]
    return invalid(reason, f"{where(i, rec)}: {text}")
