"""hashcore.cli: the ``hashcore audit`` command on a v2 sample (argument errors, exit codes,
JSON, HTML, the console script); the audit's verdicts on every kind of bundle are
tests/v2/test_audit_v2_bundles.py's, make-sample tests/test_sample.py's."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hashcore.audit import RECORD_VERDICT_CODES_V2
from hashcore.bundle import read_bundle_v2, write_bundle_v2
from hashcore.cli import main
from hashcore.sim.sample import make_sample

ZERO_COUNTS = dict.fromkeys(RECORD_VERDICT_CODES_V2, 0)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "bundle"
    make_sample(path, devices=2, records=5, seed=9, checkpoint_every=4, evidence=False)
    return path


@pytest.fixture(scope="module")
def tampered(sample: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The sample with one byte of the payload at log position 6 changed."""
    b = read_bundle_v2(sample)
    payloads = b.records.column("payload").to_pylist()
    edited = bytearray(payloads[6])
    edited[0] ^= 0x20
    payloads[6] = bytes(edited)
    column = b.records.schema.get_field_index("payload")
    recs = b.records.set_column(column, "payload", pa.array(payloads, pa.binary()))
    out = tmp_path_factory.mktemp("cli") / "tampered"
    write_bundle_v2(out, recs, b.checkpoints, origin=b.manifest.origin, log_key=b.manifest.log_key)
    row = recs.slice(6, 1).to_pylist()[0]
    return out, row


