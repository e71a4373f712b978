"""``time_ms`` no device clock can produce is refused (issue 15, defect 11): bounds
around the relay's clock (default 365 days behind, 1 day ahead; ``--max-clock-behind``,
``--max-clock-ahead``), INVALID_ARGUMENT naming the record, nothing stored. Time running
backwards within a chain is accepted: the audit's time findings report it (see
``Limits``)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from hashcore import Device, RelayClient, RelayError
from hashcore.relay.client import record_pb
from hashcore.relay.ledger import Ledger, Limits, token_hash
from hashcore.relay.store.sqlite import SqliteStore
from hashcore.relay.v2 import relay_pb2 as pb
from hashcore.relay.v2 import relay_pb2_grpc as pb_grpc

from .conftest import FAST_RETRY, ThreadRelay, start_process_relay
from .test_relay_service import raw_submit, state

DAY_MS = 86_400_000
YEAR_9999_MS = 253_402_300_799_000  # 9999-12-31T23:59:59Z


class Clock:
    """A phone's clock the test sets."""

    def __init__(self) -> None:
        self.now_ms = int(time.time() * 1000)

    def __call__(self) -> int:
        return self.now_ms


def _phone(relay: ThreadRelay, clock: Clock) -> Device:
    token, _ = relay.client(operator=True).issue_token("P-clock")
    device = Device.new(clock=clock)
    relay.client().enroll(device, token)
    return device


@pytest.mark.parametrize(
    ("time_ms", "verdict"),
    [
        (2**63 - 1, "more than 1 day ahead of the relay's clock"),
        (YEAR_9999_MS, "more than 1 day ahead of the relay's clock"),
        (-(2**63), "more than 365 days behind the relay's clock"),
        ("2 days ahead", "more than 1 day ahead of the relay's clock"),
        ("366 days behind", "more than 365 days behind the relay's clock"),
    ],
)
def test_a_time_no_device_clock_makes_is_refused(
    relay: ThreadRelay, time_ms: int | str, verdict: str
) -> None:
    clock = Clock()
    device = _phone(relay, clock)
    device.append(b'{"day": 1}')
    good = record_pb(device.records()[1])
    if time_ms == "2 days ahead":
        clock.now_ms += 2 * DAY_MS
    elif time_ms == "366 days behind":
        clock.now_ms -= 366 * DAY_MS
    else:
        assert isinstance(time_ms, int)
        clock.now_ms = time_ms
    bad = device.append(b'{"day": 2}')
    before = state(relay)
    code, details = raw_submit(relay, [good, record_pb(bad)])
    assert (code, details) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        f"record 1 (chain {device.chain_id.hex()} seq 2): time_ms {bad.time_ms} is {verdict}",
    )
    assert state(relay) == before


def test_times_inside_the_bounds_and_backwards_in_a_chain_are_accepted(
    relay: ThreadRelay,
) -> None:
    clock = Clock()
    device = _phone(relay, clock)
    start = clock.now_ms
    for offset in (-364 * DAY_MS, DAY_MS - 60_000, -3_600_000, -364 * DAY_MS):
        clock.now_ms = start + offset
        device.append(b'{"offset": %d}' % offset)
    # Seq 3 and 4 go back in time: left to the audit's time findings, not refused.
    assert relay.client().sync(device).sent == 4


def test_a_genesis_from_the_far_future_is_refused(relay: ThreadRelay) -> None:
    token, _ = relay.client(operator=True).issue_token("P-future")
    clock = Clock()
    clock.now_ms = YEAR_9999_MS
    device = Device.new(clock=clock)
    with grpc.insecure_channel(relay.target) as ch, pytest.raises(grpc.RpcError) as rpc:
        pb_grpc.RelayStub(ch).Enroll(
            pb.EnrollRequest(token=token, genesis=record_pb(device.records()[0])), timeout=10
        )
    assert (rpc.value.code(), rpc.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        f"record 0 (chain {device.chain_id.hex()} seq 0): time_ms {YEAR_9999_MS} is more "
        "than 1 day ahead of the relay's clock",
    )
    assert state(relay)[0] == 0
    # The token was not used up.
    assert relay.client().enroll(Device.new(), token) == 0


def test_the_bounds_are_configurable(relay_factory: Callable[..., ThreadRelay]) -> None:
    relay = relay_factory(limits=Limits(max_clock_behind_ms=3_600_000, max_clock_ahead_ms=60_000))
    clock = Clock()
    device = _phone(relay, clock)
    clock.now_ms += 120_000
    ahead = device.append(b"two minutes ahead")
    code, details = raw_submit(relay, [record_pb(ahead)])
    assert (code, details) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        f"record 0 (chain {device.chain_id.hex()} seq 1): time_ms {ahead.time_ms} is more "
        "than 60000 ms ahead of the relay's clock",
    )


def test_a_resent_record_is_not_judged_again(tmp_path: Path) -> None:
    """A record accepted once stays a duplicate, however late its lost ack is resent."""
    relay_now = [int(time.time() * 1000)]
    ledger = Ledger(
        SqliteStore(tmp_path / "l.db"),
        os.urandom(32),
        origin="relay.test/clock",
        clock=lambda: relay_now[0],
    )
    device = Device.new()
    ledger.store.add_token(token_hash("t"), "P", 0, 2**62)
    ledger.enroll("t", record_pb(device.records()[0]))
    device.append(b"sent once")
    batch = [record_pb(device.records()[1])]
    assert [a.duplicate for a in ledger.submit_group([batch])[0]] == [False]  # type: ignore[union-attr]
    relay_now[0] += 2 * 365 * DAY_MS
    assert [a.duplicate for a in ledger.submit_group([batch])[0]] == [True]  # type: ignore[union-attr]


def test_serve_takes_the_clock_flags(tmp_path: Path) -> None:
    proc = start_process_relay(tmp_path, None, "--max-clock-ahead", "1m")
    try:
        op = RelayClient(proc.target, plaintext=True, operator_token=proc.operator_token)
        client = RelayClient(proc.target, plaintext=True, retry=FAST_RETRY)
        token, _ = op.issue_token("P-cli")
        clock = Clock()
        device = Device.new(clock=clock)
        client.enroll(device, token)
        clock.now_ms += 120_000
        device.append(b"two minutes ahead")
        with pytest.raises(RelayError) as exc:
            client.sync(device)
        assert exc.value.code == "INVALID_ARGUMENT"
        assert exc.value.details.endswith("is more than 60000 ms ahead of the relay's clock")
        op.close()
        client.close()
    finally:
        assert proc.terminate() == 0
