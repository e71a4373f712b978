"""The frontends' queue in PostgreSQL: records checked by any frontend, durable, waiting
for the sequencer to give them log positions.

Several ``hashcore relay serve --frontend`` processes share one log in one database. Each
checks submissions against the chains' heads *locked in the database* (``SELECT ... FOR
UPDATE`` on the ``devices`` rows, in chain_id order so two frontends never deadlock),
then in the same transaction copies the accepted records into ``frontend_queue`` and
moves the heads. Per-chain order and fork detection therefore hold across frontends: the
second frontend to see a chain waits for the first one's commit and checks against the
head it left. The queue's identity column orders the rows: a chain's next record is only
inserted after its previous one committed, so queue order keeps every chain in seq order.

The sequencer (:mod:`..sequencer_election`) moves queued rows into ``records`` in queue
order. ``frontend_sequencer`` holds its fencing epoch: every sequencing transaction locks
that row and checks the epoch, so a sequencer that lost the election can no longer commit.

The tables are created here (idempotently, under the migration lock) rather than by the
numbered migrations: they are a work queue beside the log, empty whenever every frontend
is idle, and a store that never had frontends never has them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import psycopg.errors

from ...errors import ConflictError, StoreError, TokenRejectedError
from ..sequencing import Head
from .base import ChainHead, Device, StoredRecord, StoreUnavailableError
from .postgres import describe_url

__all__ = [
    "QUEUED_CHANNEL",
    "SEQUENCED_CHANNEL",
    "FrontendQueue",
    "HeldPending",
    "Positions",
    "connect",
]

#: NOTIFY channels: a frontend queued records (wakes the sequencer); the sequencer
#: moved records into the log (wakes the frontends waiting to acknowledge them).
QUEUED_CHANNEL = "hashcore_queued"
SEQUENCED_CHANNEL = "hashcore_sequenced"

#: The queued columns: a record's row without its log position (it has none yet).
QUEUE_COLUMNS = (
    'chain_id, seq, time_ms, kind, prev, "commit", beacon_size, beacon_root, link, '
    "signature, salt, payload, received_ms"
)
_QUEUE_TYPES = [
    "bytea",
    "int8",
    "int8",
    "int2",
    "bytea",
    "bytea",
    "int8",
    "bytea",
    "bytea",
    "bytea",
    "bytea",
    "bytea",
    "int8",
]
_MIGRATION_LOCK = 0x68617368636F7265
Conn = psycopg.Connection[tuple[Any, ...]]  # the same key as the store's migrations

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS frontend_queue (
        queue_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        chain_id BYTEA NOT NULL, seq BIGINT NOT NULL, time_ms BIGINT NOT NULL,
        kind SMALLINT NOT NULL, prev BYTEA NOT NULL, "commit" BYTEA NOT NULL,
        beacon_size BIGINT NOT NULL, beacon_root BYTEA NOT NULL, link BYTEA NOT NULL,
        signature BYTEA NOT NULL, salt BYTEA, payload BYTEA, received_ms BIGINT NOT NULL,
        CONSTRAINT frontend_queue_chain_seq UNIQUE (chain_id, seq))""",
    """CREATE TABLE IF NOT EXISTS frontend_sequencer (
        id INT PRIMARY KEY CHECK (id = 1), epoch BIGINT NOT NULL, holder TEXT NOT NULL,
        since_ms BIGINT NOT NULL, renewed_at TIMESTAMPTZ NOT NULL)""",
    "INSERT INTO frontend_sequencer VALUES (1, 0, '', 0, clock_timestamp()) "
    "ON CONFLICT (id) DO NOTHING",
)
assert QUEUE_COLUMNS.count(",") + 1 == len(_QUEUE_TYPES)


class HeldPending(Exception):
    """A resent record's original is still queued: its log position is not known yet.
    The group is rolled back and checked again once that chain's queue is sequenced."""

    def __init__(self, chain_id: bytes, seq: int) -> None:
        super().__init__(f"{chain_id.hex()} seq {seq}")
        self.chain_id, self.seq = chain_id, seq


