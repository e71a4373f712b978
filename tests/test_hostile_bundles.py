"""Hostile bundles (issue 15, defects 5, 6 and 14): every one is refused with a HashcoreError
naming the file or column, and by ``hashcore audit`` with exit code 2 and one line.

Each bundle is built for real: a valid v2 sample written by the library, then one file
rewritten with pyarrow (or its Parquet footer patched, see parquet_footer.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import hashcore
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hashcore import _core, audit_bundle
from hashcore.bundle import read_bundle_v2 as read_bundle
from hashcore.cli import main
from hashcore.errors import BundleError, ColumnError, InvalidInputError
from hashcore.sim.sample import SampleInfo, make_sample
from parquet_footer import set_num_rows

# The documented limits (README "Limits"), as literals: hashcore.limits must agree.
MIN_ROW_BYTES = 32
MAX_MANIFEST_BYTES = 1 << 20
MAX_THREADS = 256


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleInfo:
    path = tmp_path_factory.mktemp("hostile") / "bundle"
    return make_sample(path, devices=2, records=5, seed=9, checkpoint_every=4, evidence=False)


def _identity(sample: SampleInfo) -> dict[str, object]:
    """The log identity verify_bulk is told to trust: the sample's own."""
    return {"origin": sample.origin, "log_key": sample.log_key}


def _copy(sample: SampleInfo, tmp_path: Path) -> Path:
    dst = tmp_path / "hostile"
    shutil.copytree(sample.path, dst)
    return dst


def _audit_error(bundle: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """``hashcore audit BUNDLE`` must exit 2 with one line on stderr; returns the line."""
    assert main(["audit", str(bundle), *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def _rewrite(file: Path, edit: object) -> pa.Table:
    table = pq.read_table(file)
    table = edit(table)  # type: ignore[operator]
    pq.write_table(table, file)
    return table


# --------------------------------------------------------------------------- defect 5


@pytest.mark.parametrize(
    ("values", "type_name"),
    [(["not a hash"] * 3, "string"), ([7, 8, 9], "int64")],
)
def test_checkpoint_tx_hash_of_another_type(
    sample: SampleInfo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    values: list[object],
    type_name: str,
) -> None:
    path = _copy(sample, tmp_path)
    cps = _rewrite(
        path / "checkpoints.parquet",
        lambda t: t.set_column(t.column_names.index("tx_hash"), "tx_hash", pa.array(values)),
    )
    file = path / "checkpoints.parquet"
    message = f"{file}: column 'tx_hash' must be fixed_size_binary[32], got {type_name}"
    with pytest.raises(BundleError) as info:
        audit_bundle(path)
    assert str(info.value) == message
    assert _audit_error(path, capsys) == f"hashcore: error: {message}"
    # In memory, tx_hash is informational (SPEC 4): the engine never reads it, so a column
    # of another type is no crash and changes no verdict.
    records = read_bundle(sample.path).records
    assert hashcore.verify_bulk(records, checkpoints=cps, **_identity(sample)).clean


@pytest.mark.parametrize(
    ("file", "column"),
    [("records.parquet", "seq"), ("records.parquet", "payload"), ("checkpoints.parquet", "root")],
)
def test_duplicated_column_name(
    sample: SampleInfo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    file: str,
    column: str,
) -> None:
    path = _copy(sample, tmp_path)
    table = _rewrite(path / file, lambda t: t.append_column(column, t.column(column)))
    message = f"{path / file}: column '{column}' appears 2 times"
    with pytest.raises(BundleError) as info:
        audit_bundle(path)
    assert str(info.value) == message
    with pytest.raises(BundleError) as info:
        read_bundle(path)
    assert str(info.value) == message
    assert _audit_error(path, capsys) == f"hashcore: error: {message}"
    # The same table in memory: verify_bulk names the column too.
    b = read_bundle(sample.path)
    kwargs = (
        {"records": table, "checkpoints": b.checkpoints, **_identity(sample)}
        if file == "records.parquet"
        else {"records": b.records, "checkpoints": table, **_identity(sample)}
    )
    with pytest.raises(ColumnError, match=f"^column '{column}' appears 2 times in the table$"):
        hashcore.verify_bulk(**kwargs)  # type: ignore[arg-type]


def test_duplicated_columns_in_memory(sample: SampleInfo) -> None:
    b = read_bundle(sample.path)
    cps = b.checkpoints.append_column("note", b.checkpoints.column("note"))
    with pytest.raises(ColumnError, match=r"^column 'note' appears 2 times in the table$"):
        hashcore.verify_bulk(b.records, checkpoints=cps, **_identity(sample))
    # tx_hash is informational (SPEC 4) and never read: a second one changes nothing.
    cps = b.checkpoints.append_column("tx_hash", b.checkpoints.column("tx_hash"))
    assert hashcore.verify_bulk(b.records, checkpoints=cps, **_identity(sample)).clean


def _manifest_with(path: Path, raw_member: str) -> Path:
    """The bundle's manifest with one more member, written as raw JSON text."""
    file = path / "manifest.json"
    text = json.dumps(json.loads(file.read_text()))
    file.write_text(text[:-1] + f', "extra": {raw_member}}}')
    return file


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("9" * 5000, "holds an integer of 5000 digits; at most 78 are accepted"),
        ("-" + "1" * 4301, "holds an integer of 4301 digits; at most 78 are accepted"),
        ("[" * 100_000 + "]" * 100_000, "JSON nested deeper than 64 levels is not read"),
        ('{"a":' * 100_000 + "0" + "}" * 100_000, "JSON nested deeper than 64 levels is not read"),
    ],
    ids=["5000-digit-int", "4301-digit-negative-int", "nested-arrays", "nested-objects"],
)
def test_manifest_that_python_json_cannot_hold(
    sample: SampleInfo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    member: str,
    reason: str,
) -> None:
    path = _copy(sample, tmp_path)
    file = _manifest_with(path, member)
    with pytest.raises(BundleError) as info:
        audit_bundle(path)
    assert str(info.value) == f"{file}: {reason}"
    assert _audit_error(path, capsys) == f"hashcore: error: {file}: {reason}"


def test_deep_manifest_with_a_raised_recursion_limit(sample: SampleInfo, tmp_path: Path) -> None:
    """An audit that reads a chain imports py-evm, which raises the recursion limit to
    100,000: the C JSON decoder then overflowed the C stack on a deep manifest (SIGSEGV)."""
    path = _copy(sample, tmp_path)
    file = _manifest_with(path, "[" * 100_000 + "]" * 100_000)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.setrecursionlimit(100_000)\n" + _CLI,
            "audit",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, ""), done.stderr[-2000:]
    assert done.stderr == (
        f"hashcore: error: {file}: JSON nested deeper than 64 levels is not read\n"
    )


