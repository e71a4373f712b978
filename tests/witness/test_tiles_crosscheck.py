"""The tiles rust/tests/tiles_crosscheck.rs reads with the `tlog_tiles` crate are what
``TileWriter`` writes today (the committed small fixture, byte for byte), and a three-level
log (70,000 entries) passes the same Rust test (run here through cargo)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .tiles_fixture import FIXTURE, LARGE_SIZES, SMALL_SIZES, write_fixture

ROOT = Path(__file__).resolve().parents[2]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_committed_fixture_is_what_the_writer_writes(tmp_path: Path) -> None:
    write_fixture(tmp_path, SMALL_SIZES)
    assert _files(tmp_path) == _files(FIXTURE)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("cargo") is None, reason="needs cargo")
def test_tlog_tiles_crate_reads_a_three_level_log(tmp_path: Path) -> None:
    write_fixture(tmp_path, LARGE_SIZES)
    proc = subprocess.run(
        [
            "cargo",
            "test",
            "-q",
            "--manifest-path",
            str(ROOT / "rust" / "Cargo.toml"),
            "--test",
            "tiles_crosscheck",
            "tiles_written_by_hashcore",
        ],
        env={**os.environ, "HASHCORE_TILES_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "1 passed" in proc.stdout
