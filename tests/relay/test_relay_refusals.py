"""The remaining refusals: operator and query calls with bad arguments, and a relay that
must not start (another relay's store, a damaged key file, contradictory anchoring
flags). Each asserts the exact status or error, and that nothing stored changed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from hashcore.errors import InvalidInputError, StoreError
from hashcore.relay.server import RelayConfig, RelayServer
from hashcore.relay.store import open_store
from hashcore.relay.v2 import relay_pb2 as pb
from hashcore.relay.v2 import relay_pb2_grpc as pb_grpc

from .conftest import ThreadRelay, enrolled_device


def _rpc(relay: ThreadRelay, call: Callable[[object], object]) -> tuple[grpc.StatusCode, str]:
    try:
        call(None)
    except grpc.RpcError as exc:
        return exc.code(), exc.details()
    raise AssertionError("the relay accepted the call")


def test_query_and_operator_refusals(relay: ThreadRelay) -> None:
    device = enrolled_device(relay, records=2)
    relay.client().sync(device)
    relay.client(operator=True).create_checkpoint()
    before = relay.call(lambda: relay.server.ledger.store.get_record(device.chain_id, 1))  # type: ignore[union-attr]
    auth = (("authorization", f"Bearer {relay.operator_token}"),)
    unknown = b"\x09" * 16
    with grpc.insecure_channel(relay.target) as ch:
        r, op = pb_grpc.RelayStub(ch), pb_grpc.OperatorStub(ch)
        cases = [
            (
                lambda _: r.GetReceipt(pb.GetReceiptRequest(chain_id=b"\x01" * 15), timeout=5),
                grpc.StatusCode.INVALID_ARGUMENT,
                "chain_id must be 16 bytes, got 15",
            ),
            (
                lambda _: r.GetChainHead(pb.GetChainHeadRequest(chain_id=unknown), timeout=5),
                grpc.StatusCode.NOT_FOUND,
                f"unknown chain {unknown.hex()}",
            ),
            (
                lambda _: r.GetCheckpoint(pb.GetCheckpointRequest(tree_size=2), timeout=5),
                grpc.StatusCode.NOT_FOUND,
                "no checkpoint at tree_size 2",
            ),
            (
                lambda _: op.IssueToken(
                    pb.IssueTokenRequest(participant="  "), timeout=5, metadata=auth
                ),
                grpc.StatusCode.INVALID_ARGUMENT,
                "IssueTokenRequest.participant is empty",
            ),
            (
                lambda _: op.EraseRecord(
                    pb.EraseRequest(chain_id=device.chain_id, seq=9), timeout=5, metadata=auth
                ),
                grpc.StatusCode.NOT_FOUND,
                f"no record at chain {device.chain_id.hex()} seq 9",
            ),
            (
                lambda _: op.EraseRecord(
                    pb.EraseRequest(chain_id=b"\x01" * 3, seq=1), timeout=5, metadata=auth
                ),
                grpc.StatusCode.INVALID_ARGUMENT,
                "chain_id must be 16 bytes, got 3",
            ),
        ]
        for call, code, details in cases:
            assert _rpc(relay, call) == (code, details)
    assert relay.call(lambda: relay.server.ledger.store.get_record(device.chain_id, 1)) == before  # type: ignore[union-attr]
    assert relay.call(lambda: relay.server.ledger.store.list_erasures()) == []  # type: ignore[union-attr]
    assert relay.call(lambda: relay.server.ledger.size) == 3  # type: ignore[union-attr]


def test_a_relay_refuses_another_relays_store(
    relay_factory: Callable[..., ThreadRelay], tmp_path: Path
) -> None:
    relay = relay_factory()
    enrolled_device(relay)
    log_id = relay.server.ledger.log_id  # type: ignore[union-attr]
    relay.stop()
    with pytest.raises(StoreError) as exc:
        relay_factory(key_file=tmp_path / "other.key")
    assert str(exc.value) == (
        f"the store belongs to relay {log_id.hex()}, but the key file is "
        f"{json.loads((tmp_path / 'other.key').read_text())['log_id']}; refusing to mix two logs"
    )
    with open_store(str(tmp_path / "relay.db"), readonly=True) as store:
        assert (store.get_log_id(), store.tree_size()) == (log_id, 1)


def test_a_damaged_key_file_is_refused_and_kept(tmp_path: Path) -> None:
    key = tmp_path / "relay.key"
    key.write_text('{"format": "hashcore-relay-key", "version": 1, "seed": "abcd"}')
    config = RelayConfig(store=str(tmp_path / "relay.db"), listen="127.0.0.1:0", plaintext=True)
    with pytest.raises(InvalidInputError) as exc:
        ThreadRelay(config).start()
    assert str(exc.value) == f"{key}: unreadable relay key file (seed must be 64 hex digits)"
    assert key.read_text() == '{"format": "hashcore-relay-key", "version": 1, "seed": "abcd"}'
    assert not (tmp_path / "relay.db").exists()  # refused before the store was created


@pytest.mark.parametrize(
    ("evm", "message"),
    [
        ({"evm": "url", "evm_url": "http://127.0.0.1:1"}, "--evm-url needs --evm-key FILE"),
        (
            {"evm": "none", "evm_url": "http://127.0.0.1:1"},
            "--evm-url/--evm-key are only for an external chain",
        ),
        ({"evm": "ganache"}, "--evm must be none, embedded or url, got 'ganache'"),
        ({"anchor_interval_s": 0.0}, "--anchor-interval must be positive"),
    ],
)
def test_contradictory_anchoring_flags(
    tmp_path: Path, evm: dict[str, object], message: str
) -> None:
    config = RelayConfig(store=str(tmp_path / "r.db"), listen="127.0.0.1:0", plaintext=True, **evm)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError) as exc:
        RelayServer(config)
    assert str(exc.value).startswith(message)
    assert list(tmp_path.iterdir()) == []  # nothing created
