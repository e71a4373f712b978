"""Per-chain rows of an audit (``AuditReportV2.chains``): how many records each device chain
has, its largest seq, how many verified, and whether it is complete up to the attested
size; and their JSON form."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from .columns import column_array

__all__ = ["CHAIN_SUMMARY_SCHEMA", "chain_summary", "chains_json"]

#: The columns of ``AuditReportV2.chains``.
CHAIN_SUMMARY_SCHEMA = pa.schema(
    [
        pa.field("chain_id", pa.binary(16)),
        pa.field("records", pa.uint64()),
        pa.field("max_seq", pa.uint64()),
        pa.field("ok", pa.uint64()),
        pa.field("failures", pa.uint64()),
        pa.field("complete", pa.bool_()),
    ]
)


def chain_summary(
    table: pa.Table | pa.RecordBatch,
    ok: npt.NDArray[np.bool_],
    log_checked: bool,
    attested_size: int,
) -> pa.Table:
    """The chain rows of ``table``, ``ok`` marking the rows whose verdict is OK or
    OK_REDACTED; a chain is complete when all of it, seq 0 to its largest, verified and
    lies below ``attested_size`` (and ``log_checked``)."""
    if table.num_rows == 0:
        return CHAIN_SUMMARY_SCHEMA.empty_table()
    chain = column_array(table, "chain_id")
    if pa.types.is_dictionary(chain.type):
        chain = chain.dictionary_decode()
    if pa.types.is_fixed_size_binary(chain.type):
        has_id = (
            pc.is_valid(chain)
            if chain.type.byte_width == 16
            else pa.array(np.zeros(len(chain), dtype=bool))
        )
    else:
        has_id = pc.equal(pc.binary_length(chain), 16)
    has_id = pc.fill_null(has_id, False)
    ids = pc.filter(chain, has_id)
    if not pa.types.is_fixed_size_binary(ids.type):
        ids = ids.cast(pa.binary()).cast(pa.binary(16))
    rows = pa.table(
        {
            "chain_id": ids,
            "seq": pc.filter(column_array(table, "seq").cast(pa.uint64()), has_id),
            "log_index": pc.filter(column_array(table, "log_index").cast(pa.uint64()), has_id),
            "ok": pc.filter(pa.array(ok), has_id),
        }
    )
    g = rows.group_by("chain_id").aggregate(
        [("log_index", "count"), ("seq", "max"), ("ok", "sum"), ("log_index", "max")]
    )
    records = g.column("log_index_count").cast(pa.uint64())
    max_seq = g.column("seq_max").cast(pa.uint64())
    ok = pc.fill_null(g.column("ok_sum"), 0).cast(pa.uint64())
    complete = pc.and_(
        pc.and_(pc.equal(ok, records), pc.equal(pc.add(max_seq, 1), records)),
        pc.less(g.column("log_index_max"), pa.scalar(attested_size, pa.uint64())),
    )
    complete = pc.and_(pc.fill_null(complete, False), pa.scalar(log_checked))
    out = pa.table(
        [g.column("chain_id"), records, max_seq, ok, pc.subtract(records, ok), complete],
        schema=CHAIN_SUMMARY_SCHEMA,
    )
    return out.sort_by("chain_id")


def chains_json(chains: pa.Table) -> list[dict[str, Any]]:
    return [
        {
            "chain_id": row["chain_id"].hex(),
            "records": row["records"],
            "max_seq": row["max_seq"],
            "ok": row["ok"],
            "failures": row["failures"],
            "complete": row["complete"],
        }
        for row in chains.to_pylist()
    ]
