"""Witness figures: cosigning latency p50/p99 with 3 witnesses (issue 11).

Three ``hashcore witness serve`` processes on loopback; the relay's ``WitnessPusher`` in
this process pushes each new checkpoint (the log grown by ``GROW`` entries) with its
consistency proof. Per checkpoint: the time from ``notify()`` to the quorum (2 of 3) and to
all 3 cosignatures verified and merged, and each add-checkpoint round trip.

Two ways to run it:

- ``make bench`` (pytest-benchmark): the timed figure is one checkpoint to all 3
  cosignatures; p50/p99 of every figure are in ``extra_info``.
- ``python bench/bench_witness.py [ROUNDS]``: prints the figures as a table.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hashcore import _core
from hashcore.witness.pusher import WitnessEndpoint, WitnessPusher, merge_cosignatures

ORIGIN = "relay.bench.example/trial"
LOG_SEED = bytes(range(32))
WITNESSES = 3
QUORUM = 2
GROW = 1000  # entries per checkpoint
ROUNDS = 200


class BenchLog:
    """The relay's side: an in-memory log, its newest note, proofs, merged cosignatures."""

    def __init__(self) -> None:
        self.leaves: list[bytes] = []
        self.note: bytes | None = None
        self.merged: dict[int, bytes] = {}
        self.cosigned: dict[int, list[float]] = {}

    def grow(self, n: int) -> None:
        for i in range(len(self.leaves), len(self.leaves) + n):
            link = hashlib.sha256(struct.pack(">Q", i)).digest()
            self.leaves.append(_core.sha256_leaf_hash(_core.log_entry(link, i)))
        size = len(self.leaves)
        self.note = _core.note_sign(LOG_SEED, ORIGIN, size, _core.sha256_tree_root(self.leaves))

    def latest_note(self) -> bytes | None:
        return self.note

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        return _core.sha256_consistency_proof(self.leaves[:new], old)

    def store(self, size: int, _root: bytes, lines: list[bytes]) -> None:
        assert self.note is not None
        self.merged[size] = merge_cosignatures(self.merged.get(size, self.note), lines)
        self.cosigned.setdefault(size, []).append(time.perf_counter())


@contextmanager
def witnesses(tmp: Path, n: int) -> Iterator[list[WitnessEndpoint]]:
    log_key = _core.public_key_from_seed(LOG_SEED)
    procs = []
    ends = []
    try:
        for i in range(n):
            name = f"witness.bench.example/w{i}"
            p = subprocess.Popen(
                [
                    sys.executable, "-m", "hashcore.cli", "witness", "serve",
                    "--name", name,
                    "--key-file", str(tmp / f"w{i}.key"),
                    "--db", str(tmp / f"w{i}.db"),
                    "--log", f"{ORIGIN}={log_key.hex()}",
                    "--listen", "127.0.0.1:0",
                    "--log-level", "WARNING",
                ],
                stdout=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            procs.append(p)
            assert p.stdout is not None
            port = int(p.stdout.readline().rsplit(":", 1)[1])
            p.stdout.readline()  # name
            key = bytes.fromhex(p.stdout.readline().split()[1])
            ends.append(WitnessEndpoint(f"http://127.0.0.1:{port}", name, key))
        yield ends
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


async def measure(ends: list[WitnessEndpoint], rounds: int) -> dict[str, Any]:
    log = BenchLog()
    pusher = WitnessPusher(ends, log, log.store, quorum=QUORUM, backoff_min_s=0.05)
    log.grow(GROW)
    await pusher.start()
    quorum_ms: list[float] = []
    all_ms: list[float] = []
    try:
        for r in range(rounds + 1):
            if r:
                log.grow(GROW)
            size = len(log.leaves)
            t0 = time.perf_counter()
            pusher.notify()
            for _ in range(600_000):  # bounded wait: 10 min at most
                if len(log.cosigned.get(size, [])) == len(ends):
                    break
                await asyncio.sleep(0.0005)
            else:
                raise RuntimeError(f"no cosignatures for {size}: {pusher.health()}")
            times = sorted(log.cosigned[size])
            if r:  # the first round learns the witnesses' sizes (and warms connections)
                quorum_ms.append((times[QUORUM - 1] - t0) * 1000)
                all_ms.append((times[-1] - t0) * 1000)
    finally:
        await pusher.stop()
    return {
        "witnesses": len(ends),
        "quorum": QUORUM,
        "entries_per_checkpoint": GROW,
        "rounds": rounds,
        "quorum_p50_ms": round(_pct(quorum_ms, 0.5), 3),
        "quorum_p99_ms": round(_pct(quorum_ms, 0.99), 3),
        "all_p50_ms": round(_pct(all_ms, 0.5), 3),
        "all_p99_ms": round(_pct(all_ms, 0.99), 3),
        "final_tree_size": len(log.leaves),
    }


def test_witness_cosigning_latency(benchmark: Any) -> None:
    with tempfile.TemporaryDirectory() as d, witnesses(Path(d), WITNESSES) as ends:
        figures = benchmark.pedantic(
            lambda: asyncio.run(measure(ends, ROUNDS)), rounds=1, iterations=1
        )
    benchmark.extra_info.update(figures)
    assert figures["final_tree_size"] == GROW * (ROUNDS + 1)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS
    with tempfile.TemporaryDirectory() as d, witnesses(Path(d), WITNESSES) as ends:
        figures = asyncio.run(measure(ends, rounds))
    print(f"witness cosigning latency ({WITNESSES} witness processes on loopback, fsync):")
    for k, v in figures.items():
        print(f"  {k:>24}: {v}")


if __name__ == "__main__":
    main()
