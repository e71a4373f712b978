"""The Rust hot path (``fast_ingest``) against the Python checker: two ledgers with the
same key and clock, fed the same groups, one as protobuf records (the Python checker),
the other as raw SubmitRequest bytes (Rust first, the Python checker from the first batch
that doesn't pass outright). Acks, receipts, refusals, stored rows and roots must agree."""

from __future__ import annotations

import os
from pathlib import Path

from hashcore import Device, _core
from hashcore.device_trust import LogPin
from hashcore.relay.client import record_pb
from hashcore.relay.fast_ingest import RawReply, RawRequest
from hashcore.relay.ledger import Ledger, token_hash
from hashcore.relay.rejection import Rejected
from hashcore.relay.staging import entry_of
from hashcore.relay.store.sqlite import SqliteStore
from hashcore.relay.v2 import relay_pb2 as pb

from .conftest import fork_of

ORIGIN = "relay.test.example/fast"
NOW = 1_800_000_000_000


def _ledger(path: Path, seed: bytes) -> Ledger:
    return Ledger(SqliteStore(path), seed, origin=ORIGIN, checkpoint_every=6, clock=lambda: NOW)


def _enroll(ledgers: list[Ledger], device: Device) -> None:
    for ledger in ledgers:
        token = f"t-{device.chain_id.hex()}"
        ledger.store.add_token(token_hash(token), "P", 0, 2**62)
        ledger.enroll(token, record_pb(device.records()[0]))


def _batch(device: Device, seqs: range) -> list[pb.Record]:
    return [record_pb(device.records()[s]) for s in seqs]


def _answers(py: Ledger, fast: Ledger, group: list[list[pb.Record]], hot: int) -> list[object]:
    """Submit ``group`` to both; assert they answer alike (and that the first ``hot``
    batches went through Rust, the others not); return the Python answers."""
    want = py.submit_group(group)
    raws = [
        RawRequest(pb.SubmitRequest(batch_id=7 + i, records=b).SerializeToString())
        for i, b in enumerate(group)
    ]
    got = fast.submit_group(raws)
    assert len(got) == len(want)
    assert [isinstance(g, RawReply) and g.from_block for g in got] == [
        i < hot for i in range(len(group))
    ]
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        if isinstance(w, Rejected):
            assert isinstance(g, Rejected)
            assert (g.code, g.reason, g.details) == (w.code, w.reason, w.details)
            continue
        assert isinstance(g, RawReply) and isinstance(w, list)
        response = pb.SubmitResponse.FromString(g.response(fast.size))
        assert response.batch_id == 7 + i
        assert response.tree_size == fast.size == py.size
        assert [tuple(a.ListFields()) for a in response.acks] == [
            tuple(
                pb.Ack(
                    chain_id=a.chain_id,
                    seq=a.seq,
                    log_index=a.log_index,
                    duplicate=a.duplicate,
                    received_ms=a.received_ms,
                    receipt_sig=a.receipt_sig,
                ).ListFields()
            )
            for a in w
        ]
    return list(want)


def test_the_hot_path_answers_and_stores_as_the_python_checker(tmp_path: Path) -> None:
    seed = os.urandom(32)
    py, fast = _ledger(tmp_path / "py.db", seed), _ledger(tmp_path / "fast.db", seed)
    a, b, c = Device.new(), Device.new(), Device.new()
    for d in (a, b, c):
        _enroll([py, fast], d)
    for i in range(12):
        a.append(b"a %d" % i)
        b.append(b"b %d" % i)
    c.append(b"c 0")
    # A checkpoint both relays signed (the same note: same key, size and root), as a beacon.
    cp = py.checkpoint()
    assert cp is not None and fast.checkpoint() == cp
    c.pin_log(LogPin(ORIGIN, py.log_key))
    c.accept_checkpoint(cp.note)
    c.append(b"c 1, with a beacon")
    c.rotate_key()
    c.append(b"c 3, under the new key")
    assert c.records()[2].beacon_size == 3

    # One chain twice in a group, and a rotation and a beacon: all through Rust.
    answers = _answers(
        py,
        fast,
        [
            _batch(a, range(1, 4)),
            _batch(b, range(1, 3)),
            _batch(a, range(4, 6)),
            _batch(c, range(1, 5)),
        ],
        hot=4,
    )
    assert all(isinstance(x, list) for x in answers)
    # The batch-signed receipts are the bytes of the one-at-a-time signature (SPEC 2.4).
    for ack in answers[0]:  # type: ignore[union-attr]
        entry = entry_of(fast.store.record_at(ack.log_index).link, NOW)  # type: ignore[union-attr]
        assert ack.receipt_sig == _core.receipt_sign(seed, ack.log_index, entry)
    # A resent batch (duplicates) stops the hot path: it and the rest go to Python.
    answers = _answers(
        py, fast, [_batch(a, range(6, 8)), _batch(b, range(1, 3)), _batch(a, range(8, 9))], hot=1
    )
    assert [x.duplicate for x in answers[1]] == [True, True]  # type: ignore[union-attr]
    # Refusals in every place of a group, each worded as the Python checker words it.
    bad_sig = _batch(b, range(3, 5))
    bad_sig[1].signature = b"\x07" * 64
    gap = _batch(b, range(5, 6))
    answers = _answers(
        py,
        fast,
        [
            _batch(a, range(9, 10)),
            bad_sig,
            gap,
            [fork_of(a, 9)],
            _batch(b, range(3, 5)),
            _batch(a, range(10, 12)),
        ],
        hot=1,
    )
    assert [type(x).__name__ for x in answers] == [
        "list",
        "Rejected",
        "Rejected",
        "Rejected",
        "list",
        "list",
    ]
    # What the ledgers hold is the same, record for record, and so is the log.
    assert py.size == fast.size == 3 + 3 + 2 + 2 + 4 + 2 + 1 + 1 + 2 + 2
    assert [py.store.record_at(i) for i in range(py.size)] == [
        fast.store.record_at(i) for i in range(fast.size)
    ]
    assert py.tree.root() == fast.tree.root()
    assert py.store.list_fork_evidence() == fast.store.list_fork_evidence()
    assert (
        [d.head_seq for d in py.store.list_devices()]
        == [d.head_seq for d in fast.store.list_devices()]
        == [11, 4, 4]
    )


def test_a_request_that_is_no_protobuf_is_refused_as_the_interceptor_words_it(
    tmp_path: Path,
) -> None:
    fast = _ledger(tmp_path / "fast.db", os.urandom(32))
    device = Device.new()
    _enroll([fast], device)
    device.append(b"x")
    good = pb.SubmitRequest(records=_batch(device, range(1, 2))).SerializeToString()
    got = fast.submit_group([RawRequest(b"\x0a\xff\xff"), RawRequest(good)])
    assert isinstance(got[0], Rejected)
    assert (got[0].code, got[0].reason) == ("INVALID_ARGUMENT", "malformed")
    assert got[0].details.startswith("the request is not a valid protobuf message (")
    assert isinstance(got[1], RawReply) and got[1].fresh == 1
    assert fast.size == 2
