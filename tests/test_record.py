"""hashcore.record: the Record value type against the SPEC v2 vectors and its own checks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hashcore import _core
from hashcore.errors import HashcoreError, InvalidInputError
from hashcore.record import ZERO_LINK, Kind, Record

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "vectors" / "record.json").read_text()
)["cases"]
# Identity point: a small-order key under which ZIP-215 accepts some signatures.
SMALL_ORDER_KEY = bytes.fromhex("01" + "00" * 31)


def _record(c: dict[str, Any]) -> Record:
    return Record(
        chain_id=bytes.fromhex(c["chain_id"]),
        seq=c["seq"],
        time_ms=c["time_ms"],
        kind=c["kind"],
        prev=bytes.fromhex(c["prev"]),
        commit=bytes.fromhex(c["commit"]),
        link=bytes.fromhex(c["link"]),
        signature=bytes.fromhex(c["signature"]),
        salt=None if c["salt"] is None else bytes.fromhex(c["salt"]),
        payload=None if c["payload"] is None else bytes.fromhex(c["payload"]),
        beacon_size=c["beacon_size"],
        beacon_root=bytes.fromhex(c["beacon_root"]),
    )


def _valid() -> Record:
    return _record(CASES[1])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_vector_header_link_commit(case: dict[str, Any]) -> None:
    rec = _record(case)
    assert rec.header.hex() == case["header"]
    assert len(rec.header) == 138
    assert rec.compute_link().hex() == case["link"]
    assert rec.compute_commit() == bytes.fromhex(case["commit"])
    assert rec.verify(bytes.fromhex(case["signer_public_key"])) is True


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_create_reproduces_vector(case: dict[str, Any]) -> None:
    seed = bytes.fromhex(case["signer_sk_seed"])
    rec = Record.create(
        chain_id=bytes.fromhex(case["chain_id"]),
        seq=case["seq"],
        time_ms=case["time_ms"],
        kind=case["kind"],
        prev=bytes.fromhex(case["prev"]),
        salt=bytes.fromhex(case["salt"]),
        payload=bytes.fromhex(case["payload"]),
        sign=lambda link: _core.sign(seed, link),
        beacon_size=case["beacon_size"],
        beacon_root=bytes.fromhex(case["beacon_root"]),
    )
    assert rec == _record(case)
    assert rec.signature.hex() == case["signature"]


def test_kind_values() -> None:
    assert [(k.name, int(k)) for k in Kind] == [("GENESIS", 0), ("DATA", 1), ("ROTATION", 2)]
    rec = dataclasses.replace(_valid(), kind=Kind.DATA)
    assert type(rec.kind) is int
    assert rec.kind == 1


def test_verify_rejects_wrong_key() -> None:
    chain_b_key = next(c for c in CASES if c["name"].startswith("B0"))["signer_public_key"]
    assert _valid().verify(bytes.fromhex(chain_b_key)) is False


def test_verify_after_rotation_needs_new_key() -> None:
    rotation = next(c for c in CASES if c["kind"] == 2 and c["name"].startswith("A"))
    after = next(c for c in CASES if c["name"].startswith("A6"))
    old_key = bytes.fromhex(rotation["signer_public_key"])
    new_key = bytes.fromhex(rotation["payload"])
    assert _record(rotation).verify(old_key) is True
    assert _record(rotation).verify(new_key) is False
    assert _record(after).verify(new_key) is True
    assert _record(after).verify(old_key) is False


def test_verify_false_on_tampered_payload() -> None:
    rec = _valid()
    assert rec.payload is not None
    tampered = dataclasses.replace(rec, payload=b"X" + rec.payload[1:])
    assert tampered.compute_commit() != tampered.commit
    assert tampered.compute_link() == tampered.link  # the header is untouched
    assert tampered.verify(bytes.fromhex(CASES[1]["signer_public_key"])) is False


def test_verify_false_on_tampered_header_field() -> None:
    rec = _valid()
    key = bytes.fromhex(CASES[1]["signer_public_key"])
    assert dataclasses.replace(rec, time_ms=rec.time_ms + 1).verify(key) is False
    assert dataclasses.replace(rec, seq=rec.seq + 1).verify(key) is False
    assert dataclasses.replace(rec, prev=ZERO_LINK).verify(key) is False


def test_verify_false_on_tampered_signature() -> None:
    rec = _valid()
    sig = bytearray(rec.signature)
    sig[0] ^= 1
    key = bytes.fromhex(CASES[1]["signer_public_key"])
    assert dataclasses.replace(rec, signature=bytes(sig)).verify(key) is False


def test_verify_false_on_small_order_key() -> None:
    # Sign "as" the identity point: R = identity, S = 0 satisfies the cofactored
    # ZIP-215 equation for every message, so only the key check can reject it.
    rec = dataclasses.replace(_valid(), signature=SMALL_ORDER_KEY + bytes(32))
    assert _core.verify_signature(SMALL_ORDER_KEY, rec.link, rec.signature) is True
    assert rec.verify(SMALL_ORDER_KEY) is False


def test_verify_key_size_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="public_key must be 32 bytes, got 31"):
        _valid().verify(bytes(31))


def test_erased_keeps_commit_and_verifies() -> None:
    rec = _valid()
    erased = rec.erased()
    assert (erased.salt, erased.payload) == (None, None)
    assert (erased.commit, erased.link, erased.signature) == (rec.commit, rec.link, rec.signature)
    assert erased.compute_commit() is None
    assert erased.erased_payload is True
    assert erased.verify(bytes.fromhex(CASES[1]["signer_public_key"])) is True


@pytest.mark.parametrize(
    ("field", "size"),
    [("chain_id", 16), ("prev", 32), ("commit", 32), ("link", 32), ("signature", 64)],
)
@pytest.mark.parametrize("delta", [-1, 1])
def test_fixed_size_fields_are_checked(field: str, size: int, delta: int) -> None:
    with pytest.raises(InvalidInputError) as err:
        changes: dict[str, Any] = {field: bytes(size + delta)}
        dataclasses.replace(_valid(), **changes)
    assert str(err.value) == f"{field} must be {size} bytes, got {size + delta}"
    assert isinstance(err.value, HashcoreError)


def test_salt_size_is_checked() -> None:
    with pytest.raises(InvalidInputError, match=r"^salt must be 16 bytes, got 15$"):
        dataclasses.replace(_valid(), salt=bytes(15))


@pytest.mark.parametrize(
    ("salt", "payload", "missing"), [(None, b"x", "salt"), (bytes(16), None, "payload")]
)
def test_half_erased_is_rejected(salt: bytes | None, payload: bytes | None, missing: str) -> None:
    with pytest.raises(InvalidInputError, match=f"^{missing} is None but the other is not"):
        dataclasses.replace(_valid(), salt=salt, payload=payload)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("seq", -1, "seq must be in 0..18446744073709551615, got -1"),
        ("seq", 2**64, "seq must be in 0..18446744073709551615, got 18446744073709551616"),
        ("seq", True, "seq must be an integer, got bool"),
        ("time_ms", 2**63, f"time_ms must be in {-(2**63)}..{2**63 - 1}, got {2**63}"),
        ("kind", 256, "kind must be in 0..255, got 256"),
        ("log_index", -5, "log_index must be in 0..18446744073709551615, got -5"),
        ("received_ms", "now", "received_ms must be an integer, got str"),
        ("chain_id", "76a7a1aecaf57b54469cf4d337428c81", "chain_id must be bytes, got str"),
    ],
)
def test_field_values_are_checked(field: str, value: object, message: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        changes: dict[str, Any] = {field: value}
        dataclasses.replace(_valid(), **changes)
    assert str(err.value) == message


def test_bytearray_is_normalised() -> None:
    rec = dataclasses.replace(_valid(), prev=bytearray(_valid().prev))  # type: ignore[arg-type]
    assert type(rec.prev) is bytes
    assert rec == _valid()


def test_dict_round_trip() -> None:
    rec = dataclasses.replace(_valid(), log_index=7, received_ms=1795392001500)
    d = rec.to_dict()
    assert d == {
        "chain_id": CASES[1]["chain_id"],
        "seq": 1,
        "time_ms": 1795392001000,
        "kind": 1,
        "prev": CASES[1]["prev"],
        "commit": CASES[1]["commit"],
        "link": CASES[1]["link"],
        "signature": CASES[1]["signature"],
        "salt": CASES[1]["salt"],
        "payload": CASES[1]["payload"],
        "log_index": 7,
        "received_ms": 1795392001500,
        "beacon_size": 1,
        "beacon_root": CASES[1]["beacon_root"],
    }
    assert Record.from_dict(d) == rec
    # Without a beacon (a record made before any checkpoint was verified): none.
    bare = {k: v for k, v in d.items() if not k.startswith("beacon")}
    assert Record.from_dict(bare).beacon_size == 0
    assert Record.from_dict(bare).beacon_root == ZERO_LINK


def test_dict_round_trip_erased() -> None:
    d = _valid().erased().to_dict()
    assert (d["salt"], d["payload"], d["log_index"], d["received_ms"]) == (None, None, None, None)
    assert Record.from_dict(d) == _valid().erased()


def test_from_dict_errors_name_the_field() -> None:
    d = _valid().to_dict()
    del d["log_index"], d["received_ms"]  # optional
    assert Record.from_dict(d) == _valid()
    missing = {k: v for k, v in d.items() if k != "commit"}
    with pytest.raises(InvalidInputError, match=r"^record field 'commit' is missing$"):
        Record.from_dict(missing)
    with pytest.raises(InvalidInputError, match=r"^link is not valid hex: 'zz'$"):
        Record.from_dict({**d, "link": "zz"})
    with pytest.raises(InvalidInputError, match=r"^signature must be 64 bytes, got 1$"):
        Record.from_dict({**d, "signature": "00"})
    with pytest.raises(InvalidInputError, match=r"^unknown record field\(s\): extra$"):
        Record.from_dict({**d, "extra": 1})
