"""``hashcore device import-evidence``: the TypeScript SDK's evidence JSON
(``hashcore-device-evidence`` v2) to the auditor's receipts/notes tables, strictly.

The documents are made by a real relay and the Python device (the same JSON shape the TS
SDK writes; the TS interop test feeds this reader the SDK's own output), then audited."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hashcore import Device
from hashcore.cli.main import main
from hashcore.errors import InvalidInputError
from hashcore.evidence_json import parse_evidence_json

from .conftest import ThreadRelay


def _document(device: Device, relay: ThreadRelay) -> dict[str, Any]:
    ledger = relay.server.ledger  # type: ignore[union-attr]
    return {
        "format": "hashcore-device-evidence",
        "version": 2,
        "origin": ledger.origin,
        "log_key": ledger.log_key.hex(),
        "chain_id": device.chain_id.hex(),
        "receipts": [
            {
                "chain_id": r.chain_id.hex(),
                "seq": r.seq,
                "link": r.link.hex(),
                "log_index": r.log_index,
                "received_ms": r.received_ms,
                "receipt_sig": r.receipt_sig.hex(),
            }
            for r in device.receipts()
        ],
        "notes": [n.decode() for n in device.notes()],
    }


def test_import_then_audit_clean(relay: ThreadRelay, tmp_path: Path) -> None:
    files = []
    for i in range(2):
        op = relay.client(operator=True)
        token, _ = op.issue_token(f"P{i}")
        device = Device.new()
        client = relay.client()
        client.enroll(device, token)
        for n in range(3):
            device.append(b'{"night": %d}' % n)
        client.sync(device)
        op.create_checkpoint()
        assert client.refresh_beacon(device) is not None
        f = tmp_path / f"d{i}.json"
        f.write_text(json.dumps(_document(device, relay)))
        files.append(f)
    out = tmp_path / "ev"
    assert main(["device", "import-evidence", *map(str, files), "--out", str(out)]) == 0
    receipts = pq.read_table(out / "receipts.parquet")
    assert receipts.num_rows == 8
    assert receipts.column("seq").to_pylist() == [0, 1, 2, 3] * 2
    relay.stop()
    bundle = tmp_path / "bundle"
    db = relay.config.store
    assert main(["relay", "export", "--db", db, "--out", str(bundle)]) == 0
    report = tmp_path / "audit.json"
    args = ["audit", str(bundle), "--receipts", str(out / "receipts.parquet")]
    args += ["--notes", str(out / "notes.parquet"), "--json", str(report)]
    assert main(args) == 0
    verdict = json.loads(report.read_text())
    assert verdict["clean"] is True and verdict["records"] == 8
    assert {r["code"] for r in verdict["receipts"]} == {"RECEIPT_OK"}


GOOD = {
    "format": "hashcore-device-evidence",
    "version": 2,
    "origin": "relay.example/t",
    "log_key": "ab" * 32,
    "chain_id": "cd" * 16,
    "receipts": [
        {
            "chain_id": "cd" * 16,
            "seq": 2**64 - 1,
            "link": "ef" * 32,
            "log_index": 2**63,
            "received_ms": -(2**63),
            "receipt_sig": "01" * 64,
        }
    ],
    "notes": ["relay.example/t\n1\nAAAA\n\n— relay.example/t AAAA\n"],
}


def _with(change: Callable[[dict[str, Any]], None]) -> str:
    doc = json.loads(json.dumps(GOOD))
    change(doc)
    return json.dumps(doc)


def test_exact_integers_beyond_2_53() -> None:
    ev = parse_evidence_json(json.dumps(GOOD))
    r = ev.receipts[0]
    assert (r.seq, r.log_index, r.received_ms) == (2**64 - 1, 2**63, -(2**63))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="other"), 'e: not a device evidence file (format "hashcore'),
        (lambda d: d.update(version=1), "e: evidence version 1, expected 2"),
        (lambda d: d.update(version=True), "e: evidence version True, expected 2"),
        (lambda d: d.update(extra=1), "e: unexpected or missing fields ['extra']"),
        (lambda d: d.pop("notes"), "e: unexpected or missing fields ['notes']"),
        (lambda d: d.update(log_key="AB" * 32), "e.log_key: hex must be lowercase"),
        (lambda d: d.update(chain_id="cd" * 15), "e.chain_id: expected 16 bytes as 32 hex"),
        (lambda d: d["receipts"][0].update(seq=1.0), "e.receipts[0].seq: expected an integer"),
        (lambda d: d["receipts"][0].update(seq=2**64), "e.receipts[0].seq: expected an integer"),
        (lambda d: d["receipts"][0].update(seq=True), "e.receipts[0].seq: expected an integer"),
        (lambda d: d["receipts"][0].update(log_index=-1), "e.receipts[0].log_index: expected"),
        (lambda d: d["receipts"][0].pop("link"), "e.receipts[0]: a receipt has exactly"),
        (
            lambda d: d["receipts"][0].update(receipt_sig="zz" * 64),
            "e.receipts[0].receipt_sig: not hex",
        ),
        (
            lambda d: d["receipts"][0].update(chain_id="00" * 16),
            "e.receipts[0]: receipt of chain 0000",
        ),
        (lambda d: d.update(notes=[""]), "e.notes: each note is its text"),
    ],
)
def test_refusals_name_the_place(change: Callable[[dict[str, Any]], None], message: str) -> None:
    with pytest.raises(InvalidInputError) as exc:
        parse_evidence_json(_with(change), "e")
    assert str(exc.value).startswith(message), str(exc.value)


def test_cli_refuses_mixed_logs_and_bad_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, bad = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "bad.json"
    a.write_text(json.dumps(GOOD))
    b.write_text(_with(lambda d: d.update(origin="relay.example/other")))
    bad.write_text("{not json")
    out = str(tmp_path / "out")
    assert main(["device", "import-evidence", str(a), str(b), "--out", out]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"hashcore: error: {b}: evidence of log 'relay.example/other'")
    assert len(err.splitlines()) == 1
    assert main(["device", "import-evidence", str(bad), "--out", out]) == 2
    assert capsys.readouterr().err.startswith(f"hashcore: error: {bad}: not JSON")
    assert not (tmp_path / "out").exists()
