"""The ledger's group commit without gRPC: batches checked together (one Rust call for the
group), each still all-or-nothing, and a refused batch re-planning the ones after it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hashcore import Device, _core
from hashcore.errors import InvalidInputError
from hashcore.relay.client import record_pb
from hashcore.relay.ledger import Ledger, token_hash
from hashcore.relay.rejection import Rejected
from hashcore.relay.store.sqlite import SqliteStore
from hashcore.relay.v2 import relay_pb2 as pb


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(
        SqliteStore(tmp_path / "l.db"), os.urandom(32), origin=ORIGIN, checkpoint_every=10**6
    )


ORIGIN = "relay.test.example/ledger"


def _root_of(ledger: Ledger, links: list[bytes]) -> bytes:
    """The SPEC v2 2.1 root of the log of these links, with the stored receive times."""
    by_link = {r.link: r for r in (ledger.store.record_at(i) for i in range(ledger.size)) if r}
    leaves = [_core.sha256_leaf_hash(by_link[lk].entry) for lk in links]
    return _core.sha256_tree_root(leaves)


def _enroll(ledger: Ledger, records: int = 0) -> Device:
    device = Device.new()
    token = os.urandom(8).hex()
    ledger.store.add_token(token_hash(token), "P", 0, 2**62)
    ledger.enroll(token, record_pb(device.records()[0]))
    for i in range(records):
        device.append(b"entry %d" % i)
    return device


def _pb(device: Device, seqs: range) -> list[pb.Record]:
    return [record_pb(device.records()[s]) for s in seqs]


def _bad_signature(rec: pb.Record) -> pb.Record:
    out = pb.Record()
    out.CopyFrom(rec)
    out.signature = b"\x07" * 64
    return out


def test_a_refused_batch_mid_group_leaves_the_others(ledger: Ledger) -> None:
    a = _enroll(ledger, 9)
    b = _enroll(ledger, 3)
    good = _pb(a, range(1, 4))
    bad = _pb(a, range(4, 7))
    bad[1] = _bad_signature(bad[1])
    retry = _pb(a, range(4, 7))  # the same seqs, correctly signed: planned afresh
    other = _pb(b, range(1, 4))
    results = ledger.submit_group([good, bad, retry, other])
    assert [(x.seq, x.log_index, x.duplicate) for x in results[0]] == [
        (1, 2, False),
        (2, 3, False),
        (3, 4, False),
    ]  # type: ignore[union-attr]
    assert isinstance(results[1], Rejected)
    assert results[1].reason == "bad_signature"
    assert f"record 1 (chain {a.chain_id.hex()} seq 5)" in results[1].details
    assert [(x.seq, x.log_index) for x in results[2]] == [(4, 5), (5, 6), (6, 7)]  # type: ignore[union-attr]
    assert [(x.seq, x.log_index) for x in results[3]] == [(1, 8), (2, 9), (3, 10)]  # type: ignore[union-attr]
    assert ledger.size == ledger.store.tree_size() == 11
    links = [a.records()[0].link, b.records()[0].link] + [r.link for r in a.records()[1:7]]
    links += [r.link for r in b.records()[1:4]]
    assert ledger.tree.root() == _root_of(ledger, links)


def test_rotation_in_one_batch_keys_the_next(ledger: Ledger) -> None:
    a = _enroll(ledger, 2)
    a.rotate_key()
    for i in range(3):
        a.append(b"after %d" % i)
    first = _pb(a, range(1, 4))  # ends with the rotation
    second = _pb(a, range(4, 7))  # signed by the new key
    results = ledger.submit_group([first, second])
    assert [len(r) for r in results] == [3, 3]  # type: ignore[arg-type]
    assert ledger.heads[a.chain_id].key == a.public_key
    assert ledger.heads[a.chain_id].key != a.genesis_public_key


def test_a_batch_refused_before_hashing_does_not_disturb_the_group(ledger: Ledger) -> None:
    a = _enroll(ledger, 4)
    stranger = Device.new()
    stranger.append(b"never enrolled")
    results = ledger.submit_group([_pb(stranger, range(1, 2)), _pb(a, range(1, 5))])
    assert isinstance(results[0], Rejected) and results[0].reason == "unknown_chain"
    assert [x.log_index for x in results[1]] == [1, 2, 3, 4]  # type: ignore[union-attr]


def test_resent_and_new_records_across_batches_of_one_group(ledger: Ledger) -> None:
    a = _enroll(ledger, 6)
    results = ledger.submit_group([_pb(a, range(1, 4)), _pb(a, range(2, 6)), _pb(a, range(1, 7))])
    assert [(x.seq, x.log_index, x.duplicate) for x in results[1]] == [  # type: ignore[union-attr]
        (2, 2, True),
        (3, 3, True),
        (4, 4, False),
        (5, 5, False),
    ]
    assert [x.duplicate for x in results[2]] == [True] * 5 + [False]  # type: ignore[union-attr]
    assert ledger.size == 7


def test_out_of_order_and_twice_in_a_batch(ledger: Ledger) -> None:
    a = _enroll(ledger, 4)
    recs = _pb(a, range(1, 5))
    swapped = [recs[1], recs[0], recs[2]]
    twice = [recs[0], recs[0]]
    results = ledger.submit_group([swapped, twice])
    assert isinstance(results[0], Rejected) and results[0].code == "FAILED_PRECONDITION"
    assert "follows seq 2 of its chain in the batch" in results[0].details
    assert isinstance(results[1], Rejected) and results[1].details.endswith(
        "appears twice in the batch"
    )
    assert ledger.size == 1


def test_a_store_failure_loses_nothing_acknowledged_and_recovers(ledger: Ledger) -> None:
    """Fault injection: the store refuses one append (disk full, say). Nothing of that
    group is acknowledged, memory is rebuilt from the store, and the next group works."""
    from hashcore.errors import StoreError

    a = _enroll(ledger, 6)
    assert len(ledger.submit_group([_pb(a, range(1, 3))])[0]) == 2  # type: ignore[arg-type]
    root = ledger.tree.root()
    real_append = ledger.store.append

    def failing_append(*args: object, **kwargs: object) -> None:
        raise StoreError("disk full (injected)")

    ledger.store.append = failing_append  # type: ignore[method-assign]
    with pytest.raises(StoreError, match="disk full"):
        ledger.submit_group([_pb(a, range(3, 5))])
    assert (ledger.size, ledger.tree.size, ledger.tree.root()) == (3, 3, root)
    assert ledger.heads[a.chain_id].seq == 2
    ledger.store.append = real_append  # type: ignore[method-assign]
    acks = ledger.submit_group([_pb(a, range(3, 7))])[0]
    assert [(x.seq, x.log_index, x.duplicate) for x in acks] == [
        (3, 3, False),
        (4, 4, False),
        (5, 5, False),
        (6, 6, False),
    ]  # type: ignore[union-attr]
    assert ledger.store.tree_size() == 7


def test_receipts_are_signed_for_consecutive_positions_in_one_call(ledger: Ledger) -> None:
    entries = [_core.log_entry(bytes([i]) * 32, 1000 + i) for i in range(5)]
    sigs = ledger.sign_receipts(7, b"".join(entries))
    assert sigs == [ledger.sign_receipt(7 + i, e) for i, e in enumerate(entries)]
    assert all(
        _core.receipt_verify(ledger.log_key, 7 + i, e, s)
        for i, (e, s) in enumerate(zip(entries, sigs, strict=True))
    )
    assert ledger.sign_receipts(0, b"") == []
    with pytest.raises(InvalidInputError, match="entries must be a multiple of 41 bytes, got 40"):
        _core.receipt_sign_consecutive(bytes(32), 0, bytes(40))
    with pytest.raises(InvalidInputError, match=r"log positions from 18446744073709551615 for 1"):
        _core.receipt_sign_consecutive(bytes(32), 2**64 - 1, entries[0])