def test_manifest_nesting_of_64_is_still_read(sample: SampleInfo, tmp_path: Path) -> None:
    path = _copy(sample, tmp_path)
    # 64 levels: the manifest, this object, 62 arrays (the brackets in a string don't count).
    _manifest_with(path, '{"a": "[[[[", "b": ' + "[" * 62 + "]" * 62 + "}")
    assert audit_bundle(path).clean


def test_manifest_chain_id_of_78_digits_is_still_read(sample: SampleInfo, tmp_path: Path) -> None:
    """The digit limit leaves room for any uint256 (an EVM chain id)."""
    path = _copy(sample, tmp_path)
    _manifest_with(path, str(2**256 - 1))
    assert audit_bundle(path).clean


@pytest.mark.parametrize(
    ("file", "rows", "group_rows", "reason"),
    [
        ("records.parquet", -5, None, "Parquet metadata claims -5 rows"),
        ("checkpoints.parquet", -3, None, "Parquet metadata claims -3 rows"),
        (
            "records.parquet",
            10,
            -10,
            "Parquet metadata claims 10 rows, but its row groups claim [-10]",
        ),
    ],
)
def test_negative_num_rows_in_parquet_metadata(
    sample: SampleInfo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    file: str,
    rows: int,
    group_rows: int | None,
    reason: str,
) -> None:
    path = _copy(sample, tmp_path)
    set_num_rows(path / file, rows, row_groups=group_rows)
    assert pq.ParquetFile(path / file).metadata.num_rows == rows  # the footer says so
    message = f"{path / file}: {reason}"
    with pytest.raises(BundleError) as info:
        audit_bundle(path)
    assert str(info.value) == message
    with pytest.raises(BundleError) as info:
        read_bundle(path)
    assert str(info.value) == message
    assert _audit_error(path, capsys) == f"hashcore: error: {message}"


