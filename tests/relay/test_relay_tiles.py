"""``relay serve --tiles-listen``: a real relay process serves its log as C2SP tlog-tiles
from its own store, read back with the tiles client (every proof checked against the
relay's signed checkpoint) and byte for byte against ``relay publish-tiles``'s files."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
from hashcore import Device, RelayClient, _core
from hashcore.cli import main
from hashcore.tiles.client import HttpFetcher, TileClient
from hashcore.tiles.server import CHECKPOINT_CACHE, TILE_CACHE

from . import store_fixtures
from .conftest import FAST_RETRY, ProcessRelay, ThreadRelay, enrolled_device, start_process_relay


def _tiles_url(relay: ProcessRelay) -> str:
    assert relay.proc.stdout is not None
    line = relay.proc.stdout.readline().strip()
    m = re.fullmatch(r"hashcore relay tiles on (http://127\.0\.0\.1:\d+)", line)
    assert m, line
    return m.group(1)


def _fill(relay: ProcessRelay, devices: int, records: int) -> list[Device]:
    op = RelayClient(relay.target, plaintext=True, operator_token=relay.operator_token)
    phones = RelayClient(relay.target, plaintext=True, retry=FAST_RETRY)
    out = []
    for i in range(devices):
        device = Device.new()
        phones.enroll(device, op.issue_token(f"P{i}")[0])
        for day in range(records):
            device.append(b'{"day": %d}' % day)
        phones.sync(device)
        out.append(device)
    op.create_checkpoint()
    op.close()
    phones.close()
    return out


async def _get(url: str, path: str) -> tuple[int, bytes, aiohttp.typedefs.LooseHeaders]:
    async with aiohttp.ClientSession() as s, s.get(f"{url}/{path}") as resp:
        return resp.status, await resp.read(), resp.headers


def _wait_for_size(url: str, origin: str, key: bytes, size: int) -> bytes:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status, body, _ = asyncio.run(_get(url, "checkpoint"))
        if status == 200 and _core.note_verify(body, origin, key)[0] == size:
            return body
        time.sleep(0.1)
    raise AssertionError(f"the tiles server never served tree_size {size}")


def test_relay_serves_its_log_as_tiles(tmp_path: Path) -> None:
    relay = start_process_relay(tmp_path, None, "--tiles-listen", "127.0.0.1:0")
    try:
        url = _tiles_url(relay)
        devices = _fill(relay, devices=3, records=99)  # 300 records: full + partial tiles
        phones = RelayClient(relay.target, plaintext=True, retry=FAST_RETRY)
        note = phones.checkpoint()
        origin = note.note.split(b"\n", 1)[0].decode()
        receipts = [phones.receipt(d.chain_id, s) for d in devices for s in range(100)]
        phones.close()
        key = _log_key(tmp_path)
        assert note.tree_size == 300 and note.verify(origin, key)
        served = _wait_for_size(url, origin, key, 300)
        assert served == note.note

        async def check() -> None:
            async with aiohttp.ClientSession() as s:
                client = TileClient(HttpFetcher(url, s), origin, key)
                size, root, _ = await client.checkpoint()
                assert (size, root) == (300, note.root)
                # Entry bundles hold the 41-byte entries: exactly those the receipts sign.
                entries = await client.entries(0, size) + await client.entries(1, size)
                assert {len(e) for e in entries} == {41}
                by_index = {r.ack.log_index: r.entry for r in receipts}
                assert entries == [by_index[i] for i in range(300)]
                for r in receipts[::37]:
                    entry, proof = await client.entry(r.ack.log_index, size, root)
                    assert entry == r.entry and proof == r.inclusion_path
                old_root = _core.sha256_tree_root([_core.sha256_leaf_hash(e) for e in entries[:3]])
                await client.consistency_proof(3, old_root, size, root)

        asyncio.run(check())

        # The same bytes as the static files publish-tiles writes from the same store.
        out = tmp_path / "published"
        assert main(["relay", "publish-tiles", "--db", relay.db, "--out", str(out)]) == 0
        files = sorted(p for p in out.rglob("*") if p.is_file())
        # checkpoint; tile/0/000, tile/0/001.p/44, tile/1/000.p/1; two entry bundles.
        assert len(files) == 6
        for f in files:
            rel = f.relative_to(out).as_posix()
            status, body, headers = asyncio.run(_get(url, rel))
            assert (status, body) == (200, f.read_bytes()), rel
            if rel == "checkpoint":
                assert headers["Cache-Control"] == CHECKPOINT_CACHE
                assert headers["Content-Type"] == "text/plain; charset=utf-8"
            else:
                assert headers["Cache-Control"] == TILE_CACHE
                assert headers["Content-Type"] == "application/octet-stream"

        # Read-only, and nothing beyond the signed checkpoint, nor outside the tree.
        async def refusals() -> None:
            async with aiohttp.ClientSession() as s:
                async with s.post(f"{url}/checkpoint", data=b"x") as resp:
                    assert resp.status == 405
                for path in (
                    "tile/0/001.p/45",
                    "tile/entries/002",
                    "tile/1/000.p/2",
                    "tile/0/../checkpoint",
                    "tile/0/0001",
                    "etc/passwd",
                ):
                    async with s.get(f"{url}/{path}") as resp:
                        assert resp.status == 404, path

        asyncio.run(refusals())
    finally:
        assert relay.terminate() == 0


def _log_key(workdir: Path) -> bytes:
    return _core.public_key_from_seed(_read_seed(workdir / "relay.key"))


def _read_seed(path: Path) -> bytes:
    from hashcore.relay.keys import load_key

    return load_key(path)


# The PostgreSQL fixture (a fresh schema), registered in this module.
pg_store_url = store_fixtures.pg_store_url


def test_relay_on_postgres_serves_tiles(
    relay_factory: Callable[..., ThreadRelay], pg_store_url: str, tmp_path: Path
) -> None:
    relay = relay_factory(
        store=pg_store_url,
        key_file=tmp_path / "relay.key",
        operator_token_file=tmp_path / "op",
        tiles_listen="127.0.0.1:0",
    )
    device = enrolled_device(relay, "P1", records=20)
    phones = relay.client()
    phones.sync(device)
    note = relay.client(operator=True).create_checkpoint()
    origin = note.note.split(b"\n", 1)[0].decode()
    assert relay.server is not None
    url = f"http://127.0.0.1:{relay.server.tiles_port}"
    key = relay.server.ledger.log_key  # type: ignore[union-attr]
    assert _wait_for_size(url, origin, key, 21) == note.note
    receipt = phones.receipt(device.chain_id, 7)

    async def check() -> None:
        async with aiohttp.ClientSession() as s:
            client = TileClient(HttpFetcher(url, s), origin, key)
            entry, proof = await client.entry(receipt.ack.log_index, 21, note.root)
            assert (entry, proof) == (receipt.entry, receipt.inclusion_path)

    asyncio.run(check())
