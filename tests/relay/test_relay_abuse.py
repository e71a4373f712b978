"""A stranger at the relay's door (issue 15, defects 10, 12, 13): operator calls are
authenticated before anything is parsed, a resent genesis tells a stranger nothing, and
guessing tokens is rate-limited, logged once per burst and counted."""

from __future__ import annotations

import grpc
import pytest
from hashcore import Device
from hashcore.relay.client import record_pb
from hashcore.relay.v1 import relay_pb2 as pb
from hashcore.relay.v1 import relay_pb2_grpc as pb_grpc

from .conftest import ThreadRelay

_OPERATOR_METHODS = ("IssueToken", "ListDevices", "EraseRecord", "CreateCheckpoint")


def _raw_operator(
    relay: ThreadRelay, method: str, body: bytes, token: str | None
) -> tuple[grpc.StatusCode, str]:
    metadata = None if token is None else (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(relay.target) as ch:
        call = ch.unary_unary(
            f"/hashcore.relay.v1.Operator/{method}",
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
    assert (first.log_index, first.participant) == (0, "P-owner")

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
    assert (again.chain_id, again.log_index, again.participant) == (
        device.chain_id,
        0,
        "P-owner",
    )
    # The other token was not used up by the refused attempt.
    assert relay.client().enroll(Device.new(), other) == 1
