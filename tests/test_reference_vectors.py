"""The pure-Python reference (tests/reference) against the SPEC conformance vectors.

The hypothesis tests trust the reference as an oracle for the Rust engine, so
it has to pass every vector file first.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from reference import auditor, zip215

VECTORS = Path(__file__).parent / "vectors"
if not VECTORS.exists():
    VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors"


@cache
def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text())
    return data


def unhex(value: str | None) -> bytes | None:
    """Hex to bytes; JSON null (an erased salt/payload, a null tx_hash) stays None."""
    return None if value is None else bytes.fromhex(value)


def b(value: str) -> bytes:
    return bytes.fromhex(value)


def u64be(value: int) -> bytes:
    return value.to_bytes(8, "big")


# --------------------------------------------------------------------------
# Ed25519 / ZIP-215
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# Hashing: commit, chain_id, record, checkpoint
# --------------------------------------------------------------------------


def test_commit_vectors() -> None:
    data = load("commit.json")
    assert data["context"] == auditor.COMMIT_CONTEXT
    sanity = data["sanity"]
    assert auditor.h(b"") == b(sanity["H_empty"])
    assert auditor.h(b"abc") == b(sanity["H_abc"])
    assert auditor.kdf(auditor.COMMIT_CONTEXT, b"") == b(sanity["KDF_commit_ctx_of_empty"])
    assert len(data["cases"]) == 12
    for case in data["cases"]:
        payload = b(case["payload"])
        assert len(payload) == case["payload_len"]
        assert auditor.commitment(b(case["salt"]), payload) == b(case["commit"])


def test_chain_id_vectors() -> None:
    data = load("chain_id.json")
    assert data["context"] == auditor.CHAIN_ID_CONTEXT
    for case in data["cases"]:
        pk = b(case["public_key"])
        if case["valid"]:
            assert auditor.kdf(auditor.CHAIN_ID_CONTEXT, pk) == b(case["kdf_output"])
            assert auditor.chain_id_for_key(pk) == b(case["chain_id"])
            if case["sk_seed"] is not None:
                assert zip215.public_key(b(case["sk_seed"])) == pk
        else:
            assert auditor.chain_id_for_key(pk) != b(case["chain_id"]), case["why"]
    identity_ids = set()
    for case in data["encoding_cases"]:
        pk = b(case["public_key"])
        assert auditor.chain_id_for_key(pk) == b(case["chain_id"])
        assert zip215.decodes(pk) and zip215.is_small_order(pk)
        identity_ids.add(auditor.chain_id_for_key(pk))
    assert len(identity_ids) == 2  # same point, different bytes, different chain_id


def test_record_vectors() -> None:
    data = load("record.json")
    assert data["link_context"] == auditor.LINK_CONTEXT
    assert data["commit_context"] == auditor.COMMIT_CONTEXT
    assert data["chain_id_context"] == auditor.CHAIN_ID_CONTEXT
    assert len(data["cases"]) == 12
    genesis_keys: dict[bytes, bytes] = {}
    for case in data["cases"]:
        seed, pk = b(case["signer_sk_seed"]), b(case["signer_public_key"])
        chain_id, prev, payload = (
            b(case["chain_id"]),
            b(case["prev"]),
            b(case["payload"]),
        )
        assert zip215.public_key(seed) == pk
        commit = auditor.commitment(b(case["salt"]), payload)
        assert commit == b(case["commit"])
        header = auditor.header(chain_id, case["seq"], case["time_ms"], case["kind"], prev, commit)
        assert len(header) == 98
        assert header == b(case["header"])
        link = auditor.link(header)
        assert link == b(case["link"])
        assert zip215.sign(seed, link) == b(case["signature"])
        assert zip215.verify(pk, link, b(case["signature"]))
        if case["kind"] == auditor.KIND_GENESIS:
            assert payload == pk
            assert auditor.chain_id_for_key(payload) == chain_id
            genesis_keys[chain_id] = pk
    # Chains A and B keep the chain_id of their genesis key after a rotation.
    for case in data["cases"]:
        if case["name"][0] in "AB" and not case["name"].startswith("B-encoding"):
            assert auditor.chain_id_for_key(genesis_keys[b(case["chain_id"])]) == b(
                case["chain_id"]
            )


def test_checkpoint_vectors() -> None:
    data = load("checkpoint.json")
    assert data["context"] == auditor.CHECKPOINT_CONTEXT
    seed, log_id = b(data["log_sk_seed"]), b(data["log_id"])
    assert zip215.public_key(seed) == log_id
    assert sum(not c["valid"] for c in data["cases"]) == 3
    for case in data["cases"]:
        size, root, sig = case["tree_size"], b(case["root"]), b(case["signature"])
        digest = auditor.checkpoint_digest(log_id, size, root)
        valid = zip215.verify(log_id, digest, sig)
        assert valid is case["valid"], case.get("why")
        if case["valid"]:
            assert b(case["digest_input"]) == log_id + u64be(size) + root
            assert digest == b(case["digest"])
            assert zip215.sign(seed, digest) == sig


# --------------------------------------------------------------------------
# Merkle tree (RFC 9162)
# --------------------------------------------------------------------------


def merkle_links() -> list[bytes]:
    return [b(x) for x in load("merkle.json")["links"]]


def test_merkle_leaves_and_roots() -> None:
    data = load("merkle.json")
    links = merkle_links()
    assert links == [auditor.h(u64be(i)) for i in range(33)]
    assert [auditor.leaf_hash(x) for x in links] == [b(x) for x in data["leaf_hashes"]]
    assert [r["tree_size"] for r in data["roots"]] == list(range(34))
    for r in data["roots"]:
        assert auditor.merkle_root(links[: r["tree_size"]]) == b(r["root"])


@pytest.mark.parametrize(
    "case", load("merkle.json")["inclusion"], ids=lambda c: c.get("why", "valid")
)
def test_merkle_inclusion(case: dict[str, Any]) -> None:
    links, roots = merkle_links(), load("merkle.json")["roots"]
    index, size, path = (
        case["leaf_index"],
        case["tree_size"],
        [b(p) for p in case["path"]],
    )
    ok = auditor.verify_inclusion(b(case["leaf_hash"]), index, size, path, b(case["root"]))
    assert ok is case["valid"]
    # Our own proof generation gives the vector's path wherever the vector is
    # a genuine proof for that size (not for the RFC-accepted size-18 quirk).
    if case["valid"] and b(case["root"]) == b(roots[size]["root"]):
        assert auditor.inclusion_proof(links, index, size) == path


@pytest.mark.parametrize(
    "case",
    load("merkle.json")["consistency"] + load("merkle.json")["consistency_edge_conventions"],
    ids=lambda c: f"{c['first']}-{c['second']}-{c.get('why', 'valid')}",
)
def test_merkle_consistency(case: dict[str, Any]) -> None:
    links = merkle_links()
    m, n, path = case["first"], case["second"], [b(p) for p in case["path"]]
    ok = auditor.verify_consistency(m, n, b(case["first_hash"]), b(case["second_hash"]), path)
    assert ok is case["valid"]
    if case["valid"]:
        assert auditor.consistency_proof(links, m, n) == path


def test_merkle_consistency_all_sizes() -> None:
    """Our proofs verify for all 0 <= m <= n <= 33, and not with a wrong first root."""
    links = merkle_links()
    roots = [auditor.merkle_root(links[:n]) for n in range(34)]
    for n in range(34):
        for m in range(n + 1):
            proof = auditor.consistency_proof(links, m, n)
            assert auditor.verify_consistency(m, n, roots[m], roots[n], proof), (m, n)
            assert not auditor.verify_consistency(m, n, auditor.h(b"x"), roots[n], proof), (m, n)
        for i in range(n):
            path = auditor.inclusion_proof(links, i, n)
            assert auditor.verify_inclusion(auditor.leaf_hash(links[i]), i, n, path, roots[n])


# --------------------------------------------------------------------------
# Whole bundles
# --------------------------------------------------------------------------

BUNDLES = load("chain.json")["bundles"]


def parse_record(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("chain_id", "prev", "commit", "link", "signature", "salt", "payload"):
        out[key] = unhex(row[key])
    return out


def parse_checkpoint(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("root", "signature", "tx_hash"):
        out[key] = unhex(row[key])
    return out


def test_chain_has_25_bundles() -> None:
    assert len(BUNDLES) == 25
    assert sum(bundle["expected"]["clean"] for bundle in BUNDLES) == 2  # clean, erase_payload


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda bundle: bundle["case"])
def test_chain_bundle(bundle: dict[str, Any]) -> None:
    records = [parse_record(r) for r in bundle["records"]]
    checkpoints = [parse_checkpoint(c) for c in bundle["checkpoints"]]
    expected = bundle["expected"]
    # The expected lists are in input order; make sure of it before comparing.
    assert [(v["log_index"], v["seq"]) for v in expected["record_verdicts"]] == [
        (r["log_index"], r["seq"]) for r in bundle["records"]
    ]
    assert [v["tree_size"] for v in expected["checkpoint_verdicts"]] == [
        c["tree_size"] for c in bundle["checkpoints"]
    ]

    result = auditor.audit(records, checkpoints, b(bundle["log_id"]))

    assert result["record_verdicts"] == [v["verdict"] for v in expected["record_verdicts"]]
    assert result["checkpoint_verdicts"] == [v["verdict"] for v in expected["checkpoint_verdicts"]]
    assert result["missing_log_positions"] == expected["missing_log_positions"]
    assert result["clean"] is expected["clean"]
