"""`hashcore relay token | export | serve` as an operator types them: exit codes, one-line
errors, and outputs that work with a running relay."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from hashcore import Device, audit_bundle

from .conftest import ThreadRelay


def hashcore(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hashcore.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_token_then_enroll_then_export(
    relay_factory: Callable[..., ThreadRelay], tmp_path: Path
) -> None:
    relay = relay_factory()
    db = str(tmp_path / "relay.db")
    # The operator issues a token straight into the store the running relay uses.
    out = hashcore("relay", "token", "--db", db, "--participant", "P0042", "--ttl", "1h")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert token.startswith("hct_") and len(token) == 47
    device = Device.new()
    client = relay.client()
    assert client.enroll(device, token) == 0
    for day in range(9):
        device.append(b'{"day": %d}' % day)
    client.sync(device)
    assert [d.participant for d in relay.client(operator=True).list_devices()] == ["P0042"]
    relay.client(operator=True).create_checkpoint()

    # Export while the relay runs (read-only, from the store).
    out = hashcore(
        "relay", "export", "--db", db, "--out", str(tmp_path / "bundle"), "--part-rows", "4"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"exported {tmp_path / 'bundle'}: ")
    assert "records=10" in out.stdout and "parts=3" in out.stdout
    report = audit_bundle(tmp_path / "bundle")
    assert report.clean and report.counts["OK"] == 10

    again = hashcore("relay", "export", "--db", db, "--out", str(tmp_path / "bundle"))
    assert again.returncode == 2
    assert again.stderr.count("\n") == 1
    assert again.stderr.startswith("hashcore: error: ") and "not an empty directory" in again.stderr


def test_bad_arguments_are_one_line_and_exit_2(tmp_path: Path) -> None:
    cases = [
        (
            ("relay", "export", "--db", str(tmp_path / "missing.db"), "--out", str(tmp_path / "b")),
            "missing.db",
        ),
        (
            (
                "relay",
                "token",
                "--db",
                str(tmp_path / "x.db"),
                "--participant",
                "P",
                "--ttl",
                "soon",
            ),
            "duration",
        ),
        (
            (
                "relay",
                "serve",
                "--db",
                str(tmp_path / "s.db"),
                "--listen",
                "nowhere",
                "--plaintext",
                "--evm",
                "none",
            ),
            "HOST:PORT",
        ),
        (("relay", "serve", "--db", str(tmp_path / "s.db")), "no TLS"),
    ]
    for args, fragment in cases:
        out = hashcore(*args)
        assert out.returncode == 2, (args, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("hashcore: error: "), out.stderr
        assert fragment in lines[0], lines[0]
