"""What the SQL store keeps beside the records: evidence of forks, and erasures.

Both live together because an erasure must also blank the fork evidence of its record
(that evidence may be a copy of the erased content)."""

from __future__ import annotations

from typing import Any

from .base import (
    Erasure,
    ForkEvidence,
)
from .sql_connection import SqlConnection
from .sql_rows import (
    FORK_COLUMNS,
    FORK_FIELDS,
    KIND_GENESIS,
    KIND_ROTATION,
    check_int64,
)


class SqlEvidence(SqlConnection):
    """Fork evidence and erasures (payload and salt removed, the proof kept)."""

    def add_fork_evidence(self, evidence: ForkEvidence) -> None:
        with self._write("add_fork_evidence"):
            self._insert_fork_evidence("add_fork_evidence", evidence)

    def _insert_fork_evidence(self, what: str, evidence: ForkEvidence) -> None:
        params = tuple(getattr(evidence, n) for n in FORK_FIELDS)
        marks = ", ".join("?" * len(FORK_FIELDS))
        if not self._one(
            "SELECT 1 FROM records WHERE log_index = ?", (evidence.existing_log_index,)
        ):
            raise self._fail(
                what, f"existing_log_index {evidence.existing_log_index} holds no record"
            )
        if self._one("SELECT 1 FROM erasures WHERE log_index = ?", (evidence.existing_log_index,)):
            # A fork of an erased record: its content may be a copy of what was erased;
            # commit, link and signature still prove the fork.
            params = (*params[:11], None, None, *params[13:])
        self._run(
            f"INSERT INTO fork_evidence ({FORK_COLUMNS}) VALUES ({marks}) "
            "ON CONFLICT (existing_log_index, link, signature) DO NOTHING",
            params,
        )

    def count_fork_evidence(self, chain_id: bytes) -> int:
        with self._read("count_fork_evidence"):
            row = self._one("SELECT COUNT(*) FROM fork_evidence WHERE chain_id = ?", (chain_id,))
        return int(row[0]) if row else 0

    def list_fork_evidence(self, chain_id: bytes | None = None) -> list[ForkEvidence]:
        sql = f"SELECT {FORK_COLUMNS} FROM fork_evidence"
        params: tuple[Any, ...] = ()
        if chain_id is not None:
            sql += " WHERE chain_id = ?"
            params = (chain_id,)
        with self._read("list_fork_evidence"):
            rows = self._all(sql + " ORDER BY id", params)
        return [ForkEvidence(*row) for row in rows]

    def erase(self, log_index: int, erased_ms: int, reason: str) -> Erasure:
        what = f"erase log_index {log_index}"
        check_int64("log_index", log_index)
        with self._lock:
            erasure = self._erase_rows(what, log_index, erased_ms, reason)
            # Also when it was erased before: a retry after a failed purge purges.
            self._purge_erased(what)
        return erasure

    def _erase_rows(self, what: str, log_index: int, erased_ms: int, reason: str) -> Erasure:
        """The erasure's transaction: the record's payload and salt, and those of every
        fork evidence of its seq (copies of the same content, perhaps)."""
        with self._write(what):
            done = self._one(
                "SELECT log_index, erased_ms, reason FROM erasures WHERE log_index = ?",
                (log_index,),
            )
            if done:
                return Erasure(*done)
            row = self._one("SELECT kind FROM records WHERE log_index = ?", (log_index,))
            if row is None:
                raise self._fail(what, "no record at this log position")
            if row[0] in (KIND_GENESIS, KIND_ROTATION):
                # Their payload is a public key the chain needs to verify (SPEC 1.4).
                raise self._fail(what, f"a kind {row[0]} (genesis/rotation) record can't be erased")
            self._run(
                "UPDATE records SET salt = NULL, payload = NULL WHERE log_index = ?",
                (log_index,),
            )
            self._run(
                "UPDATE fork_evidence SET salt = NULL, payload = NULL WHERE existing_log_index = ?",
                (log_index,),
            )
            self._run(
                "INSERT INTO erasures (log_index, erased_ms, reason) VALUES (?, ?, ?)",
                (log_index, erased_ms, reason),
            )
        return Erasure(log_index, erased_ms, reason)

    def list_erasures(self) -> list[Erasure]:
        with self._read("list_erasures"):
            rows = self._all("SELECT log_index, erased_ms, reason FROM erasures ORDER BY id")
        return [Erasure(*row) for row in rows]
