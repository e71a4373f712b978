"""A stranger at the relay's door (issue 15, defects 10, 12, 13): operator calls are
authenticated before anything is parsed, a resent genesis tells a stranger nothing, and
guessing tokens is rate-limited, logged once per burst and counted."""

from __future__ import annotations

import grpc
import pytest

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
