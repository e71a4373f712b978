"""A fork checked while its original is still being stored (issue 15, defect 2).

The writer pipelines groups: group k+1 is checked while group k is made durable on the
commit thread. A fork in group k+1 of a record of group k must not fail group k+1 (other
devices' valid batches), nor group k (the original), and its evidence must be kept.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
from hashcore import Device
from hashcore.relay.client import record_pb
from hashcore.relay.ledger import Ledger, token_hash
from hashcore.relay.rejection import Rejected
from hashcore.relay.store.base import ChainHead, ForkEvidence, StoredCheckpoint, StoredRecord
from hashcore.relay.store.sqlite import SqliteStore
from hashcore.relay.v2 import relay_pb2 as pb
from hashcore.relay.v2 import relay_pb2_grpc as pb_grpc

from .conftest import ThreadRelay, enrolled_device, fork_of


class HeldSqliteStore(SqliteStore):
    """A real SQLite store whose append() waits until ``release`` is set (once armed):
    the commit thread is then exactly where a slow fsync would keep it."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.armed = False
        self.entered = threading.Event()
        self.release = threading.Event()

    def append(
        self,
        records: Sequence[StoredRecord],
        heads: Sequence[ChainHead],
        checkpoint: StoredCheckpoint | None = None,
        evidence: Sequence[ForkEvidence] = (),
    ) -> None:
        if self.armed:
            self.entered.set()
            assert self.release.wait(30), "the test never released the append"
        super().append(records, heads, checkpoint, evidence)


def _enroll(ledger: Ledger, records: int) -> Device:
    device = Device.new()
    token = os.urandom(8).hex()
    ledger.store.add_token(token_hash(token), "P", 0, 2**62)
    ledger.enroll(token, record_pb(device.records()[0]))
    for i in range(records):
        device.append(b"entry %d" % i)
    return device


def test_a_fork_of_a_record_in_flight_fails_nobody_and_keeps_its_evidence(
    tmp_path: Path,
) -> None:
    store = HeldSqliteStore(tmp_path / "relay.db")
    ledger = Ledger(store, os.urandom(32), origin="relay.test/fork", checkpoint_every=10**6)
    a = _enroll(ledger, 2)  # genesis at 0
    b = _enroll(ledger, 2)  # genesis at 1
    commit = ThreadPoolExecutor(max_workers=1)
    try:
        # Group k: a's seq 1..2 (log 2, 3); its append is held on the commit thread.
        results_k, sealed_k = ledger.prepare_group([[record_pb(r) for r in a.records()[1:3]]])
        assert sealed_k is not None
        store.armed = True
        stored_k = commit.submit(ledger.persist, sealed_k)
        assert store.entered.wait(30)
        # Group k+1, checked while group k is in flight: a fork of a's seq 2, and b's
        # valid batch.
        fork = fork_of(a, 2)
        results_next, sealed_next = ledger.prepare_group(
            [[fork], [record_pb(r) for r in b.records()[1:3]]]
        )
        assert isinstance(results_next[0], Rejected)
        assert (results_next[0].code, results_next[0].reason) == ("ALREADY_EXISTS", "fork")
        assert "a different record holds this seq (log_index 3)" in results_next[0].details
        assert [x[:4] for x in results_next[1]] == [  # type: ignore[union-attr]
            (b.chain_id, 1, 4, False),
            (b.chain_id, 2, 5, False),
        ]
        assert sealed_next is not None
        store.release.set()
        stored_k.result(30)
        ledger.apply(sealed_k)
        store.armed = False
        ledger.persist(sealed_next)
        ledger.apply(sealed_next)
    finally:
        store.release.set()
        commit.shutdown(wait=True)
    assert [x[:4] for x in results_k[0]] == [(a.chain_id, 1, 2, False), (a.chain_id, 2, 3, False)]  # type: ignore[union-attr]
    assert ledger.size == store.tree_size() == 6
    assert [store.record_at(i).link for i in range(6)] == [  # type: ignore[union-attr]
        a.records()[0].link,
        b.records()[0].link,
        a.records()[1].link,
        a.records()[2].link,
        b.records()[1].link,
        b.records()[2].link,
    ]
    evidence = store.list_fork_evidence()
    assert [(e.chain_id, e.seq, e.existing_log_index, e.payload) for e in evidence] == [
        (a.chain_id, 2, 3, b"a different diary entry")
    ]
    store.close()


def test_a_fork_of_a_record_of_its_own_group_is_kept_after_it(tmp_path: Path) -> None:
    """The original and its fork in one group: the evidence is stored with the group."""
    ledger = Ledger(
        SqliteStore(tmp_path / "relay.db"),
        os.urandom(32),
        origin="relay.test/fork",
        checkpoint_every=10**6,
    )
    a = _enroll(ledger, 2)
    b = _enroll(ledger, 1)
    results = ledger.submit_group(
        [
            [record_pb(r) for r in a.records()[1:3]],
            [fork_of(a, 2)],
            [record_pb(b.records()[1])],
        ]
    )
    assert [x[:4] for x in results[0]] == [(a.chain_id, 1, 2, False), (a.chain_id, 2, 3, False)]  # type: ignore[union-attr]
    assert isinstance(results[1], Rejected) and results[1].reason == "fork"
    assert [x[:4] for x in results[2]] == [(b.chain_id, 1, 4, False)]  # type: ignore[union-attr]
    evidence = ledger.store.list_fork_evidence()
    assert [(e.seq, e.existing_log_index) for e in evidence] == [(2, 3)]


def test_forks_racing_their_originals_through_a_real_relay(relay: ThreadRelay) -> None:
    """The same race through the server (non-deterministic, so many trials): an original
    batch, a fork of its first record and another device's batch sent at once. Exactly
    one of the two records at that seq is accepted, the other is kept as fork evidence,
    and the other device's batch is never refused."""
    trials = 30
    store = relay.server.ledger.store  # type: ignore[union-attr]
    with grpc.insecure_channel(relay.target) as ch:
        stub = pb_grpc.RelayStub(ch)
        for _ in range(trials):
            a = enrolled_device(relay, records=3)
            c = enrolled_device(relay, records=3)
            original = pb.SubmitRequest(records=[record_pb(r) for r in a.records()[1:4]])
            fork = pb.SubmitRequest(records=[fork_of(a, 1)])  # in either order, a fork
            other = pb.SubmitRequest(records=[record_pb(r) for r in c.records()[1:4]])
            calls = [stub.SubmitBatch.future(req, timeout=30) for req in (original, fork, other)]
            outcomes = []
            for call in calls:
                try:
                    call.result()
                    outcomes.append("ok")
                except grpc.RpcError as exc:
                    outcomes.append(f"{exc.code().name}: {exc.details()}")
            assert outcomes[2] == "ok", outcomes
            refused = [o for o in outcomes[:2] if o != "ok"]
            assert len(refused) == 1, outcomes
            assert refused[0].startswith("ALREADY_EXISTS: "), outcomes
            assert "refused as a fork and kept as evidence" in refused[0]
            evidence = relay.call(store.list_fork_evidence, a.chain_id)
            assert [e.seq for e in evidence] == [1]
