"""``_core.check_chains``: the one shape and sequencing check of submitted records (Rust,
rust/src/ingest/sequence.rs), on real device chains. Its messages are the relay's own
(tests/relay/test_relay_service.py refuses the same mutations with the same words), so
that the ledger can switch to it without changing what a client is told."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hashcore import Device, Record, _core


def _columns(records: Sequence[dict[str, Any]]) -> list[list[Any]]:
    names = (
        "chain_id",
        "seq",
        "time_ms",
        "kind",
        "prev",
        "commit",
        "beacon_size",
        "beacon_root",
        "salt",
        "payload",
    )
    return (
        [[r.get("version", 2) for r in records]]
        + [[r[n] for r in records] for n in names]
        + [[r["signature"] for r in records], [r["link"] for r in records]]
    )


def _fields(rec: Record) -> dict[str, Any]:
    return {
        "chain_id": rec.chain_id,
        "seq": rec.seq,
        "time_ms": rec.time_ms,
        "kind": rec.kind,
        "prev": rec.prev,
        "commit": rec.commit,
        "beacon_size": rec.beacon_size,
        "beacon_root": rec.beacon_root,
        "salt": rec.salt,
        "payload": rec.payload,
        "signature": rec.signature,
        "link": rec.link,
    }


def _check(
    heads: list[tuple[int, bytes, bytes] | None], segments: list[list[dict[str, Any]]], **kw: Any
) -> list[tuple[bytes, tuple[int, bytes, bytes] | None, tuple[int, str, str, str] | None]]:
    flat = [r for s in segments for r in s]
    return _core.check_chains(heads, [len(s) for s in segments], *_columns(flat), **kw)


@pytest.fixture
def device(tmp_path: Path) -> Device:
    dev = Device.new(tmp_path / "device.json")
    dev.append(b'{"night": 1}')
    dev.rotate_key()
    dev.append(b'{"night": 2}')
    return dev


def test_a_device_chain_passes_whole_and_in_steps(device: Device) -> None:
    records = [_fields(r) for r in device.records()]
    [(links, head, fault)] = _check([None], [records])
    assert fault is None
    assert links == b"".join(r.link for r in device.records())
    assert head == (3, device.records()[-1].link, device.public_key)
    first = device.records()[0]
    genesis_head = (0, first.link, device.genesis_public_key)
    [(_, head2, fault2)] = _check([genesis_head], [records[1:]])
    assert (head2, fault2) == (head, None)


# The relay's refusals of a mutated seq-1 record (tests/relay/test_relay_service.py).
@pytest.mark.parametrize(
    ("fields", "reason", "message"),
    [
        ({"chain_id": b"\x01" * 15}, "malformed", "chain_id must be 16 bytes, got 15"),
        ({"prev": b"\x00" * 31}, "malformed", "prev must be 32 bytes, got 31"),
        ({"salt": b""}, "malformed", "salt must be 16 bytes, got 0"),
        ({"signature": b"\x00" * 63}, "malformed", "signature must be 64 bytes, got 63"),
        ({"kind": 7}, "malformed", "unknown kind 7"),
        ({"kind": 0}, "malformed", "a genesis (kind 0) is only accepted through Enroll"),
        ({"version": 1}, "malformed", "unknown version 1 (expected 2)"),
        ({"beacon_root": b"\x00" * 31}, "malformed", "beacon_root must be 32 bytes, got 31"),
        (
            {"beacon_root": b"\x05" * 32},
            "malformed",
            "beacon_size is 0 but beacon_root is not 32 zero bytes (SPEC 1.5: no beacon)",
        ),
        (
            {"signature": b"\x01" * 64},
            "bad_signature",
            "the signature does not verify under the chain's key",
        ),
        ({"payload": b"edited"}, "bad_commit", "commit is not KDF(salt || payload)"),
        ({"link": b"\x02" * 32}, "link_mismatch", "link is not the link of the record's header"),
        ({"seq": 3}, "gap", "seq jumps from 0 to 3 (send seq 1 first)"),
        ({"prev": b"\x03" * 32, "link": b""}, "broken_chain", "prev is not the link of seq 0"),
        (
            {"payload": b"x" * 101},
            "too_large",
            "payload of 101 bytes exceeds the limit of 100",
        ),
    ],
)
def test_each_refusal_in_the_relays_words(
    device: Device, fields: dict[str, Any], reason: str, message: str
) -> None:
    genesis, second = device.records()[:2]
    rec = {**_fields(second), **fields}
    head = (0, genesis.link, device.genesis_public_key)
    [(_, new_head, fault)] = _check([head], [[rec]], max_payload_bytes=100, max_seq=2**63 - 1)
    assert new_head is None
    assert fault is not None
    assert (fault[0], fault[1], fault[3]) == (0, reason, message)


def test_a_new_chain_needs_its_genesis(device: Device) -> None:
    records = [_fields(r) for r in device.records()]
    bad_key = {**records[0], "payload": bytes(31)}
    [(_, _, fault)] = _check([None], [[bad_key]])
    assert fault == (
        0,
        "bad_key",
        "genesis_key_size",
        "genesis payload must be a 32-byte public key, got 31",
    )
    [(_, _, fault)] = _check([None], [records[1:]])
    assert fault == (0, "malformed", "not_a_genesis", "enrollment needs the kind-0 record at seq 0")


def test_segments_are_checked_apart_in_one_call(device: Device, tmp_path: Path) -> None:
    other = Device.new(tmp_path / "other.json")
    other.append(b"{}")
    good = [_fields(r) for r in other.records()]
    bad = [_fields(r) for r in device.records()]
    bad[3]["signature"] = bad[1]["signature"]
    got = _check([None, None], [bad, good])
    assert got[0][2] == (
        3,
        "bad_signature",
        "bad_signature",
        "the signature does not verify under the chain's key",
    )
    assert got[1][2] is None
    assert got[1][1] == (1, other.records()[-1].link, other.public_key)


def test_mismatched_columns_are_an_input_error() -> None:
    with pytest.raises(ValueError, match=r"^1 heads and 1 counts \(summing to 2\) for 0 records$"):
        _core.check_chains([None], [2], *([[]] * 13))


def test_a_head_whose_link_is_not_known_yet_leaves_the_first_prev_to_the_caller(
    device: Device,
) -> None:
    second = device.records()[1]
    key = device.genesis_public_key
    [(_, head, fault)] = _check([(0, b"", key)], [[_fields(second)]])
    assert (head, fault) == ((1, second.link, key), None)
    [(_, _, fault)] = _check([(0, b"\x05" * 32, key)], [[_fields(second)]])
    assert fault == (0, "broken_chain", "broken_chain", "prev is not the link of seq 0")


def test_shapes_alone_name_the_first_bad_record(device: Device) -> None:
    records = [_fields(r) for r in device.records()[1:]]
    assert _core.check_shapes(*_columns(records)) is None
    records[2]["kind"] = 0
    records[1]["signature"] = b"\x00" * 63
    assert _core.check_shapes(*_columns(records)) == (
        1,
        "malformed",
        "size",
        "signature must be 64 bytes, got 63",
    )
    genesis = [_fields(device.records()[0])]
    assert _core.check_shapes(*_columns(genesis), starts_chain=True) is None
    assert _core.check_shapes(*_columns(genesis))[2:] == (  # type: ignore[index]
        "genesis_after_start",
        "a genesis (kind 0) is only accepted through Enroll",
    )