def connect(url: str, role: str, *, autocommit: bool = True) -> Conn:
    """A frontend's connection, named in ``pg_stat_activity`` (``hashcore-frontend
    <pid> <role>``: an operator sees which process holds what), with TCP keepalives
    short enough that a frontend cut off from the database is noticed in seconds, on
    both sides: the server then ends the session and its locks with it."""
    where = describe_url(url)
    try:
        conn = psycopg.connect(
            url,
            autocommit=autocommit,
            connect_timeout=5,
            application_name=f"hashcore-frontend {os.getpid()} {role}",
            keepalives=1,
            keepalives_idle=2,
            keepalives_interval=1,
            keepalives_count=3,
            tcp_user_timeout=5000,
        )
        # The server's side of the same keepalives (user-settable, per session).
        conn.execute("SET tcp_keepalives_idle = 2")
        conn.execute("SET tcp_keepalives_interval = 1")
        conn.execute("SET tcp_keepalives_count = 3")
        # A frontend frozen inside a transaction (SIGSTOP, a stalled VM) must not hold
        # chain heads or the sequencer's row for ever: the server ends it.
        conn.execute("SET idle_in_transaction_session_timeout = '10s'")
        if not autocommit:
            conn.commit()
    except psycopg.Error as exc:
        raise StoreUnavailableError("connection", f"{where}: cannot connect: {exc}") from exc
    return conn


def map_error(exc: BaseException, where: str, what: str) -> BaseException:
    """A psycopg error as the store's errors (UNAVAILABLE for a lost connection)."""
    if isinstance(exc, psycopg.errors.UniqueViolation):
        return ConflictError(f"{where}: {what}: {exc.diag.message_primary}")
    if isinstance(exc, psycopg.OperationalError):
        return StoreUnavailableError("connection", f"{where}: {what}: connection failed: {exc}")
    if isinstance(exc, psycopg.Error):
        return StoreError(f"{where}: {what}: {type(exc).__name__}: {exc}")
    return exc


class QueueTransaction:
    """One frontend transaction: lock heads, read what the checks need, queue rows."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def lock_heads(self, chain_ids: Sequence[bytes]) -> dict[bytes, Head]:
        """The heads of these chains, row-locked until commit (sorted: no deadlocks)."""
        rows = self._conn.execute(
            "SELECT chain_id, head_seq, head_link, current_key FROM devices "
            "WHERE chain_id = ANY(%b) ORDER BY chain_id FOR UPDATE",
            (sorted(chain_ids),),
            binary=True,
        ).fetchall()
        return {bytes(r[0]): Head(int(r[1]), bytes(r[2]), bytes(r[3])) for r in rows}

    def log_size(self) -> int:
        """Records sequenced so far: a lower bound of every queued record's position."""
        row = self._conn.execute("SELECT MAX(log_index) FROM records").fetchone()
        return 0 if row is None or row[0] is None else int(row[0]) + 1

    def held(self, chain_id: bytes, seq: int) -> tuple[bytes, int, int] | None:
        """(link, log_index, received_ms) of the record held at (chain, seq); raises
        HeldPending when it is queued but not sequenced yet."""
        row = self._conn.execute(
            "SELECT link, log_index, received_ms FROM records WHERE chain_id = %b AND seq = %b",
            (chain_id, seq),
            binary=True,
        ).fetchone()
        if row is not None:
            return bytes(row[0]), int(row[1]), int(row[2])
        if self._conn.execute(
            "SELECT 1 FROM frontend_queue WHERE chain_id = %b AND seq = %b",
            (chain_id, seq),
            binary=True,
        ).fetchone():
            raise HeldPending(chain_id, seq)
        return None

    def checkpoint_root(self, tree_size: int) -> bytes | None:
        row = self._conn.execute(
            "SELECT root FROM checkpoints WHERE tree_size = %b", (tree_size,), binary=True
        ).fetchone()
        return None if row is None else bytes(row[0])

    def queue(self, rows: Sequence[StoredRecord]) -> None:
        """The records, in group order (= the order their queue ids are drawn in)."""
        with (
            self._conn.cursor() as cur,
            cur.copy(f"COPY frontend_queue ({QUEUE_COLUMNS}) FROM STDIN (FORMAT BINARY)") as cp,
        ):
            cp.set_types(_QUEUE_TYPES)
            for row in rows:
                cp.write_row(row[1:])

    def move_heads(self, heads: Sequence[ChainHead]) -> None:
        cur = self._conn.execute(
            "UPDATE devices AS d SET head_seq = v.head_seq, head_link = v.head_link, "
            "current_key = v.current_key "
            "FROM unnest(%b::bytea[], %b::bigint[], %b::bytea[], %b::bytea[]) "
            "AS v(chain_id, head_seq, head_link, current_key) WHERE d.chain_id = v.chain_id",
            (
                [h.chain_id for h in heads],
                [h.head_seq for h in heads],
                [h.head_link for h in heads],
                [h.current_key for h in heads],
            ),
            binary=True,
        )
        if cur.rowcount != len(heads):  # the heads were locked: cannot happen
            raise StoreError(f"moved {cur.rowcount} of {len(heads)} chain heads")

    def notify_queued(self) -> None:
        self._conn.execute("SELECT pg_notify(%s, '')", (QUEUED_CHANNEL,))


