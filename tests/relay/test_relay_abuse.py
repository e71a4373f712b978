"""A stranger at the relay's door (issue 15, defects 10, 12, 13): operator calls are
authenticated before anything is parsed, a resent genesis tells a stranger nothing, and
guessing tokens is rate-limited, logged once per burst and counted."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import grpc
import pytest
from hashcore import Device, RelayError
from hashcore.relay.client import record_pb
from hashcore.relay.ledger import Limits
from hashcore.relay.v2 import relay_pb2 as pb
from hashcore.relay.v2 import relay_pb2_grpc as pb_grpc

from .conftest import ThreadRelay

_OPERATOR_METHODS = ("IssueToken", "ListDevices", "EraseRecord", "CreateCheckpoint")


def _raw_operator(
    relay: ThreadRelay, method: str, body: bytes, token: str | None
) -> tuple[grpc.StatusCode, str]:
    metadata = None if token is None else (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(relay.target) as ch:
        call = ch.unary_unary(
            f"/hashcore.relay.v2.Operator/{method}",
            request_serializer=None,
            response_deserializer=None,
        )
        with pytest.raises(grpc.RpcError) as rpc:
            call(body, timeout=10, metadata=metadata)
    return rpc.value.code(), rpc.value.details()


def test_operator_garbage_is_refused_by_authentication_before_decoding(
    relay: ThreadRelay,
) -> None:
    garbage = b"\xff\xff\xff"
    for method in _OPERATOR_METHODS:
        assert _raw_operator(relay, method, garbage, None) == (
            grpc.StatusCode.UNAUTHENTICATED,
            "operator call needs 'authorization: Bearer <operator token>'",
        )
        assert _raw_operator(relay, method, garbage, "hco_wrong") == (
            grpc.StatusCode.PERMISSION_DENIED,
            "operator token is wrong",
        )
        code, details = _raw_operator(relay, method, garbage, relay.operator_token)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert details.startswith("the request is not a valid protobuf message")


def _enroll_raw(relay: ThreadRelay, token: str, genesis: pb.Record) -> pb.EnrollResponse:
    with grpc.insecure_channel(relay.target) as ch:
        reply: pb.EnrollResponse = pb_grpc.RelayStub(ch).Enroll(
            pb.EnrollRequest(token=token, genesis=genesis), timeout=10
        )
    return reply


def test_a_resent_genesis_needs_its_own_token_to_learn_the_participant(
    relay: ThreadRelay,
) -> None:
    op = relay.client(operator=True)
    own, _ = op.issue_token("P-owner")
    other, _ = op.issue_token("P-other")
    device = Device.new()
    genesis = record_pb(device.records()[0])
    first = _enroll_raw(relay, own, genesis)
    assert (first.ack.log_index, first.participant) == (0, "P-owner")

    # A stranger with the bundle's genesis: any other token, valid or not, is refused
    # alike, and the answer names no participant.
    for token in (other, "hct_guessed", own + "x"):
        with pytest.raises(grpc.RpcError) as rpc:
            _enroll_raw(relay, token, genesis)
        assert (rpc.value.code(), rpc.value.details()) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "enrollment token refused: this genesis was enrolled with another token",
        )
        assert "P-owner" not in rpc.value.details()

    # The phone whose reply was lost, with its own token: the original answer.
    again = _enroll_raw(relay, own, genesis)
    assert (again.chain_id, again.ack.log_index, again.participant) == (
        device.chain_id,
        0,
        "P-owner",
    )
    # The same receipt again (Ed25519 is deterministic): the lost reply's promise.
    assert (again.ack.received_ms, again.ack.receipt_sig) == (
        first.ack.received_ms,
        first.ack.receipt_sig,
    )
    # The other token was not used up by the refused attempt.
    assert relay.client().enroll(Device.new(), other) == 1


def _enroll_status(relay: ThreadRelay, token: str) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    genesis = record_pb(Device.new().records()[0])
    with pytest.raises(grpc.RpcError) as rpc:
        _enroll_raw(relay, token, genesis)
    trailer = {k: v for k, v in rpc.value.trailing_metadata() or ()}
    return rpc.value.code(), rpc.value.details(), trailer


def _sample(relay: ThreadRelay, name: str, labels: dict[str, str] | None = None) -> float:
    assert relay.server is not None
    return relay.server.metrics.registry.get_sample_value(name, labels or {}) or 0.0


# A refill this slow adds no token while a test runs: exact counts, no timing.
SLOW = 0.001


def test_enroll_is_rate_limited_per_address(relay_factory: Callable[..., ThreadRelay]) -> None:
    relay = relay_factory(limits=Limits(enroll_per_s=SLOW, enroll_burst=5))
    for _ in range(5):
        code, details, _trailer = _enroll_status(relay, "hct_guess")
        assert (code, details) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "enrollment token refused: unknown token",
        )
    code, details, trailer = _enroll_status(relay, "hct_guess")
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert re.fullmatch(r"too many Enroll calls from this address; retry in \d+\.\d s", details)
    assert 990_000 <= int(trailer["hashcore-retry-after-ms"]) <= 1_000_000
    assert _sample(relay, "hashcore_relay_rate_limited_total", {"call": "Enroll"}) == 1
    # A good token is refused too now (the limit is per address, not per token)...
    token, _ = relay.client(operator=True).issue_token("P")
    with pytest.raises(RelayError) as exc:
        relay.client().enroll(Device.new(), token)  # the client retries, then gives up
    assert exc.value.code == "RESOURCE_EXHAUSTED"
    assert _sample(relay, "hashcore_relay_rate_limited_total", {"call": "Enroll"}) == 1 + 3
    # ... while reads have a bucket of their own.
    assert relay.client().consistency_proof(0, 0) == (
        relay.call(lambda: relay.server.ledger.tree.root(0)),  # type: ignore[union-attr]
        relay.call(lambda: relay.server.ledger.tree.root(0)),  # type: ignore[union-attr]
        [],
    )


def test_unauthenticated_reads_are_rate_limited_per_address(
    relay_factory: Callable[..., ThreadRelay],
) -> None:
    relay = relay_factory(limits=Limits(reads_per_s=SLOW, reads_burst=3))
    device = Device.new()
    token, _ = relay.client(operator=True).issue_token("P")
    relay.client().enroll(device, token)
    with grpc.insecure_channel(relay.target) as ch:
        stub = pb_grpc.RelayStub(ch)
        calls = [
            lambda: stub.GetCheckpoint(pb.GetCheckpointRequest(), timeout=10),
            lambda: stub.GetChainHead(pb.GetChainHeadRequest(chain_id=device.chain_id), timeout=10),
            lambda: stub.GetConsistencyProof(pb.GetConsistencyProofRequest(), timeout=10),
            lambda: stub.GetReceipt(
                pb.GetReceiptRequest(chain_id=device.chain_id, seq=0), timeout=10
            ),
        ]
        codes = []
        for call in calls:
            try:
                call()
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as exc:
                codes.append(exc.code())
                last = exc.details()
    assert codes == [
        grpc.StatusCode.NOT_FOUND,  # no checkpoint yet
        grpc.StatusCode.OK,
        grpc.StatusCode.OK,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ]
    assert last.startswith("too many GetReceipt calls from this address; retry in ")
    assert _sample(relay, "hashcore_relay_rate_limited_total", {"call": "GetReceipt"}) == 1
    # Enroll has its own bucket.
    token, _ = relay.client(operator=True).issue_token("P2")
    assert relay.client().enroll(Device.new(), token) == 1


def test_refused_tokens_are_logged_once_per_burst_and_counted(
    relay_factory: Callable[..., ThreadRelay], caplog: pytest.LogCaptureFixture
) -> None:
    relay = relay_factory(limits=Limits(token_burst_quiet_s=3600))
    with caplog.at_level(logging.WARNING, logger="hashcore.relay"):
        for i in range(50):
            code, _details, _trailer = _enroll_status(relay, f"hct_guess_{i}")
            assert code == grpc.StatusCode.PERMISSION_DENIED
    lines = [
        r.getMessage() for r in caplog.records if "enrollment tokens refused" in r.getMessage()
    ]
    assert lines == [
        "enrollment tokens refused from ipv4:127.0.0.1: a burst begins (logged once; each "
        "refusal is counted in hashcore_relay_enroll_tokens_refused_total)"
    ]
    assert _sample(relay, "hashcore_relay_enroll_tokens_refused_total") == 50
    assert _sample(relay, "hashcore_relay_enroll_token_refusal_bursts_total") == 1


def test_rate_limited_calls_are_logged_once_per_burst(
    relay_factory: Callable[..., ThreadRelay], caplog: pytest.LogCaptureFixture
) -> None:
    relay = relay_factory(limits=Limits(enroll_per_s=SLOW, enroll_burst=1))
    with caplog.at_level(logging.WARNING, logger="hashcore.relay"):
        codes = [_enroll_status(relay, "hct_guess")[0] for _ in range(20)]
    assert codes == [grpc.StatusCode.PERMISSION_DENIED] + [grpc.StatusCode.RESOURCE_EXHAUSTED] * 19
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("rate limit:")]
    assert lines == [
        "rate limit: Enroll calls from ipv4:127.0.0.1 refused (0.001 a second, bursts of 1); "
        "logged once per burst, counted in hashcore_relay_rate_limited_total"
    ]
    assert _sample(relay, "hashcore_relay_rate_limited_total", {"call": "Enroll"}) == 19
