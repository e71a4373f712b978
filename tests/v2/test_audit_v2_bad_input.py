"""Bad input to the v2 audit: policies (decision 12), manifests (decision 13), receipts and
notes files of the wrong shape, unparsable notes, and arguments of the other protocol
version. Each refusal is a ``HashcoreError`` naming what is wrong, and ``hashcore audit``
exits 2 with one line; what the SPEC makes a verdict (a receipt of the wrong size, a note
that doesn't parse) is that verdict, with the rule broken named in the report."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import hashcore
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hashcore import _core
from hashcore.audit import AuditReportV2
from hashcore.bundle import read_bundle_v2
from hashcore.cli import main
from hashcore.errors import BundleError, ColumnError, HashcoreError, InvalidInputError, PolicyError
from hashcore.policy import load_policy, parse_policy

from .chain_bundles import chain_bundles, rows_table, write_chain_bundle

CLEAN = next(c for c in chain_bundles() if c["case"] == "clean")
POLICY: dict[str, Any] = CLEAN["policy"]
#: The identity point (small order) and a y that is no curve point.
SMALL_ORDER = "01" + "00" * 31
NOT_A_POINT = "02" + "00" * 31
ANOTHER_KEY = _core.public_key_from_seed(bytes(range(32))).hex()


def _err_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    path, _ = write_chain_bundle(CLEAN, tmp_path)
    return path


def _policy(**changes: Any) -> dict[str, Any]:
    p = copy.deepcopy(POLICY)
    for k, v in changes.items():
        if v is ...:
            del p[k]
        else:
            p[k] = v
    return p


def _witness(i: int, **changes: Any) -> list[dict[str, Any]]:
    w = copy.deepcopy(POLICY["witnesses"])
    w[i].update(changes)
    return w


BAD_POLICIES: list[tuple[str, Any, str]] = [
    ("not_json", "{not json", "policy: not valid JSON: "),
    ("not_utf8", b"\xff{}", "not JSON: 'utf-8' codec can't decode byte 0xff"),
    ("too_deep", "[" * 5000, "policy: JSON nested deeper than 64 levels is not read"),
    (
        "huge_integer",
        '{"format": "hashcore-policy", "version": ' + "9" * 5000 + "}",
        "policy: holds an integer of 5000 digits; at most 78 are accepted",
    ),
    ("array", "[]", "must be a JSON object, got list"),
    (
        "format",
        _policy(format="hashcore-bundle"),
        "format is 'hashcore-bundle', expected 'hashcore-policy'",
    ),
    ("version", _policy(version=1), "version is 1, expected 2"),
    ("version_true", _policy(version=True), "version is True, expected 2"),
    ("no_origin", _policy(origin=...), "origin is missing"),
    ("origin_space", _policy(origin="relay example"), "origin must be a key name"),
    ("origin_plus", _policy(origin="relay+x"), "origin must be a key name"),
    ("log_key_short", _policy(log_key="ab" * 31), "log_key must be 64 hex digits"),
    ("log_key_not_hex", _policy(log_key="zz" * 32), "log_key must be 64 hex digits"),
    ("log_key_small_order", _policy(log_key=SMALL_ORDER), "log_key is a small-order Ed25519 key"),
    ("log_key_not_a_point", _policy(log_key=NOT_A_POINT), "log_key is not an Ed25519 curve point"),
    ("witnesses_not_list", _policy(witnesses={}), "witnesses must be a list, got dict"),
    (
        "witness_small_order",
        _policy(witnesses=_witness(1, key=SMALL_ORDER)),
        "witnesses[1].key is a small-order Ed25519 key",
    ),
    (
        "witness_bad_hex",
        _policy(witnesses=_witness(0, key="00")),
        "witnesses[0].key must be 64 hex",
    ),
    (
        "witness_bad_name",
        _policy(witnesses=_witness(2, name="")),
        "witnesses[2].name must be a key name",
    ),
    ("witness_no_key", _policy(witnesses=[{"name": "w.example"}]), "witnesses[0].key is missing"),
    (
        "duplicate_witness_name",
        _policy(witnesses=_witness(1, name=POLICY["witnesses"][0]["name"])),
        "witnesses[1].name 'witness-0.example/hashcore' names two witnesses",
    ),
    (
        "duplicate_witness_key",
        _policy(witnesses=_witness(2, key=POLICY["witnesses"][0]["key"])),
        "witnesses[2].key " + POLICY["witnesses"][0]["key"] + " is the key of another witness",
    ),
    (
        "witness_is_log_key",
        _policy(witnesses=_witness(0, key=POLICY["log_key"])),
        "witnesses[0].key is the log key",
    ),
    ("quorum_too_large", _policy(witness_quorum=4), "witness_quorum must be in 0..3, got 4"),
    ("quorum_negative", _policy(witness_quorum=-1), "witness_quorum must be in 0..3, got -1"),
    ("quorum_float", _policy(witness_quorum=2.0), "witness_quorum must be an integer, got 2.0"),
    ("quorum_missing", _policy(witness_quorum=...), "witness_quorum is missing"),
    ("evm_partial", _policy(evm={"chain_id": 1}), "evm.contract is missing"),
    ("evm_not_object", _policy(evm=[]), "evm must be an object or null, got list"),
    (
        "evm_bad_anchorer",
        _policy(
            evm={
                "chain_id": 1,
                "contract": "0x" + "ab" * 20,
                "from_block": 0,
                "anchorer": "0x12",
                "confirmations": 1,
            }
        ),
        "evm.anchorer must be '0x' and 40 hex digits",
    ),
    ("delay_negative", _policy(max_merge_delay_ms=-1), "max_merge_delay_ms must be in 0.."),
    ("skew_string", _policy(max_clock_skew_ms="300000"), "max_clock_skew_ms must be an integer"),
    ("skew_missing", _policy(max_clock_skew_ms=...), "max_clock_skew_ms is missing"),
]


@pytest.mark.parametrize(
    ("name", "policy", "message"), BAD_POLICIES, ids=[b[0] for b in BAD_POLICIES]
)
def test_bad_policy_is_refused(
    name: str,
    policy: Any,
    message: str,
    bundle: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = policy if isinstance(policy, str | bytes) else json.dumps(policy)
    with pytest.raises(PolicyError) as raised:
        parse_policy(text)
    assert message in str(raised.value)
    file = tmp_path / "policy.json"
    file.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(PolicyError, match=r"policy\.json: "):
        hashcore.audit_bundle(bundle, policy=file)
    assert main(["audit", str(bundle), "--policy", str(file)]) == 2
    line = _err_line(capsys)
    assert line.startswith(f"hashcore: error: {file}: ")
    assert " ".join(message.split()) in line


def test_good_policy_parses_with_unknown_members_ignored() -> None:
    p = parse_policy(json.dumps({**POLICY, "comment": "registered 2026-11-30"}))
    assert p.origin == POLICY["origin"] and p.log_key.hex() == POLICY["log_key"]
    assert [(w.name, w.key.hex()) for w in p.witnesses] == [
        (w["name"], w["key"]) for w in POLICY["witnesses"]
    ]
    assert (p.witness_quorum, p.evm, p.max_merge_delay_ms, p.max_clock_skew_ms) == (
        2,
        None,
        86_400_000,
        300_000,
    )
    evm = {
        "chain_id": 31337,
        "contract": "0x" + "ab" * 20,
        "from_block": 7,
        "anchorer": "0x" + "cd" * 20,
        "confirmations": 3,
    }
    with_evm = parse_policy(json.dumps({**POLICY, "evm": evm}))
    assert with_evm.evm is not None and with_evm.evm.from_block == 7


def test_policy_file_missing(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(PolicyError, match=r"nope\.json: unreadable: No such file"):
        load_policy(missing)
    assert main(["audit", str(bundle), "--policy", str(missing)]) == 2
    assert _err_line(capsys) == f"hashcore: error: {missing}: unreadable: No such file or directory"


def _manifest(bundle: Path, **changes: Any) -> None:
    m = json.loads((bundle / "manifest.json").read_text())
    m.update(changes)
    (bundle / "manifest.json").write_text(json.dumps(m))


BAD_MANIFESTS: list[tuple[str, dict[str, Any], str]] = [
    ("origin", {"origin": "two words"}, "origin must be a key name, got 'two words'"),
    ("origin_null", {"origin": None}, "origin must be a key name, got None"),
    ("log_key", {"log_key": "ab"}, "log_key must be 64 hex digits, got 'ab'"),
    ("exported_ms", {"exported_ms": "now"}, "exported_ms must be an i64 integer, got 'now'"),
    ("exported_ms_big", {"exported_ms": 2**63}, f"exported_ms must be an i64 integer, got {2**63}"),
    ("format", {"format": "other"}, "format is 'other', expected 'hashcore-bundle'"),
]


@pytest.mark.parametrize(
    ("name", "changes", "message"), BAD_MANIFESTS, ids=[b[0] for b in BAD_MANIFESTS]
)
def test_bad_manifest_makes_the_bundle_unreadable(
    name: str,
    changes: dict[str, Any],
    message: str,
    bundle: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _manifest(bundle, **changes)
    with pytest.raises(BundleError) as raised:
        read_bundle_v2(bundle)
    assert str(raised.value) == f"{bundle / 'manifest.json'}: {message}"
    with pytest.raises(BundleError, match=message.replace("(", r"\(").replace(")", r"\)")):
        hashcore.audit_bundle(bundle)
    assert main(["audit", str(bundle)]) == 2
    assert _err_line(capsys) == f"hashcore: error: {bundle / 'manifest.json'}: {message}"


def test_missing_checkpoints_and_records(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (bundle / "checkpoints.parquet").unlink()
    assert main(["audit", str(bundle)]) == 2
    assert _err_line(capsys) == f"hashcore: error: {bundle / 'checkpoints.parquet'}: missing"
    (bundle / "records.parquet").unlink()
    with pytest.raises(BundleError, match=r"no records\.parquet and no records/"):
        read_bundle_v2(bundle)


def test_receipts_file_of_the_wrong_shape(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receipts = pq.read_table(bundle / "receipts.parquet")
    no_sig = tmp_path / "no-sig.parquet"
    pq.write_table(receipts.drop_columns(["receipt_sig"]), no_sig)
    with pytest.raises(
        BundleError, match=r"no-sig.parquet: no column 'receipt_sig' \(SPEC section 4\)"
    ):
        hashcore.audit_bundle(bundle, receipts=[no_sig])
    assert main(["audit", str(bundle), "--receipts", str(no_sig)]) == 2
    assert (
        _err_line(capsys) == f"hashcore: error: {no_sig}: no column 'receipt_sig' (SPEC section 4)"
    )

    text_link = tmp_path / "text-link.parquet"
    pq.write_table(receipts.set_column(2, "link", pa.array(["x"] * receipts.num_rows)), text_link)
    assert main(["audit", str(bundle), "--receipts", str(text_link)]) == 2
    assert _err_line(capsys) == (
        f"hashcore: error: {text_link}: column 'link' must be fixed_size_binary[32], got string"
    )
    negative = tmp_path / "negative.parquet"
    pq.write_table(
        receipts.set_column(3, "log_index", pa.array([-1] * receipts.num_rows)), negative
    )
    assert main(["audit", str(bundle), "--receipts", str(negative)]) == 2
    assert _err_line(capsys) == (
        f"hashcore: error: {negative}: column 'log_index' has a value that does not fit uint64"
    )
    not_parquet = tmp_path / "receipts.txt"
    not_parquet.write_text("log_index,link\n")
    assert main(["audit", str(bundle), "--receipts", str(not_parquet)]) == 2
    assert _err_line(capsys).startswith(f"hashcore: error: {not_parquet}: unreadable Parquet: ")


def test_receipts_of_the_wrong_sizes(bundle: Path, tmp_path: Path) -> None:
    # Decision 14: a receipt field of the wrong size is RECEIPT_BAD_SIG (rejected evidence,
    # nothing against the relay); a writer refuses to write it at all.
    rows = copy.deepcopy(CLEAN["receipts"][:4])
    rows[0]["link"] = rows[0]["link"][:-2]  # 31 bytes
    rows[1]["receipt_sig"] = rows[1]["receipt_sig"] + "00"  # 65 bytes
    rows[2]["chain_id"] = rows[2]["chain_id"][:-2]  # 15 bytes: not signed, not checked
    loose = pa.schema(
        [
            pa.field(f.name, pa.binary() if pa.types.is_fixed_size_binary(f.type) else f.type)
            for f in _receipt_schema()
        ]
    )
    table = rows_table(rows, loose)
    odd = tmp_path / "odd.parquet"
    pq.write_table(table, odd)
    report = hashcore.audit_bundle(bundle, receipts=[odd])
    assert isinstance(report, AuditReportV2)
    assert [r.code for r in report.receipts[-4:]] == [
        "RECEIPT_BAD_SIG",
        "RECEIPT_BAD_SIG",
        "RECEIPT_OK",
        "RECEIPT_OK",
    ]
    assert report.receipts[-2].chain_id is not None and len(report.receipts[-2].chain_id) == 15
    assert report.clean is True
    with pytest.raises(
        ColumnError,
        match=r"receipts column 'chain_id' cannot be written as "
        r"fixed_size_binary\[16\]: .*widths must match",
    ):
        hashcore.bundle.write_bundle_v2(
            tmp_path / "w",
            rows_table(CLEAN["records"], _record_schema()),
            rows_table(CLEAN["checkpoints"], _checkpoint_schema()),
            origin=POLICY["origin"],
            log_key=bytes.fromhex(POLICY["log_key"]),
            receipts=table,
        )


def _receipt_schema() -> pa.Schema:
    from hashcore.bundle.format_v2 import RECEIPT_SCHEMA

    return RECEIPT_SCHEMA


def _record_schema() -> pa.Schema:
    from hashcore.bundle.format_v2 import RECORD_SCHEMA_V2

    return RECORD_SCHEMA_V2


def _checkpoint_schema() -> pa.Schema:
    from hashcore.bundle.format_v2 import CHECKPOINT_SCHEMA_V2

    return CHECKPOINT_SCHEMA_V2


def _bad_notes() -> dict[str, tuple[bytes, str]]:
    """Unparsable or invalid notes made from the clean bundle's first checkpoint, with the
    rule each breaks as the primitives name it."""
    note = CLEAN["checkpoints"][0]["note"]
    body, sigs = note.split("\n\n", 1)
    lines = sigs.splitlines(keepends=True)
    relay = lines[0]
    return {
        "extension_line": (
            (body + "\nextension line\n\n" + sigs).encode(),
            "checkpoint body: has extension lines",
        ),
        "no_final_newline": (note[:-1].encode(), "note does not end with a newline"),
        "duplicate_log_line": (
            (body + "\n\n" + relay + relay + "".join(lines[1:])).encode(),
            "note has more than one signature line by the log key",
        ),
        "1000_signature_lines": (
            (body + "\n\n" + relay + "".join(lines[1:]) * 333).encode(),
            "note has more than 100 signature lines",
        ),
    }


@pytest.mark.parametrize("name", list(_bad_notes()))
def test_unparsable_notes(
    name: str, bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    note, rule = _bad_notes()[name]
    assert len(note.split(b"\n")) >= 5
    # The primitive refuses it, naming the rule.
    with pytest.raises(InvalidInputError) as raised:
        _core.note_verify(note, POLICY["origin"], bytes.fromhex(POLICY["log_key"]))
    assert str(raised.value) == rule
    # Handed in as evidence it is rejected evidence (SPEC 5.2), the rule in the report.
    file = tmp_path / "notes.parquet"
    pq.write_table(pa.table({"note": pa.array([note], pa.binary())}), file)
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY))
    report = hashcore.audit_bundle(bundle, policy=policy, notes=[file])
    assert isinstance(report, AuditReportV2)
    last = report.evidence_notes[-1]
    assert (last.code, last.reason) == ("NOTE_REJECTED", rule)
    assert report.clean is True
    assert main(["audit", str(bundle), "--policy", str(policy), "--notes", str(file)]) == 0
    assert f"NOTE_REJECTED evidence note {last.row}: {rule}" in capsys.readouterr().out
    # As the bundle's own checkpoint it is BAD_CHECKPOINT_SIG, and the audit is not clean.
    cps = pq.read_table(bundle / "checkpoints.parquet")
    notes = cps.column("note").to_pylist()
    notes[0] = note
    pq.write_table(
        cps.set_column(2, "note", pa.array(notes, pa.binary())), bundle / "checkpoints.parquet"
    )
    broken = hashcore.audit_bundle(bundle, policy=policy)
    assert isinstance(broken, AuditReportV2)
    assert (broken.checkpoints[0].code, broken.checkpoints[0].reason) == (
        "BAD_CHECKPOINT_SIG",
        rule,
    )
    assert broken.clean is False


def test_notes_file_of_the_wrong_shape(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = tmp_path / "notes.parquet"
    pq.write_table(pa.table({"text": ["x"]}), wrong)
    assert main(["audit", str(bundle), "--notes", str(wrong)]) == 2
    assert _err_line(capsys) == f"hashcore: error: {wrong}: no column 'note' (SPEC section 4)"
    numbers = tmp_path / "numbers.parquet"
    pq.write_table(pa.table({"note": [1, 2]}), numbers)
    with pytest.raises(BundleError, match="column 'note' must be binary, got int64"):
        hashcore.audit_bundle(bundle, notes=[numbers])


def test_record_without_log_index(bundle: Path) -> None:
    records = pq.read_table(bundle / "records.parquet")
    values = records.column("log_index").to_pylist()
    values[3] = None
    pq.write_table(
        records.set_column(0, "log_index", pa.array(values, pa.uint64())),
        bundle / "records.parquet",
    )
    with pytest.raises(
        ColumnError, match="column 'log_index': row 3 is null; every record needs its log position"
    ):
        hashcore.audit_bundle(bundle)


def test_arguments_that_are_gone_or_out_of_range(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", str(bundle), "--log-id", "00" * 32]) == 2
    assert "unrecognized arguments: --log-id" in _err_line(capsys)
    with pytest.raises(InvalidInputError, match=r"as_of must be in 0\.\."):
        hashcore.audit_bundle(bundle, as_of=-1)
    assert main(["audit", str(bundle), "--as-of", "-1"]) == 2
    assert "--as-of: expected an integer >= 0, got -1" in _err_line(capsys)


def test_every_refusal_is_a_hashcore_error() -> None:
    assert issubclass(PolicyError, HashcoreError) and issubclass(PolicyError, ValueError)


def test_unusable_manifest_log_key_verifies_nothing(bundle: Path) -> None:
    # Decision 11: without a policy the manifest's key is trusted; a small-order one
    # verifies nothing (the bundle is readable: this is the audit's verdict, not an error).
    _manifest(bundle, log_key=SMALL_ORDER)
    report = hashcore.audit_bundle(bundle)
    assert isinstance(report, AuditReportV2)
    assert {c.code for c in report.checkpoints} == {"BAD_CHECKPOINT_SIG"}
    assert all(c.reason for c in report.checkpoints)
    assert {r.code for r in report.receipts} == {"RECEIPT_BAD_SIG"}
    assert {n.code for n in report.evidence_notes} == {"NOTE_REJECTED"}
    assert report.counts["NOT_LOGGED"] == len(CLEAN["records"])
    assert report.clean is False and report.log_identity_source == "bundle"


def test_json_to_stdout_keeps_stdout_for_the_json(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", str(bundle), "--json", "-"]) == 0
    out, err = capsys.readouterr()
    body = json.loads(out)
    assert body["clean"] is True and body["log_identity_source"] == "bundle"
    assert "audit: CLEAN" in err and "log identity taken from the bundle" in err
