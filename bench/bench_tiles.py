"""Tiles figures (issue 11): tiles written per second, and the bytes and requests a client
needs for one inclusion proof in a 10M-entry log, cold and with cached upper tiles.

- Writing: ``TileWriter.extend`` over ``WRITE_ENTRIES`` entries in checkpoints of
  ``PER_CHECKPOINT``, fsynced (as published) and not; files (hash tiles, entry bundles,
  checkpoint) and entries per second.
- Proof cost: the tiles ``TileClient`` fetches for an inclusion proof of a random index,
  counted for a tree of ``PROOF_SIZE`` entries (10M) without writing it: the client's plan
  is the same whatever the hashes, so a fetcher that serves zero-filled tiles of the right
  width gives exact request and byte counts (the proof then doesn't verify, which is not
  what is measured). "Cached" is a client that already has every tile above level 0 and
  the right edge (from earlier proofs or a monitor's crawl), fetching one more proof. The
  real HTTP path (a written log served on loopback) is measured at ``WRITE_ENTRIES`` too.

Two ways to run it: ``make bench`` (pytest-benchmark: the timed figure is writing; the
rest in ``extra_info``), or ``python bench/bench_tiles.py`` (a table).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from hashcore import _core
from hashcore.tiles import TileWriter, parse_tile_path
from hashcore.tiles.client import HttpFetcher, TileClient, _inclusion
from hashcore.tiles.server import tiles_app

ORIGIN = "relay.bench.example/trial"
LOG_SEED = bytes(range(32))
LOG_KEY = _core.public_key_from_seed(LOG_SEED)
WRITE_ENTRIES = 1_000_000
PER_CHECKPOINT = 10_000
PROOF_SIZE = 10_000_000
SAMPLES = 200


def _entries(start: int, n: int) -> list[bytes]:
    return [
        _core.log_entry(hashlib.sha256(struct.pack(">Q", i)).digest(), i)
        for i in range(start, start + n)
    ]


def write_figures(out: Path, total: int, per: int, durable: bool) -> dict[str, Any]:
    writer = TileWriter(out, ORIGIN, LOG_KEY, durable=durable)
    leaves: list[bytes] = []
    files = 0
    spent = 0.0
    for start in range(0, total, per):
        batch = _entries(start, min(per, total - start))
        leaves.extend(_core.sha256_leaf_hash(e) for e in batch)
        note = _core.note_sign(LOG_SEED, ORIGIN, len(leaves), _core.sha256_tree_root(leaves))
        t = time.perf_counter()
        files += len(writer.extend(batch, note))
        spent += time.perf_counter() - t
    return {
        "entries": total,
        "entries_per_checkpoint": per,
        "fsync": durable,
        "files_written": files,
        "files_per_s": round(files / spent),
        "entries_per_s": round(total / spent),
        "seconds": round(spent, 3),
    }


class CountingZeroTiles:
    """Serves zero-filled tiles of the width their path names; counts requests and bytes."""

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0

    async def __call__(self, path: str) -> bytes:
        ref = parse_tile_path(path)
        assert ref is not None and ref.level is not None, path
        self.requests += 1
        self.bytes += ref.width * 32
        return bytes(ref.width * 32)


async def _plan(client: TileClient, index: int, size: int) -> None:
    await client._evaluate(size, lambda node: _inclusion(index, 0, size, node))


async def proof_cost(size: int, samples: int, seed: int = 11) -> dict[str, Any]:
    rng = random.Random(seed)
    cold_req, cold_bytes, warm_req, warm_bytes = [], [], [], []
    warm = TileClient(CountingZeroTiles(), ORIGIN, LOG_KEY)
    # Warm the cache with every tile above level 0 and the right edge: one proof per
    # level-1 tile (the level-0 tiles it brings are dropped).
    for first in range(0, size, 256 * 256):
        await _plan(warm, first, size)
    for path in [p for p in warm.cache if p.startswith("tile/0/") and ".p/" not in p]:
        del warm.cache[path]
    for _ in range(samples):
        i = rng.randrange(size)
        cold = TileClient(CountingZeroTiles(), ORIGIN, LOG_KEY)
        await _plan(cold, i, size)
        cold_req.append(cold.fetch.requests)  # type: ignore[attr-defined]
        cold_bytes.append(cold.fetch.bytes)  # type: ignore[attr-defined]
        f: CountingZeroTiles = warm.fetch  # type: ignore[assignment]
        r0, b0 = f.requests, f.bytes
        await _plan(warm, i, size)
        warm_req.append(f.requests - r0)
        warm_bytes.append(f.bytes - b0)
        for path in [p for p in warm.cache if p.startswith("tile/0/") and ".p/" not in p]:
            del warm.cache[path]
    n = len(cold_req)
    return {
        "tree_size": size,
        "samples": n,
        "cold_requests_mean": round(sum(cold_req) / n, 2),
        "cold_requests_max": max(cold_req),
        "cold_bytes_mean": round(sum(cold_bytes) / n),
        "cold_bytes_max": max(cold_bytes),
        "cached_upper_requests_mean": round(sum(warm_req) / n, 2),
        "cached_upper_bytes_mean": round(sum(warm_bytes) / n),
        "entry_bundle_bytes_if_needed": 256 * 43,
        "checkpoint_request": "+1 request (the note, ~0.3 KB) unless the client has it",
    }


async def http_proof_cost(root: Path, size: int, samples: int) -> dict[str, Any]:
    runner = web.AppRunner(tiles_app(root))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    rng = random.Random(5)
    reqs, sizes, ms = [], [], []
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(samples):
                fetch = HttpFetcher(url, s)
                client = TileClient(fetch, ORIGIN, LOG_KEY)
                t = time.perf_counter()
                n, root_hash, _ = await client.checkpoint()
                i = rng.randrange(n)
                await client.entry(i, n, root_hash)
                ms.append((time.perf_counter() - t) * 1000)
                reqs.append(fetch.requests)
                sizes.append(fetch.bytes)
    finally:
        await runner.cleanup()
    ms.sort()
    return {
        "tree_size": size,
        "what": "cold client: checkpoint + entry bundle + proof tiles, verified",
        "requests_mean": round(sum(reqs) / len(reqs), 2),
        "bytes_mean": round(sum(sizes) / len(sizes)),
        "latency_p50_ms": round(ms[len(ms) // 2], 3),
    }


def test_tiles_written_per_second(benchmark: Any) -> None:
    with tempfile.TemporaryDirectory() as d:
        figures = benchmark.pedantic(
            write_figures, args=(Path(d), WRITE_ENTRIES, PER_CHECKPOINT, True), rounds=1
        )
        benchmark.extra_info["write"] = figures
        benchmark.extra_info["http"] = asyncio.run(http_proof_cost(Path(d), WRITE_ENTRIES, 50))
    benchmark.extra_info["proof_10M"] = asyncio.run(proof_cost(PROOF_SIZE, SAMPLES))


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else WRITE_ENTRIES
    with tempfile.TemporaryDirectory() as d:
        for durable in (True, False):
            sub = Path(d) / str(durable)
            print("write:", write_figures(sub, total, PER_CHECKPOINT, durable))
        print("http:", asyncio.run(http_proof_cost(Path(d) / "True", total, 50)))
    print("proof (10M):", asyncio.run(proof_cost(PROOF_SIZE, SAMPLES)))


if __name__ == "__main__":
    main()
