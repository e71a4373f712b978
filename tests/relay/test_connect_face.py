"""The relay's HTTP face (``--http-listen``): the v2 services over Connect (JSON and binary,
unary and streaming), gRPC-Web and gRPC, from the same servicers as the gRPC port.

Real relays on loopback; the requests are made three ways: by hand with http.client
(the Connect protocol as its spec writes it, so the wire format itself is checked), with
the Connect project's Python client (gRPC-Web, a bidi stream over HTTP/2) and with
grpcio (plain gRPC to the HTTP port)."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import re
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from connectrpc.client import ConnectClient
from connectrpc.compat import google_protobuf_binary_codec, google_protobuf_json_codec
from connectrpc.errors import ConnectError
from connectrpc.protocol import ProtocolType
from hashcore import Device, _core
from hashcore.relay.client import record_pb
from hashcore.relay.connect_face.endpoints import endpoints_for, grpc_peer
from hashcore.relay.v2 import relay_pb2 as pb
from pyqwest import Client, HTTPTransport, HTTPVersion

from .conftest import ThreadRelay
from .test_relay_ops import pki  # noqa: F401 (the fixture: a CA and certificates)

RELAY = "/hashcore.relay.v2.Relay/"
OPERATOR = "/hashcore.relay.v2.Operator/"


def _post(
    port: int, path: str, body: bytes, content_type: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", path, body, {"content-type": content_type, **(headers or {})})
        res = conn.getresponse()
        return res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
    finally:
        conn.close()


def _json(port: int, method: str, message: dict[str, Any], **headers: str) -> tuple[int, Any]:
    status, _, body = _post(port, method, json.dumps(message).encode(), "application/json", headers)
    return status, json.loads(body) if body else None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.fixture
def web_relay(relay_factory: Callable[..., ThreadRelay]) -> ThreadRelay:
    return relay_factory(http_listen="127.0.0.1:0", cors_origins=("http://diary.test",))


def _http_port(relay: ThreadRelay) -> int:
    assert relay.server is not None and relay.server.http_port
    return relay.server.http_port


def _token(relay: ThreadRelay, participant: str = "P1") -> str:
    token, _ = relay.client(operator=True).issue_token(participant)
    return str(token)


def test_every_rpc_of_the_proto_is_served() -> None:
    class Everything:
        def __getattr__(self, name: str) -> Any:
            return lambda *a: None

    paths = sorted(endpoints_for(("Relay", Everything()), ("Operator", Everything())))
    want = sorted(
        f"/{s.full_name}/{m.name}"
        for s in pb.DESCRIPTOR.services_by_name.values()
        for m in s.methods
    )
    assert paths == want and len(paths) == 11
    assert grpc_peer("127.0.0.1:5000") == "ipv4:127.0.0.1:5000"
    assert grpc_peer("::1:5000") == "ipv6:[::1]:5000"


def test_connect_json_enroll_submit_and_read(web_relay: ThreadRelay) -> None:
    port = _http_port(web_relay)
    device = Device.new()
    genesis = record_pb(device.records()[0])
    status, res = _json(
        port,
        RELAY + "Enroll",
        {"token": _token(web_relay), "genesis": _record_json(genesis)},
    )
    assert status == 200, res
    assert res["participant"] == "P1"
    assert base64.b64decode(res["chainId"]) == device.chain_id
    assert base64.b64decode(res["logKey"]) == web_relay.server.ledger.log_key  # type: ignore[union-attr]
    # proto3 JSON: zero values left out, 64-bit integers as strings, bytes as base64.
    ack = res["ack"]
    assert "seq" not in ack and "logIndex" not in ack and ack["receivedMs"].isdigit()
    entry = b"\x02" + device.records()[0].link + int(ack["receivedMs"]).to_bytes(8, "big")
    assert _core.receipt_verify(
        base64.b64decode(res["logKey"]), 0, entry, base64.b64decode(ack["receiptSig"])
    )
    rec = device.append(b'{"night": 1}')
    status, res = _json(
        port, RELAY + "SubmitBatch", {"batchId": "7", "records": [_record_json(record_pb(rec))]}
    )
    assert status == 200, res
    assert res["batchId"] == "7" and res["treeSize"] == "2"
    assert res["acks"][0]["seq"] == "1" and res["acks"][0]["logIndex"] == "1"
    # The gRPC face sees exactly what the HTTP face stored.
    grpc = web_relay.client()
    assert grpc.chain_head(device.chain_id)[0] == 1
    # A refusal is the relay's own status and message, as Connect JSON.
    status, res = _json(
        port,
        RELAY + "SubmitBatch",
        {"batchId": "8", "records": [_record_json(record_pb(rec), seq=5)]},
    )
    assert (status, res["code"]) == (400, "failed_precondition"), res
    assert res["message"] == (
        f"record 0 (chain {device.chain_id.hex()} seq 5): seq jumps from 1 to 5 (send seq 2 first)"
    )
    status, res = _json(port, RELAY + "GetCheckpoint", {"treeSize": "99"})
    assert (status, res) == (404, {"code": "not_found", "message": "no checkpoint at tree_size 99"})


def _record_json(r: pb.Record, **changes: Any) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    out = MessageToDict(r)
    out.update({k: str(v) for k, v in changes.items()})
    return out


def test_connect_binary_and_bad_bodies(web_relay: ThreadRelay) -> None:
    port = _http_port(web_relay)
    device = Device.new()
    req = pb.EnrollRequest(token=_token(web_relay), genesis=record_pb(device.records()[0]))
    status, headers, body = _post(
        port, RELAY + "Enroll", req.SerializeToString(), "application/proto"
    )
    assert status == 200 and headers["content-type"] == "application/proto"
    res = pb.EnrollResponse.FromString(body)
    assert res.chain_id == device.chain_id and res.origin == web_relay.server.ledger.origin  # type: ignore[union-attr]
    entry = b"\x02" + device.records()[0].link + res.ack.received_ms.to_bytes(8, "big")
    assert _core.receipt_verify(res.log_key, res.ack.log_index, entry, res.ack.receipt_sig)
    # Garbage is INVALID_ARGUMENT with a message; an unknown token PERMISSION_DENIED.
    status, _, body = _post(port, RELAY + "SubmitBatch", b"\xff\xff\xff", "application/proto")
    assert status == 400 and json.loads(body)["code"] == "invalid_argument"
    again = pb.EnrollRequest(token="hct_wrong", genesis=record_pb(Device.new().records()[0]))
    status, _, body = _post(port, RELAY + "Enroll", again.SerializeToString(), "application/proto")
    assert (status, json.loads(body)) == (
        403,
        {"code": "permission_denied", "message": "enrollment token refused: unknown token"},
    )
    # An unknown method and an unknown content type are plain HTTP answers.
    assert _post(port, RELAY + "Nope", b"", "application/proto")[0] == 404
    assert _post(port, RELAY + "GetCheckpoint", b"{}", "text/plain")[0] == 415


def test_operator_calls_need_the_bearer_token_before_the_body_is_read(
    web_relay: ThreadRelay,
) -> None:
    port = _http_port(web_relay)
    status, res = _json(port, OPERATOR + "IssueToken", {"participant": "P9"})
    assert (status, res["code"]) == (401, "unauthenticated")
    assert res["message"] == "operator call needs 'authorization: Bearer <operator token>'"
    status, res = _json(
        port, OPERATOR + "IssueToken", {"participant": "P9"}, authorization="Bearer x"
    )
    assert (status, res) == (
        403,
        {"code": "permission_denied", "message": "operator token is wrong"},
    )
    # Garbage without a token: UNAUTHENTICATED, not a decoder's error.
    status, _, body = _post(port, OPERATOR + "IssueToken", b"\xff", "application/proto")
    assert status == 401 and json.loads(body)["code"] == "unauthenticated"
    bearer = f"Bearer {web_relay.operator_token}"
    status, res = _json(port, OPERATOR + "IssueToken", {"participant": "P9"}, authorization=bearer)
    assert status == 200 and res["token"].startswith("hct_")


def test_rate_limit_is_shared_with_grpc_and_says_when_to_retry(
    relay_factory: Callable[..., ThreadRelay],
) -> None:
    from hashcore.relay.limits import Limits

    relay = relay_factory(http_listen="127.0.0.1:0", limits=Limits(reads_per_s=0.5, reads_burst=2))
    port = _http_port(relay)
    answers = [_post(port, RELAY + "GetCheckpoint", b"{}", "application/json") for _ in range(3)]
    assert [a[0] for a in answers[:2]] == [404, 404]  # no checkpoint yet; within the burst
    status, headers, body = answers[2]
    assert status == 429 and json.loads(body)["code"] == "resource_exhausted"
    assert 1000 <= int(headers["hashcore-retry-after-ms"]) <= 2000
    # The same bucket: the gRPC port is refused too (same address, same servicer).
    from hashcore.errors import RelayError
    from hashcore.relay.client import RetryPolicy

    with pytest.raises(RelayError) as exc:
        relay.client(retry=RetryPolicy(attempts=1)).checkpoint()
    assert exc.value.code == "RESOURCE_EXHAUSTED"


def test_cors_preflight_and_answers(web_relay: ThreadRelay) -> None:
    port = _http_port(web_relay)

    def options(origin: str) -> tuple[int, dict[str, str]]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request(
            "OPTIONS",
            RELAY + "SubmitBatch",
            headers={
                "origin": origin,
                "access-control-request-method": "POST",
                "access-control-request-headers": "content-type,connect-protocol-version",
            },
        )
        res = conn.getresponse()
        res.read()
        conn.close()
        return res.status, {k.lower(): v for k, v in res.getheaders()}

    status, headers = options("http://diary.test")
    assert status == 204
    assert headers["access-control-allow-origin"] == "http://diary.test"
    assert "connect-protocol-version" in headers["access-control-allow-headers"]
    assert options("http://evil.test")[0] == 403
    status, headers, _ = _post(
        port, RELAY + "GetCheckpoint", b"{}", "application/json", {"origin": "http://diary.test"}
    )
    assert headers["access-control-allow-origin"] == "http://diary.test"
    assert "hashcore-retry-after-ms" in headers["access-control-expose-headers"]
    _, headers, _ = _post(
        port, RELAY + "GetCheckpoint", b"{}", "application/json", {"origin": "http://evil.test"}
    )
    assert "access-control-allow-origin" not in headers


def test_grpc_web_and_a_bidi_stream_over_http2(web_relay: ThreadRelay) -> None:
    port = _http_port(web_relay)
    device = Device.new()
    token = _token(web_relay)
    for _ in range(3):
        device.append(b'{"night": 0}')
    records = [record_pb(r) for r in device.records()]

    async def run() -> tuple[pb.EnrollResponse, list[pb.SubmitResponse], ConnectError]:
        h2 = Client(HTTPTransport(http_version=HTTPVersion.HTTP2))
        web = ConnectClient(
            f"http://127.0.0.1:{port}",
            protocol=ProtocolType.GRPC_WEB,
            codec=google_protobuf_binary_codec(),
        )
        connect = ConnectClient(
            f"http://127.0.0.1:{port}", codec=google_protobuf_json_codec(), http_client=h2
        )
        enroll = await web.execute_unary(
            request=pb.EnrollRequest(token=token, genesis=records[0]), method=_method("Enroll")
        )

        async def batches() -> AsyncIterator[pb.SubmitRequest]:
            for i, r in enumerate(records[1:], 1):
                yield pb.SubmitRequest(batch_id=i, records=[r])

        answers = [
            a
            async for a in connect.execute_bidi_stream(request=batches(), method=_method("Submit"))
        ]
        try:
            await web.execute_unary(
                request=pb.GetCheckpointRequest(tree_size=77), method=_method("GetCheckpoint")
            )
        except ConnectError as e:
            refusal = e
        await web.close()
        await connect.close()
        return enroll, answers, refusal

    enroll, answers, refusal = asyncio.run(run())
    assert enroll.chain_id == device.chain_id
    assert [(a.batch_id, a.acks[0].seq, a.tree_size) for a in answers] == [
        (1, 1, 2),
        (2, 2, 3),
        (3, 3, 4),
    ]
    assert refusal.code.name == "NOT_FOUND" and refusal.message == "no checkpoint at tree_size 77"


def _method(name: str) -> Any:
    from hashcore.relay.connect_face.endpoints import method_info

    return method_info(pb.DESCRIPTOR.services_by_name["Relay"].methods_by_name[name])


def test_plain_grpc_reaches_the_http_port(web_relay: ThreadRelay) -> None:
    from hashcore import RelayClient

    port = _http_port(web_relay)
    client = RelayClient(
        f"127.0.0.1:{port}", plaintext=True, operator_token=web_relay.operator_token
    )
    try:
        token, _ = client.issue_token("P2")
        assert client.enroll(Device.new(), token) == 0
    finally:
        client.close()


def test_tls_is_the_grpc_ports(relay_factory: Callable[..., ThreadRelay], pki: Path) -> None:  # noqa: F811
    relay = relay_factory(
        plaintext=False,
        tls_cert=pki / "server.pem",
        tls_key=pki / "server.key",
        http_listen="127.0.0.1:0",
    )
    port = _http_port(relay)
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ctx)
    conn.request("POST", RELAY + "GetCheckpoint", b"{}", {"content-type": "application/json"})
    res = conn.getresponse()
    assert res.status == 404 and json.loads(res.read())["code"] == "not_found"
    conn.close()
    # Plaintext on the TLS port is not answered as HTTP.
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        _post(port, RELAY + "GetCheckpoint", b"{}", "application/json")


def test_config_refusals(tmp_path: Path) -> None:
    from hashcore.errors import InvalidInputError
    from hashcore.relay.server import RelayConfig

    with pytest.raises(
        InvalidInputError, match=re.escape("--plaintext on --http-listen 0.0.0.0:8080")
    ):
        RelayConfig(
            store=str(tmp_path / "r.db"), plaintext=True, http_listen="0.0.0.0:8080"
        ).check()
    with pytest.raises(InvalidInputError, match="--cors-origin is for the HTTP face"):
        RelayConfig(store=str(tmp_path / "r.db"), plaintext=True, cors_origins=("*",)).check()
    with pytest.raises(InvalidInputError, match="expected HOST:PORT"):
        RelayConfig(store=str(tmp_path / "r.db"), plaintext=True, http_listen="8080").check()
