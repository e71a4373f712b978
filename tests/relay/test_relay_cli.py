"""`hashcore relay token | export | serve` as an operator types them: exit codes, one-line
errors, and outputs that work with a running relay."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from hashcore import Device, _core, audit_bundle

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
        (
            (
                "relay",
                "serve",
                "--db",
                str(tmp_path / "s.db"),
                "--plaintext",
                "--evm",
                "none",
                "--origin",
                "has a space",
            ),
            "--origin must be a C2SP key name (no spaces, no '+', no control characters), "
            "got 'has a space'",
        ),
        (
            ("relay", "policy", "--db", str(tmp_path / "missing.db"), "--out", "p.json"),
            "missing.db",
        ),
        (
            ("device", "export-evidence", str(tmp_path / "none.json"), "--out", "ev"),
            "device state file does not exist",
        ),
    ]
    for args, fragment in cases:
        out = hashcore(*args)
        assert out.returncode == 2, (args, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("hashcore: error: "), out.stderr
        assert fragment in lines[0], lines[0]


def test_relay_policy_is_what_the_auditor_takes(
    relay_factory: Callable[..., ThreadRelay], tmp_path: Path
) -> None:
    relay = relay_factory(origin="relay.site-a.example/trial-policy")
    device = Device.new()
    token, _ = relay.client(operator=True).issue_token("P1")
    relay.client().enroll(device, token)
    device.append(b"night 1")
    relay.client().sync(device)
    relay.client(operator=True).create_checkpoint()
    ledger = relay.server.ledger  # type: ignore[union-attr]
    relay.stop()
    db, policy = str(tmp_path / "relay.db"), tmp_path / "policy.json"
    witness = _core.public_key_from_seed(bytes([3] * 32)).hex()
    out = hashcore(
        "relay",
        "policy",
        "--db",
        db,
        "--out",
        str(policy),
        "--witness",
        f"witness.example/w1={witness}",
        "--witness-quorum",
        "0",
        "--max-merge-delay",
        "2h",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == (
        f"wrote {policy}: origin=relay.site-a.example/trial-policy, "
        f"log_key={ledger.log_key.hex()}, witnesses=1 (quorum 0), evm=none\n"
    )
    assert json.loads(policy.read_text()) == {
        "format": "hashcore-policy",
        "version": 2,
        "origin": "relay.site-a.example/trial-policy",
        "log_key": ledger.log_key.hex(),
        "witnesses": [{"name": "witness.example/w1", "key": witness}],
        "witness_quorum": 0,
        "evm": None,
        "max_merge_delay_ms": 7_200_000,
        "max_clock_skew_ms": 300_000,
    }
    assert hashcore("relay", "export", "--db", db, "--out", str(tmp_path / "b")).returncode == 0
    as_of = hashcore("relay", "export", "--db", db, "--out", str(tmp_path / "c"), "--as-of", "9")
    assert (as_of.returncode, as_of.stderr) == (
        2,
        "hashcore: error: --as-of 9: the store has no checkpoint of that size (newest: 2)\n",
    )
    audit = hashcore("audit", str(tmp_path / "b"), "--policy", str(policy))
    assert audit.returncode == 0, audit.stdout + audit.stderr
    # SPEC 3's refusals, one line each.
    for extra, message in [
        (("--witness", "nameonly"), "--witness must be NAME=<64 hex digits>, got 'nameonly'"),
        (("--witness-quorum", "1"), "witness_quorum"),
    ]:
        bad = hashcore("relay", "policy", "--db", db, "--out", str(tmp_path / "p2.json"), *extra)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
        assert bad.stderr.startswith("hashcore: error: ") and message in bad.stderr
    assert not (tmp_path / "p2.json").exists()
