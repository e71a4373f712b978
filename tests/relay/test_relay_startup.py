"""What a relay checks before it serves (issue 15): no plaintext beyond loopback, a store
no other user can read, one relay per store, and a PostgreSQL relay's explicit key dir."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hashcore.errors import InvalidInputError
from hashcore.relay.server import RelayConfig, RelayServer

from .store_fixtures import PG_ADMIN_URL, pg_store_url  # noqa: F401  (a fixture)


def hashcore(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hashcore.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def one_error_line(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hashcore: error: "), out.stderr
    return lines[0].removeprefix("hashcore: error: ")


# ------------------------------------------------------------------ 15: plaintext remote


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0", "192.0.2.7:7443", "relay.example:1"])
def test_plaintext_beyond_loopback_is_refused(tmp_path: Path, listen: str) -> None:
    db = tmp_path / "relay.db"
    out = hashcore(
        "relay", "serve", "--db", str(db), "--listen", listen, "--plaintext", "--evm", "none"
    )
    assert one_error_line(out) == (
        f"--plaintext on {listen} would serve unencrypted beyond this host: listen on "
        "127.0.0.1 or ::1, use TLS, or add --allow-insecure-remote"
    )
    assert list(tmp_path.iterdir()) == []  # refused before any key or store was made


@pytest.mark.parametrize("listen", ["127.0.0.1:0", "127.8.9.10:0", "[::1]:0", "localhost:0"])
def test_plaintext_on_loopback_is_allowed(tmp_path: Path, listen: str) -> None:
    RelayServer(RelayConfig(store=str(tmp_path / "r.db"), listen=listen, plaintext=True))


def test_allow_insecure_remote_lifts_the_refusal(tmp_path: Path) -> None:
    config = RelayConfig(store=str(tmp_path / "r.db"), listen="0.0.0.0:7443", plaintext=True)
    with pytest.raises(InvalidInputError):
        config.check()
    config.allow_insecure_remote = True
    config.check()
