"""The SQL store's signed checkpoints and their on-chain anchors."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from ...bundle.format_v2 import CHECKPOINT_SCHEMA_V2 as CHECKPOINT_SCHEMA
from .base import (
    Anchor,
    StoredCheckpoint,
)
from .sql_connection import SqlConnection
from .sql_rows import (
    CHECKPOINT_COLUMNS,
    INT64_MAX,
    check_int64,
    check_size,
    checkpoint_from_row,
)


class SqlCheckpoints(SqlConnection):
    """Checkpoints (one per tree_size, never replaced by another) and their anchors."""

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        with self._write("add_checkpoint"):
            self._insert_checkpoint("add_checkpoint", checkpoint)

    def _insert_checkpoint(self, what: str, cp: StoredCheckpoint) -> None:
        """Idempotent for the same signed checkpoint; a different one of that size is a
        conflict (the relay signed two roots for one size: that must not be hidden)."""
        check_int64("tree_size", cp.tree_size)
        old = self._one("SELECT root FROM checkpoints WHERE tree_size = ?", (cp.tree_size,))
        if old is not None:
            # The same root again is no conflict (a note signed twice differs only if the
            # relay's signer is randomised; Ed25519 is not); another root is.
            if bytes(old[0]) != cp.root:
                raise self._conflict(
                    what, f"another checkpoint of tree_size {cp.tree_size} is stored"
                )
            return
        size = self._tree_size()
        if cp.tree_size > size:
            raise self._fail(
                what, f"checkpoint tree_size {cp.tree_size} is beyond the log's size {size}"
            )
        self._run(
            "INSERT INTO checkpoints (tree_size, root, note, created_ms) VALUES (?, ?, ?, ?)",
            (cp.tree_size, cp.root, cp.note, cp.created_ms),
        )
        if cp.anchor is not None:
            self._write_anchor(cp.tree_size, cp.anchor)

    def _write_anchor(self, tree_size: int, anchor: Anchor | None) -> int:
        if anchor is None:
            params: tuple[Any, ...] = (None,) * 6
        else:
            check_size("anchor tx_hash", anchor.tx_hash, 32)
            params = (
                anchor.tx_hash,
                anchor.block_number,
                anchor.evm_chain_id,
                anchor.contract,
                anchor.final,
                anchor.updated_ms,
            )
        return self._run(
            "UPDATE checkpoints SET tx_hash = ?, block_number = ?, evm_chain_id = ?, "
            "contract = ?, final = ?, anchor_updated_ms = ? WHERE tree_size = ?",
            (*params, tree_size),
        )

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self._read("latest_checkpoint"):
            row = self._one(
                f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY tree_size DESC LIMIT 1"
            )
        return checkpoint_from_row(row) if row else None

    def get_checkpoint(self, tree_size: int) -> StoredCheckpoint | None:
        if not 0 <= tree_size <= INT64_MAX:
            return None
        with self._read("get_checkpoint"):
            row = self._one(
                f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE tree_size = ?",
                (tree_size,),
            )
        return checkpoint_from_row(row) if row else None

    def list_checkpoints(self) -> list[StoredCheckpoint]:
        with self._read("list_checkpoints"):
            rows = self._all(f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY tree_size")
        return [checkpoint_from_row(row) for row in rows]

    def checkpoints_after(self, tree_size: int, limit: int) -> list[StoredCheckpoint]:
        if tree_size > INT64_MAX or limit < 1:
            return []
        with self._read("checkpoints_after"):
            rows = self._all(
                f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE tree_size > ? "
                "ORDER BY tree_size LIMIT ?",
                (max(tree_size, -1), limit),
            )
        return [checkpoint_from_row(row) for row in rows]

    def set_checkpoint_note(self, tree_size: int, note: bytes) -> None:
        what = f"set_checkpoint_note tree_size {tree_size}"
        check_int64("tree_size", tree_size)
        with self._write(what):
            if (
                self._run("UPDATE checkpoints SET note = ? WHERE tree_size = ?", (note, tree_size))
                == 0
            ):
                raise self._fail(what, "no checkpoint of this tree_size")

    def set_anchor(self, tree_size: int, anchor: Anchor | None) -> None:
        what = f"set_anchor tree_size {tree_size}"
        check_int64("tree_size", tree_size)
        with self._write(what):
            if self._write_anchor(tree_size, anchor) == 0:
                raise self._fail(what, "no checkpoint of this tree_size")

    def checkpoints_table(self) -> pa.Table:
        with self._read("checkpoints_table"):
            rows = self._all(
                "SELECT tree_size, root, note, tx_hash, block_number FROM checkpoints "
                "ORDER BY tree_size"
            )
        columns = list(zip(*rows, strict=True)) if rows else [()] * len(CHECKPOINT_SCHEMA)
        arrays = [
            pa.array(col, type=f.type) for col, f in zip(columns, CHECKPOINT_SCHEMA, strict=True)
        ]
        return pa.Table.from_arrays(arrays, schema=CHECKPOINT_SCHEMA)
