"""``TileProofs``: a device proves its records are in the log, and moves its beacon, from
the relay's published tiles alone (``--tiles-listen``), every proof checked against the
signed checkpoint and the checkpoints the device verified before; a forked log published
under the same key is refused."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hashcore import Device
from hashcore.errors import RelayTrustError
from hashcore.tiles.client import TileError
from hashcore.tiles.proofs import TileProofs

from .conftest import ThreadRelay

ORIGIN = "relay.site-a.example/trial-tileproofs"


def _served(relay: ThreadRelay, size: int) -> str:
    assert relay.server is not None
    deadline = time.monotonic() + 20
    while relay.server._tiles.source.size != size:
        assert time.monotonic() < deadline, "the tiles server never reached the log's size"
        time.sleep(0.05)
    return f"http://127.0.0.1:{relay.server.tiles_port}"


def _relay(factory: Callable[..., ThreadRelay], tmp: Path, name: str) -> ThreadRelay:
    return factory(
        store=str(tmp / f"{name}.db"),
        key_file=tmp / f"{name}.key",
        operator_token_file=tmp / f"{name}.token",
        origin=ORIGIN,
        tiles_listen="127.0.0.1:0",
    )


def test_device_proofs_from_tiles(
    relay_factory: Callable[..., ThreadRelay], tmp_path: Path
) -> None:
    relay = _relay(relay_factory, tmp_path, "relay")
    op, phones = relay.client(operator=True), relay.client()
    device, other = Device.new(), Device.new()
    phones.enroll(device, op.issue_token("P1")[0])
    phones.enroll(other, op.issue_token("P2")[0])
    for day in range(300):
        device.append(b'{"day": %d}' % day)
        other.append(b'{"day": %d}' % day)
    phones.sync(device)
    phones.sync(other)
    size = op.create_checkpoint().tree_size
    url = _served(relay, size)

    tiles = TileProofs.for_device(url, device)
    beacon = tiles.refresh_beacon(device)
    assert (beacon.tree_size, device.beacon) == (size, (size, beacon.root))
    for seq in (0, 1, 150, 300):
        got = tiles.prove_receipt(device, seq)
        served = phones.receipt(device.chain_id, seq)
        assert (got.log_index, got.entry, got.tree_size) == (
            served.ack.log_index,
            served.entry,
            size,
        )
        assert got.path == served.inclusion_path  # the relay's own proof, from its tiles
    requests = tiles.fetch.requests

    # The log grows: the device moves its beacon by a consistency proof from the tiles.
    for day in range(40):
        device.append(b'{"late": %d}' % day)
    phones.sync(device)
    bigger = op.create_checkpoint().tree_size
    _served(relay, bigger)
    assert tiles.refresh_beacon(device).tree_size == bigger == size + 40
    assert tiles.fetch.requests > requests

    # Another device's receipt at this device's position is not this device's record.
    wrong = other.receipts()[5]
    with pytest.raises(TileError, match="no valid inclusion proof"):
        tiles.inclusion_proof(device.receipts()[5].log_index, bytes(41))
    assert tiles.inclusion_proof(wrong.log_index, _entry(wrong)).tree_size == bigger

    # A forked log (the relay's key, another history, a larger tree) published elsewhere.
    relay.stop()
    shutil.copy(tmp_path / "relay.key", tmp_path / "fork.key")
    fork = _relay(relay_factory, tmp_path, "fork")
    fop, fphones = fork.client(operator=True), fork.client()
    stranger = Device.new()
    fphones.enroll(stranger, fop.issue_token("P9")[0])
    for day in range(bigger + 10):
        stranger.append(b'{"fork": %d}' % day)
    fphones.sync(stranger)
    forked = TileProofs.for_device(_served(fork, fop.create_checkpoint().tree_size), device)
    with pytest.raises(RelayTrustError, match="rewrote its log"):
        forked.refresh_beacon(device)
    with pytest.raises(TileError, match="no valid inclusion proof"):
        forked.prove_receipt(device, 150)
    assert device.beacon[0] == bigger  # the device kept its beacon


def _entry(r: object) -> bytes:
    from hashcore import _core

    return _core.log_entry(r.link, r.received_ms)  # type: ignore[attr-defined]
