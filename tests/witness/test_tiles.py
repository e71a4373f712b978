"""C2SP tlog-tiles: the writer's files (incremental, resumed from disk), the read-only HTTP
server's headers, proofs read back from tiles over loopback, and the mirror."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from hashcore import _core
from hashcore.errors import InvalidInputError
from hashcore.tiles import TileRef, TileWriter, parse_tile_path
from hashcore.tiles.client import HttpFetcher, TileClient, TileError
from hashcore.tiles.mirror import mirror
from hashcore.tiles.server import CHECKPOINT_CACHE, TILE_CACHE, start_tiles_server
from yarl import URL

from .logs import TestLog

ORIGIN = "relay.site-a.example/trial-umin000032951"
LOG_SEED = bytes(range(32))
SIZES = [1, 2, 255, 256, 257, 511, 512, 4000, 65535, 65536, 65537, 70000]


def test_paths() -> None:
    assert TileRef(0, 1234067).path == "tile/0/x001/x234/067"
    assert TileRef(None, 5, 17).path == "tile/entries/005.p/17"
    assert TileRef(63, 0, 255).path == "tile/63/000.p/255"
    assert parse_tile_path("tile/0/x001/x234/067") == TileRef(0, 1234067)
    assert parse_tile_path("tile/entries/005.p/17") == TileRef(None, 5, 17)
    for bad in [
        "tile/64/000",
        "tile/01/000",
        "tile/0/1",
        "tile/0/x000/001",
        "tile/0/000.p/256",
        "tile/0/000.p/0",
        "tile/0/000.p/01",
        "tile/0/../checkpoint",
        "tile/0/000/",
        "tile/0/x001",
        "tile/data/000",
    ]:
        assert parse_tile_path(bad) is None, bad


def _write(out: Path, log: TestLog, sizes: list[int]) -> None:
    done = 0
    for size in sizes:
        writer = TileWriter(out, ORIGIN, log.key, durable=False)  # resumed from disk each time
        assert writer.size == done
        writer.extend(log.entries[done:size], log.note(size))
        done = size


def test_writer_files_follow_the_spec_example(tmp_path: Path) -> None:
    log = TestLog(ORIGIN, LOG_SEED, 70000)
    _write(tmp_path, log, SIZES)
    files = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()}
    # tlog-tiles: "a tree of size 70,000 will be represented by 273 full level 0 tiles, one
    # partial level 0 tile of width 112, one full level 1 tile, one partial level 1 tile of
    # width 17, and one partial level 2 tile of width 1".
    level0 = {f for f in files if f.startswith("tile/0/")}
    assert {f for f in level0 if ".p/" not in f} == {TileRef(0, n).path for n in range(273)}
    assert TileRef(0, 273, 112).path in files
    assert {f for f in files if f.startswith("tile/1/") and ".p/" not in f} == {"tile/1/000"}
    assert TileRef(1, 1, 17).path in files and TileRef(2, 0, 1).path in files
    # Partial tiles of every checkpoint size are kept (tlog-tiles: MUST serve them).
    for size in SIZES:
        if size % 256:
            assert TileRef(0, size // 256, size % 256).path in files
            assert TileRef(None, size // 256, size % 256).path in files
    assert (tmp_path / "checkpoint").read_bytes() == log.note(70000)
    assert (tmp_path / TileRef(0, 0).path).read_bytes() == b"".join(log.leaves[:256])
    bundle = (tmp_path / TileRef(None, 3).path).read_bytes()
    assert bundle == b"".join(b"\x00\x29" + e for e in log.entries[768:1024])
    # Written in one go, the same files (but the intermediate partials).
    one = tmp_path / "one"
    TileWriter(one, ORIGIN, log.key).extend(log.entries, log.note())
    for f in (one / "tile").rglob("*"):
        if f.is_file():
            assert f.read_bytes() == (tmp_path / f.relative_to(one)).read_bytes()


def test_writer_refuses_and_writes_nothing(tmp_path: Path) -> None:
    log = TestLog(ORIGIN, LOG_SEED, 600)
    w = TileWriter(tmp_path, ORIGIN, log.key)
    w.extend(log.entries[:300], log.note(300))
    before = sorted(tmp_path.rglob("*"))
    fork = TestLog(ORIGIN, LOG_SEED, 600, salt=b"fork")
    other = TestLog(ORIGIN, bytes(32), 600)
    for entries, note, message in [
        (log.entries[300:600], fork.note(600), "another root"),
        (fork.entries[300:600], log.note(600), "another root"),
        (log.entries[300:599], log.note(600), "makes 599"),
        (log.entries[300:600], other.note(600), "no signature line by the log key"),
        ([b"\x02" * 40], log.note(301), "not 41"),
    ]:
        with pytest.raises(InvalidInputError, match=message):
            w.extend(entries, note)
    assert sorted(tmp_path.rglob("*")) == before
    assert TileWriter(tmp_path, ORIGIN, log.key).size == 300
    # A full tile already on disk (left by a crashed run) with other bytes: refuse.
    (tmp_path / "tile/0/001").write_bytes(bytes(8192))
    with pytest.raises(InvalidInputError, match="exists with other bytes"):
        TileWriter(tmp_path, ORIGIN, log.key).extend(log.entries[300:600], log.note(600))
    # A missing partial tile of the checkpoint: can't resume.
    (tmp_path / TileRef(0, 1, 44).path).unlink()
    with pytest.raises(InvalidInputError, match=r"tile/0/001\.p/44 is missing"):
        TileWriter(tmp_path, ORIGIN, log.key)


async def _serve(root: Path) -> tuple[web.AppRunner, str]:
    runner, port = await start_tiles_server(root, "127.0.0.1", 0)
    return runner, f"http://127.0.0.1:{port}"


def test_proofs_from_tiles_over_http(tmp_path: Path) -> None:
    log = TestLog(ORIGIN, LOG_SEED, 70000)
    _write(tmp_path, log, SIZES)

    async def main() -> None:
        runner, url = await _serve(tmp_path)
        try:
            async with aiohttp.ClientSession() as s:
                async with s.get(f"{url}/checkpoint") as r:
                    assert r.status == 200 and r.headers["Cache-Control"] == CHECKPOINT_CACHE
                    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
                async with s.get(f"{url}/tile/1/000") as r:
                    assert r.status == 200 and r.headers["Cache-Control"] == TILE_CACHE
                    assert r.headers["Content-Type"] == "application/octet-stream"
                    assert len(await r.read()) == 8192
                for bad in [
                    "tile/0/x000/001",
                    "tile/0/999",
                    "tile/0/../../checkpoint",
                    "tile/%2e%2e/checkpoint",
                    "tile/data/000",
                ]:
                    # encoded: sent as written (the client would otherwise normalize "..").
                    async with s.get(URL(f"{url}/{bad}", encoded=True)) as r:
                        assert r.status == 404, bad
                async with s.post(f"{url}/checkpoint") as r:
                    assert r.status == 405
                async with s.get(
                    f"{url}/tile/entries/000", headers={"Accept-Encoding": "gzip"}
                ) as r:
                    assert r.headers["Content-Encoding"] == "gzip"
                    assert await r.read() == b"".join(b"\x00\x29" + e for e in log.entries[:256])
                async with s.get(
                    f"{url}/tile/entries/000", headers={"Accept-Encoding": "identity"}
                ) as r:
                    assert "Content-Encoding" not in r.headers
                    assert int(r.headers["Content-Length"]) == 256 * 43
                fetch = HttpFetcher(url, s)
                client = TileClient(fetch, ORIGIN, log.key)
                size, root, _ = await client.checkpoint()
                assert (size, root) == (70000, log.root())
                for n in SIZES:
                    assert await client.root(n) == log.root(n)
                for i in [0, 1, 255, 256, 4095, 65535, 65536, 69999]:
                    proof = await client.inclusion_proof(i, size, root, log.leaves[i])
                    assert proof == _core.sha256_inclusion_proof(log.leaves, i)
                    entry, _ = await client.entry(i, size, root)
                    assert entry == log.entries[i]
                for m in [1, 255, 256, 257, 4000, 65536, 70000]:
                    proof = await client.consistency_proof(m, log.root(m), size, root)
                    assert proof == (log.proof(m) if m < size else [])
                with pytest.raises(TileError, match="no valid inclusion proof"):
                    await client.inclusion_proof(5, size, root, log.leaves[6])
                with pytest.raises(TileError, match="no valid consistency proof"):
                    await client.consistency_proof(300, log.root(301), size, root)
                # Cold vs cached: a second proof nearby needs few new tiles.
                cold = TileClient(HttpFetcher(url, s), ORIGIN, log.key)
                await cold.inclusion_proof(1000, size, root, log.leaves[1000])
                first = cold.fetch.requests  # type: ignore[attr-defined]
                await cold.inclusion_proof(60000, size, root, log.leaves[60000])
                assert first == 4 and cold.fetch.requests - first == 1  # type: ignore[attr-defined]
        finally:
            await runner.cleanup()

    asyncio.run(main())


def test_bad_tiles_make_proofs_fail(tmp_path: Path) -> None:
    log = TestLog(ORIGIN, LOG_SEED, 1000)
    _write(tmp_path, log, [1000])
    tile = tmp_path / "tile/0/001"
    data = bytearray(tile.read_bytes())
    data[40] ^= 1
    tile.write_bytes(bytes(data))

    async def main() -> None:
        runner, url = await _serve(tmp_path)
        try:
            async with aiohttp.ClientSession() as s:
                client = TileClient(HttpFetcher(url, s), ORIGIN, log.key)
                size, root, _ = await client.checkpoint()
                # The root comes from level 1 (which holds tile 0/001's hash, not its bytes).
                assert await client.root(size) == root
                with pytest.raises(TileError, match="no valid inclusion proof of 300"):
                    await client.inclusion_proof(300, size, root, log.leaves[300])
                # A proof that doesn't touch the bad tile still verifies.
                await client.inclusion_proof(900, size, root, log.leaves[900])
        finally:
            await runner.cleanup()

    asyncio.run(main())


def test_mirror_keeps_a_verified_copy_and_refuses_another_history(tmp_path: Path) -> None:
    log = TestLog(ORIGIN, LOG_SEED, 3000)
    site, copy = tmp_path / "site", tmp_path / "copy"
    _write(site, log, [700])

    async def main() -> None:
        runner, url = await _serve(site)
        try:
            got = await mirror(url, copy, ORIGIN, log.key)
            assert (got.old_size, got.new_size) == (0, 700)
            _write_more(site, log, 700, 3000)
            got = await mirror(url, copy, ORIGIN, log.key)
            assert (got.old_size, got.new_size) == (700, 3000)
            assert got.requests == 1 + 10  # checkpoint + bundles 2..11
            for f in (site / "tile").rglob("*"):
                if f.is_file() and f.name != "002.p/188":
                    rel = f.relative_to(site)
                    if (copy / rel).exists():
                        assert (copy / rel).read_bytes() == f.read_bytes()
            assert (copy / "checkpoint").read_bytes() == log.note(3000)
            # The site now shows another history with the same key: refused, copy unchanged.
            fork = TestLog(ORIGIN, LOG_SEED, 4000, salt=b"fork")
            shutil.rmtree(site)
            _write(site, fork, [4000])
            before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
            with pytest.raises(TileError, match="don't extend this mirror"):
                await mirror(url, copy, ORIGIN, log.key)
            after = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
            assert after == before
            # A smaller tree: refused.
            shutil.rmtree(site)
            _write(site, log, [1000])
            with pytest.raises(TileError, match="smaller than the mirror's 3000"):
                await mirror(url, copy, ORIGIN, log.key)
        finally:
            await runner.cleanup()

    asyncio.run(main())


def _write_more(out: Path, log: TestLog, old: int, new: int) -> None:
    w = TileWriter(out, ORIGIN, log.key)
    assert w.size == old
    w.extend(log.entries[old:new], log.note(new))


def test_mirror_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import threading

    from hashcore.cli.main import main as cli

    log = TestLog(ORIGIN, LOG_SEED, 600)
    site = tmp_path / "site"
    _write(site, log, [600])
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner, url = asyncio.run_coroutine_threadsafe(_serve(site), loop).result(60)
    try:
        wkey = _core.public_key_from_seed(bytes([7]) * 32)
        policy = {
            "format": "hashcore-policy", "version": 2, "origin": ORIGIN,
            "log_key": log.key.hex(), "witnesses": [{"name": "w.example/1", "key": wkey.hex()}],
            "witness_quorum": 1, "evm": None, "max_merge_delay_ms": 1, "max_clock_skew_ms": 1,
        }  # fmt: skip
        (tmp_path / "policy.json").write_text(json.dumps(policy))
        copy = str(tmp_path / "copy")
        assert cli(["mirror", url, copy, "--policy", str(tmp_path / "policy.json")]) == 1
        assert "has 0 of the 1 witness cosignatures" in capsys.readouterr().err
        # The site publishes the same size with a cosignature by the policy's witness.
        cosigned = _core.note_cosign(log.note(), bytes([7]) * 32, "w.example/1", 1795392033)
        TileWriter(site, ORIGIN, log.key).extend([], cosigned)
        assert cli(["mirror", url, copy, "--policy", str(tmp_path / "policy.json")]) == 0
        fetched = (600 * 43) + len(cosigned)  # 3 bundles (2 full, 1 of 88) + checkpoint
        assert capsys.readouterr().out == (
            f"mirror {copy}: tree size 0 -> 600 (4 requests, {fetched} bytes)\n"
        )
        assert cli(["mirror", url, copy, "--origin", ORIGIN, "--log-key", log.key.hex()]) == 0
        assert capsys.readouterr().out == (
            f"mirror {copy}: tree size 600 -> 600 (1 requests, {len(cosigned)} bytes)\n"
        )
        assert cli(["mirror", url, copy, "--origin", ORIGIN, "--log-key", "00"]) == 2
        assert "expected 64 hex digits" in capsys.readouterr().err
        assert cli(["mirror", url, copy]) == 2
        err = capsys.readouterr().err
        assert err == "hashcore: error: give --policy, or --origin and --log-key\n"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(60)
