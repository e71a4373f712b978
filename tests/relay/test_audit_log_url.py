"""``hashcore audit BUNDLE --log-url URL``: a relay's export against the log its own tiles
server publishes (``--tiles-listen``): clean when they agree; a tampered bundle and a
forked relay's bundle (same key and origin, another history) are found, position by
position and checkpoint by checkpoint, in the JSON's ``log_url`` key and the exit code."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hashcore import Device
from hashcore.cli import main
from hashcore.relay.export import export_bundle

from .conftest import ThreadRelay

ORIGIN = "relay.site-a.example/trial-published"


def _fill(relay: ThreadRelay, records: int, tag: bytes) -> int:
    op, phones = relay.client(operator=True), relay.client()
    for i in range(2):
        device = Device.new()
        phones.enroll(device, op.issue_token(f"P{i}")[0])
        for day in range(records):
            device.append(b'{"day": %d, "tag": "%s"}' % (day, tag))
        phones.sync(device)
        op.create_checkpoint()
    return op.create_checkpoint().tree_size


def _served(relay: ThreadRelay, size: int) -> str:
    assert relay.server is not None
    source = relay.server._tiles.source
    deadline = time.monotonic() + 20
    while source.size != size:
        assert time.monotonic() < deadline, "the tiles server never reached the log's size"
        time.sleep(0.05)
    return f"http://127.0.0.1:{relay.server.tiles_port}"


def _audit(bundle: Path, url: str, out: Path) -> tuple[int, dict[str, object]]:
    code = main(["audit", str(bundle), "--log-url", url, "--json", str(out)])
    return code, json.loads(out.read_text())


def test_audit_against_the_published_log(
    relay_factory: Callable[..., ThreadRelay], tmp_path: Path
) -> None:
    relay = relay_factory(
        key_file=tmp_path / "relay.key", origin=ORIGIN, tiles_listen="127.0.0.1:0"
    )
    size = _fill(relay, 150, b"a")  # 302 records, checkpoints at 151 and 302
    url = _served(relay, size)
    export_bundle(relay.config.store, tmp_path / "bundle")

    code, data = _audit(tmp_path / "bundle", url, tmp_path / "clean.json")
    assert code == 0 and data["clean"] is True
    assert data["log_url"] == {
        "url": url,
        "clean": True,
        "error": None,
        "published_tree_size": 302,
        "published_root": data["log_url"]["published_root"],  # type: ignore[index]
        "entries_compared": 302,
        "entries_beyond_published": 0,
        "entry_mismatch_count": 0,
        "entry_mismatches": [],
        "checkpoints": [
            {"tree_size": 151, "code": "CONSISTENT"},
            {"tree_size": 302, "code": "CONSISTENT"},
        ],
    }

    # Tampered: one entry's received_ms moved by the exporter after the fact.
    tampered = tmp_path / "tampered"
    shutil.copytree(tmp_path / "bundle", tampered)
    for part in tampered.rglob("*.parquet"):
        table = pq.read_table(part)
        if "received_ms" not in table.column_names:
            continue
        hit = pc.equal(table.column("log_index"), pa.scalar(200, pa.uint64()))
        moved = pc.if_else(hit, pc.add(table.column("received_ms"), 1), table["received_ms"])
        at = table.column_names.index("received_ms")
        pq.write_table(table.set_column(at, table.field("received_ms"), moved), part)
    code, data = _audit(tampered, url, tmp_path / "tampered.json")
    found = data["log_url"]
    assert code == 1 and data["clean"] is False
    assert found["clean"] is False and found["entry_mismatch_count"] == 1  # type: ignore[index]
    [mismatch] = found["entry_mismatches"]  # type: ignore[index]
    assert mismatch["log_index"] == 200
    assert mismatch["bundle_entry"] != mismatch["published_entry"]
    assert int(mismatch["bundle_entry"][-16:], 16) == int(mismatch["published_entry"][-16:], 16) + 1
    relay.stop()

    # A forked relay: the same key and origin, another history, exported to an auditor
    # while the published log shows the first one.
    shutil.copy(tmp_path / "relay.key", tmp_path / "fork.key")
    fork = relay_factory(
        store=str(tmp_path / "fork.db"),
        key_file=tmp_path / "fork.key",
        origin=ORIGIN,
        operator_token_file=tmp_path / "fork.token",
    )
    _fill(fork, 150, b"b")
    fork.stop()
    export_bundle(str(tmp_path / "fork.db"), tmp_path / "forked")
    published = relay_factory(
        key_file=tmp_path / "relay.key", origin=ORIGIN, tiles_listen="127.0.0.1:0"
    )
    url = _served(published, size)
    code, data = _audit(tmp_path / "forked", url, tmp_path / "forked.json")
    found = data["log_url"]
    assert code == 1 and found["clean"] is False  # type: ignore[index]
    assert found["entry_mismatch_count"] == 302  # type: ignore[index]
    assert found["checkpoints"] == [  # type: ignore[index]
        {"tree_size": 151, "code": "INCONSISTENT"},
        {"tree_size": 302, "code": "INCONSISTENT"},
    ]


def test_log_url_unreachable_is_unusable_input(
    relay: ThreadRelay, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(relay, 3, b"c")
    export_bundle(relay.config.store, tmp_path / "bundle")
    code = main(["audit", str(tmp_path / "bundle"), "--log-url", "http://127.0.0.1:9/"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "cannot read the log at http://127.0.0.1:9/" in err[0]
