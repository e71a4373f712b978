"""Bad input to the core API: the exact exception class and a message naming what is wrong.

Also: the GIL is released during verification, the private pool survives fork(), and
garbage buffers never reach Rust as out-of-bounds reads (they are refused up front).
"""

from __future__ import annotations

import os
import threading

import hashcore
import pyarrow as pa
import pytest
from conftest import checkpoints_table, records_table
from hashcore import _core, merkle
from hashcore.errors import ColumnError, ColumnTypeError, HashcoreError, InvalidInputError


@pytest.fixture(scope="module")
def clean(chain_bundles: list[dict[str, object]]) -> dict[str, object]:
    return chain_bundles[0]


def _tables(bundle: dict[str, object]) -> tuple[pa.Table, pa.Table, str]:
    return (
        records_table(bundle["records"]),  # type: ignore[arg-type]
        checkpoints_table(bundle["checkpoints"]),  # type: ignore[arg-type]
        bundle["log_id"],  # type: ignore[return-value]
    )


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
            lambda: _core.record_header(bytes(16), 0, 0, 256, bytes(32), bytes(32)),
            InvalidInputError,
            "kind must fit in one byte",
        ),
        (
            lambda: _core.record_header(bytes(15), 0, 0, 1, bytes(32), bytes(32)),
            InvalidInputError,
            "chain_id must be 16 bytes, got 15",
        ),
        (lambda: _core.record_header(bytes(16), -1, 0, 1, bytes(32), bytes(32)), OverflowError, ""),
        (
            lambda: _core.link_of_header(bytes(97)),
            InvalidInputError,
            "header must be 98 bytes, got 97",
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
            lambda: _core.sign_checkpoint(bytes(31), 1, bytes(32)),
            InvalidInputError,
            "seed must be 32 bytes, got 31",
        ),
        (
            lambda: merkle.root(bytes(33)),
            InvalidInputError,
            "links buffer must be a multiple of 32 bytes, got 33",
        ),
        (
            lambda: merkle.root([bytes(32), bytes(31)]),
            InvalidInputError,
            "links[1]: link must be 32 bytes, got 31",
        ),
        (
            lambda: merkle.inclusion_proof([bytes(32)] * 3, 3),
            InvalidInputError,
            "index 3 is not below the tree size 3",
        ),
        (
            lambda: merkle.consistency_proof([bytes(32)] * 3, 4),
            InvalidInputError,
            "first size 4 is larger than the tree size 3",
        ),
        (
            lambda: merkle.verify_inclusion(bytes(32), 0, 1, [bytes(5)], bytes(32)),
            InvalidInputError,
            "path element must be 32 bytes, got 5",
        ),
        (
            lambda: merkle.MerkleLog.from_state(3, [bytes(32)]),
            InvalidInputError,
            "a log of size 3 has 2 subtree roots, not 1",
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


def test_verify_bulk_names_a_missing_column(clean: dict[str, object]) -> None:
    records, _, _ = _tables(clean)
    with pytest.raises(ColumnError, match="records table has no column 'signature'"):
        hashcore.verify_bulk(records.drop_columns(["signature"]))


def test_verify_bulk_names_a_column_of_the_wrong_type(clean: dict[str, object]) -> None:
    records, _, _ = _tables(clean)
    as_text = records.set_column(1, "chain_id", pa.array(["x"] * records.num_rows))
    with pytest.raises(
        ColumnTypeError, match="column 'chain_id' must be binary or fixed_size_binary, got string"
    ):
        hashcore.verify_bulk(as_text)
    seq_float = records.set_column(2, "seq", pa.array([1.5] * records.num_rows))
    with pytest.raises(ColumnTypeError, match="column 'seq' must be uint64, got double"):
        hashcore.verify_bulk(seq_float)


def test_verify_bulk_names_the_row_of_an_out_of_range_integer(clean: dict[str, object]) -> None:
    records, _, _ = _tables(clean)
    seqs = records["seq"].to_pylist()
    seqs[4] = -3
    negative = records.set_column(2, "seq", pa.array(seqs, pa.int64()))
    with pytest.raises(ColumnError, match="column 'seq' row 4: value -3 does not fit uint64"):
        hashcore.verify_bulk(negative)


def test_verify_bulk_refuses_a_null_log_index(clean: dict[str, object]) -> None:
    records, _, _ = _tables(clean)
    li = records["log_index"].to_pylist()
    li[2] = None
    with pytest.raises(ColumnError, match="column 'log_index': row 2 is null"):
        hashcore.verify_bulk(records.set_column(0, "log_index", pa.array(li, pa.uint64())))


def test_verify_bulk_argument_errors(clean: dict[str, object]) -> None:
    records, cps, log_id = _tables(clean)
    with pytest.raises(InvalidInputError, match="checkpoints need the relay's log_id"):
        hashcore.verify_bulk(records, checkpoints=cps)
    with pytest.raises(InvalidInputError, match="log_id must be 32 bytes, got 31"):
        hashcore.verify_bulk(records, checkpoints=cps, log_id=bytes(31))
    with pytest.raises(InvalidInputError, match="log_id must be 64 hex characters"):
        hashcore.verify_bulk(records, checkpoints=cps, log_id="zz")
    with pytest.raises(InvalidInputError, match="threads must be a positive integer, got 0"):
        hashcore.verify_bulk(records, threads=0)
    with pytest.raises(InvalidInputError, match="2 anchor states for 4 checkpoints"):
        hashcore.verify_bulk(records, checkpoints=cps, log_id=log_id, anchors=["final", "final"])
    with pytest.raises(
        InvalidInputError, match="anchor state must be final, pending or missing, got 'maybe'"
    ):
        hashcore.verify_bulk(records, checkpoints=cps, log_id=log_id, anchors=["maybe"] * 4)


def test_engine_refuses_buffers_shorter_than_the_column() -> None:
    """A hand-made column spec whose buffers lie about their length never reaches a read."""
    n = 4
    spec = {
        name: ("int", 8, bytes(8 * n), None, None, 0, n) for name in ("log_index", "seq", "time_ms")
    }
    spec["kind"] = ("int", 1, bytes(n), None, None, 0, n)
    for name in ("chain_id", "prev", "commit", "link", "signature", "salt"):
        spec[name] = ("fixed", 16, bytes(16 * n), None, None, 0, n)
    spec["payload"] = ("var32", 0, b"abc", (0).to_bytes(4, "little") * 2, None, 0, n)
    with pytest.raises(
        ColumnError, match="column 'payload': offsets buffer is shorter than the column"
    ):
        _core.verify_columns(spec)  # type: ignore[arg-type]
    spec["payload"] = (
        "var32",
        0,
        b"abc",
        b"".join(i.to_bytes(4, "little") for i in (0, 2, 1, 3, 3)),
        None,
        0,
        n,
    )
    with pytest.raises(ColumnError, match="column 'payload': offsets are not monotonic at row 1"):
        _core.verify_columns(spec)  # type: ignore[arg-type]


def test_anchor_states_apply_after_the_log_checks(clean: dict[str, object]) -> None:
    records, cps, log_id = _tables(clean)
    report = hashcore.verify_bulk(
        records, checkpoints=cps, log_id=log_id, anchors=["final", "pending", "missing", None]
    )
    assert [c.code for c in report.checkpoints] == ["OK", "UNCONFIRMED", "NOT_ANCHORED", "OK"]
    assert report.clean is False and report.counts["OK"] == 18


def test_without_checkpoints_the_log_is_not_assessed(clean: dict[str, object]) -> None:
    records, _, _ = _tables(clean)
    report = hashcore.verify_bulk(records)
    assert report.log_checked is False and report.counts["OK"] == 18 and report.clean is True
    assert "log not checked" in repr(report)
    empty = hashcore.verify_bulk(records, checkpoints=checkpoints_table([]), log_id=bytes(32))
    assert empty.counts["NOT_LOGGED"] == 18 and empty.clean is False


def test_gil_is_released_while_verifying(chain_bundles: list[dict[str, object]]) -> None:
    rows = [r for b in chain_bundles for r in b["records"]] * 40  # type: ignore[attr-defined]
    records = records_table(rows)
    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        hashcore.verify_bulk(records, threads=1)  # warm up
        before = ticks
        for _ in range(5):
            hashcore.verify_bulk(records, threads=1)
        during = ticks - before
    finally:
        stop.set()
        t.join()
    # With the GIL held for the whole call the spinning thread could not run at all.
    assert during > 1000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_verify_bulk_works_in_a_forked_child(clean: dict[str, object]) -> None:
    records, cps, log_id = _tables(clean)
    assert hashcore.verify_bulk(records, checkpoints=cps, log_id=log_id, threads=2).clean
    pid = os.fork()
    if pid == 0:  # child: the parent's pool threads do not exist here
        try:
            ok = hashcore.verify_bulk(records, checkpoints=cps, log_id=log_id, threads=2).clean
            os._exit(0 if ok else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
