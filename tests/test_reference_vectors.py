"""The pure-Python Ed25519 reference (tests/reference/zip215.py) against the SPEC's
ed25519_edge.json vectors and RFC 8032: ZIP-215 acceptance, point decoding, small order."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from reference import zip215

VECTORS = Path(__file__).parent / "vectors"


@cache
def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text())
    return data


def b(value: str) -> bytes:
    return bytes.fromhex(value)


ED25519_CASES = load("ed25519_edge.json")["cases"]


def test_ed25519_edge_has_12_cases() -> None:
    assert [c["index"] for c in ED25519_CASES] == list(range(12))


@pytest.mark.parametrize("case", ED25519_CASES, ids=lambda c: f"speccheck-{c['index']}")
def test_ed25519_edge_zip215(case: dict[str, Any]) -> None:
    pk, msg, sig = b(case["public_key"]), b(case["message"]), b(case["signature"])
    assert zip215.verify(pk, msg, sig) is case["zip215_valid"]
    assert zip215.decodes(pk)
    assert zip215.is_small_order(pk) is case["small_order_public_key"]


# RFC 8032 section 7.1, TEST 1 and TEST 2.
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
]


@pytest.mark.parametrize(("seed", "pk", "msg", "sig"), RFC8032, ids=["TEST1", "TEST2"])
def test_rfc8032(seed: str, pk: str, msg: str, sig: str) -> None:
    assert zip215.public_key(b(seed)) == b(pk)
    assert zip215.sign(b(seed), b(msg)) == b(sig)
    assert zip215.verify(b(pk), b(msg), b(sig))
    assert not zip215.verify(b(pk), b(msg) + b"x", b(sig))
    assert not zip215.is_small_order(b(pk))


def test_zip215_decoding_rules() -> None:
    identity = bytes([1]) + bytes(31)
    identity_sign_bit = bytes([1]) + bytes(30) + bytes([0x80])  # x = 0 with the sign bit set
    assert zip215.decodes(identity) and zip215.is_small_order(identity)
    assert zip215.decodes(identity_sign_bit) and zip215.is_small_order(identity_sign_bit)
    # y = p + 1 is non-canonical and reduces to y = 1, the identity again.
    y_p_plus_1 = (zip215.P + 1).to_bytes(32, "little")
    assert zip215.decodes(y_p_plus_1) and zip215.is_small_order(y_p_plus_1)
    # y = 2 has no x on the curve: the only way decoding fails.
    assert not zip215.decodes((2).to_bytes(32, "little"))
    assert not zip215.is_small_order((2).to_bytes(32, "little"))
    assert not zip215.decodes(bytes(31))
    # S = L is not canonical, even on an otherwise valid signature.
    seed = bytes(range(32))
    pk, sig = zip215.public_key(seed), zip215.sign(seed, b"m")
    s = int.from_bytes(sig[32:], "little")
    assert zip215.verify(pk, b"m", sig)
    assert not zip215.verify(pk, b"m", sig[:32] + (s + zip215.L).to_bytes(32, "little"))
    assert not zip215.verify(pk, b"m", sig[:63])