def _err_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_audit_clean(sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.json"
    assert main(["audit", str(sample), "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "10 records" in out
    assert "log identity taken from the bundle" in out
    assert "audit: CLEAN" in out
    data = json.loads(report.read_text())
    assert {
        k: data[k] for k in ("clean", "records", "counts", "failures", "missing_log_positions")
    } == {
        "clean": True,
        "records": 10,
        "counts": {**ZERO_COUNTS, "OK": 10},
        "failures": [],
        "missing_log_positions": [],
    }
    assert [{"tree_size": c["tree_size"], "code": c["code"]} for c in data["checkpoints"]] == [
        {"tree_size": 4, "code": "OK"},
        {"tree_size": 8, "code": "OK"},
        {"tree_size": 10, "code": "OK"},
    ]
    assert data["log_identity_source"] == "bundle"
    assert (data["manifest_origin_matches"], data["manifest_log_key_matches"]) == (True, True)


def test_audit_failures(
    tampered: tuple[Path, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, row = tampered
    report = tmp_path / "report.json"
    assert main(["audit", str(path), "--json", str(report), "--threads", "2"]) == 1
    out = capsys.readouterr().out
    assert "BAD_COMMIT" in out
    assert "audit: NOT CLEAN" in out
    data = json.loads(report.read_text())
    assert data["clean"] is False
    assert data["records"] == 10
    assert data["counts"] == {**ZERO_COUNTS, "OK": 9, "BAD_COMMIT": 1}
    assert [
        {k: f[k] for k in ("log_index", "chain_id", "seq", "code")} for f in data["failures"]
    ] == [
        {"log_index": 6, "chain_id": row["chain_id"].hex(), "seq": row["seq"], "code": "BAD_COMMIT"}
    ]
    assert [c["code"] for c in data["checkpoints"]] == ["OK", "OK", "OK"]


def test_audit_json_to_stdout(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", str(sample), "--json", "-"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)  # stdout is only the JSON; the summary went to stderr
    assert data["counts"]["OK"] == 10
    assert "audit: CLEAN" in captured.err


def test_audit_no_signatures(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", str(sample), "--no-signatures"]) == 0
    assert "signatures were not checked" in capsys.readouterr().out


def test_audit_missing_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope"
    assert main(["audit", str(missing)]) == 2
    assert (
        _err_line(capsys)
        == f"hashcore: error: {missing}: not a directory (a bundle is a directory)"
    )


def test_audit_corrupt_parquet(
    sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "corrupt"
    shutil.copytree(sample, path)
    (path / "records.parquet").write_bytes(b"not parquet at all\n" * 5)
    report = tmp_path / "r.json"
    assert main(["audit", str(path), "--json", str(report)]) == 2
    line = _err_line(capsys)
    assert line.startswith(f"hashcore: error: {path / 'records.parquet'}: unreadable Parquet: ")
    assert not report.exists()


def test_audit_bad_manifest(
    sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "m"
    shutil.copytree(sample, path)
    manifest = json.loads((path / "manifest.json").read_text())
    (path / "manifest.json").write_text(json.dumps({**manifest, "version": 1}))
    assert main(["audit", str(path)]) == 2
    assert (
        _err_line(capsys) == f"hashcore: error: {path / 'manifest.json'}: version is 1, expected 2"
    )


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "the following arguments are required: command"),
        (["audit"], "the following arguments are required: bundle"),
        (
            ["audit", "x", "--threads", "0"],
            "argument --threads: expected a positive integer, got 0",
        ),
        (["audit", "x", "--log-id", "ab" * 32], "unrecognized arguments: --log-id"),
        (["audit", "x", "--as-of", "-1"], "argument --as-of: expected an integer >= 0, got -1"),
        (["make-sample", "x", "--devices", "2"], "the following arguments are required: --records"),
        (
            ["make-sample", "x", "--devices", "-1", "--records", "2"],
            "argument --devices: expected a positive integer, got -1",
        ),
        (["frobnicate"], "argument command: invalid choice: 'frobnicate'"),
    ],
)
def test_argument_errors(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    line = _err_line(capsys)
    assert line.startswith("hashcore: error: ")
    assert fragment in line


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--no-signatures" in text and "--policy" in text
    assert "v1" not in text and "--log-id" not in text


def _script() -> str:
    found = Path(sys.executable).parent / "hashcore"
    if found.exists():
        return str(found)
    which = shutil.which("hashcore")
    if which is None:
        pytest.skip("the hashcore console script is not installed")
    return which


def test_console_script(
    sample: Path, tampered: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    script = _script()
    clean = subprocess.run(
        [script, "audit", str(sample)], capture_output=True, text=True, check=False
    )
    assert clean.returncode == 0, clean.stderr
    assert "audit: CLEAN" in clean.stdout
    assert clean.stderr == ""  # no spinner when stderr is not a terminal

    report = tmp_path / "r.json"
    bad = subprocess.run(
        [script, "audit", str(tampered[0]), "--json", str(report)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert json.loads(report.read_text())["counts"]["BAD_COMMIT"] == 1

    missing = subprocess.run(
        [script, "audit", str(tmp_path / "none")], capture_output=True, text=True, check=False
    )
    assert missing.returncode == 2
    assert missing.stdout == ""
    assert (
        missing.stderr
        == f"hashcore: error: {tmp_path / 'none'}: not a directory (a bundle is a directory)\n"
    )

    usage = subprocess.run([script, "audit"], capture_output=True, text=True, check=False)
    assert usage.returncode == 2
    assert usage.stderr.count("\n") == 1


def test_audit_html_names_participants(
    sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chains = {c.hex() for c in read_bundle_v2(sample).records.column("chain_id").to_pylist()}
    register = {c: f"P-{i:03d}<b>" for i, c in enumerate(sorted(chains))}
    (tmp_path / "p.json").write_text(json.dumps(register))
    html = tmp_path / "r.html"
    args = [str(sample), "--html", str(html), "--participants", str(tmp_path / "p.json")]
    assert main(["audit", *args]) == 0
    page = html.read_text()
    assert "P-000&lt;b&gt;" in page and "P-000<b>" not in page  # named, and escaped
    capsys.readouterr()
    (tmp_path / "bad.json").write_text("[1, 2]")
    bad = [str(sample), "--html", str(html), "--participants", str(tmp_path / "bad.json")]
    assert main(["audit", *bad]) == 2
    out = capsys.readouterr()
    assert out.out == ""  # refused before auditing
    assert out.err.startswith("hashcore: error: ") and "not a participants file" in out.err
