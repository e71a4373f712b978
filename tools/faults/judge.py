"""How a trial ends and is judged: the relay stopped gracefully (a final checkpoint), its
store exported with ``hashcore relay export``, the export audited with every receipt the
devices verified. ``judge`` is the plain audit; ``export_and_audit`` takes a policy and an
EVM node and says in the trial's note why an audit is not clean.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from hashcore import Device, audit_bundle
from hashcore.audit.v2_report import AuditReportV2
from hashcore.evidence import notes_table, receipts_table

from .trial import Relay, Trial


def export(db: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hashcore.cli", "relay", "export", "--db", db,
         "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def judge(trial: Trial, relay: Relay, devices: list[Device], out: Path) -> None:
    """Stop gracefully (a final checkpoint), export, audit with the receipts."""
    code = relay.terminate()
    if code != 0:
        trial.note += f" relay exit {code};"
    bundle = out / "bundle"
    done = export(relay.db, bundle)
    if done.returncode != 0:
        trial.note += f" export failed: {done.stderr.strip()[-200:]};"
        trial.lost = trial.acked
        return
    receipts = [r for d in devices for r in d.receipts()]
    trial.acked = len(receipts)
    report = audit_bundle(
        bundle,
        receipts=[receipts_table(receipts)],
        notes=[notes_table(n for d in devices for n in d.notes())],
    )
    assert isinstance(report, AuditReportV2)
    ok = sum(1 for v in report.receipts if v.code == "RECEIPT_OK")
    trial.lost = trial.acked - ok
    keys = [
        (f.chain_id, f.seq) for f in report.failures if f.code in ("FORK", "DUPLICATE_LOG_INDEX")
    ]
    trial.dup = len(keys)
    trial.clean = bool(report.clean)


def export_and_audit(
    trial: Trial, relay: Relay, devices: list[Any], work: Path, **audit: Any
) -> AuditReportV2 | None:
    """judge's graceful stop, export and receipt count, under a policy and node."""
    code = relay.terminate()
    if code != 0:
        trial.note += f" relay exit {code};"
    bundle = work / "bundle"
    done = export(relay.db, bundle)
    if done.returncode != 0:
        trial.note += f" export failed: {done.stderr.strip()[-200:]};"
        trial.lost = trial.acked
        return None
    receipts = [r for d in devices for r in d.receipts()]
    trial.acked = len(receipts)
    report = audit_bundle(
        bundle,
        receipts=[receipts_table(receipts)],
        notes=[notes_table(n for d in devices for n in d.notes())],
        **audit,
    )
    assert isinstance(report, AuditReportV2)
    trial.lost = trial.acked - sum(1 for v in report.receipts if v.code == "RECEIPT_OK")
    trial.dup = sum(1 for f in report.failures if f.code in ("FORK", "DUPLICATE_LOG_INDEX"))
    if not report.clean:  # say why, in the trial's note
        found = [f"checkpoint {c.tree_size} {c.code}" for c in report.checkpoints if c.code != "OK"]
        found += [f"anchor {a.tree_size} {a.code}" for a in report.anchors]
        found += [f"{code} x{n}" for code, n in report.counts.items() if n and code != "OK"]
        trial.note += f" audit: {', '.join(found[:8]) or 'not clean'};"
    return report


def policy(relay: Relay, work: Path, *extra: str) -> Path:
    """``hashcore relay policy`` for the relay's store, written into ``work``."""
    out = work / "policy.json"
    subprocess.run(
        [sys.executable, "-m", "hashcore.cli", "relay", "policy", "--db", relay.db,
         "--out", str(out), *extra],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return out
