"""The device's own chain and keys (SPEC v2 1.2-1.4): the strict single-chain check a
device runs on the chain it holds, and the Ed25519 key helpers of :mod:`hashcore.device`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import nacl.signing

from . import _core
from .device_trust import evidence_from_state
from .errors import DeviceError, InvalidInputError
from .record import Record, check_chain_segment

__all__ = [
    "check_own_chain",
    "fields_from_state",
    "public_key_of",
    "seed_of",
    "sign_with",
    "state_hex",
    "state_records",
    "system_clock",
]


def system_clock() -> int:
    """Wall-clock milliseconds since the Unix epoch (SPEC 1.2 ``time_ms``)."""
    return time.time_ns() // 1_000_000


def sign_with(key: nacl.signing.SigningKey) -> Callable[[bytes], bytes]:
    def sign(link: bytes) -> bytes:
        # PyNaCl signs per RFC 8032 (deterministic); .signature is the detached 64 bytes.
        return bytes(key.sign(link).signature)

    return sign


def public_key_of(key: nacl.signing.SigningKey) -> bytes:
    return bytes(key.verify_key)


def seed_of(key: nacl.signing.SigningKey) -> bytes:
    # bytes(SigningKey) is the 32-byte RFC 8032 seed, which is all we need to persist.
    return bytes(key)


#: Faults of ``_core.check_chains`` in the device's words (the others keep the engine's).
NOT_VERIFIED = "does not verify (link, commitment or signature under the key in force is wrong)"
DEVICE_WORDS: dict[str, Callable[[int, Record], str]] = {
    "gap": lambda i, rec: f"expected seq {i}; the chain must be seq 0, 1, 2, ...",
    "out_of_order": lambda i, rec: f"expected seq {i}; the chain must be seq 0, 1, 2, ...",
    "repeated": lambda i, rec: f"expected seq {i}; the chain must be seq 0, 1, 2, ...",
    "not_a_genesis": lambda i, rec: f"kind {rec.kind} is not allowed here",
    "genesis_after_start": lambda i, rec: f"kind {rec.kind} is not allowed here",
    "unknown_kind": lambda i, rec: f"kind {rec.kind} is not allowed here",
    "genesis_key_size": lambda i, rec: "payload is not a valid public key",
    "genesis_key_invalid": lambda i, rec: "payload is not a valid public key",
    "bad_key": lambda i, rec: "payload is not a valid public key",
    "link_mismatch": lambda i, rec: NOT_VERIFIED,
    "bad_commit": lambda i, rec: NOT_VERIFIED,
    "bad_signature": lambda i, rec: NOT_VERIFIED,
}


def check_own_chain(records: Sequence[Record], genesis_public_key: bytes) -> bytes:
    """Check a device's own chain completely; return the public key in force after it.

    A device only ever holds its own unforked chain, so this is the strict single-chain
    form of SPEC section 4: seq 0..n-1 in order, genesis first, each prev the link before,
    every record valid under the key in force (``_core.check_chains``, the relay's check).

    Raises:
        DeviceError: naming the first seq that is wrong and why.
    """
    if not records:
        raise DeviceError("the chain has no records (a device always has its genesis)")
    _, head, fault = check_chain_segment(
        None,
        records,
        versions=[_core.V2_VERSION] * len(records),
        claimed=[r.link for r in records],
    )
    if fault is not None:
        i, _, code, message = fault
        rec = records[i]
        words = DEVICE_WORDS.get(code)
        raise DeviceError(f"record {i} (seq {rec.seq}): {words(i, rec) if words else message}")
    if records[0].payload != genesis_public_key:
        raise DeviceError(
            f"record 0 (seq {records[0].seq}): genesis payload is not the genesis public key"
        )
    assert head is not None  # a chain with records has a head
    return head[2]


def state_hex(state: dict[str, Any], name: str, size: int) -> bytes:
    """A state file's hex field of exactly ``size`` bytes, or a DeviceError naming it."""
    value = state.get(name)
    if not isinstance(value, str):
        raise DeviceError(f"field '{name}' is missing or not a string")
    try:
        out = bytes.fromhex(value)
    except ValueError:
        raise DeviceError(f"field '{name}' is not valid hex") from None
    if len(out) != size:
        raise DeviceError(f"field '{name}' must be {size} bytes, got {len(out)}")
    return out


def state_records(state: dict[str, Any]) -> list[Record]:
    """A state file's records, or a DeviceError naming the first that doesn't parse."""
    raw = state.get("records")
    if not isinstance(raw, list):
        raise DeviceError("field 'records' is missing or not a list")
    records: list[Record] = []
    for i, item in enumerate(raw):
        try:
            records.append(Record.from_dict(item))
        except InvalidInputError as exc:
            raise DeviceError(f"record {i}: {exc}") from None
    return records


def fields_from_state(state: object, state_format: str, version: int) -> dict[str, Any]:
    """A state file's content checked (format, keys, the chain, the evidence) as the
    keyword arguments of ``Device(...)`` (all but ``path`` and ``clock``).

    Raises:
        DeviceError: naming what is wrong.
    """
    if not isinstance(state, dict):
        raise DeviceError("device state must be a JSON object")
    if state.get("format") != state_format:
        raise DeviceError(f"format is {state.get('format')!r}, expected {state_format!r}")
    got = state.get("version")
    if isinstance(got, bool) or got != version:
        raise DeviceError(f"version is {got!r}, expected {version}")

    seed = state_hex(state, "secret_seed", 32)
    genesis_pk = state_hex(state, "genesis_public_key", 32)
    chain_id = state_hex(state, "chain_id", 16)
    if _core.chain_id_for_key(genesis_pk) != chain_id:
        raise DeviceError("chain_id is not derived from genesis_public_key")
    records = state_records(state)
    key_in_force = check_own_chain(records, genesis_pk)
    key = nacl.signing.SigningKey(seed)
    if public_key_of(key) != key_in_force:
        raise DeviceError(
            "secret_seed does not match the public key in force after the last record"
        )
    sent = state.get("sent_through", -1)
    if isinstance(sent, bool) or not isinstance(sent, int) or not -1 <= sent < len(records):
        raise DeviceError(f"sent_through must be an integer in -1..{len(records) - 1}")
    pin, receipts, notes = evidence_from_state(state, chain_id, records)
    return {
        "signing_key": key,
        "genesis_public_key": genesis_pk,
        "records": records,
        "sent_through": sent,
        "pin": pin,
        "receipts": receipts,
        "notes": notes,
    }
