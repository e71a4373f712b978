"""SPEC conformance through the Python API: every vector file."""

from __future__ import annotations

import filecmp
from typing import Any

import blake3
import hashcore
import pytest
from conftest import SHARED_VECTORS, VECTORS, checkpoints_table, load_vector, records_table
from hashcore import _core, merkle


def test_vector_copy_matches_shared() -> None:
    if not SHARED_VECTORS.is_dir():
        pytest.skip("../shared/vectors is not beside this checkout")
    names = sorted(p.name for p in SHARED_VECTORS.iterdir())
    # tests/vectors/v2/ holds the v2 copy (tests/v2/test_vectors_v2.py checks it).
    assert sorted(p.name for p in VECTORS.iterdir() if p.is_file()) == names
    match, mismatch, errors = filecmp.cmpfiles(SHARED_VECTORS, VECTORS, names, shallow=False)
    assert (mismatch, errors) == ([], [])
    assert sorted(match) == names


def test_commit_vectors() -> None:
    d = load_vector("commit.json")
    sanity = d["sanity"]
    assert blake3.blake3(b"").hexdigest() == sanity["H_empty"]
    assert blake3.blake3(b"abc").hexdigest() == sanity["H_abc"]
    kdf_empty = blake3.blake3(b"", derive_key_context=_core.COMMIT_CONTEXT).hexdigest()
    assert kdf_empty == sanity["KDF_commit_ctx_of_empty"]
    assert merkle.EMPTY_ROOT.hex() == sanity["H_empty"]
    for c in d["cases"]:
        got = hashcore.commitment(bytes.fromhex(c["salt"]), bytes.fromhex(c["payload"]))
        assert got.hex() == c["commit"]


def test_record_vectors() -> None:
    for c in load_vector("record.json")["cases"]:
        header = _core.record_header(
            bytes.fromhex(c["chain_id"]),
            c["seq"],
            c["time_ms"],
            c["kind"],
            bytes.fromhex(c["prev"]),
            bytes.fromhex(c["commit"]),
        )
        assert header.hex() == c["header"], c["name"]
        link = _core.link_of_header(header)
        assert link.hex() == c["link"], c["name"]
        seed = bytes.fromhex(c["signer_sk_seed"])
        assert _core.public_key_from_seed(seed).hex() == c["signer_public_key"]
        assert _core.sign(seed, link).hex() == c["signature"], c["name"]
        assert _core.verify_signature(
            bytes.fromhex(c["signer_public_key"]), link, bytes.fromhex(c["signature"])
        )


def test_chain_id_vectors() -> None:
    d = load_vector("chain_id.json")
    for c in d["cases"] + d["encoding_cases"]:
        got = hashcore.chain_id_for_key(bytes.fromhex(c["public_key"]))
        assert (got.hex() == c["chain_id"]) is c["valid"], c["name"]


def test_merkle_vectors() -> None:
    d = load_vector("merkle.json")
    links = [bytes.fromhex(x) for x in d["links"]]
    for leaf, expected in zip(links, d["leaf_hashes"], strict=True):
        assert merkle.leaf_hash(leaf).hex() == expected
    for r in d["roots"]:
        n = r["tree_size"]
        assert merkle.root(links[:n]).hex() == r["root"]
        assert merkle.root(b"".join(links[:n])).hex() == r["root"]
    for c in d["inclusion"]:
        path = [bytes.fromhex(p) for p in c["path"]]
        ok = merkle.verify_inclusion(
            bytes.fromhex(c["leaf_hash"]),
            c["leaf_index"],
            c["tree_size"],
            path,
            bytes.fromhex(c["root"]),
        )
        assert ok is c["valid"], c
    for c in d["consistency"] + d["consistency_edge_conventions"]:
        path = [bytes.fromhex(p) for p in c["path"]]
        ok = merkle.verify_consistency(
            c["first"],
            c["second"],
            bytes.fromhex(c["first_hash"]),
            bytes.fromhex(c["second_hash"]),
            path,
        )
        assert ok is c["valid"], c
        if c["valid"] and c["second"] <= len(links):
            assert merkle.consistency_proof(links[: c["second"]], c["first"]) == path


def test_checkpoint_vectors() -> None:
    d = load_vector("checkpoint.json")
    log_id = bytes.fromhex(d["log_id"])
    seed = bytes.fromhex(d["log_sk_seed"])
    for c in d["cases"]:
        root, sig = bytes.fromhex(c["root"]), bytes.fromhex(c["signature"])
        assert _core.verify_checkpoint(log_id, c["tree_size"], root, sig) is c["valid"]
        if c["valid"]:
            assert _core.checkpoint_digest(log_id, c["tree_size"], root).hex() == c["digest"]
            assert _core.sign_checkpoint(seed, c["tree_size"], root) == sig


def test_ed25519_edge_vectors() -> None:
    cases = load_vector("ed25519_edge.json")["cases"]
    items = [
        (bytes.fromhex(c["public_key"]), bytes.fromhex(c["message"]), bytes.fromhex(c["signature"]))
        for c in cases
    ]
    expected = [c["zip215_valid"] for c in cases]
    assert [_core.verify_signature(*it) for it in items] == expected
    assert _core.verify_signatures(items) == expected
    small = [_core.check_public_key(it[0]) == "small_order" for it in items]
    assert small == [c["small_order_public_key"] for c in cases]


@pytest.mark.parametrize("threads", [1, 2])
def test_chain_bundles(chain_bundles: list[dict[str, Any]], threads: int) -> None:
    assert len(chain_bundles) == 25
    for b in chain_bundles:
        report = hashcore.verify_bulk(
            records_table(b["records"]),
            checkpoints=checkpoints_table(b["checkpoints"]),
            log_id=b["log_id"],
            threads=threads,
        )
        e = b["expected"]
        assert report.verdict_names() == [v["verdict"] for v in e["record_verdicts"]], b["case"]
        assert [c.code for c in report.checkpoints] == [
            v["verdict"] for v in e["checkpoint_verdicts"]
        ], b["case"]
        assert [list(r) for r in report.missing_log_positions] == e["missing_log_positions"]
        assert report.clean is e["clean"], b["case"]
        failing = [
            (v["log_index"], v["chain_id"], v["seq"], v["verdict"])
            for v in e["record_verdicts"]
            if v["verdict"] not in ("OK", "OK_REDACTED")
        ]
        got = [
            (f.log_index, f.chain_id.hex() if f.chain_id else None, f.seq, f.code)
            for f in report.failures
        ]
        assert got == sorted(failing), b["case"]