# --------------------------------------------------------------------------- defect 6

#: A safety net only: a refusal takes well under a second; a regression would hang.
HANG_S = 60


def _run(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -c code args...`` in a child (which may hang or balloon on a regression)."""
    try:
        return subprocess.run(
            [sys.executable, "-c", code, *args],
            capture_output=True,
            text=True,
            timeout=HANG_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {HANG_S} s: {args}")


_CLI = "import sys; from hashcore.cli import main; sys.exit(main(sys.argv[1:]))"


def _cli_error(*argv: str) -> str:
    """``hashcore ARGV`` in a child: exit 2 and one line on stderr; returns the line."""
    done = _run(_CLI, *argv)
    assert (done.returncode, done.stdout) == (2, ""), done.stderr[-2000:]
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr[-2000:]
    return lines[0]


@pytest.mark.parametrize(
    "name",
    ["manifest.json", "records.parquet", "checkpoints.parquet"],
)
def test_a_named_pipe_is_refused_not_waited_on(
    sample: SampleInfo, tmp_path: Path, name: str
) -> None:
    path = _copy(sample, tmp_path)
    (path / name).unlink()
    os.mkfifo(path / name)  # nobody ever writes to it
    message = (
        f"{path / name}: is a named pipe, not a regular file; a bundle holds regular files only"
    )
    assert _cli_error("audit", str(path)) == f"hashcore: error: {message}"
    api = _run(
        "import sys, hashcore\n"
        "try:\n"
        "    hashcore.audit_bundle(sys.argv[1])\n"
        "except hashcore.BundleError as exc:\n"
        "    print(exc)\n",
        str(path),
    )
    assert api.stdout == message + "\n", api.stderr[-2000:]


def _audit_peak_mib(bundle: Path) -> tuple[int, subprocess.CompletedProcess[str]]:
    """``hashcore audit BUNDLE`` in a child, and the child's peak RSS in MiB. VmHWM, not
    ru_maxrss: Linux keeps ru_maxrss across exec, so it would count the forked pytest."""
    done = _run(
        "import sys\n"
        "from hashcore.cli import main\n"
        "code = main(['audit', sys.argv[1]])\n"
        "status = open('/proc/self/status').read()\n"
        "print(status.split('VmHWM:')[1].split()[0])\n"  # KiB
        "sys.exit(code)\n",
        str(bundle),
    )
    return int(done.stdout.splitlines()[-1]) // 1024, done


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_rows_claimed_beyond_the_file_size_are_refused_before_allocating(
    sample: SampleInfo, tmp_path: Path
) -> None:
    """A 7 KB records file whose footer claims 20 M rows: the old auditor allocated ~33
    bytes per claimed row (660 MB here, 3.3 GB for 100 M) before refusing it."""
    path = _copy(sample, tmp_path)
    file = path / "records.parquet"
    set_num_rows(file, 20_000_000)
    size = file.stat().st_size
    message = (
        f"{file}: Parquet metadata claims 20000000 rows, but a file of {size} bytes holds at "
        f"most {size // MIN_ROW_BYTES} (a row takes at least {MIN_ROW_BYTES} bytes)"
    )
    clean_peak, _ = _audit_peak_mib(sample.path)
    peak, done = _audit_peak_mib(path)
    assert done.returncode == 2, done.stderr[-2000:]
    # The same audit of the honest sample is the baseline (~90 MiB: Python, pyarrow, the
    # extension); the 20 M claimed rows took 640 MiB more.
    assert peak - clean_peak < 100, (peak, clean_peak)
    assert done.stderr == f"hashcore: error: {message}\n"
    with pytest.raises(BundleError) as info:
        read_bundle(path)
    assert str(info.value) == message


def test_checkpoint_rows_claimed_beyond_the_file_size_are_refused(
    sample: SampleInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _copy(sample, tmp_path)
    file = path / "checkpoints.parquet"
    set_num_rows(file, 1_000_000)
    size = file.stat().st_size
    assert _audit_error(path, capsys) == (
        f"hashcore: error: {file}: Parquet metadata claims 1000000 rows, but a file of {size} "
        f"bytes holds at most {size // MIN_ROW_BYTES} (a row takes at least {MIN_ROW_BYTES} "
        "bytes)"
    )


def test_a_huge_manifest_is_refused_by_its_size(
    sample: SampleInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not read, parsed or echoed: 2 MiB here (the report's 200 MB cost 1.1 GB)."""
    path = _copy(sample, tmp_path)
    file = _manifest_with(path, json.dumps("x" * (2 << 20)))
    size = file.stat().st_size
    assert size > MAX_MANIFEST_BYTES
    line = _audit_error(path, capsys)
    assert line == f"hashcore: error: {file}: {size} bytes; at most 1048576 are read"
    with pytest.raises(BundleError) as info:
        audit_bundle(path)
    assert str(info.value) == f"{file}: {size} bytes; at most 1048576 are read"


@pytest.mark.parametrize(
    ("member", "value", "reason", "tail"),
    [
        ("log_key", "z" * 900_000, "log_key must be 64 hex digits, got ", ""),
        ("format", ["x"] * 100_000, "format is ", ", expected 'hashcore-bundle'"),
        ("version", "9" * 900_000, "version is ", ", expected 2"),
        ("origin", "o " * 400_000, "origin must be a key name, got ", ""),
        ("exported_ms", "e" * 900_000, "exported_ms must be an i64 integer, got ", ""),
    ],
    ids=["log_key", "format", "version", "origin", "exported_ms"],
)
def test_an_echoed_manifest_value_is_cut_short(
    sample: SampleInfo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    member: str,
    value: object,
    reason: str,
    tail: str,
) -> None:
    path = _copy(sample, tmp_path)
    file = path / "manifest.json"
    manifest = json.loads(file.read_text())
    file.write_text(json.dumps({**manifest, member: value}))
    assert file.stat().st_size < MAX_MANIFEST_BYTES
    shown = repr(value)
    expected = f"{file}: {reason}{shown[:200]}... ({len(shown)} characters){tail}"
    with pytest.raises(BundleError) as info:
        audit_bundle(path)
    assert str(info.value) == expected
    assert _audit_error(path, capsys) == f"hashcore: error: {expected}"


def test_the_documented_limits_are_the_code_s() -> None:
    from hashcore import limits

    assert (limits.MIN_ROW_BYTES, limits.MAX_MANIFEST_BYTES, limits.MAX_THREADS) == (
        MIN_ROW_BYTES,
        MAX_MANIFEST_BYTES,
        MAX_THREADS,
    )
    assert _core.MAX_THREADS == MAX_THREADS
    assert _core.DEFAULT_THREADS <= MAX_THREADS


def test_error_lines_are_bounded() -> None:
    from hashcore.limits import echo, one_line

    assert echo("a" * 10) == "'aaaaaaaaaa'"
    assert echo("a" * 1000) == "'" + "a" * 199 + "... (1002 characters)"
    assert one_line("two\nlines  here") == "two lines here"
    long = "word " * 100_000
    assert one_line(long) == ("word " * 200)[:1000] + "... (500000 characters)"


def test_threads_are_capped(sample: SampleInfo) -> None:
    """Above MAX_THREADS, refused before any thread starts (10,000 ran for minutes)."""
    assert _cli_error("audit", str(sample.path), "--threads", "10000") == (
        "hashcore: error: argument --threads: at most 256 threads, got 10000 "
        "(see 'hashcore audit --help')"
    )
    api = _run(
        "import sys, hashcore\n"
        "b = hashcore.read_bundle_v2(sys.argv[1])\n"
        "identity = {'origin': b.manifest.origin, 'log_key': b.manifest.log_key}\n"
        "for call in (\n"
        "    lambda: hashcore.verify_bulk(\n"
        "        b.records, checkpoints=b.checkpoints, threads=100_000, **identity\n"
        "    ),\n"
        "    lambda: hashcore.audit_bundle(sys.argv[1], threads=100_000),\n"
        "):\n"
        "    try:\n"
        "        call()\n"
        "    except hashcore.InvalidInputError as exc:\n"
        "        print(exc)\n",
        str(sample.path),
    )
    assert api.stdout == "threads must be at most 256, got 100000\n" * 2, api.stderr[-2000:]
    b = read_bundle(sample.path)
    with pytest.raises(InvalidInputError, match=r"^threads must be at most 256, got 257$"):
        hashcore.verify_bulk(b.records, checkpoints=b.checkpoints, threads=257, **_identity(sample))


def test_threads_are_documented(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--help"]) == 0
    assert "worker threads, 1 to 256" in " ".join(capsys.readouterr().out.split())
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "`--threads` is at most 256" in readme


# --------------------------------------------------------------------------- defect 14


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> SampleInfo:
    """A bundle whose records are records/part-00000.parquet .. part-00002.parquet."""
    path = tmp_path_factory.mktemp("hostile-parts") / "bundle"
    return make_sample(
        path, devices=2, records=5, seed=9, checkpoint_every=4, part_rows=4, evidence=False
    )


def _not_regular(file: Path, kind: str) -> str:
    return f"{file}: is {kind}, not a regular file; a bundle holds regular files only"


def _loop(link: Path) -> None:
    other = link.with_name(link.name + ".other")
    link.symlink_to(other.name)
    other.symlink_to(link.name)


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda f: f.symlink_to("part-missing.parquet"), "a symbolic link"),
        (lambda f: f.symlink_to("/dev/zero"), "a symbolic link"),
        (_loop, "a symbolic link"),
        (lambda f: f.symlink_to("part-00000.parquet"), "a symbolic link"),  # inside the bundle
        (lambda f: os.mkfifo(f), "a named pipe"),
        (lambda f: f.mkdir(), "a directory"),
    ],
    ids=["dangling-link", "link-to-dev-zero", "link-loop", "link-to-a-part", "pipe", "directory"],
)
def test_a_part_that_is_not_a_regular_file_is_refused_not_skipped(
    parts: SampleInfo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: object,
    kind: str,
) -> None:
    """They were skipped (or followed), and the audit said CLEAN (exit 0)."""
    path = _copy(parts, tmp_path)
    bad = path / "records" / "part-00001.5.parquet"  # sorts between two real parts
    make(bad)  # type: ignore[operator]
    message = _not_regular(bad, kind)
    assert _audit_error(path, capsys) == f"hashcore: error: {message}"
    for call in (audit_bundle, read_bundle):
        with pytest.raises(BundleError) as info:
            call(path)
        assert str(info.value) == message


