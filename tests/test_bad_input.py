"""Bad input to the core API: the exact exception class and a message naming what is wrong.

Also: the GIL is released during verification, the private pool survives fork(), and
garbage never reaches Rust as out-of-bounds reads (it is refused up front).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import hashcore
import pyarrow as pa
import pytest
from hashcore import _core
from hashcore.bundle.format_v2 import CHECKPOINT_SCHEMA_V2, RECORD_SCHEMA_V2
from hashcore.errors import ColumnError, ColumnTypeError, HashcoreError, InvalidInputError
from v2.chain_bundles import chain_bundles, rows_table

CLEAN = next(c for c in chain_bundles() if c["case"] == "clean")


def _tables() -> tuple[pa.Table, pa.Table, dict[str, Any]]:
    identity = {
        "origin": CLEAN["manifest"]["origin"],
        "log_key": bytes.fromhex(CLEAN["manifest"]["log_key"]),
    }
    return (
        rows_table(CLEAN["records"], RECORD_SCHEMA_V2),
        rows_table(CLEAN["checkpoints"], CHECKPOINT_SCHEMA_V2),
        identity,
    )


def _verify(records: pa.Table, **kwargs: Any) -> hashcore.AuditReportV2:
    _, cps, identity = _tables()
    return hashcore.verify_bulk(records, checkpoints=cps, **{**identity, **kwargs})


@pytest.mark.parametrize(
    ("call", "exc", "message"),
    [
        (
            lambda: _core.commitment(b"short", b""),
            InvalidInputError,
            "salt must be 16 bytes, got 5",
        ),
        (lambda: _core.commitment("x" * 16, b""), TypeError, "salt must be bytes-like"),
        (
            lambda: _core.chain_id_for_key(b"\x00" * 31),
            InvalidInputError,
            "public_key must be 32 bytes, got 31",
        ),
        (
            lambda: _core.v2_record_header(
                bytes(16), 0, 0, 256, bytes(32), bytes(32), 0, bytes(32)
            ),
            InvalidInputError,
            "kind must fit in one byte",
        ),
        (
            lambda: _core.v2_record_header(bytes(15), 0, 0, 1, bytes(32), bytes(32), 0, bytes(32)),
            InvalidInputError,
            "chain_id must be 16 bytes, got 15",
        ),
        (
            lambda: _core.v2_record_header(bytes(16), -1, 0, 1, bytes(32), bytes(32), 0, bytes(32)),
            OverflowError,
            "",
        ),
        (
            lambda: _core.v2_link_of_header(bytes(137)),
            InvalidInputError,
            "header must be 138 bytes, got 137",
        ),
        (
            lambda: _core.verify_signature(bytes(32), b"m", bytes(63)),
            InvalidInputError,
            "signature must be 64 bytes, got 63",
        ),
        (
            lambda: _core.verify_signatures(
                [(bytes(32), b"m", bytes(64)), (bytes(3), b"m", bytes(64))]
            ),
            InvalidInputError,
            "item 1: public_key must be 32 bytes, got 3",
        ),
        (
            lambda: _core.note_sign(bytes(31), "example.org/log", 1, bytes(32)),
            InvalidInputError,
            "must be 32 bytes, got 31",
        ),
        (
            lambda: _core.sha256_tree_root(bytes(33)),
            InvalidInputError,
            "a multiple of 32 bytes, got 33",
        ),
        (
            lambda: _core.sha256_inclusion_proof([bytes(32)] * 3, 3),
            InvalidInputError,
            "index 3 is not below the tree size 3",
        ),
        (
            lambda: _core.sha256_consistency_proof([bytes(32)] * 3, 4),
            InvalidInputError,
            "first size 4 is larger than the tree size 3",
        ),
        (
            lambda: _core.sha256_verify_inclusion(bytes(32), 0, 1, [bytes(5)], bytes(32)),
            InvalidInputError,
            "must be 32 bytes, got 5",
        ),
    ],
)
def test_core_functions_name_the_bad_argument(
    call: object, exc: type[Exception], message: str
) -> None:
    with pytest.raises(exc) as info:
        call()  # type: ignore[operator]
    assert message in str(info.value)


def test_invalid_input_is_both_hashcore_and_value_error() -> None:
    with pytest.raises(HashcoreError):
        _core.chain_id_for_key(b"")
    with pytest.raises(ValueError, match="public_key must be 32 bytes, got 0"):
        _core.chain_id_for_key(b"")


def test_verify_bulk_rejects_non_tables() -> None:
    with pytest.raises(
        ColumnTypeError, match=r"records must be a pyarrow\.Table or RecordBatch, not list"
    ):
        hashcore.verify_bulk([{"log_index": 0}])  # type: ignore[arg-type]


def test_verify_bulk_names_a_missing_column() -> None:
    records, _, _ = _tables()
    with pytest.raises(ColumnError, match="records table has no column 'signature'"):
        _verify(records.drop_columns(["signature"]))


def test_verify_bulk_names_a_column_of_the_wrong_type() -> None:
    records, _, _ = _tables()
    i = records.schema.get_field_index("chain_id")
    as_text = records.set_column(i, "chain_id", pa.array(["x"] * records.num_rows))
    with pytest.raises(
        ColumnTypeError, match="column 'chain_id' must be binary or fixed_size_binary, got string"
    ):
        _verify(as_text)
    i = records.schema.get_field_index("seq")
    seq_float = records.set_column(i, "seq", pa.array([1.5] * records.num_rows))
    with pytest.raises(ColumnTypeError, match="column 'seq' must be uint64, got double"):
        _verify(seq_float)


def test_verify_bulk_names_the_row_of_an_out_of_range_integer() -> None:
    records, _, _ = _tables()
    seqs = records["seq"].to_pylist()
    seqs[4] = -3
    i = records.schema.get_field_index("seq")
    negative = records.set_column(i, "seq", pa.array(seqs, pa.int64()))
    with pytest.raises(ColumnError, match="column 'seq' row 4: value -3 does not fit uint64"):
        _verify(negative)


def test_verify_bulk_refuses_a_null_log_index() -> None:
    records, _, _ = _tables()
    li = records["log_index"].to_pylist()
    li[2] = None
    i = records.schema.get_field_index("log_index")
    with pytest.raises(ColumnError, match="column 'log_index': row 2 is null"):
        _verify(records.set_column(i, "log_index", pa.array(li, pa.uint64())))


def test_verify_bulk_argument_errors() -> None:
    records, cps, identity = _tables()
    with pytest.raises(InvalidInputError, match="need their checkpoints table"):
        hashcore.verify_bulk(records, **identity)
    with pytest.raises(InvalidInputError, match="need the log identity to trust"):
        hashcore.verify_bulk(records, checkpoints=cps)
    with pytest.raises(InvalidInputError, match="threads must be a positive integer, got 0"):
        _verify(records, threads=0)
    with pytest.raises(InvalidInputError, match="not states"):
        _verify(records, anchors=["final"])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="log_key must be 32 bytes"):
        _verify(records, log_key=bytes(31))


def test_gil_is_released_while_verifying() -> None:
    records, _, _ = _tables()
    records = pa.concat_tables([records] * 40)
    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        _verify(records, threads=1)  # warm up
        before = ticks
        for _ in range(5):
            _verify(records, threads=1)
        during = ticks - before
    finally:
        stop.set()
        t.join()
    # With the GIL held for the whole call the spinning thread could not run at all.
    assert during > 1000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_verify_bulk_works_in_a_forked_child() -> None:
    records, _, _ = _tables()
    assert _verify(records, threads=2).clean
    pid = os.fork()
    if pid == 0:  # child: the parent's pool threads do not exist here
        try:
            ok = _verify(records, threads=2).clean
            os._exit(0 if ok else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
