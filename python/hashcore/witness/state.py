"""The witness's durable memory: per origin, the size and root it last cosigned, and that
cosigned note (served to monitors).

One SQLite file (WAL, ``synchronous=FULL``: a commit is fsynced before it returns). The
check of the old size against the stored one, the consistency check against the stored root
and the update are one ``BEGIN IMMEDIATE`` transaction, so two requests (or two processes on
one file) can't both pass against the same old state: C2SP tlog-witness's rollback race.
The answer is only sent after the commit returns, so a witness killed right after answering
has the new size on disk.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import _core
from ..errors import InvalidInputError, WitnessError
from .protocol import SizeConflictError

__all__ = ["EMPTY_ROOT", "Cosigned", "WitnessState"]

#: MTH({}) = SHA256("") (SPEC 2.1).
EMPTY_ROOT = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- tree_size is decimal text: a checkpoint's size is a u64, SQLite's INTEGER an i64.
CREATE TABLE IF NOT EXISTS cosigned (
    origin TEXT PRIMARY KEY,
    tree_size TEXT NOT NULL,
    root BLOB NOT NULL,
    note BLOB NOT NULL,
    cosigned_at INTEGER NOT NULL
);
-- Validly signed checkpoints refused as inconsistent (422): evidence of a split view or a
-- rewritten log (tlog-witness: the witness MAY log them). The first MAX_CONFLICTS per
-- origin are kept; a log can't make the witness store more.
CREATE TABLE IF NOT EXISTS conflicts (
    origin TEXT NOT NULL,
    tree_size TEXT NOT NULL,
    root BLOB NOT NULL,
    note BLOB NOT NULL,
    reason TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (origin, tree_size, root)
);
"""

#: Conflicting checkpoints kept per origin.
MAX_CONFLICTS = 1000


@dataclass(frozen=True)
class Cosigned:
    """What the witness last cosigned for one origin."""

    tree_size: int
    root: bytes
    note: bytes
    cosigned_at: int


class WitnessState:
    """The state file of one witness key (a file made for another key is refused)."""

    def __init__(self, path: str | Path, witness_key: bytes) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(_SCHEMA)
            self._bind_key(witness_key)
        except sqlite3.DatabaseError as e:
            self._db.close()
            raise InvalidInputError(f"{self.path}: not a usable witness state file ({e})") from None
        except BaseException:
            self._db.close()
            raise

    def _bind_key(self, witness_key: bytes) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'witness_key'").fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO meta (key, value) VALUES ('witness_key', ?)", (witness_key.hex(),)
                )
            elif row[0] != witness_key.hex():
                raise InvalidInputError(
                    f"{self.path}: this state file belongs to witness key {row[0]}, not "
                    f"{witness_key.hex()}: a witness's memory is not transferable to another key"
                )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get(self, origin: str) -> Cosigned | None:
        with self._lock:
            row = self._db.execute(
                "SELECT tree_size, root, note, cosigned_at FROM cosigned WHERE origin = ?",
                (origin,),
            ).fetchone()
        if row is None:
            return None
        return Cosigned(int(row[0]), bytes(row[1]), bytes(row[2]), int(row[3]))

    def sizes(self) -> dict[str, int]:
        """origin -> last cosigned size, for every origin ever cosigned."""
        with self._lock:
            rows = self._db.execute("SELECT origin, tree_size FROM cosigned").fetchall()
        return {str(o): int(s) for o, s in rows}

    def record_conflict(
        self, origin: str, tree_size: int, root: bytes, note: bytes, reason: str
    ) -> bool:
        """Keep a validly signed checkpoint that was refused as inconsistent (once per
        origin, size and root; at most ``MAX_CONFLICTS`` per origin). True if kept."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                (count,) = self._db.execute(
                    "SELECT count(*) FROM conflicts WHERE origin = ?", (origin,)
                ).fetchone()
                kept = 0
                if count < MAX_CONFLICTS:
                    kept = self._db.execute(
                        "INSERT OR IGNORE INTO conflicts VALUES (?, ?, ?, ?, ?, ?)",
                        (origin, str(tree_size), root, note, reason, int(time.time())),
                    ).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return kept == 1

    def conflicts(self, origin: str) -> list[tuple[int, bytes, bytes, str]]:
        """(tree_size, root, note, reason) of the conflicting checkpoints kept for ``origin``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT tree_size, root, note, reason FROM conflicts WHERE origin = ? "
                "ORDER BY seen_at, rowid",
                (origin,),
            ).fetchall()
        return [(int(a), bytes(b), bytes(c), str(d)) for a, b, c, d in rows]

    def conflict_counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT origin, count(*) FROM conflicts GROUP BY origin"
            ).fetchall()
        return {str(o): int(n) for o, n in rows}

    def ping(self) -> None:
        """Raises sqlite3.Error when the file can't be read (health)."""
        with self._lock:
            self._db.execute("SELECT count(*) FROM cosigned").fetchone()

    def advance(
        self,
        origin: str,
        old_size: int,
        tree_size: int,
        root: bytes,
        proof: Sequence[bytes],
        cosigned_note: bytes,
    ) -> None:
        """Record ``(tree_size, root)`` as cosigned for ``origin`` iff it extends what was.

        ``old_size`` must be the stored size (0 when none) and ``proof`` an RFC 9162
        consistency proof from it (empty from 0). Checked and written in one transaction;
        returns once the commit is on disk.

        Raises:
            WitnessError: 409 (old size isn't the stored one; ``known_size`` set) or 422
                (the proof doesn't verify, or a proof was given from size 0).
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT tree_size, root FROM cosigned WHERE origin = ?", (origin,)
                ).fetchone()
                known = int(row[0]) if row is not None else 0
                known_root = bytes(row[1]) if row is not None else EMPTY_ROOT
                if old_size != known:
                    raise SizeConflictError(
                        known, f"old size {old_size} is not the cosigned size {known}"
                    )
                if old_size == 0:
                    if proof:
                        raise WitnessError(422, "a consistency proof from size 0 must be empty")
                elif not _core.sha256_verify_consistency(
                    old_size, tree_size, known_root, root, proof
                ):
                    raise WitnessError(
                        422,
                        f"consistency proof from the cosigned size {old_size} to {tree_size} "
                        "does not verify",
                    )
                self._db.execute(
                    "INSERT INTO cosigned (origin, tree_size, root, note, cosigned_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(origin) DO UPDATE SET "
                    "tree_size = excluded.tree_size, root = excluded.root, "
                    "note = excluded.note, cosigned_at = excluded.cosigned_at",
                    (origin, str(tree_size), root, cosigned_note, int(time.time())),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
