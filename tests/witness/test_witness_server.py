"""The witness over real HTTP on loopback: C2SP tlog-witness answers, byte for byte, and
nothing stored for any request it refuses."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hashcore import _core
from hashcore.witness import LogSpec, WitnessConfig, WitnessServer, WitnessState
from hashcore.witness.protocol import MAX_REQUEST_BYTES, encode_add_checkpoint, origin_hash

from .logs import TestLog

ORIGIN = "relay.site-a.example/trial-umin000032951"
LOG_SEED = bytes(range(32))
NAME = "witness.example/w1"
NOW = 1795392033


def _config(tmp: Path, **kw: Any) -> WitnessConfig:
    log = TestLog(ORIGIN, LOG_SEED)
    return WitnessConfig(
        name=NAME,
        key_file=tmp / "witness.key",
        db_path=tmp / "witness.db",
        logs=[LogSpec(ORIGIN, log.key)],
        **kw,
    )


Scenario = Callable[[WitnessServer, aiohttp.ClientSession], Awaitable[None]]


def run_with_witness(tmp: Path, scenario: Scenario, **kw: Any) -> None:
    async def main() -> None:
        server = WitnessServer(_config(tmp, **kw), clock=lambda: NOW)
        await server.start()
        try:
            async with aiohttp.ClientSession() as session:
                await scenario(server, session)
        finally:
            await server.stop()

    asyncio.run(main())


async def post(
    server: WitnessServer, session: aiohttp.ClientSession, body: bytes
) -> tuple[int, bytes, str]:
    async with session.post(f"{server.url}/add-checkpoint", data=body) as resp:
        return resp.status, await resp.read(), resp.headers.get("Content-Type", "")


def stored(tmp: Path, key: bytes) -> dict[str, int]:
    state = WitnessState(tmp / "witness.db", key)
    try:
        return state.sizes()
    finally:
        state.close()


def test_cosigns_verifies_and_remembers(tmp_path: Path) -> None:
    log = TestLog(ORIGIN, LOG_SEED, 5)

    async def scenario(server: WitnessServer, s: aiohttp.ClientSession) -> None:
        status, body, _ = await post(server, s, encode_add_checkpoint(0, [], log.note()))
        assert status == 200
        key_id = _core.witness_key_id(NAME, server.key)
        value = _core.cosignature_sign(
            server.witness._seed, NOW, log.note()[: log.note().index(b"\n\n") + 1]
        )
        assert body == f"\u2014 {NAME} ".encode() + base64.b64encode(key_id + value) + b"\n"
        cosigned = log.note() + body
        assert _core.note_witness_times(cosigned, NAME, server.key) == [NOW]
        assert _core.note_verify(cosigned, ORIGIN, log.key) == (5, log.root())
        # The old size must be the cosigned one: 409 with text/x.tlog.size.
        log.grow(4)
        status, body, ctype = await post(server, s, encode_add_checkpoint(0, [], log.note()))
        assert (status, body, ctype) == (409, b"5\n", "text/x.tlog.size")
        status, body, _ = await post(server, s, encode_add_checkpoint(3, log.proof(3), log.note()))
        assert (status, body) == (409, b"5\n")
        status, body, _ = await post(server, s, encode_add_checkpoint(5, log.proof(5), log.note()))
        assert status == 200
        assert _core.note_witness_times(log.note() + body, NAME, server.key) == [NOW]
        # The same checkpoint again: cosigned again (same size, same root).
        status, _, _ = await post(server, s, encode_add_checkpoint(9, [], log.note()))
        assert status == 200
        # Monitors read the cosigned note (log line + this witness's line).
        async with s.get(f"{server.url}/{origin_hash(ORIGIN)}/checkpoint") as resp:
            assert resp.status == 200
            assert resp.headers["Cache-Control"] == "no-store"
            note = await resp.read()
        assert _core.note_verify(note, ORIGIN, log.key) == (9, log.root())
        assert _core.note_witness_times(note, NAME, server.key) == [NOW]
        async with s.get(f"{server.url}/{hashlib.sha256(b'x').hexdigest()}/checkpoint") as resp:
            assert resp.status == 404

    run_with_witness(tmp_path, scenario)
    assert stored(tmp_path, _witness_key(tmp_path)) == {ORIGIN: 9}


def _witness_key(tmp: Path) -> bytes:
    return bytes.fromhex(json.loads((tmp / "witness.key").read_text())["key"])


def test_key_file_is_created_0600_and_reused(tmp_path: Path) -> None:
    keys = []

    async def scenario(server: WitnessServer, _s: aiohttp.ClientSession) -> None:
        keys.append((server.key, server.key_created))

    run_with_witness(tmp_path, scenario)
    run_with_witness(tmp_path, scenario)
    assert (tmp_path / "witness.key").stat().st_mode & 0o777 == 0o600
    assert keys[0][0] == keys[1][0] and keys[0][1] is True and keys[1][1] is False


def test_state_file_refuses_another_key(tmp_path: Path) -> None:
    run_with_witness(tmp_path, lambda _w, _s: asyncio.sleep(0))
    (tmp_path / "witness.key").unlink()
    with pytest.raises(Exception, match="belongs to witness key"):
        WitnessServer(_config(tmp_path))


def _log_line(origin: str, seed: bytes, text: bytes) -> bytes:
    key = _core.public_key_from_seed(seed)
    sig = _core.sign(seed, text)
    return (
        f"\u2014 {origin} ".encode() + base64.b64encode(_core.log_key_id(origin, key) + sig) + b"\n"
    )


def _bad_requests() -> list[tuple[str, int, bytes, Callable[[bytes], bytes]]]:
    """(case, status, first line of the answer's text, body from the size-9 note)."""
    log = TestLog(ORIGIN, LOG_SEED, 9)
    note, proof = log.note(), log.proof(5)
    text = note[: note.index(b"\n\n") + 1]
    line = note[note.index(b"\n\n") + 2 :]
    other = TestLog(ORIGIN, bytes(32), 9)
    body = encode_add_checkpoint(5, proof, note)
    corrupt = bytearray(line)
    corrupt[-5] ^= 1 if corrupt[-5] != ord("A") else 2
    ext = text + b"extension line\n"
    h = b"\n".join(base64.b64encode(p) for p in proof)
    return [
        ("no empty line", 400, b"request has no empty line", b"old 5\n" + h + b"\n"),
        (
            "empty line missing before the note",
            400,
            b"consistency proof line 6 is not base64",
            body.replace(b"\n\n", b"\n", 1),
        ),
        ("no old line", 400, b"request does not start", b"size 5\n" + body[6:]),
        ("leading zero", 400, b"old size is not a decimal", b"old 05" + body[5:]),
        ("negative size", 400, b"old size is not a decimal", b"old -5" + body[5:]),
        (
            "64 proof lines",
            400,
            b"request has 64 consistency",
            b"old 5\n" + (base64.b64encode(bytes(32)) + b"\n") * 64 + b"\n" + note,
        ),
        (
            "proof not base64",
            400,
            b"consistency proof line 1 is not base64",
            b"old 5\n!!!!\n" + h + b"\n\n" + note,
        ),
        (
            "proof non-canonical",
            400,
            b"consistency proof line 1 is not a canonical",
            b"old 5\n" + base64.b64encode(bytes(32))[:-2] + b"B=\n" + h + b"\n\n" + note,
        ),
        (
            "proof short hash",
            400,
            b"consistency proof line 1 is not a canonical",
            b"old 5\n" + base64.b64encode(bytes(31)) + b"\n" + h + b"\n\n" + note,
        ),
        (
            "note without signature",
            400,
            b"checkpoint note:",
            encode_add_checkpoint(5, proof, text + b"\n"),
        ),
        (
            "note not utf-8",
            400,
            b"checkpoint note:",
            encode_add_checkpoint(5, proof, b"\xff" + note),
        ),
        (
            "extension line",
            400,
            b"checkpoint body:",
            encode_add_checkpoint(5, proof, ext + b"\n" + _log_line(ORIGIN, LOG_SEED, ext)),
        ),
        (
            "unknown origin",
            404,
            b"unknown log origin",
            encode_add_checkpoint(5, proof, TestLog("other.example/log", LOG_SEED, 9).note()),
        ),
        (
            "another key",
            403,
            b"checkpoint signature:",
            encode_add_checkpoint(5, proof, other.note()),
        ),
        (
            "corrupt signature",
            403,
            b"checkpoint signature:",
            encode_add_checkpoint(5, proof, text + b"\n" + bytes(corrupt)),
        ),
        (
            "log line twice",
            403,
            b"checkpoint signature:",
            encode_add_checkpoint(5, proof, note + line),
        ),
        (
            "old larger than size",
            400,
            b"old size 10 is larger",
            encode_add_checkpoint(10, [], note),
        ),
        (
            "size 0, wrong root",
            422,
            b"a checkpoint of size 0",
            encode_add_checkpoint(0, [], _core.note_sign(LOG_SEED, ORIGIN, 0, bytes(32))),
        ),
        ("old 0 after cosigning 5", 409, b"5\n", encode_add_checkpoint(0, proof, note)),
        (
            "bad proof",
            422,
            b"consistency proof from the cosigned size 5 to 9",
            encode_add_checkpoint(5, [*proof[:-1], bytes(32)], note),
        ),
        (
            "split view at a larger size",
            422,
            b"consistency proof from the cosigned size 5 to 9",
            encode_add_checkpoint(
                5,
                TestLog(ORIGIN, LOG_SEED, 9, b"x").proof(5),
                TestLog(ORIGIN, LOG_SEED, 9, b"x").note(),
            ),
        ),
        (
            "another root at the cosigned size",
            422,
            b"consistency proof from the cosigned size 5 to 5",
            encode_add_checkpoint(5, [], TestLog(ORIGIN, LOG_SEED, 5, b"x").note()),
        ),
        (
            "smaller tree",
            400,
            b"old size 5 is larger than the checkpoint's 3",
            encode_add_checkpoint(5, [], log.note(3)),
        ),
        ("smaller tree, its own old size", 409, b"5", encode_add_checkpoint(3, [], log.note(3))),
        ("huge body", 413, b"", b"old 5\n\n" + b"x" * MAX_REQUEST_BYTES),
    ]


BAD = _bad_requests()


@pytest.mark.parametrize(("case", "status", "text", "body"), BAD, ids=[c[0] for c in BAD])
def test_bad_input_gets_its_status_and_stores_nothing(
    tmp_path: Path, case: str, status: int, text: bytes, body: bytes
) -> None:
    log = TestLog(ORIGIN, LOG_SEED, 5)
    seen: list[bytes] = []

    async def scenario(server: WitnessServer, s: aiohttp.ClientSession) -> None:
        got, _, _ = await post(server, s, encode_add_checkpoint(0, [], log.note()))
        assert got == 200
        before = server.state.get(ORIGIN)
        got, answer, _ = await post(server, s, body)
        assert (got, answer.startswith(text)) == (status, True), (got, answer)
        assert server.state.get(ORIGIN) == before
        # Only a checkpoint signed by the log and refused as inconsistent is kept (evidence).
        kept = server.state.conflicts(ORIGIN)
        if status == 422:
            note = body.partition(b"\n\n")[2]
            assert [(n, r) for n, r, _, _ in kept] == [_core.note_verify(note, ORIGIN, log.key)]
            assert _core.note_verify(kept[0][2], ORIGIN, log.key) == kept[0][:2]
            assert kept[0][3] == answer.decode().strip()
        else:
            assert kept == []
        async with s.get(f"{server.url}/{origin_hash(ORIGIN)}/checkpoint") as resp:
            seen.append(await resp.read())

    run_with_witness(tmp_path, scenario)
    assert stored(tmp_path, _witness_key(tmp_path)) == {ORIGIN: 5}
    assert _core.note_verify(seen[0], ORIGIN, log.key) == (5, log.root())


def test_proof_from_zero_when_cosigned_nothing(tmp_path: Path) -> None:
    log = TestLog(ORIGIN, LOG_SEED, 9)

    async def scenario(server: WitnessServer, s: aiohttp.ClientSession) -> None:
        got, answer, _ = await post(server, s, encode_add_checkpoint(0, log.proof(5), log.note()))
        assert (got, answer) == (422, b"a consistency proof from size 0 must be empty\n")
        got, _, _ = await post(server, s, encode_add_checkpoint(0, [], log.note(0)))
        assert got == 200

    run_with_witness(tmp_path, scenario)
    assert stored(tmp_path, _witness_key(tmp_path)) == {ORIGIN: 0}


def test_only_post_is_served(tmp_path: Path) -> None:
    async def scenario(server: WitnessServer, s: aiohttp.ClientSession) -> None:
        async with s.get(f"{server.url}/add-checkpoint") as resp:
            assert resp.status == 405

    run_with_witness(tmp_path, scenario)


def test_concurrent_requests_from_one_size_cosign_once(tmp_path: Path) -> None:
    """tlog-witness's rollback race: many requests with the same old size, one wins."""
    log = TestLog(ORIGIN, LOG_SEED, 5)

    async def scenario(server: WitnessServer, s: aiohttp.ClientSession) -> None:
        assert (await post(server, s, encode_add_checkpoint(0, [], log.note())))[0] == 200
        log.grow(20)
        bodies = [encode_add_checkpoint(5, log.proof(5, n), log.note(n)) for n in range(6, 26)]
        answers = await asyncio.gather(*(post(server, s, b) for b in bodies))
        wins = [i for i, a in enumerate(answers) if a[0] == 200]
        assert len(wins) == 1
        winner = 6 + wins[0]
        assert sorted(a[:2] for a in answers if a[0] != 200) == [(409, f"{winner}\n".encode())] * 19
        assert server.state.sizes() == {ORIGIN: winner}

    run_with_witness(tmp_path, scenario)


def test_health_and_metrics(tmp_path: Path) -> None:
    log = TestLog(ORIGIN, LOG_SEED, 3)

    async def scenario(server: WitnessServer, s: aiohttp.ClientSession) -> None:
        await post(server, s, encode_add_checkpoint(0, [], log.note()))
        await post(server, s, encode_add_checkpoint(1, [], log.note()))
        await post(server, s, b"junk")
        async with s.get(f"{server.url}/healthz") as resp:
            assert resp.status == 200
            health = await resp.json()
        assert health == {
            "status": "SERVING",
            "name": NAME,
            "key": server.key.hex(),
            "verifier_key": _core.note_verifier_key(NAME, 0x04, server.key),
            "logs": [{"origin": ORIGIN, "cosigned_tree_size": 3, "conflicting_checkpoints": 0}],
        }
        async with s.get(f"http://127.0.0.1:{server.metrics_port}/metrics") as resp:
            text = await resp.text()
        assert 'hashcore_witness_add_checkpoint_requests_total{status="200"} 1.0' in text
        assert 'hashcore_witness_add_checkpoint_requests_total{status="409"} 1.0' in text
        assert 'hashcore_witness_add_checkpoint_requests_total{status="400"} 1.0' in text
        assert f'hashcore_witness_cosigned_tree_size{{origin="{ORIGIN}"}} 3.0' in text
        assert "hashcore_witness_add_checkpoint_seconds_count 3.0" in text
        # Metrics are on their own listener, not the public one.
        async with s.get(f"{server.url}/metrics") as resp:
            assert resp.status == 404

    run_with_witness(tmp_path, scenario, metrics_listen="127.0.0.1:0")


def test_conflict_evidence_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hashcore.witness import state as state_module

    monkeypatch.setattr(state_module, "MAX_CONFLICTS", 2)
    st = WitnessState(tmp_path / "w.db", bytes(32))
    try:
        assert st.record_conflict(ORIGIN, 5, b"a" * 32, b"n1", "r") is True
        assert st.record_conflict(ORIGIN, 5, b"a" * 32, b"n1", "r") is False  # once
        assert st.record_conflict(ORIGIN, 6, b"b" * 32, b"n2", "r") is True
        assert st.record_conflict(ORIGIN, 7, b"c" * 32, b"n3", "r") is False  # full
        assert st.record_conflict("other.example/log", 7, b"c" * 32, b"n3", "r") is True
        assert [c[0] for c in st.conflicts(ORIGIN)] == [5, 6]
        assert st.conflict_counts() == {ORIGIN: 2, "other.example/log": 1}
    finally:
        st.close()


def test_slow_body_gets_408_and_stores_nothing(tmp_path: Path) -> None:
    log = TestLog(ORIGIN, LOG_SEED, 5)
    body = encode_add_checkpoint(0, [], log.note())

    async def scenario(server: WitnessServer, _s: aiohttp.ClientSession) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        head = f"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
        writer.write(head.encode() + body[:10])  # and then nothing more
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 60)
        assert status_line.startswith(b"HTTP/1.1 408 ")
        writer.close()
        assert server.state.sizes() == {}

    run_with_witness(tmp_path, scenario, read_timeout=0.2)