@pytest.mark.parametrize("name", ["manifest.json", "records.parquet", "checkpoints.parquet"])
def test_a_link_at_the_top_of_the_bundle_is_refused(
    sample: SampleInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """Even to a good copy of the same file: the target is not part of the bundle."""
    path = _copy(sample, tmp_path)
    elsewhere = tmp_path / f"elsewhere-{name}"
    (path / name).rename(elsewhere)
    (path / name).symlink_to(elsewhere)
    message = _not_regular(path / name, "a symbolic link")
    assert _audit_error(path, capsys) == f"hashcore: error: {message}"
    with pytest.raises(BundleError) as info:
        audit_bundle(path)
    assert str(info.value) == message


@pytest.mark.parametrize("name", ["records.parquet", "checkpoints.parquet"])
def test_a_dangling_link_at_the_top_is_refused_as_a_link(
    sample: SampleInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    path = _copy(sample, tmp_path)
    if name == "records.parquet":  # records elsewhere, so the bundle is otherwise whole
        (path / "records").mkdir()
        (path / name).rename(path / "records" / "part-00000.parquet")
    else:
        (path / name).unlink()
    (path / name).symlink_to(tmp_path / "nothing-here")
    assert _audit_error(path, capsys) == (
        f"hashcore: error: {_not_regular(path / name, 'a symbolic link')}"
    )


def test_a_records_directory_that_is_a_link_or_a_file_is_refused(
    parts: SampleInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _copy(parts, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    (path / "records").rename(elsewhere)
    (path / "records").symlink_to(elsewhere)
    assert _audit_error(path, capsys) == (
        f"hashcore: error: {path / 'records'}: is a symbolic link, not a directory"
    )
    (path / "records").unlink()
    shutil.copy(elsewhere / "part-00000.parquet", path / "records")
    assert _audit_error(path, capsys) == (
        f"hashcore: error: {path / 'records'}: is a regular file, not a directory"
    )


def test_the_bundle_directory_itself_may_be_a_link(
    parts: SampleInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    link = tmp_path / "link-to-bundle"
    link.symlink_to(parts.path)
    assert main(["audit", str(link)]) == 0
    assert "audit: CLEAN" in capsys.readouterr().out
