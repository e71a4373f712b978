"""The tiles that rust/tests/tiles_crosscheck.rs reads with the `tlog_tiles` crate: a log
written by ``TileWriter`` one checkpoint at a time (resumed from disk each time), with every
checkpoint note kept in ``checkpoints/<size>`` and the log's C2SP verifier key in
``log.vkey``. ``python -m tests.witness.tiles_fixture`` rewrites the committed small one."""

from __future__ import annotations

import sys
from pathlib import Path

from hashcore import _core
from hashcore.tiles import TileWriter

from .logs import TestLog

ORIGIN = "relay.site-a.example/trial-umin000032951"
LOG_SEED = bytes(range(32))
#: The committed fixture: level-0 tiles full and partial, a partial level-1 tile.
SMALL_SIZES = [1, 2, 255, 256, 257, 511, 512, 513, 700, 1000]
#: Three levels (tlog-tiles' example size 70,000 and the 65,536 edge).
LARGE_SIZES = [1, 256, 4000, 65535, 65536, 65537, 70000]
FIXTURE = Path(__file__).resolve().parents[2] / "rust" / "tests" / "tiles_fixture"


def write_fixture(out: Path, sizes: list[int]) -> None:
    log = TestLog(ORIGIN, LOG_SEED, sizes[-1])
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    (out / "log.vkey").write_text(_core.note_verifier_key(ORIGIN, 0x01, log.key) + "\n")
    done = 0
    for size in sizes:
        writer = TileWriter(out, ORIGIN, log.key, durable=False)
        assert writer.size == done
        note = log.note(size)
        writer.extend(log.entries[done:size], note)
        (out / "checkpoints" / str(size)).write_bytes(note)
        done = size


if __name__ == "__main__":
    if FIXTURE.exists():
        sys.exit(f"{FIXTURE} exists: remove it first")
    write_fixture(FIXTURE, SMALL_SIZES)
