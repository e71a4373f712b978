"""SPEC v2 conformance through ``hashcore._core``: every case of tests/vectors/ but the
audit files (chain.json, policy.json), and the copy's staleness against ../shared/v2."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path
from typing import Any

import blake3
import pytest
from hashcore import _core
from hashcore.errors import InvalidInputError

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "v2" / "vectors"


def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


def h(value: str) -> bytes:
    return bytes.fromhex(value)


def test_vector_copy_matches_shared() -> None:
    if not SHARED.is_dir():
        pytest.skip("../shared/v2/vectors is not beside this checkout")
    names = sorted(p.name for p in SHARED.iterdir())
    assert sorted(p.name for p in VECTORS.iterdir()) == names
    match, mismatch, errors = filecmp.cmpfiles(SHARED, VECTORS, names, shallow=False)
    assert (mismatch, errors, sorted(match)) == ([], [], names)


def test_commit_vectors() -> None:
    d = load("commit.json")
    assert d["context"] == _core.COMMIT_CONTEXT
    assert blake3.blake3(b"").hexdigest() == d["sanity"]["H_empty"]
    assert blake3.blake3(b"abc").hexdigest() == d["sanity"]["H_abc"]
    kdf_empty = blake3.blake3(b"", derive_key_context=_core.COMMIT_CONTEXT).hexdigest()
    assert kdf_empty == d["sanity"]["KDF_commit_ctx_of_empty"]
    assert len(d["cases"]) == 12
    for c in d["cases"]:
        assert _core.commitment(h(c["salt"]), h(c["payload"])).hex() == c["commit"]


def test_chain_id_vectors() -> None:
    d = load("chain_id.json")
    cases = d["cases"] + d["encoding_cases"]
    assert len(cases) == 17
    for c in cases:
        got = _core.chain_id_for_key(h(c["public_key"])).hex()
        assert (got == c["chain_id"]) is c["valid"], c["name"]
        if c["valid"] and c.get("sk_seed"):
            assert _core.public_key_from_seed(h(c["sk_seed"])).hex() == c["public_key"]


def header_args(c: dict[str, Any]) -> tuple[Any, ...]:
    return (
        h(c["chain_id"]),
        c["seq"],
        c["time_ms"],
        c["kind"],
        h(c["prev"]),
        h(c["commit"]),
        c["beacon_size"],
        h(c["beacon_root"]),
    )


def test_record_vectors() -> None:
    d = load("record.json")
    assert d["link_context"] == _core.V2_LINK_CONTEXT
    assert len(d["cases"]) == 13
    for c in d["cases"]:
        header = _core.v2_record_header(*header_args(c))
        assert len(header) == _core.V2_HEADER_LEN
        assert header.hex() == c["header"], c["name"]
        link = _core.v2_link_of_header(header)
        assert link.hex() == c["link"], c["name"]
        assert _core.v2_link(*header_args(c)) == link
        assert blake3.blake3(header, derive_key_context=_core.V2_LINK_CONTEXT).digest() == link
        if c["salt"] is not None:
            assert _core.commitment(h(c["salt"]), h(c["payload"])).hex() == c["commit"]
        seed = h(c["signer_sk_seed"])
        assert _core.public_key_from_seed(seed).hex() == c["signer_public_key"]
        assert _core.sign(seed, link).hex() == c["signature"], c["name"]


def test_record_header_refuses_wrong_sizes() -> None:
    c = load("record.json")["cases"][0]
    args = list(header_args(c))
    args[7] = b"\0" * 31
    with pytest.raises(InvalidInputError, match="beacon_root must be 32 bytes, got 31"):
        _core.v2_record_header(*args)
    with pytest.raises(InvalidInputError, match="header must be 138 bytes, got 98"):
        _core.v2_link_of_header(b"\0" * 98)


def test_entry_vectors() -> None:
    d = load("entry.json")
    s = d["sanity"]
    assert _core.sha256_tree_root(b"").hex() == s["SHA256_empty"]
    node = s["node_of_two_leaf_hashes"]
    assert _core.sha256_node_hash(h(node["left"]), h(node["right"])).hex() == node["node"]
    assert len(d["cases"]) == 7
    for c in d["cases"]:
        entry = _core.log_entry(h(c["link"]), c["received_ms"])
        assert len(entry) == _core.V2_ENTRY_LEN
        assert entry.hex() == c["entry"]
        assert _core.sha256_leaf_hash(entry).hex() == c["leaf_hash"]
    assert len(d["invalid"]) == 5
    for c in d["invalid"]:
        assert _core.sha256_leaf_hash(h(c["entry"])).hex() != c["leaf_hash"], c["why"]


def test_merkle_vectors() -> None:
    d = load("merkle.json")
    leaves = [_core.sha256_leaf_hash(h(e)) for e in d["entries"]]
    assert [x.hex() for x in leaves] == d["leaf_hashes"]
    assert len(d["roots"]) == 34
    for r in d["roots"]:
        n = r["tree_size"]
        assert _core.sha256_tree_root(leaves[:n]).hex() == r["root"]
        assert _core.sha256_tree_root(b"".join(leaves[:n])).hex() == r["root"]
    assert len(d["inclusion"]) == 27
    for c in d["inclusion"]:
        path = [h(p) for p in c["path"]]
        i, n = c["leaf_index"], c["tree_size"]
        ok = _core.sha256_verify_inclusion(h(c["leaf_hash"]), i, n, path, h(c["root"]))
        assert ok is c["valid"], c
        if c["valid"] and n <= 33 and _core.sha256_tree_root(leaves[:n]).hex() == c["root"]:
            assert _core.sha256_inclusion_proof(leaves[:n], i) == path
    cases = d["consistency"] + d["consistency_edge_conventions"]
    assert len(cases) == 30
    for c in cases:
        path = [h(p) for p in c["path"]]
        m, n = c["first"], c["second"]
        first, second = h(c["first_hash"]), h(c["second_hash"])
        assert _core.sha256_verify_consistency(m, n, first, second, path) is c["valid"], c
        if c["valid"] and n <= 33 and _core.sha256_tree_root(leaves[:n]) == second:
            assert _core.sha256_consistency_proof(leaves[:n], m) == path


def test_proofs_refuse_positions_outside_the_tree() -> None:
    leaves = [b"\1" * 32] * 3
    with pytest.raises(InvalidInputError, match="index 3 is not below the tree size 3"):
        _core.sha256_inclusion_proof(leaves, 3)
    with pytest.raises(InvalidInputError, match="first size 4 is larger than the tree size 3"):
        _core.sha256_consistency_proof(leaves, 4)
    with pytest.raises(InvalidInputError, match="multiple of 32 bytes, got 33"):
        _core.sha256_tree_root(b"\0" * 33)


def test_checkpoint_vectors() -> None:
    d = load("checkpoint.json")
    origin, seed, log_key = d["origin"], h(d["log_sk_seed"]), h(d["log_key"])
    assert _core.log_key_id(origin, log_key).hex() == d["key_id"]
    assert _core.note_verifier_key(origin, 1, log_key) == d["verifier_key"]
    assert len(d["cases"]) == 27
    for c in d["cases"]:
        note = c["note"].encode()
        try:
            size, root = _core.note_verify(note, c["trusted_origin"], log_key)
            valid = (size, root.hex()) == (c["tree_size"], c["root"])
        except InvalidInputError:
            valid = False
        assert valid is c["valid"], c["name"]
        if c.get("body") is not None:
            body = _core.checkpoint_body(origin, c["tree_size"], h(c["root"]))
            assert body.decode() == c["body"]
            assert _core.checkpoint_parse_body(body) == (origin, c["tree_size"], h(c["root"]))
            signed = _core.note_sign(seed, origin, c["tree_size"], h(c["root"]))
            assert signed.decode() == c["body"] + "\n" + c["signature_line"], c["name"]
        if c["valid"]:
            text, lines = _core.note_parse(note)
            assert note.startswith(text + b"\n")
            assert any(line[:2] == (origin, h(d["key_id"])) for line in lines)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("size 7 with the relay's valid line twice", "more than one signature line by the log"),
        ("size 7 with a corrupted, then a valid line by the log key", "more than one"),
        ("signature by another key under the log's name and key ID", "does not verify"),
        ("trailing extension line", "checkpoint body: has extension lines"),
        ("missing final newline", "note does not end with a newline"),
        ("101 signature lines (100 unknown)", "more than 100 signature lines"),
        ("root in non-canonical base64 (non-zero trailing bits)", "canonical base64 of 32"),
        ("body names another origin, line under the trusted origin", "not the trusted origin"),
    ],
)
def test_checkpoint_rejections_name_the_rule(name: str, message: str) -> None:
    d = load("checkpoint.json")
    case = next(c for c in d["cases"] if c["name"] == name)
    with pytest.raises(InvalidInputError, match=message):
        _core.note_verify(case["note"].encode(), d["origin"], h(d["log_key"]))


def test_note_size_limit_is_one_mib() -> None:
    d = load("checkpoint.json")
    note = _core.note_sign(h(d["log_sk_seed"]), d["origin"], 7, b"\7" * 32)
    line = "— {} " + "A" * 88 + "\n"  # an unknown key's line: b64 of 66 zero bytes
    pad = _core.NOTE_MAX_LEN - len(note) - len(line.format("x").encode()) + 1
    exact = note + line.format("x" * pad).encode()
    assert len(exact) == 1 << 20
    assert _core.note_verify(exact, d["origin"], h(d["log_key"]))[0] == 7
    with pytest.raises(InvalidInputError, match="1048577 bytes, more than 1 MiB"):
        _core.note_verify(exact + b"\n", d["origin"], h(d["log_key"]))


def test_cosignature_vectors() -> None:
    d = load("cosignature.json")
    body = d["body"].encode()
    witnesses = {w["name"]: w for w in d["witnesses"]}
    for w in d["witnesses"]:
        assert _core.witness_key_id(w["name"], h(w["public_key"])).hex() == w["key_id"]
        assert _core.log_key_id(w["name"], h(w["public_key"])).hex() == w["key_id_if_type_0x01"]
        assert _core.note_verifier_key(w["name"], 4, h(w["public_key"])) == w["verifier_key"]
    assert len(d["cases"]) == 10
    for c in d["cases"]:
        w = witnesses[c["witness"]]
        key, seed = h(w["public_key"]), h(w["sk_seed"])
        got = _core.cosignature_verify(key, body, h(c["value"]))
        note = body + b"\n" + c["line"].encode()
        times = _core.note_witness_times(note, w["name"], key)
        if c["valid"]:
            assert got == c["t"], c["name"]
            assert times == [c["t"]]
            assert _core.cosignature_sign(seed, c["t"], body).hex() == c["value"]
            cosigned = _core.note_cosign(body + b"\n" + c["line"].encode(), seed, w["name"], c["t"])
            assert cosigned == note + c["line"].encode()
        else:
            assert got is None, c["name"]
            assert times == [], c["name"]
    with pytest.raises(InvalidInputError, match="at most 2"):
        _core.cosignature_sign(h(d["witnesses"][0]["sk_seed"]), 1 << 63, body)


def test_receipt_vectors() -> None:
    d = load("receipt.json")
    assert d["context"] == _core.V2_RECEIPT_CONTEXT
    seed, log_key = h(d["log_sk_seed"]), h(d["log_key"])
    assert len(d["cases"]) == 11
    for c in d["cases"]:
        entry = _core.log_entry(h(c["link"]), c["received_ms"])
        ok = _core.receipt_verify(log_key, c["log_index"], entry, h(c["receipt_sig"]))
        assert ok is c["valid"], c.get("why")
        if c["valid"]:
            assert entry.hex() == c["entry"]
            assert _core.receipt_digest(log_key, c["log_index"], entry).hex() == c["digest"]
            assert _core.receipt_sign(seed, c["log_index"], entry).hex() == c["receipt_sig"]
            digest = blake3.blake3(
                h(c["digest_input"]), derive_key_context=_core.V2_RECEIPT_CONTEXT
            ).hexdigest()
            assert digest == c["digest"]


def test_ed25519_edge_vectors() -> None:
    d = load("ed25519_edge.json")
    assert len(d["cases"]) == 12
    for c in d["cases"]:
        key, msg, sig = h(c["public_key"]), h(c["message"]), h(c["signature"])
        assert _core.verify_signature(key, msg, sig) is c["zip215_valid"], c["index"]
        small = _core.check_public_key(key) == "small_order"
        assert small is c["small_order_public_key"], c["index"]
