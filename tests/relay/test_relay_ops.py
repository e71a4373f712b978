"""What an operator relies on: health, reflection, Prometheus metrics, TLS and mTLS, and a
phone that keeps working while the relay is down."""

from __future__ import annotations

import socket
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from hashcore import Device, RelayClient, RelayError
from hashcore.relay.client import RetryPolicy, record_pb
from prometheus_client.parser import text_string_to_metric_families

from .conftest import ThreadRelay, enrolled_device
from .test_relay_service import raw_submit


def test_health_and_reflection(relay: ThreadRelay) -> None:
    with grpc.insecure_channel(relay.target) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        for service in ("", "hashcore.relay.v2.Relay", "hashcore.relay.v2.Operator"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)
        replies = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        names = sorted(s.name for r in replies for s in r.list_services_response.service)
    assert names == [
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "hashcore.relay.v2.Operator",
        "hashcore.relay.v2.Relay",
    ]


def _metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics(relay_factory: Callable[..., ThreadRelay]) -> None:
    relay = relay_factory(metrics_listen="127.0.0.1:0", checkpoint_every=10)
    device = enrolled_device(relay, records=12)
    client = relay.client()
    client.submit(device.records()[1:9])
    client.submit(device.records()[5:13])  # 4 resent, 4 new
    gap = record_pb(device.append(b"x"))
    gap.seq = 20
    gap.link = b""
    raw_submit(relay, [gap])
    m = _metrics(relay.server.metrics_port)  # type: ignore[union-attr]
    assert m[("hashcore_relay_records_accepted_total", ())] == 12
    assert m[("hashcore_relay_records_duplicate_total", ())] == 4
    assert m[("hashcore_relay_records_rejected_total", (("reason", "gap"),))] == 1
    assert m[("hashcore_relay_batch_seconds_count", ())] == 2
    assert m[("hashcore_relay_log_size", ())] == 13
    # 9 then 13 records: the group that crosses 10 new records since the last checkpoint
    # signs one over the whole log at its end.
    assert m[("hashcore_relay_checkpoint_tree_size", ())] == 13
    assert m[("hashcore_relay_enrollments_total", ())] == 1
    assert 0 <= m[("hashcore_relay_checkpoint_age_seconds", ())] < 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_offline_first_sync(relay_factory: Callable[..., ThreadRelay], tmp_path: Path) -> None:
    port = _free_port()
    relay = relay_factory(listen=f"127.0.0.1:{port}")
    device = enrolled_device(relay)
    device.save(tmp_path / "phone.json")
    relay.stop()

    # The phone keeps recording while the relay is down; sync fails, nothing is lost.
    for day in range(5):
        device.append(b'{"day": %d}' % day)
    offline = RelayClient(
        f"127.0.0.1:{port}", plaintext=True, retry=RetryPolicy(attempts=2, first_delay_s=0.01)
    )
    with pytest.raises(RelayError) as exc:
        offline.sync(device)
    offline.close()
    assert exc.value.code == "UNAVAILABLE"
    assert device.sent_through == 0

    # The phone restarts from its state file; the relay comes back; everything goes once.
    phone = Device.load(tmp_path / "phone.json")
    assert (phone.sent_through, len(phone.unsent())) == (0, 5)
    back = relay_factory(listen=f"127.0.0.1:{port}")
    result = back.client().sync(phone, batch_size=2)
    assert (result.sent, result.duplicates, result.batches) == (5, 0, 3)
    assert Device.load(tmp_path / "phone.json").sent_through == 5
    # Everything again (a phone that lost its state's sent_through): all duplicates.
    assert [a.duplicate for a in back.client().submit(phone.records()[1:])] == [True] * 5
    assert back.call(lambda: back.server.ledger.size) == 6  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- TLS


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made by openssl."""
    d = tmp_path_factory.mktemp("pki")
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=hashcore test CA",
        cwd=d,
    )
    for name, ext in (
        ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        _openssl(
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/CN={name}",
            cwd=d,
        )
        (d / f"{name}.ext").write_text(ext + "\n")
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.pem",
            "-days",
            "2",
            "-extfile",
            f"{name}.ext",
            cwd=d,
        )
    return d


def test_tls(relay_factory: Callable[..., ThreadRelay], pki: Path) -> None:
    relay = relay_factory(plaintext=False, tls_cert=pki / "server.pem", tls_key=pki / "server.key")
    ca = (pki / "ca.pem").read_bytes()
    client = RelayClient(relay.target, root_certificates=ca, operator_token=relay.operator_token)
    token, _ = client.issue_token("P1")
    assert client.enroll(Device.new(), token) == 0
    client.close()
    # A client that does not trust the relay's CA cannot talk to it.
    untrusting = RelayClient(
        relay.target,
        root_certificates=(pki / "client.pem").read_bytes(),
        retry=RetryPolicy(attempts=1),
    )
    with pytest.raises(RelayError) as exc:
        untrusting.checkpoint()
    assert exc.value.code == "UNAVAILABLE"
    untrusting.close()


def test_mtls(relay_factory: Callable[..., ThreadRelay], pki: Path) -> None:
    relay = relay_factory(
        plaintext=False,
        tls_cert=pki / "server.pem",
        tls_key=pki / "server.key",
        client_ca=pki / "ca.pem",
    )
    ca = (pki / "ca.pem").read_bytes()
    with_cert = RelayClient(
        relay.target,
        root_certificates=ca,
        client_cert=(pki / "client.pem").read_bytes(),
        client_key=(pki / "client.key").read_bytes(),
        operator_token=relay.operator_token,
    )
    token, _ = with_cert.issue_token("P1")
    assert with_cert.enroll(Device.new(), token) == 0
    with_cert.close()
    without = RelayClient(relay.target, root_certificates=ca, retry=RetryPolicy(attempts=1))
    with pytest.raises(RelayError) as exc:
        without.checkpoint()
    assert exc.value.code == "UNAVAILABLE"
    without.close()


def test_config_refusals(tmp_path: Path) -> None:
    from hashcore.errors import InvalidInputError
    from hashcore.relay.server import RelayConfig, RelayServer

    with pytest.raises(
        InvalidInputError, match="no TLS: give --tls-cert and --tls-key, or --plaintext"
    ):
        RelayServer(RelayConfig(store=str(tmp_path / "r.db")))
    with pytest.raises(InvalidInputError, match="--plaintext cannot be combined with TLS options"):
        RelayServer(
            RelayConfig(store=str(tmp_path / "r.db"), plaintext=True, tls_cert=tmp_path / "c")
        )
