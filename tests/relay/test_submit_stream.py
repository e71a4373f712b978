"""A Submit stream's batches are pipelined (relay/submit_stream.py): the next one is
checked while the one before it is still being stored, responses keep request order, and
a refused batch still ends the stream with nothing after it read."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from hashcore.relay.client import record_pb
from hashcore.relay.v2 import relay_pb2 as pb
from hashcore.relay.v2 import relay_pb2_grpc as pb_grpc

from .conftest import ThreadRelay, enrolled_device
from .test_relay_service import _mutate, state


def _requests(batches: list[list[pb.Record]]) -> Iterator[pb.SubmitRequest]:
    for n, records in enumerate(batches):
        yield pb.SubmitRequest(batch_id=n, records=records)


def test_the_next_batch_is_checked_while_the_one_before_is_stored(relay: ThreadRelay) -> None:
    device = enrolled_device(relay, records=40)
    records = [record_pb(r) for r in device.records()[1:]]
    ledger: Any = relay.server.ledger  # type: ignore[union-attr]
    prepared = threading.Semaphore(0)
    overlapped: list[bool] = []
    prepare, persist = ledger.prepare_group, ledger.persist

    def counting_prepare(batches: Any) -> Any:
        out = prepare(batches)
        prepared.release()
        return out

    def waiting_persist(sealed: Any) -> None:
        # The first group is held until a second group was checked: only a pipelined
        # stream gives the writer its next batch before this ack went out.
        if not overlapped:
            prepared.acquire(timeout=10)  # the first group's own prepare
            overlapped.append(prepared.acquire(timeout=10))
        persist(sealed)

    ledger.prepare_group, ledger.persist = counting_prepare, waiting_persist
    try:
        with grpc.insecure_channel(relay.target) as channel:
            stream = pb_grpc.RelayStub(channel).Submit
            batches = [records[i : i + 10] for i in range(0, 40, 10)]
            replies = list(stream(_requests(batches), timeout=30))
    finally:
        ledger.prepare_group, ledger.persist = prepare, persist
    assert overlapped == [True]
    assert [r.batch_id for r in replies] == [0, 1, 2, 3]
    assert [[a.log_index for a in r.acks] for r in replies] == [
        list(range(1 + i, 11 + i)) for i in range(0, 40, 10)
    ]
    assert state(relay)[:2] == (41, 41)


def test_a_refused_batch_ends_the_stream_and_nothing_after_it_is_read(
    relay: ThreadRelay,
) -> None:
    a = enrolled_device(relay, "P001", records=20)
    b = enrolled_device(relay, "P002", records=10)
    first = [record_pb(r) for r in a.records()[1:11]]
    bad = [record_pb(r) for r in a.records()[11:21]]
    bad[3] = _mutate(bad[3], signature=b"\x05" * 64)
    other = [record_pb(r) for r in b.records()[1:]]  # would be accepted, if it were read
    replies = []
    with grpc.insecure_channel(relay.target) as channel:
        stream = pb_grpc.RelayStub(channel).Submit(_requests([first, bad, other]), timeout=30)
        with pytest.raises(grpc.RpcError) as rpc:
            for reply in stream:
                replies.append(reply)
    assert [[ack.seq for ack in r.acks] for r in replies] == [list(range(1, 11))]
    assert rpc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rpc.value.details().startswith(
        f"record 3 (chain {a.chain_id.hex()} seq 14): the signature does not verify"
    )
    # The two geneses and the first batch: neither the refused batch nor the one after.
    assert state(relay)[:2] == (12, 12)
    stored = relay.call(lambda: relay.server.ledger.store.get_record(b.chain_id, 1))  # type: ignore[union-attr]
    assert stored is None
