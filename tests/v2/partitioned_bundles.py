"""Bundles for the partitioned audit's tests: a bundle's records rewritten as parts of
given sizes (rows optionally reordered first), tampered in the ways that move the
partitioned audit's seams (rows across parts, duplicates within and across parts, holes,
unrebuildable entries, malformed rows, other chain buckets), its receipts tampered
(a wrong signature, another index, re-signed by the log key at another index or time,
withheld, copied, dropped), and the report compared field by field with the in-memory
audit's."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hashcore import _core
from hashcore.audit import AuditReportV2
from hashcore.bundle import read_bundle_v2

#: The tamperings `tamper` knows, by name (each takes the table and a random generator).
TAMPERINGS = (
    "flip_link",
    "flip_signature",
    "flip_prev",
    "flip_payload",
    "received_plus_one",
    "delete_row",
    "copy_row",
    "copy_row_other_received",
    "steal_log_index",
    "null_seq",
    "null_received",
    "short_chain_id",
    "beacon_size_plus_one",
    "shuffle",
)


def _binary(table: pa.Table) -> pa.Table:
    """Byte columns as plain binary (a tampering may change a value's size)."""
    fields = [
        pa.field(f.name, pa.binary() if pa.types.is_fixed_size_binary(f.type) else f.type)
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def _set(table: pa.Table, name: str, row: int, value: Any) -> pa.Table:
    values = table.column(name).to_pylist()
    values[row] = value
    i = table.column_names.index(name)
    return table.set_column(i, name, pa.array(values, table.schema.field(name).type))


def _flip(table: pa.Table, name: str, row: int) -> pa.Table:
    value = table.column(name)[row].as_py()
    if value is None or len(value) == 0:
        return table
    return _set(table, name, row, bytes([value[0] ^ 1]) + value[1:])


def tamper(table: pa.Table, what: str, rng: np.random.Generator) -> pa.Table:
    """``table`` with one tampering ``what`` at rows drawn from ``rng``."""
    table = _binary(table)
    n = table.num_rows
    row, other = int(rng.integers(n)), int(rng.integers(n))
    if what.startswith("flip_"):
        return _flip(table, what.removeprefix("flip_"), row)
    if what == "received_plus_one":
        ms = table.column("received_ms")[row].as_py()
        return _set(table, "received_ms", row, None if ms is None else ms + 1)
    if what == "delete_row":
        return pa.concat_tables([table.slice(0, row), table.slice(row + 1)])
    if what == "copy_row":
        return pa.concat_tables([table, table.slice(row, 1)])
    if what == "copy_row_other_received":
        copy = table.slice(row, 1)
        ms = copy.column("received_ms")[0].as_py()
        return pa.concat_tables([table, _set(copy, "received_ms", 0, (ms or 0) + 7)])
    if what == "steal_log_index":
        return _set(table, "log_index", row, table.column("log_index")[other].as_py())
    if what == "null_seq":
        return _set(table, "seq", row, None)
    if what == "null_received":
        return _set(table, "received_ms", row, None)
    if what == "short_chain_id":
        cid = table.column("chain_id")[row].as_py()
        return _set(table, "chain_id", row, cid[:15] if cid else cid)
    if what == "beacon_size_plus_one":
        size = table.column("beacon_size")[row].as_py()
        return _set(table, "beacon_size", row, None if size is None else size + 1)
    if what == "shuffle":
        return table.take(pa.array(rng.permutation(n)))
    raise ValueError(what)


#: The receipt tamperings `tamper_receipts` knows. "resigned_*" sign with the log key:
#: a relay's own wrong promise (CONFLICT, CONTRADICTED, WITHHELD or PENDING), the others
#: break the signature (BAD_SIG) or copy and drop receipts.
RECEIPT_TAMPERINGS = (
    "flip_sig",
    "other_index",
    "resigned_other_index",
    "resigned_other_received",
    "resigned_past_the_log",
    "resigned_past_the_log_late",
    "copy",
    "drop",
)


def _resigned(row: dict[str, Any], log_seed: bytes, **changes: Any) -> dict[str, Any]:
    row = {**row, **changes}
    entry = _core.log_entry(row["link"], row["received_ms"])
    row["receipt_sig"] = _core.receipt_sign(log_seed, row["log_index"], entry)
    return row


def tamper_receipts(
    receipts: pa.Table, what: str, rng: np.random.Generator, log_seed: bytes
) -> pa.Table:
    """``receipts`` with one tampering ``what`` at a receipt drawn from ``rng``; a
    receipt "past the log" is at a position no record holds, received two merge delays
    before the first receipt (due: WITHHELD once a checkpoint attests) or after the last
    (PENDING)."""
    rows = receipts.to_pylist()
    if not rows:
        return receipts
    i, j = int(rng.integers(len(rows))), int(rng.integers(len(rows)))
    row = rows[i]
    times = [r["received_ms"] for r in rows]
    past = max(r["log_index"] for r in rows) + 1 + int(rng.integers(5))
    if what == "flip_sig":
        sig = row["receipt_sig"]
        rows[i] = {**row, "receipt_sig": bytes([sig[0] ^ 1]) + sig[1:]}
    elif what == "other_index":
        rows[i] = {**row, "log_index": rows[j]["log_index"]}
    elif what == "resigned_other_index":
        rows[i] = _resigned(row, log_seed, log_index=rows[j]["log_index"])
    elif what == "resigned_other_received":
        rows[i] = _resigned(row, log_seed, received_ms=row["received_ms"] + 1)
    elif what == "resigned_past_the_log":
        early = min(times) - 2 * 86_400_000
        rows.append(_resigned(row, log_seed, log_index=past, received_ms=early))
    elif what == "resigned_past_the_log_late":
        rows.append(_resigned(row, log_seed, log_index=past, received_ms=max(times) + 1))
    elif what == "copy":
        rows.append(row)
    elif what == "drop":
        del rows[i]
    else:
        raise ValueError(what)
    return pa.Table.from_pylist(rows, schema=receipts.schema)


def bad_receipts(receipts: pa.Table, log_seed: bytes) -> pa.Table:
    """Every kind of bad receipt once, at fixed rows (see ``bad_receipt_codes``)."""
    rows = receipts.to_pylist()
    last = max(r["log_index"] for r in rows)
    times = [r["received_ms"] for r in rows]
    sig = rows[0]["receipt_sig"]
    rows[0] = {**rows[0], "receipt_sig": bytes([sig[0] ^ 1]) + sig[1:]}
    rows[1] = {**rows[1], "log_index": last + 9}
    rows[2] = _resigned(rows[2], log_seed, log_index=rows[3]["log_index"])
    rows[4] = _resigned(rows[4], log_seed, received_ms=rows[4]["received_ms"] + 1)
    early, late = min(times) - 2 * 86_400_000, max(times) + 1
    rows.append(_resigned(rows[5], log_seed, log_index=last + 20, received_ms=early))
    rows.append(_resigned(rows[6], log_seed, log_index=last + 21, received_ms=late))
    rows.append(rows[7])
    return pa.Table.from_pylist(rows, schema=receipts.schema)


def bad_receipt_codes(n: int) -> dict[str, int]:
    """How many receipts get each code after ``bad_receipts`` on a clean bundle's ``n``
    receipts (a final attesting checkpoint): 0 and 1 BAD_SIG, 2 and 3 CONFLICT, 4
    CONTRADICTED, one WITHHELD and one PENDING past the log, and 7's copy OK."""
    return {
        "RECEIPT_BAD_SIG": 2,
        "RECEIPT_CONFLICT": 2,
        "RECEIPT_CONTRADICTED": 1,
        "RECEIPT_WITHHELD": 1,
        "RECEIPT_PENDING": 1,
        "RECEIPT_OK": n - 4,
    }


def receipts_of(bundle: Path) -> pa.Table:
    return pq.read_table(bundle / "receipts.parquet")


def rewrite_receipts(bundle: Path, receipts: pa.Table) -> None:
    pq.write_table(receipts, bundle / "receipts.parquet")


def rewrite_parts(bundle: Path, out: Path, records: pa.Table, sizes: Sequence[int]) -> Path:
    """A copy of ``bundle`` at ``out`` whose records are ``records`` in parts of ``sizes``
    rows (the last takes the rest)."""
    shutil.copytree(bundle, out)
    (out / "records.parquet").unlink(missing_ok=True)
    shutil.rmtree(out / "records", ignore_errors=True)
    (out / "records").mkdir()
    start = 0
    cuts = [*sizes, max(0, records.num_rows - sum(sizes))]
    for i, size in enumerate(cuts):
        if size == 0 and i < len(cuts) - 1:
            continue
        part = records.slice(start, size)
        pq.write_table(part, out / "records" / f"part-{i:05d}.parquet")
        start += size
    return out


def records_of(bundle: Path) -> pa.Table:
    return read_bundle_v2(bundle).records


def _plain(v: Any) -> Any:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return dataclasses.asdict(v)
    return v


#: The fields compared, every one of AuditReportV2's but the kept table.
REPORT_FIELDS = tuple(
    f.name for f in dataclasses.fields(AuditReportV2) if not f.name.startswith("_")
)


def assert_same_report(got: AuditReportV2, want: AuditReportV2) -> None:
    """Field by field, then the JSON report and the chains summary."""
    for name in REPORT_FIELDS:
        a, b = getattr(got, name), getattr(want, name)
        if name == "verdicts":
            assert np.array_equal(a, b), name
        elif isinstance(a, list):
            assert [_plain(x) for x in a] == [_plain(x) for x in b], name
        else:
            assert a == b, name
    assert got.to_json() == want.to_json()
    assert got.chains.equals(want.chains)
    assert got.clean == want.clean and got.counts == want.counts
