"""The relay's gRPC API against a real server on loopback: the happy path, every refusal
with its exact status, and that a refusal leaves the store exactly as it was."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from hashcore import Device, RelayError, _core
from hashcore.relay.client import RelayClient, record_pb
from hashcore.relay.ledger import token_hash
from hashcore.relay.store import open_store
from hashcore.relay.v2 import relay_pb2 as pb
from hashcore.relay.v2 import relay_pb2_grpc as pb_grpc

from .conftest import ThreadRelay, enrolled_device, forged_record, log_leaves


def raw_submit(relay: ThreadRelay, records: list[pb.Record]) -> tuple[grpc.StatusCode, str]:
    with grpc.insecure_channel(relay.target) as channel:
        try:
            pb_grpc.RelayStub(channel).SubmitBatch(pb.SubmitRequest(records=records), timeout=10)
        except grpc.RpcError as exc:
            return exc.code(), exc.details()
    raise AssertionError("the relay accepted the batch")


def state(relay: ThreadRelay) -> tuple[int, int, bytes]:
    """(ledger size, stored records, stored root): what must not change on a refusal."""
    ledger = relay.server.ledger  # type: ignore[union-attr]
    return relay.call(lambda: (ledger.size, ledger.store.tree_size(), ledger.tree.root()))


# ----------------------------------------------------------------------------- happy path


def test_enroll_sync_receipt_and_proofs(relay: ThreadRelay) -> None:
    device = enrolled_device(relay, records=40)
    ledger = relay.server.ledger  # type: ignore[union-attr]
    # Enrollment pinned the relay's log and verified the genesis receipt.
    assert device.log_pin is not None
    assert (device.log_pin.origin, device.log_pin.log_key) == (ledger.origin, ledger.log_key)
    assert ledger.origin == f"hashcore-relay/{ledger.log_key[:8].hex()}"
    assert [(r.seq, r.log_index) for r in device.receipts()] == [(0, 0)]
    device.rotate_key()
    for i in range(9):
        device.append(b"after rotation %d" % i)
    client = relay.client()
    result = client.sync(device, batch_size=16, refresh_beacon=False)
    assert (result.sent, result.duplicates, result.batches, result.sent_through) == (50, 0, 4, 50)
    assert device.unsent() == []
    assert [(r.seq, r.log_index) for r in device.receipts()] == [(s, s) for s in range(51)]

    cp = relay.client(operator=True).create_checkpoint()
    assert cp.tree_size == 51
    leaves = log_leaves(relay)
    assert cp.root == _core.sha256_tree_root(leaves)
    assert _core.note_verify(cp.note, ledger.origin, ledger.log_key) == (51, cp.root)
    assert cp.note.decode().startswith(f"{ledger.origin}\n51\n")
    assert cp.verify(ledger.origin, ledger.log_key)
    assert not cp.verify("another.example/log", ledger.log_key)

    for seq in (0, 17, 50):
        receipt = client.receipt(device.chain_id, seq)
        assert (receipt.ack.log_index, receipt.ack.duplicate) == (seq, True)
        assert receipt.ack.receipt_sig == device.receipts()[seq].receipt_sig
        assert receipt.verify(ledger.origin, ledger.log_key, device.records()[seq])
        assert receipt.inclusion_path == _core.sha256_inclusion_proof(leaves, seq)
        assert receipt.anchor is None
    other_key = _core.public_key_from_seed(bytes(32))
    assert not client.receipt(device.chain_id, 3).verify(ledger.origin, other_key)

    first, second, path = client.consistency_proof(20, 51)
    assert first == _core.sha256_tree_root(leaves[:20]) and second == cp.root
    assert path == _core.sha256_consistency_proof(leaves, 20)
    assert _core.sha256_verify_consistency(20, 51, first, second, path)

    assert client.chain_head(device.chain_id) == (50, device.records()[50].link, 50)
    assert client.checkpoint() == cp
    assert client.checkpoint(51) == cp
    # The device takes the checkpoint as its beacon; its next record names it.
    assert client.refresh_beacon(device) is not None
    assert device.beacon == (51, cp.root)
    assert device.notes() == [cp.note]
    nxt = device.append(b"with a beacon")
    assert (nxt.beacon_size, nxt.beacon_root) == (51, cp.root)
    client.sync(device)
    assert device.receipts()[-1].log_index == 51


def test_two_devices_interleaved_in_one_batch_and_resent(relay: ThreadRelay) -> None:
    a = enrolled_device(relay, "A", records=3)
    b = enrolled_device(relay, "B", records=3)
    client = relay.client()
    batch = [a.records()[1], b.records()[1], a.records()[2], b.records()[2]]
    acks = client.submit(batch)
    assert [(ack.seq, ack.log_index, ack.duplicate) for ack in acks] == [
        (1, 2, False),
        (1, 3, False),
        (2, 4, False),
        (2, 5, False),
    ]
    # A lost ack: the phone resends, plus one new record. Originals keep their positions.
    again = client.submit([a.records()[2], a.records()[3]])
    assert [(ack.seq, ack.log_index, ack.duplicate) for ack in again] == [
        (2, 4, True),
        (3, 6, False),
    ]
    assert state(relay)[0] == 7


def test_streaming_submit_many_batches(relay: ThreadRelay) -> None:
    device = enrolled_device(relay, records=100)
    records = device.records()[1:]
    batches = [records[i : i + 25] for i in range(0, 100, 25)]
    acks = list(relay.client().stream(batches))
    assert [[a.log_index for a in b] for b in acks] == [
        list(range(1 + i, 26 + i)) for i in range(0, 100, 25)
    ]


def test_erasure_keeps_commit_and_link(relay: ThreadRelay) -> None:
    device = enrolled_device(relay, records=3)
    relay.client().sync(device)
    op = relay.client(operator=True)
    assert op.erase(device.chain_id, 2, "participant withdrew") == 2
    stored = relay.call(lambda: relay.server.ledger.store.get_record(device.chain_id, 2))  # type: ignore[union-attr]
    original = device.records()[2]
    assert (stored.payload, stored.salt) == (None, None)
    assert (stored.commit, stored.link, stored.signature) == (
        original.commit,
        original.link,
        original.signature,
    )
    with pytest.raises(RelayError) as exc:
        op.erase(device.chain_id, 0)
    assert exc.value.code == "FAILED_PRECONDITION"
    assert "can't be erased" in str(exc.value)
    # The record is still there for a phone that resends it: same link -> duplicate ack.
    assert relay.client().submit([original])[0].duplicate is True


def test_list_devices_and_tokens_per_participant(relay: ThreadRelay) -> None:
    a = enrolled_device(relay, "P-17")
    enrolled_device(relay, "P-18")
    op = relay.client(operator=True)
    devices = op.list_devices("P-17")
    assert [(d.chain_id, d.participant, d.head_seq) for d in devices] == [(a.chain_id, "P-17", 0)]
    assert len(op.list_devices()) == 2


def test_enroll_is_idempotent_for_the_same_genesis(relay: ThreadRelay) -> None:
    op = relay.client(operator=True)
    token, _ = op.issue_token("P1")
    device = Device.new()
    client = relay.client()
    assert client.enroll(device, token) == 0
    # Reply lost, phone retries with the same (now used) token: same answer, nothing new.
    assert client.enroll(device, token) == 0
    assert state(relay)[0] == 1


# ----------------------------------------------------------------------------- refusals


def _good(relay: ThreadRelay) -> tuple[Device, pb.Record]:
    device = enrolled_device(relay, records=2)
    return device, record_pb(device.records()[1])


def _mutate(rec: pb.Record, **fields: object) -> pb.Record:
    out = pb.Record()
    out.CopyFrom(rec)
    for k, v in fields.items():
        setattr(out, k, v)
    return out


@pytest.mark.parametrize(
    ("fields", "code", "message"),
    [
        (
            {"chain_id": b"\x01" * 15},
            "INVALID_ARGUMENT",
            "record 0: chain_id must be 16 bytes, got 15",
        ),
        ({"prev": b"\x00" * 31}, "INVALID_ARGUMENT", "prev must be 32 bytes, got 31"),
        ({"salt": b""}, "INVALID_ARGUMENT", "salt must be 16 bytes, got 0"),
        ({"signature": b"\x00" * 63}, "INVALID_ARGUMENT", "signature must be 64 bytes, got 63"),
        ({"kind": 7}, "INVALID_ARGUMENT", "unknown kind 7"),
        ({"kind": 0}, "INVALID_ARGUMENT", "a genesis (kind 0) is only accepted through Enroll"),
        ({"version": 1}, "INVALID_ARGUMENT", "unknown version 1 (expected 2)"),
        (
            {"beacon_root": b"\x01" * 32},
            "INVALID_ARGUMENT",
            "beacon_size is 0 but beacon_root is not 32 zero bytes (SPEC 1.5: no beacon)",
        ),
        ({"signature": b"\x01" * 64}, "INVALID_ARGUMENT", "the signature does not verify"),
        ({"payload": b"edited"}, "INVALID_ARGUMENT", "commit is not KDF(salt || payload)"),
        ({"link": b"\x02" * 32}, "INVALID_ARGUMENT", "link is not the link of the record's header"),
        ({"chain_id": b"\x09" * 16}, "NOT_FOUND", "unknown chain (not enrolled)"),
        ({"seq": 3}, "FAILED_PRECONDITION", "seq jumps from 0 to 3 (send seq 1 first)"),
        (
            {"prev": b"\x03" * 32, "link": b""},
            "FAILED_PRECONDITION",
            "prev is not the link of seq 0",
        ),
    ],
)
def test_bad_record_is_refused_with_its_status_and_nothing_stored(
    relay: ThreadRelay, fields: dict[str, object], code: str, message: str
) -> None:
    _, good = _good(relay)
    before = state(relay)
    got_code, details = raw_submit(relay, [_mutate(good, **fields)])
    assert got_code.name == code
    assert message in details
    if fields.get("chain_id") is None or len(fields["chain_id"]) == 16:  # type: ignore[arg-type]
        assert "record 0 (chain " in details  # the record is named
    assert state(relay) == before


def test_a_bad_record_refuses_its_whole_batch(relay: ThreadRelay) -> None:
    device = enrolled_device(relay, records=3)
    before = state(relay)
    records = [record_pb(r) for r in device.records()[1:]]
    records[2] = _mutate(records[2], signature=b"\x05" * 64)
    code, details = raw_submit(relay, records)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert f"record 2 (chain {device.chain_id.hex()} seq 3)" in details
    assert state(relay) == before


def test_fork_is_refused_and_kept_as_evidence(relay: ThreadRelay) -> None:
    device = enrolled_device(relay, records=2)
    relay.client().sync(device)
    before = state(relay)
    # Same key, same seq 2, different content: a device (or a thief of its key) forking.
    fork = forged_record(device, 2, b"a different diary entry")
    code, details = raw_submit(relay, [fork])
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert details.endswith(
        f"record 0 (chain {device.chain_id.hex()} seq 2): a different record holds this seq "
        "(log_index 2); refused as a fork and kept as evidence"
    )
    assert state(relay) == before
    evidence = relay.call(lambda: relay.server.ledger.store.list_fork_evidence(device.chain_id))  # type: ignore[union-attr]
    assert [(e.seq, e.existing_log_index, e.payload) for e in evidence] == [
        (2, 2, b"a different diary entry")
    ]


def test_fork_evidence_only_when_signed_by_the_chain_and_bounded(
    relay_factory: Callable[..., ThreadRelay],
) -> None:
    from hashcore.relay.ledger import Limits

    relay = relay_factory(limits=Limits(max_fork_evidence_per_chain=2))
    device = enrolled_device(relay, records=2)
    relay.client().sync(device)
    # Not signed by the chain's key: refused as a fork, kept as nothing.
    unsigned = forged_record(device, 2, b"forged by a stranger", signature=b"\x05" * 64)
    code, details = raw_submit(relay, [unsigned])
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert details.endswith("(log_index 2); refused as a fork")
    # Signed: kept, up to the bound per chain.
    for i in range(4):
        code, details = raw_submit(relay, [forged_record(device, 2, b"fork %d" % i)])
        assert code == grpc.StatusCode.ALREADY_EXISTS
        assert details.endswith("refused as a fork" + (" and kept as evidence" if i < 2 else ""))
    evidence = relay.call(lambda: relay.server.ledger.store.list_fork_evidence(device.chain_id))  # type: ignore[union-attr]
    assert [e.payload for e in evidence] == [b"fork 0", b"fork 1"]


def test_beacons_must_be_checkpoints_this_relay_signed(relay: ThreadRelay) -> None:
    device = enrolled_device(relay, records=3)
    client = relay.client()
    client.sync(device)
    cp = relay.client(operator=True).create_checkpoint()
    assert cp.tree_size == 4
    before = state(relay)
    where = f"record 0 (chain {device.chain_id.hex()} seq 4)"
    prev = device.records()[3].link
    cases = [
        (
            {"beacon_size": 4, "beacon_root": b"\x09" * 32},
            f"{where}: beacon (4, {'09' * 32}) is not a checkpoint this relay signed "
            "(another root for that size)",
        ),
        (
            {"beacon_size": 3, "beacon_root": cp.root},
            f"{where}: beacon (3, {cp.root.hex()}) is not a checkpoint this relay signed "
            "(no checkpoint of that size)",
        ),
        (
            {"beacon_size": 9, "beacon_root": cp.root},
            f"{where}: beacon_size 9 is not older than the record (it would be at log_index "
            "4; a beacon names a log state before the record)",
        ),
    ]
    device.append(b"next")
    for changes, message in cases:
        rec = forged_record(device, 4, b"x", prev=prev, **changes)
        code, details = raw_submit(relay, [rec])
        assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT, message)
        assert state(relay) == before
    # The checkpoint itself is a good beacon.
    good = forged_record(device, 4, b"x", prev=prev, beacon_size=4, beacon_root=cp.root)
    assert [a.log_index for a in client.submit([good])] == [4]


def _device_seed(device: Device) -> str:
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = device.save(Path(d) / "state.json")
        return str(json.loads(path.read_text())["secret_seed"])


def test_limits_are_resource_exhausted(relay_factory: Callable[..., ThreadRelay]) -> None:
    from hashcore.relay.ledger import Limits

    relay = relay_factory(
        limits=Limits(max_records_per_batch=4, max_payload_bytes=100), max_message_bytes=64 * 1024
    )
    device = enrolled_device(relay, records=5)
    before = state(relay)
    code, details = raw_submit(relay, [record_pb(r) for r in device.records()[1:6]])
    assert (code, details) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "batch of 5 records exceeds the limit of 4",
    )
    big = device.append(b"x" * 101)
    code, details = raw_submit(relay, [record_pb(big)])
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "payload of 101 bytes exceeds the limit of 100" in details
    huge = pb.Record(version=2, payload=b"y" * 70_000)
    code, details = raw_submit(relay, [huge])
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in details  # grpc's own message for an oversize message
    assert state(relay) == before


def test_enrollment_refusals(relay: ThreadRelay) -> None:
    op = relay.client(operator=True)
    client = relay.client()
    with pytest.raises(RelayError) as exc:
        client.enroll(Device.new(), "hct_not-a-token")
    assert (exc.value.code, exc.value.details) == (
        "PERMISSION_DENIED",
        "enrollment token refused: unknown token",
    )

    token, _ = op.issue_token("P1")
    client.enroll(Device.new(), token)
    with pytest.raises(RelayError) as exc:
        client.enroll(Device.new(), token)
    assert exc.value.details == "enrollment token refused: the token was already used"

    expired = "hct_expired-token"
    now = int(time.time() * 1000)
    relay.call(
        lambda: relay.server.ledger.store.add_token(
            token_hash(expired), "P2", now - 10_000, now - 1
        )
    )  # type: ignore[union-attr]
    with pytest.raises(RelayError) as exc:
        client.enroll(Device.new(), expired)
    assert exc.value.details == "enrollment token refused: the token has expired"

    # A genesis whose key is of small order, and one whose signature is wrong.
    token, _ = op.issue_token("P3")
    genesis = record_pb(Device.new().records()[0])
    small = bytes([1] + [0] * 31)  # the identity point
    bad_key = _mutate(genesis, payload=small, chain_id=_core.chain_id_for_key(small))
    bad_sig = _mutate(genesis, signature=b"\x01" * 64)
    with grpc.insecure_channel(relay.target) as ch:
        stub = pb_grpc.RelayStub(ch)
        for req, want in (
            (bad_key, "genesis payload is not a valid (large-order) public key"),
            (bad_sig, "genesis: the signature does not verify under the chain's key"),
        ):
            with pytest.raises(grpc.RpcError) as rpc:
                stub.Enroll(pb.EnrollRequest(token=token, genesis=req), timeout=10)
            assert rpc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert rpc.value.details() == want
    assert state(relay)[0] == 1  # only the one good enrollment
    # The token was not burnt by the refused attempts.
    assert client.enroll(Device.new(), token) == 1


def test_operator_calls_need_the_token(relay: ThreadRelay) -> None:
    with pytest.raises(RelayError) as exc:
        RelayClient(relay.target, plaintext=True, operator_token="hco_wrong").issue_token("P")
    assert (exc.value.code, exc.value.details) == ("PERMISSION_DENIED", "operator token is wrong")
    with grpc.insecure_channel(relay.target) as ch:
        with pytest.raises(grpc.RpcError) as rpc:
            pb_grpc.OperatorStub(ch).IssueToken(pb.IssueTokenRequest(participant="P"), timeout=10)
        assert rpc.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert rpc.value.details() == "operator call needs 'authorization: Bearer <operator token>'"


def test_receipt_before_a_checkpoint_and_for_unknown_records(relay: ThreadRelay) -> None:
    device = enrolled_device(relay)
    client = relay.client()
    # No checkpoint yet: the receipt (the relay's promise) without an inclusion proof.
    receipt = client.receipt(device.chain_id, 0)
    assert (receipt.checkpoint, receipt.inclusion_path, receipt.covered()) == (None, [], False)
    pin = device.log_pin
    assert pin is not None and receipt.verify(pin.origin, pin.log_key, device.records()[0])
    with pytest.raises(RelayError) as exc:
        client.receipt(device.chain_id, 5)
    assert exc.value.code == "NOT_FOUND"
    with pytest.raises(RelayError) as exc:
        client.consistency_proof(3, 2)
    assert exc.value.code == "INVALID_ARGUMENT"


def test_checkpoints_every_n_records(relay_factory: Callable[..., ThreadRelay]) -> None:
    relay = relay_factory(checkpoint_every=10)
    device = enrolled_device(relay, records=25)
    relay.client().sync(device, batch_size=5)
    cps = relay.call(lambda: relay.server.ledger.store.list_checkpoints())  # type: ignore[union-attr]
    assert [c.tree_size for c in cps] == [11, 21]
    leaves = log_leaves(relay)
    assert [c.root for c in cps] == [
        _core.sha256_tree_root(leaves[:11]),
        _core.sha256_tree_root(leaves[:21]),
    ]


def test_checkpoint_timer(relay_factory: Callable[..., ThreadRelay]) -> None:
    relay = relay_factory(checkpoint_interval_s=0.2)
    enrolled_device(relay)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        latest = relay.call(lambda: relay.server.ledger.latest)  # type: ignore[union-attr]
        if latest is not None:
            break
        time.sleep(0.05)
    assert latest is not None and latest.tree_size == 1


def test_restart_rebuilds_the_same_log(
    relay_factory: Callable[..., ThreadRelay], tmp_path: Path
) -> None:
    relay = relay_factory()
    device = enrolled_device(relay, records=30)
    relay.client().sync(device)
    root = state(relay)[2]
    relay.stop()  # graceful: signs a final checkpoint
    with open_store(str(tmp_path / "relay.db")) as store:
        assert store.latest_checkpoint().tree_size == 31  # type: ignore[union-attr]
    again = relay_factory()
    assert state(again) == (31, 31, root)
    device.append(b"after restart")
    assert again.client().sync(device).sent == 1


def test_corrupt_protobuf_is_invalid_argument(relay: ThreadRelay) -> None:
    with grpc.insecure_channel(relay.target) as ch:
        for method in ("SubmitBatch", "Enroll", "GetReceipt"):
            call = ch.unary_unary(
                f"/hashcore.relay.v2.Relay/{method}",
                request_serializer=None,
                response_deserializer=None,
            )
            with pytest.raises(grpc.RpcError) as rpc:
                call(b"\xff\xff\xff", timeout=5)
            assert rpc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert rpc.value.details().startswith("the request is not a valid protobuf message")
        stream = ch.stream_stream(
            "/hashcore.relay.v2.Relay/Submit", request_serializer=None, response_deserializer=None
        )
        with pytest.raises(grpc.RpcError) as rpc:
            list(stream(iter([b"\x0a\x05abc"]), timeout=5))
        assert rpc.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_relay_the_device_did_not_pin_changes_nothing(
    relay_factory: Callable[..., ThreadRelay], tmp_path: Path
) -> None:
    """Relay B (another key) answers a device pinned to relay A: its enrollment, receipts
    and checkpoints are refused with RelayTrustError, and the device's chain is intact."""
    from hashcore.errors import RelayTrustError

    a = relay_factory(origin="relay-a.example/t")
    b = relay_factory(store=str(tmp_path / "b.db"), origin="relay-b.example/t")
    device = Device.new(tmp_path / "device.json")
    token_a, _ = a.client(operator=True).issue_token("P")
    a.client().enroll(device, token_a)
    for i in range(3):
        device.append(b"night %d" % i)
    before = (tmp_path / "device.json").read_text()
    token_b, _ = b.client(operator=True).issue_token("P")
    with pytest.raises(RelayTrustError, match=r"the relay says it is 'relay-b\.example/t'"):
        b.client().enroll(device, token_b)
    # B holds the genesis now and acknowledges the records with its own receipts.
    with pytest.raises(RelayTrustError, match="does not verify under the pinned log key"):
        b.client().sync(device)
    b.client(operator=True).create_checkpoint()
    with pytest.raises(RelayTrustError, match="is not a note signed by the pinned log key"):
        b.client().refresh_beacon(device)
    assert (tmp_path / "device.json").read_text() == before
    assert [r.seq for r in device.unsent()] == [1, 2, 3]
    # Relay A still takes everything, in order.
    assert a.client().sync(device).sent == 3
    assert device.unsent() == [] and device.beacon == (0, bytes(32))