class FrontendQueue:
    """The queue's side of one frontend: one connection, used by one thread at a time
    (the relay's writer thread)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.where = describe_url(url)
        self._conn: Conn | None = None
        with self.transaction("creating the frontend queue") as txn:
            txn._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            for statement in _SCHEMA:
                txn._conn.execute(statement)

    def _connection(self) -> Conn:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self._url, "queue")
        return self._conn

    @contextmanager
    def transaction(self, what: str = "queueing records") -> Iterator[QueueTransaction]:
        conn = self._connection()
        try:
            with conn.transaction():
                yield QueueTransaction(conn)
        except (psycopg.Error, OverflowError) as exc:
            if conn.broken:
                conn.close()
            raise map_error(exc, self.where, what) from exc

    def enroll(self, token_hash: bytes, now_ms: int, genesis: StoredRecord, device: Device) -> None:
        """In one transaction: use the token (row-locked: two frontends can't both use
        it), add the device with its genesis as head, queue the genesis."""
        with self.transaction("enroll") as txn:
            conn = txn._conn
            row = conn.execute(
                "SELECT participant, expires_ms, used_ms FROM tokens WHERE token_hash = %b "
                "FOR UPDATE",
                (token_hash,),
                binary=True,
            ).fetchone()
            if row is None:
                raise TokenRejectedError("unknown", f"{self.where}: enroll: unknown token")
            participant, expires_ms, used_ms = row
            if used_ms is not None:
                raise TokenRejectedError("used", f"{self.where}: enroll: the token was used")
            if now_ms >= expires_ms:
                raise TokenRejectedError("expired", f"{self.where}: enroll: the token expired")
            if conn.execute(
                "SELECT 1 FROM devices WHERE chain_id = %b", (device.chain_id,), binary=True
            ).fetchone():
                raise ConflictError(f"chain {device.chain_id.hex()} is already enrolled")
            conn.execute(
                "INSERT INTO devices (chain_id, participant, genesis_key, current_key, "
                "head_seq, head_link, enrolled_ms) VALUES (%b, %b, %b, %b, %b, %b, %b)",
                (
                    device.chain_id,
                    str(participant),
                    device.genesis_key,
                    device.current_key,
                    device.head_seq,
                    device.head_link,
                    device.enrolled_ms,
                ),
                binary=True,
            )
            txn.queue([genesis])
            conn.execute(
                "UPDATE tokens SET used_ms = %b, chain_id = %b WHERE token_hash = %b",
                (now_ms, device.chain_id, token_hash),
                binary=True,
            )
            txn.notify_queued()

    def sequenced_head(self, chain_id: bytes) -> tuple[int, bytes, int] | None:
        """(seq, link, log_index) of a chain's newest record in the log (not queued)."""
        with self.transaction("chain head") as txn:
            row = txn._conn.execute(
                "SELECT seq, link, log_index FROM records WHERE chain_id = %b "
                "ORDER BY seq DESC LIMIT 1",
                (chain_id,),
                binary=True,
            ).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]), int(row[2]))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


class Positions:
    """Where records landed in the log, on a connection of its own (the Writer's commit
    thread asks while its writer thread queues the next group)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.where = describe_url(url)
        self._conn: Conn | None = None

    def of(
        self, keys: Sequence[tuple[bytes, int]]
    ) -> dict[tuple[bytes, int], tuple[int, int, bytes]]:
        """(log_index, received_ms, link) of those of ``keys`` in the log: only what an
        ack needs, not the whole rows."""
        if self._conn is None or self._conn.closed:
            self._conn = connect(self._url, "acks")
        try:
            rows = self._conn.execute(
                "SELECT r.chain_id, r.seq, r.log_index, r.received_ms, r.link "
                "FROM unnest(%b::bytea[], %b::bigint[]) AS k(chain_id, seq) "
                "JOIN records r ON r.chain_id = k.chain_id AND r.seq = k.seq",
                ([k[0] for k in keys], [k[1] for k in keys]),
                binary=True,
            ).fetchall()
        except psycopg.Error as exc:
            raise map_error(exc, self.where, "reading log positions") from exc
        return {(bytes(r[0]), int(r[1])): (int(r[2]), int(r[3]), bytes(r[4])) for r in rows}

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
