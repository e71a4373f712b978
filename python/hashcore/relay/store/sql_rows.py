"""How the SQL stores spell their rows: column lists, row <-> value conversions, and the
range checks both databases need.

Kept apart from the store classes so that the drivers (``sqlite.py``, ``postgres.py``) and
every part of :class:`~.sql_store.SqlStore` read and write rows the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from ...bundle.format_v2 import RECORD_SCHEMA_V2 as RECORD_SCHEMA
from ...errors import StoreError
from .base import Anchor, ForkEvidence, StoredCheckpoint, StoredRecord

Row = tuple[Any, ...]

#: Both databases store integers as signed 64-bit; larger SPEC u64 values are refused.
INT64_MAX = 2**63 - 1

RECORD_FIELDS = tuple(f.name for f in RECORD_SCHEMA)
#: SQL column list of ``records`` in StoredRecord field order ("commit" is a keyword).
RECORD_COLUMNS = ", ".join('"commit"' if n == "commit" else n for n in RECORD_FIELDS)

FORK_FIELDS = (
    "chain_id",
    "seq",
    "existing_log_index",
    "time_ms",
    "kind",
    "prev",
    "commit",
    "beacon_size",
    "beacon_root",
    "link",
    "signature",
    "salt",
    "payload",
    "received_ms",
)
FORK_COLUMNS = ", ".join('"commit"' if n == "commit" else n for n in FORK_FIELDS)
DEVICE_COLUMNS = (
    "d.chain_id, d.participant, d.genesis_key, d.current_key, d.head_seq, d.head_link, "
    "d.enrolled_ms"
)
CHECKPOINT_COLUMNS = (
    "tree_size, root, note, created_ms, tx_hash, block_number, evm_chain_id, contract, "
    "final, anchor_updated_ms"
)
KIND_GENESIS = 0
KIND_ROTATION = 2

# Rows become StoredRecord / ForkEvidence positionally: the column lists follow the fields.
assert StoredRecord._fields == RECORD_FIELDS  # a StoredRecord *is* its row
assert tuple(ForkEvidence.__dataclass_fields__) == FORK_FIELDS

#: What a unique violation means, by SQLite's "table.columns" or PostgreSQL's constraint.
_UNIQUE_MEANING = {
    "records.log_index": "the log position is already taken",
    "records_pkey": "the log position is already taken",
    "records.chain_id, records.seq": "a (chain_id, seq) is already taken",
    "records_chain_seq": "a (chain_id, seq) is already taken",
    "devices.chain_id": "the chain is already enrolled",
    "devices_pkey": "the chain is already enrolled",
    "tokens.token_hash": "a token with this hash is already stored",
    "tokens_pkey": "a token with this hash is already stored",
    "checkpoints.tree_size": "a checkpoint of this tree_size is already stored",
    "checkpoints_pkey": "a checkpoint of this tree_size is already stored",
    "meta.key": "the store already has this value",
    "meta_pkey": "the store already has this value",
}


def unique_meaning(key: str) -> str:
    """What a unique violation of ``key`` means, for the StoreError's message."""
    return _UNIQUE_MEANING.get(key, f"unique constraint {key} violated")


def check_int64(what: str, value: int) -> None:
    if not 0 <= value <= INT64_MAX:
        raise StoreError(f"{what} {value} does not fit the store (0 .. 2**63-1)")


def check_size(what: str, value: bytes, size: int) -> None:
    if not isinstance(value, bytes) or len(value) != size:
        got = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise StoreError(f"{what} must be {size} bytes, got {got}")


def record_from_row(row: Row) -> StoredRecord:
    # Drivers hand BLOBs back as bytes (sqlite3) or bytes (psycopg binary); keep as is.
    return StoredRecord._make(row)


def checkpoint_from_row(row: Row) -> StoredCheckpoint:
    tree_size, root, note, created_ms, tx_hash, block, evm_id, contract, final, upd = row
    anchor = None
    if tx_hash is not None:
        anchor = Anchor(bytes(tx_hash), block, evm_id, contract, bool(final), upd)
    return StoredCheckpoint(tree_size, bytes(root), bytes(note), created_ms, anchor)


def records_batch(rows: Sequence[Row]) -> pa.RecordBatch:
    """Rows in RECORD_COLUMNS order -> one RECORD_SCHEMA batch."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(RECORD_SCHEMA)
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, RECORD_SCHEMA, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=RECORD_SCHEMA)
