"""The relay's pusher against three real witnesses on loopback: quorum 2, one witness
stopped and started again (it catches up from its last size), a relay restart (learned by
409), and a split view (same key and origin, another root; a smaller tree)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from hashcore import _core
from hashcore.errors import WitnessError
from hashcore.witness import LogSpec, WitnessConfig, WitnessServer
from hashcore.witness.pusher import (
    WitnessEndpoint,
    WitnessPusher,
    merge_cosignatures,
    parse_witness_arg,
)
from prometheus_client import CollectorRegistry, generate_latest

from .logs import TestLog

ORIGIN = "relay.site-a.example/trial-umin000032951"
LOG_SEED = bytes(range(32))


class Source:
    """The relay's side: its newest note, proofs, and the notes with merged cosignatures."""

    def __init__(self, log: TestLog) -> None:
        self.log = log
        self.notes: dict[int, bytes] = {}
        self.calls: list[tuple[int, int]] = []

    def latest_note(self) -> bytes | None:
        return self.log.note() if self.log.size else None

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        self.calls.append((old, new))
        return self.log.proof(old, new)

    def store(self, size: int, root: bytes, lines: list[bytes]) -> None:
        assert root == self.log.root(size)
        self.notes[size] = merge_cosignatures(self.notes.get(size, self.log.note(size)), lines)


async def until(cond: Callable[[], bool], what: str) -> None:
    for _ in range(3000):  # bounded: 60 s at most, normally a few ms
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


def _witness(tmp: Path, i: int, log_key: bytes, listen: str = "127.0.0.1:0") -> WitnessServer:
    return WitnessServer(
        WitnessConfig(
            name=f"witness.example/w{i}",
            key_file=tmp / f"w{i}.key",
            db_path=tmp / f"w{i}.db",
            logs=[LogSpec(ORIGIN, log_key)],
            listen=listen,
        )
    )


def test_quorum_outage_catch_up_restart_and_split_view(tmp_path: Path) -> None:
    log = TestLog(ORIGIN, LOG_SEED, 5)
    source = Source(log)

    async def main() -> None:
        servers = [_witness(tmp_path, i, log.key) for i in range(3)]
        for s in servers:
            await s.start()
        ends = [WitnessEndpoint(s.url, s.cfg.name, s.key) for s in servers]
        pusher = WitnessPusher(
            ends, source, source.store, quorum=2, backoff_min_s=0.05, backoff_max_s=0.2
        )
        registry = CollectorRegistry()
        registry.register(pusher.collector())
        await pusher.start()
        try:
            await until(lambda: pusher.witnessed_size() == 5, "quorum at 5")
            await until(lambda: all(s.cosigned_size == 5 for s in pusher.statuses()), "all at 5")
            for s in servers:
                times = _core.note_witness_times(source.notes[5], s.cfg.name, s.key)
                assert len(times) == 1
            assert _core.note_verify(source.notes[5], ORIGIN, log.key) == (5, log.root(5))

            # One witness down: the other two still make the quorum; the third backs off.
            port2 = servers[2].port
            await servers[2].stop()
            log.grow(4)
            pusher.notify()
            await until(lambda: pusher.witnessed_size() == 9, "quorum at 9")
            await until(lambda: pusher.statuses()[2].consecutive_failures >= 2, "w2 retried")
            down = pusher.statuses()[2]
            assert down.cosigned_size == 5 and down.last_error is not None
            assert down.last_error.startswith("unreachable:")
            health = pusher.health()
            assert health["witnessed_tree_size"] == 9 and health["witnessed"] is True
            assert [w["up"] for w in health["witnesses"]] == [True, True, False]
            metrics = generate_latest(registry).decode()
            assert 'hashcore_relay_witness_up{witness="witness.example/w2"} 0.0' in metrics
            assert (
                'hashcore_relay_witness_cosigned_tree_size{witness="witness.example/w2"} 5.0'
                in metrics
            )
            assert "hashcore_relay_witnessed_tree_size 9.0" in metrics
            log.grow(5)
            pusher.notify()
            await until(lambda: pusher.witnessed_size() == 14, "quorum at 14")
            assert (
                len(_core.note_witness_times(source.notes[14], servers[2].cfg.name, servers[2].key))
                == 0
            )

            # Back on the same port and files: it catches up from 5, its last size.
            servers[2] = _witness(tmp_path, 2, log.key, f"127.0.0.1:{port2}")
            await servers[2].start()
            await until(lambda: pusher.statuses()[2].cosigned_size == 14, "w2 caught up")
            assert (5, 14) in source.calls
            assert servers[2].state.sizes() == {ORIGIN: 14}
            assert pusher.statuses()[2].up and pusher.statuses()[2].last_error is None
            for s in servers:
                assert len(_core.note_witness_times(source.notes[14], s.cfg.name, s.key)) == 1
        finally:
            await pusher.stop()

        # The relay restarts (the pusher knows no sizes): 409 tells, one retry each.
        log.grow(6)
        fresh = WitnessPusher(ends, source, source.store, quorum=2, backoff_min_s=0.05)
        await fresh.start()
        try:
            await until(lambda: all(s.cosigned_size == 20 for s in fresh.statuses()), "all at 20")
        finally:
            await fresh.stop()
        for s in servers:
            text = generate_latest(s.metrics.registry).decode()
            assert 'hashcore_witness_add_checkpoint_requests_total{status="409"} 1.0' in text

        # Split view: the same key and origin show another root at size 20, and a smaller
        # tree. Every witness refuses (409 then 422; 409 then "larger"), nothing changes.
        fork = Source(TestLog(ORIGIN, LOG_SEED, 20, salt=b"fork"))
        split = WitnessPusher(ends, fork, fork.store, quorum=2, backoff_min_s=10)
        await split.start()
        try:
            await until(lambda: all(s.last_error for s in split.statuses()), "all refused")
            assert [s.last_error.split(":")[0] for s in split.statuses()] == ["HTTP 422"] * 3
            assert split.witnessed_size() == 0
        finally:
            await split.stop()
        smaller = Source(TestLog(ORIGIN, LOG_SEED, 12))
        cut = WitnessPusher(ends, smaller, smaller.store, quorum=2, backoff_min_s=10)
        await cut.start()
        try:
            await until(lambda: all(s.last_error for s in cut.statuses()), "all refused")
            for s in cut.statuses():
                assert s.known_size == 20
                assert s.last_error is not None and "cosigned size 20, larger" in s.last_error
        finally:
            await cut.stop()
        assert fork.notes == {} and smaller.notes == {}
        for s in servers:
            assert s.state.sizes() == {ORIGIN: 20}
            got = s.state.get(ORIGIN)
            assert got is not None and got.root == log.root(20)
            await s.stop()

    asyncio.run(main())


