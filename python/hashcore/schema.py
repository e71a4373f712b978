"""The Arrow schemas of an audit bundle (SPEC section 3), in one place."""

from __future__ import annotations

import pyarrow as pa

#: `records.parquet`. Every column but salt and payload is written non-null.
RECORD_SCHEMA = pa.schema(
    [
        pa.field("log_index", pa.uint64(), nullable=False),
        pa.field("chain_id", pa.binary(16), nullable=False),
        pa.field("seq", pa.uint64(), nullable=False),
        pa.field("time_ms", pa.int64(), nullable=False),
        pa.field("kind", pa.uint8(), nullable=False),
        pa.field("prev", pa.binary(32), nullable=False),
        pa.field("commit", pa.binary(32), nullable=False),
        pa.field("link", pa.binary(32), nullable=False),
        pa.field("signature", pa.binary(64), nullable=False),
        pa.field("salt", pa.binary(), nullable=True),
        pa.field("payload", pa.binary(), nullable=True),
        pa.field("received_ms", pa.int64(), nullable=False),
    ]
)

#: `checkpoints.parquet`. tx_hash and block_number stay null until anchored.
CHECKPOINT_SCHEMA = pa.schema(
    [
        pa.field("tree_size", pa.uint64(), nullable=False),
        pa.field("root", pa.binary(32), nullable=False),
        pa.field("signature", pa.binary(64), nullable=False),
        pa.field("tx_hash", pa.binary(32), nullable=True),
        pa.field("block_number", pa.int64(), nullable=True),
    ]
)

#: Columns the verifier reads, with the integer type each is converted to.
INTEGER_COLUMNS: dict[str, pa.DataType] = {
    "log_index": pa.uint64(),
    "seq": pa.uint64(),
    "time_ms": pa.int64(),
    "kind": pa.uint8(),
}
BINARY_COLUMNS: tuple[str, ...] = (
    "chain_id",
    "prev",
    "commit",
    "link",
    "signature",
    "salt",
    "payload",
)
