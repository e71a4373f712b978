"""Property tests: the Rust engine against the pure-Python references.

* Merkle roots and proofs against the naive recursive RFC 9162 definitions.
* ``verify_bulk`` against ``tests/reference/auditor.py`` (a literal, slow reading of SPEC
  section 4) on random bundles with random tampering, at ``threads=1`` and ``threads=2``.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import hashcore
import pyarrow as pa
from conftest import checkpoints_table
from hashcore import _core, merkle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import auditor

LINKS = [hashlib.blake2b(i.to_bytes(8, "big"), digest_size=32).digest() for i in range(80)]


@given(n=st.integers(0, 80))
def test_merkle_root_matches_naive(n: int) -> None:
    assert merkle.root(LINKS[:n]) == auditor.merkle_root(LINKS[:n])


@given(data=st.data())
def test_inclusion_proofs_match_naive(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 80))
    i = data.draw(st.integers(0, n - 1))
    path = merkle.inclusion_proof(LINKS[:n], i)
    assert path == auditor.inclusion_proof(LINKS[:n], i, n)
    root = merkle.root(LINKS[:n])
    leaf = merkle.leaf_hash(LINKS[i])
    assert merkle.verify_inclusion(leaf, i, n, path, root)
    if path:
        bad = list(path)
        j = data.draw(st.integers(0, len(bad) - 1))
        bad[j] = bytes(32)
        assert not merkle.verify_inclusion(leaf, i, n, bad, root)
        assert auditor.verify_inclusion(leaf, i, n, bad, root) is False


@given(data=st.data())
def test_consistency_proofs_match_naive(data: st.DataObject) -> None:
    n = data.draw(st.integers(0, 80))
    m = data.draw(st.integers(0, n))
    proof = merkle.consistency_proof(LINKS[:n], m)
    assert proof == auditor.consistency_proof(LINKS[:n], m, n)
    first, second = merkle.root(LINKS[:m]), merkle.root(LINKS[:n])
    assert merkle.verify_consistency(m, n, first, second, proof)
    assert auditor.verify_consistency(m, n, first, second, proof)
    if m > 0:
        wrong = merkle.root(LINKS[1 : m + 1])
        assert not merkle.verify_consistency(m, n, wrong, second, proof)


# --------------------------------------------------------------------------- bundles

LOG_SEED = bytes(range(32))
LOG_ID = _core.public_key_from_seed(LOG_SEED)


def _seed(tag: str) -> bytes:
    return hashlib.sha256(tag.encode()).digest()


def _record(
    seed: bytes, chain_id: bytes, seq: int, kind: int, prev: bytes, payload: bytes, salt: bytes
) -> dict[str, Any]:
    commit = _core.commitment(salt, payload)
    link = _core.link_of_header(
        _core.record_header(chain_id, seq, 1_800_000_000_000 + seq, kind, prev, commit)
    )
    return {
        "chain_id": chain_id,
        "seq": seq,
        "time_ms": 1_800_000_000_000 + seq,
        "kind": kind,
        "prev": prev,
        "commit": commit,
        "link": link,
        "signature": _core.sign(seed, link),
        "salt": salt,
        "payload": payload,
        "received_ms": 0,
    }


@st.composite
def clean_bundles(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[int]]:
    """1-3 devices with 1-5 records each (optionally one rotation), interleaved in the log."""
    devices = draw(st.integers(1, 3))
    chains: list[list[dict[str, Any]]] = []
    for d in range(devices):
        seed = _seed(f"device {d}")
        pk = _core.public_key_from_seed(seed)
        cid = _core.chain_id_for_key(pk)
        length = draw(st.integers(1, 5))
        rotate_at = draw(st.one_of(st.none(), st.integers(1, 4)))
        recs = [_record(seed, cid, 0, 0, bytes(32), pk, bytes([d]) * 16)]
        for s in range(1, length):
            salt = bytes([d, s]) * 8
            if s == rotate_at:
                new_seed = _seed(f"device {d} rotated")
                recs.append(
                    _record(
                        seed,
                        cid,
                        s,
                        2,
                        recs[-1]["link"],
                        _core.public_key_from_seed(new_seed),
                        salt,
                    )
                )
                seed = new_seed
            else:
                recs.append(
                    _record(seed, cid, s, 1, recs[-1]["link"], f"diary {d}/{s}".encode(), salt)
                )
        chains.append(recs)
    # Interleave: repeatedly take the next record of a drawn chain.
    order: list[dict[str, Any]] = []
    cursors = [0] * devices
    while any(c < len(ch) for c, ch in zip(cursors, chains, strict=True)):
        live = [i for i in range(devices) if cursors[i] < len(chains[i])]
        i = draw(st.sampled_from(live))
        order.append(dict(chains[i][cursors[i]]))
        cursors[i] += 1
    for li, r in enumerate(order):
        r["log_index"] = li
    sizes = sorted(
        set(draw(st.lists(st.integers(0, len(order)), min_size=0, max_size=3))) | {len(order)}
    )
    return order, sizes


def _checkpoints(rows: list[dict[str, Any]], sizes: list[int]) -> list[dict[str, Any]]:
    links = [r["link"] for r in sorted(rows, key=lambda r: r["log_index"])]
    out = []
    for ts in sizes:
        root = auditor.merkle_root(links[:ts])
        out.append(
            {
                "tree_size": ts,
                "root": root,
                "signature": _core.sign_checkpoint(LOG_SEED, ts, root),
                "tx_hash": None,
                "block_number": None,
            }
        )
    return out


FIELDS = ("chain_id", "prev", "commit", "link", "signature", "salt", "payload")
TAMPERS = (
    "flip_byte",
    "truncate",
    "null_field",
    "set_kind",
    "set_seq",
    "delete",
    "duplicate_row",
    "duplicate_log_index",
    "swap_log_index",
    "erase",
    "recompute_link",
    "resign_foreign",
    "alter_root",
    "forge_checkpoint",
    "drop_checkpoint",
    "rewrite_log",
    "edit_payload",
    "edit_prev",
)


def _tamper(draw: st.DrawFn, rows: list[dict[str, Any]], cps: list[dict[str, Any]]) -> None:
    op = draw(st.sampled_from(TAMPERS))
    if not rows:
        return
    i = draw(st.integers(0, len(rows) - 1))
    r = rows[i]
    if op == "flip_byte":
        f = draw(st.sampled_from(FIELDS))
        if r[f]:
            b = bytearray(r[f])
            b[draw(st.integers(0, len(b) - 1))] ^= 1 << draw(st.integers(0, 7))
            r[f] = bytes(b)
    elif op == "truncate":
        f = draw(st.sampled_from(FIELDS))
        if r[f]:
            r[f] = r[f][:-1]
    elif op == "null_field":
        r[draw(st.sampled_from(FIELDS))] = None
    elif op == "set_kind":
        r["kind"] = draw(st.sampled_from([0, 1, 2, 3, 255]))
    elif op == "set_seq":
        r["seq"] = draw(st.integers(0, 6))
    elif op == "delete":
        rows.pop(i)
    elif op == "duplicate_row":
        dup = dict(r)
        dup["log_index"] = max(x["log_index"] for x in rows) + 1
        rows.append(dup)
        if all(isinstance(x["link"], bytes) for x in rows):  # a null link can't be logged
            cps.append(_checkpoints(rows, [len(rows)])[0])
    elif op == "duplicate_log_index":
        rows.append(dict(r))
    elif op == "swap_log_index":
        j = draw(st.integers(0, len(rows) - 1))
        r["log_index"], rows[j]["log_index"] = rows[j]["log_index"], r["log_index"]
    elif op == "edit_payload":
        if r["payload"] is not None:
            r["payload"] = r["payload"] + b"x"
    elif op == "edit_prev":
        # A device (or relay) re-links a record to another predecessor and re-signs it.
        if (
            r["chain_id"] is not None
            and len(r["chain_id"]) == 16
            and r["commit"] is not None
            and len(r["commit"]) == 32
            and 0 <= r["kind"] < 256
        ):
            r["prev"] = bytes(31) + b"\x01"
            r["link"] = _core.link_of_header(
                _core.record_header(
                    r["chain_id"], r["seq"], r["time_ms"], r["kind"], r["prev"], r["commit"]
                )
            )
    elif op == "erase":
        r["salt"] = r["payload"] = None
    elif op == "recompute_link":
        if r["salt"] is not None and r["payload"] is not None and len(r["salt"]) == 16:
            r["payload"] = r["payload"] + b"!"
            r["commit"] = _core.commitment(r["salt"], r["payload"])
            if (
                all(isinstance(r[k], bytes) for k in ("chain_id", "prev"))
                and len(r["chain_id"]) == 16
                and len(r["prev"]) == 32
                and 0 <= r["kind"] < 256
            ):
                r["link"] = _core.link_of_header(
                    _core.record_header(
                        r["chain_id"], r["seq"], r["time_ms"], r["kind"], r["prev"], r["commit"]
                    )
                )
    elif op == "resign_foreign":
        if r["link"] is not None:
            r["signature"] = _core.sign(_seed("intruder"), r["link"])
    elif op == "alter_root" and cps:
        c = cps[draw(st.integers(0, len(cps) - 1))]
        c["root"] = bytes(32)
        c["signature"] = _core.sign_checkpoint(LOG_SEED, c["tree_size"], c["root"])
    elif op == "forge_checkpoint" and cps:
        c = cps[draw(st.integers(0, len(cps) - 1))]
        c["signature"] = _core.sign_checkpoint(_seed("intruder"), c["tree_size"], c["root"])
    elif op == "drop_checkpoint" and cps:
        cps.pop(draw(st.integers(0, len(cps) - 1)))
    elif op == "rewrite_log":
        # A relay rewriting history: swap two entries and re-sign later checkpoints.
        j = draw(st.integers(0, len(rows) - 1))
        r["log_index"], rows[j]["log_index"] = rows[j]["log_index"], r["log_index"]
        if cps:
            keep = draw(st.integers(0, len(cps) - 1))
            rest = [c["tree_size"] for c in cps[keep:]]
            if (
                all(isinstance(x["link"], bytes) and len(x["link"]) == 32 for x in rows)
                and len({x["log_index"] for x in rows}) == len(rows)
                and max(x["log_index"] for x in rows) < len(rows)
            ):
                cps[keep:] = _checkpoints(rows, [ts for ts in rest if ts <= len(rows)])


@st.composite
def tampered_bundles(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows, sizes = draw(clean_bundles())
    cps = _checkpoints(rows, sizes)
    for _ in range(draw(st.integers(0, 3))):
        _tamper(draw, rows, cps)
    draw(st.randoms(use_true_random=False)).shuffle(rows)
    return rows, cps


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    names = (
        "log_index",
        "chain_id",
        "seq",
        "time_ms",
        "kind",
        *FIELDS[1:5],
        "salt",
        "payload",
        "received_ms",
    )
    cols = {n: [r[n] for r in rows] for n in names}
    types = {
        "log_index": pa.uint64(),
        "seq": pa.uint64(),
        "time_ms": pa.int64(),
        "kind": pa.uint8(),
        "received_ms": pa.int64(),
    }
    return pa.table({n: pa.array(v, type=types.get(n, pa.binary())) for n, v in cols.items()})


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(bundle=tampered_bundles(), threads=st.sampled_from([1, 2]))
def test_verify_bulk_matches_reference(
    bundle: tuple[list[dict[str, Any]], list[dict[str, Any]]], threads: int
) -> None:
    rows, cps = bundle
    expected = auditor.audit(copy.deepcopy(rows), copy.deepcopy(cps), LOG_ID)
    cp_rows = [{k: (v.hex() if isinstance(v, bytes) else v) for k, v in c.items()} for c in cps]
    report = hashcore.verify_bulk(
        _table(rows), checkpoints=checkpoints_table(cp_rows), log_id=LOG_ID, threads=threads
    )
    assert report.verdict_names() == expected["record_verdicts"]
    assert [c.code for c in report.checkpoints] == expected["checkpoint_verdicts"]
    assert [list(m) for m in report.missing_log_positions] == expected["missing_log_positions"]
    assert report.clean is expected["clean"]