def test_merge_keeps_one_line_per_witness_and_the_limit() -> None:
    log = TestLog(ORIGIN, LOG_SEED, 3)
    note = log.note()
    seeds = [bytes([i]) * 32 for i in range(1, 101)]
    lines = [
        _core.note_cosign(note, seed, f"w.example/{i}", 1000 + i)[len(note) :]
        for i, seed in enumerate(seeds)
    ]
    merged = merge_cosignatures(note, [lines[0], lines[0], lines[1]])
    assert merged == note + lines[0] + lines[1]
    # The note has 1 line; 99 more fit (SPEC 2.2: at most 100).
    full = merge_cosignatures(note, lines)
    assert full == note + b"".join(lines[:99])
    assert len(_core.note_parse(full)[1]) == 100


def test_witness_arg_and_config_refusals() -> None:
    key = _core.public_key_from_seed(bytes(32))
    assert parse_witness_arg(f"http://127.0.0.1:1/,w.example/1,{key.hex()}") == WitnessEndpoint(
        "http://127.0.0.1:1", "w.example/1", key
    )
    for bad, message in [
        ("http://x,w", "expected URL,NAME,HEXKEY"),
        (f"http://x,bad name,{key.hex()}", "is not a C2SP key name"),
        ("http://x,w.example/1,zz", "is not 64 hex digits"),
        (f"ftp://x,w.example/1,{key.hex()}", r"is not http\(s\)"),
    ]:
        with pytest.raises(WitnessError, match=message):
            parse_witness_arg(bad)
    end = WitnessEndpoint("http://127.0.0.1:1", "w.example/1", key)
    src = Source(TestLog(ORIGIN, LOG_SEED))
    with pytest.raises(WitnessError, match="share a name or a key"):
        WitnessPusher([end, end], src, src.store)
    with pytest.raises(WitnessError, match=r"quorum 2 is not in 0\.\.1"):
        WitnessPusher([end], src, src.store, quorum=2)


class EverySource(Source):
    """A relay that signed several checkpoints before the pusher got to them."""

    def __init__(self, log: TestLog, sizes: list[int]) -> None:
        super().__init__(log)
        self.sizes = sizes
        self.asked: list[tuple[int, int]] = []

    def notes_after(self, size: int, limit: int) -> list[bytes]:
        self.asked.append((size, limit))
        return [self.log.note(s) for s in self.sizes if s > size][:limit]


def test_every_checkpoint_is_pushed_in_order_in_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SPEC v2 5.2 judges each checkpoint by its own cosignatures: one signed between two
    pushes must reach the witnesses too, oldest first; a backlog goes in chunks."""
    import hashcore.witness.pusher as pusher_module

    monkeypatch.setattr(pusher_module, "BACKLOG_PER_PUSH", 2)
    log = TestLog(ORIGIN, LOG_SEED, 11)
    source = EverySource(log, [2, 4, 7, 9, 11])

    async def main() -> None:
        servers = [_witness(tmp_path, i, log.key) for i in range(3)]
        for s in servers:
            await s.start()
        ends = [WitnessEndpoint(s.url, s.cfg.name, s.key) for s in servers]
        pusher = WitnessPusher(ends, source, source.store, quorum=2, backoff_min_s=0.05)
        await pusher.start()
        try:
            await until(lambda: all(s.cosigned_size == 11 for s in pusher.statuses()), "all")
        finally:
            await pusher.stop()
        for s in servers:
            await s.stop()
        assert sorted(source.notes) == [2, 4, 7, 9, 11]
        for size in (2, 4, 7, 9, 11):
            assert _core.note_verify(source.notes[size], ORIGIN, log.key) == (size, log.root(size))
            for s in servers:
                assert len(_core.note_witness_times(source.notes[size], s.cfg.name, s.key)) == 1
        # Each witness was walked 2 -> 4 -> 7 -> 9 -> 11 with proofs from its last size.
        assert sorted(set(source.calls)) == [(2, 4), (4, 7), (7, 9), (9, 11)]
        # Chunks of 2 (3 asked for, to see whether more wait), from the last cosigned size.
        assert {limit for _, limit in source.asked} == {3}
        assert {size for size, _ in source.asked} >= {0, 4, 9}

    asyncio.run(main())
