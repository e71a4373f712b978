"""The fault campaign script (tools/fault_campaign.py) runs and reports: one trial of the
faults that are quick here, on real relays (SQLite; a private PostgreSQL cluster for the
server restart and for the full disk). ``make fault-campaign`` runs the full campaign (100
trials each)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_campaign_one_trial_each(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "fault_campaign.py"),
            "--trials",
            "1",
            "--faults",
            "ingest,checkpoint,export,pg-restart",
            "--backends",
            "sqlite",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(out.read_text())
    assert [(r["fault"], r["backend"]) for r in results] == [
        ("ingest", "sqlite"),
        ("checkpoint", "sqlite"),
        ("export", "sqlite"),
        ("pg-restart", "postgres"),
    ]
    # Every device's genesis and records were acknowledged, none lost or stored twice.
    assert {(r["acked"], r["lost"], r["dup"], r["clean"]) for r in results} == {(150, 0, 0, True)}
    assert all(r["recover_s"] is not None and r["recover_s"] > 0 for r in results)
    assert "| fault | store | trials | acknowledged | lost |" in done.stdout


def test_campaign_refuses_unknown_fault() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "fault_campaign.py"), "--faults", "meteor"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert "unknown faults ['meteor']" in done.stderr


def test_campaign_disk_full_reorg_and_witness_down(tmp_path: Path) -> None:
    """One trial each of disk full, EVM reorg and witness down (root: the tmpfs)."""
    out = tmp_path / "results.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "fault_campaign.py"),
            "--trials",
            "1",
            "--faults",
            "disk-full,evm-reorg,witness-down",
            "--backends",
            "sqlite",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(out.read_text())
    assert [(r["fault"], r["backend"]) for r in results] == [
        ("disk-full", "sqlite"),
        ("evm-reorg", "sqlite"),
        ("witness-down", "sqlite"),
    ]
    assert {(r["acked"], r["lost"], r["dup"], r["clean"]) for r in results} == {(150, 0, 0, True)}
    assert all(r["recover_s"] is not None and r["recover_s"] > 0 for r in results)
    notes = {r["fault"]: r["note"] for r in results}
    assert "records refused while full" in notes["disk-full"]
    assert "reorg depth" in notes["evm-reorg"]
    assert " x 409 after its restart" in notes["witness-down"]


def test_campaign_disk_full_on_postgres(tmp_path: Path) -> None:
    """A private cluster whose data directory is on a tmpfs that fills up (root: the
    tmpfs); the shared server is not used, so no database is made there."""
    out = tmp_path / "results.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "fault_campaign.py"),
            "--trials",
            "2",
            "--faults",
            "disk-full",
            "--backends",
            "postgres",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(out.read_text())
    assert [(r["fault"], r["backend"]) for r in results] == [("disk-full", "postgres")] * 2
    assert {(r["acked"], r["lost"], r["dup"], r["clean"]) for r in results} == {(150, 0, 0, True)}
    assert all(r["recover_s"] is not None and r["recover_s"] > 0 for r in results)
    assert all("records refused while full" in r["note"] for r in results)
    # Seed 1 switches the WAL in the second trial only: the server PANICs on the full disk.
    assert ["WAL switched" in r["note"] for r in results] == [False, True]
    assert [" 1 x PANIC;" in r["note"] for r in results] == [False, True]
