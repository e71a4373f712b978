"""``hashcore relay publish-tiles``: a real relay's log as C2SP tiles, read back over HTTP
by the tiles client (every proof checked against the relay's signed checkpoint)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from hashcore import Device, _core
from hashcore.cli import main
from hashcore.relay.store import open_store
from hashcore.tiles.client import HttpFetcher, TileClient
from hashcore.tiles.server import start_tiles_server

from .conftest import ThreadRelay


def _fill(relay: ThreadRelay, devices: int, records: int) -> None:
    op = relay.client(operator=True)
    phones = relay.client()
    for i in range(devices):
        device = Device.new()
        phones.enroll(device, op.issue_token(f"P{i}")[0])
        for day in range(records):
            device.append(b'{"day": %d}' % day)
        phones.sync(device)
    op.create_checkpoint()


def _published(out: Path, size: int, origin: str, key: bytes, leaves: list[bytes]) -> None:
    async def check() -> None:
        runner, port = await start_tiles_server(out, "127.0.0.1", 0)
        try:
            async with aiohttp.ClientSession() as s:
                client = TileClient(HttpFetcher(f"http://127.0.0.1:{port}", s), origin, key)
                got, root, _ = await client.checkpoint()
                assert (got, root) == (size, _core.sha256_tree_root(leaves[:size]))
                for i in {0, size // 2, size - 1}:
                    proof = await client.inclusion_proof(i, size, root, leaves[i])
                    assert proof == _core.sha256_inclusion_proof(leaves[:size], i)
        finally:
            await runner.cleanup()

    asyncio.run(check())


def test_publish_tiles_incrementally(
    relay: ThreadRelay, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = relay.config.store
    out = tmp_path / "tiles"
    _fill(relay, devices=3, records=99)  # 300 records: one full tile and a partial one
    assert main(["relay", "publish-tiles", "--db", db, "--out", str(out)]) == 0
    assert "tree_size=300, checkpoints=1" in capsys.readouterr().out
    with open_store(db, readonly=True) as store:
        entries = b"".join(store.iter_entries())
        origin = (store.get_meta("origin") or b"").decode()
        key = store.get_log_id()
    assert key is not None
    leaves = [_core.sha256_leaf_hash(entries[i : i + 41]) for i in range(0, len(entries), 41)]
    _published(out, 300, origin, key, leaves)
    # Entry bundles hold the 41-byte entries, nothing of the records (length-prefixed).
    bundle = (out / "tile" / "entries" / "000").read_bytes()
    assert bundle == b"".join(b"\x00\x29" + entries[i : i + 41] for i in range(0, 256 * 41, 41))

    _fill(relay, devices=1, records=20)  # the log grows: only what it gained is added
    assert main(["relay", "publish-tiles", "--db", db, "--out", str(out)]) == 0
    assert "tree_size=321, checkpoints=1" in capsys.readouterr().out
    with open_store(db, readonly=True) as store:
        entries = b"".join(store.iter_entries())
    leaves = [_core.sha256_leaf_hash(entries[i : i + 41]) for i in range(0, len(entries), 41)]
    _published(out, 321, origin, key, leaves)
    assert main(["relay", "publish-tiles", "--db", db, "--out", str(out)]) == 0
    assert "tree_size=321, checkpoints=0, files=0" in capsys.readouterr().out


def test_publish_tiles_refuses_a_store_not_yet_served_and_another_log(
    relay: ThreadRelay, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(relay, devices=1, records=5)
    out = tmp_path / "tiles"
    assert main(["relay", "publish-tiles", "--db", relay.config.store, "--out", str(out)]) == 0
    capsys.readouterr()
    other = tmp_path / "other"
    other.mkdir()
    with open_store(str(other / "relay.db")) as store:
        store.set_log_id(b"\x01" * 32)
    assert main(["relay", "publish-tiles", "--db", str(other / "relay.db"), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"hashcore: error: {other / 'relay.db'}: the store has no log key or origin yet "
        "(never served)\n"
    )
    with open_store(str(other / "relay.db")) as store:
        store.set_meta("origin", b"relay.other.example/log")
    assert main(["relay", "publish-tiles", "--db", str(other / "relay.db"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hashcore: error: {out}/checkpoint") and err.count("\n") == 1, err
