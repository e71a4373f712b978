"""Which frontend sequences the shared log, and the sequencing itself.

Every frontend runs one :class:`LogThread`. It owns a dedicated *lock connection* that
holds a shared lock on the store (a relay serving the store alone can't start beside
frontends, nor they beside it) and LISTENs for the sequencer's rounds (the sequencer
for the queue too). Every
``elect_every_s`` a frontend that is not the sequencer tries ``pg_try_advisory_lock`` on
that connection: at most one session holds it, and it goes with the session, so a
sequencer that dies (kill -9, a crash, a cut network once the server's keepalives give
up) lets go without anybody's help, and the next frontend to try takes over.

The elected frontend bumps the fencing epoch in ``frontend_sequencer`` and from then on,
round after round: moves what is queued into ``records`` at the next log positions (in
queue order), extends its Merkle tree, signs a checkpoint when one is due, and NOTIFYs
the frontends, all in one transaction that first re-checks the epoch. Before every round
it checks its lock connection is alive; if that fails it steps down at once (it no longer
holds the lock, and may not act as if it did). The epoch check makes that airtight: a
sequencer whose lock was lost can't commit a round after the next one was elected, and
the log's primary key keeps two rounds from ever taking the same position.

The frontends that are not sequencing follow the log instead: on the sequencer's NOTIFY
(or every ``follow_every_s``) they extend their tree from the stored records, so receipts
and proofs are served by every frontend, and a new sequencer starts from a current tree.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from typing import Any, Protocol

import psycopg

from .. import _core
from ..errors import StoreError
from .store.base import StoredCheckpoint
from .store.postgres_queue import QUEUED_CHANNEL, SEQUENCED_CHANNEL, connect, map_error

__all__ = ["LogThread", "SharedLog"]

log = logging.getLogger("hashcore.relay")

# Two-int4 advisory keys, the second one the schema's hash (as the store's owner lock):
# "hash" shared by every frontend (an exclusive relay takes it exclusively), and "seqr"
# held by the sequencer alone.
_OWNER_LOCK = 0x68617368
_SEQUENCER_LOCK = 0x73657172
_SCHEMA_KEY = "hashtext(coalesce(current_schema(), ''))"

_MOVE = (
    "WITH moved AS (DELETE FROM frontend_queue WHERE queue_id = ANY(%b) RETURNING *) "
    'INSERT INTO records (log_index, chain_id, seq, time_ms, kind, prev, "commit", '
    "beacon_size, beacon_root, link, signature, salt, payload, received_ms) "
    "SELECT %b + row_number() OVER (ORDER BY queue_id) - 1, chain_id, seq, time_ms, kind, "
    'prev, "commit", beacon_size, beacon_root, link, signature, salt, payload, received_ms '
    "FROM moved"
)


class SharedLog(Protocol):
    """What the log thread needs of its frontend's ledger (FrontendLedger)."""

    tree_lock: threading.RLock
    tree: _core.Sha256LogTree
    size: int
    latest: StoredCheckpoint | None
    checkpoint_every: int
    where: str

    def follow(self) -> None: ...
    def sequenced(self, size: int, checkpoint: StoredCheckpoint | None) -> None: ...
    def reset_tree(self) -> None: ...
    def sign_checkpoint(self, size: int) -> StoredCheckpoint: ...


class Deposed(StoreError):
    """This frontend is no longer the sequencer (its lock or its epoch is gone)."""


class LogThread(threading.Thread):
    """Election, sequencing rounds and log following of one frontend (see module doc)."""

    def __init__(
        self,
        ledger: SharedLog,
        url: str,
        *,
        round_max: int = 65536,
        elect_every_s: float = 0.2,
        lease_s: float = 10.0,
        follow_every_s: float = 0.5,
        wait_s: float = 0.05,
    ) -> None:
        super().__init__(name="hashcore-log", daemon=True)
        self.ledger = ledger
        self._url = url
        self._round_max = round_max
        self._elect_every_s = elect_every_s
        self._lease_s = lease_s
        self._follow_every_s = follow_every_s
        self._wait_s = wait_s
        self._lock_conn: Any = None
        self._data_conn: Any = None
        self.epoch: int | None = None  # set while this frontend is the sequencer
        self.elected_at: float | None = None
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        # Checkpoints asked for (checkpoint_now) and the last request a round served.
        self._checkpoint_done = threading.Condition()
        self._cp_asked = 0
        self._cp_served = 0
        self._next_elect = 0.0
        self._next_follow = 0.0
        self._wake = True  # a notification came in: round or follow now
        self.failure: str | None = None  # the last connection failure, for the logs
        self._open_lock_conn()  # at start-up: a store served alone is refused at once

    @property
    def is_sequencer(self) -> bool:
        return self.epoch is not None

    # ----------------------------------------------------------------- the loop

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    self._step()
                except (psycopg.Error, StoreError) as exc:
                    self._lost(exc)
                    self._stopping.wait(0.2)
                except Exception as exc:  # a bug: log it whole, but keep the frontend alive
                    log.exception("frontend: the log thread failed")
                    self._lost(exc)
                    self.ledger.reset_tree()
                    self._stopping.wait(1.0)
        finally:
            self._close_conns()
            self._stopped.set()

    def _step(self) -> None:
        now = time.monotonic()
        if self._lock_conn is None:
            self._open_lock_conn()
        if self.epoch is None and now >= self._next_elect:
            self._next_elect = now + self._elect_every_s
            self._try_elect()
        if self.epoch is not None:
            self._check_lock()
            busy = self._round()
            if busy:
                return  # more may be queued: no waiting between full rounds
        elif self._wake or now >= self._next_follow:
            self._next_follow = now + self._follow_every_s
            self.ledger.follow()
        self._wake = False
        self._wait()

    def _open_lock_conn(self) -> None:
        conn = connect(self._url, "lock")
        try:
            row = conn.execute(
                f"SELECT pg_try_advisory_lock_shared(%s, {_SCHEMA_KEY})", (_OWNER_LOCK,)
            ).fetchone()
            if not (row and row[0]):
                raise StoreError(
                    f"{self.ledger.where}: the store is in use by a relay serving it "
                    "alone (without --frontend); frontends can't share it"
                )
            # Followers wake on rounds only; the sequencer also listens to the queue
            # from its election on (a follower woken by every queued batch would read
            # the log for nothing).
            conn.execute(f"LISTEN {SEQUENCED_CHANNEL}")
        except BaseException:
            conn.close()
            raise
        self._lock_conn = conn
        if self.failure is not None:
            log.warning("frontend: the database is reachable again")
            self.failure = None

    def _wait(self) -> None:
        """Sleep until a notification (or ``wait_s``); a dead connection raises here."""
        for _ in self._lock_conn.notifies(timeout=self._wait_s, stop_after=1):
            self._wake = True
        if self._wake:  # drain what else came in meanwhile, without blocking
            for _ in self._lock_conn.notifies(timeout=0.0):
                pass

    def _try_elect(self) -> None:
        row = self._lock_conn.execute(
            f"SELECT pg_try_advisory_lock(%s, {_SCHEMA_KEY})", (_SEQUENCER_LOCK,)
        ).fetchone()
        if not (row and row[0]):
            self._evict_if_stale()
            return
        started = time.monotonic()
        conn = self._data()
        with conn.transaction():
            epoch = conn.execute(
                "UPDATE frontend_sequencer SET epoch = epoch + 1, holder = %s, since_ms = %s, "
                "renewed_at = clock_timestamp() WHERE id = 1 RETURNING epoch",
                (_holder(), time.time_ns() // 1_000_000),
            ).fetchone()[0]
        self._lock_conn.execute(f"LISTEN {QUEUED_CHANNEL}")
        self.ledger.follow()  # start from everything stored, whoever sequenced it
        self.epoch = int(epoch)
        self.elected_at = time.monotonic()
        log.warning(
            "frontend: elected sequencer (epoch %d) at log size %d (%.0f ms to catch up)",
            self.epoch,
            self.ledger.size,
            (self.elected_at - started) * 1000,
        )

    def _evict_if_stale(self) -> None:
        """A sequencer that holds the lock but has not renewed its lease for
        ``lease_s`` (its process frozen, its host stalled, a network that drops packets
        without closing the connection) would stop the log for as long as its session
        lives: end that session, which frees the lock. If it wakes up, its connection is
        gone and its epoch stale, so it can't commit a round."""
        row = self._lock_conn.execute(
            "SELECT extract(epoch FROM clock_timestamp() - renewed_at), holder "
            "FROM frontend_sequencer WHERE id = 1"
        ).fetchone()
        if row is None or float(row[0]) <= self._lease_s:
            return
        # Its lock session, and a round it may be frozen in (which holds the epoch row).
        ended = self._lock_conn.execute(
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l WHERE l.granted AND "
            "l.pid <> pg_backend_pid() AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database()) AND "
            "((l.locktype = 'advisory' AND l.mode = 'ExclusiveLock' AND l.objsubid = 2 "
            f"AND l.classid = %s::oid AND l.objid = ({_SCHEMA_KEY})::oid) OR "
            "(l.locktype = 'relation' AND l.mode = 'RowExclusiveLock' "
            "AND l.relation = 'frontend_sequencer'::regclass))",
            (_SEQUENCER_LOCK,),
        ).fetchall()
        if ended:
            log.warning(
                "frontend: the sequencer (%s) has not renewed its lease for %.1f s: its "
                "session was ended, the next election takes over",
                row[1],
                float(row[0]),
            )

    def _check_lock(self) -> None:
        """The lock connection still answers: the lock is still ours."""
        self._lock_conn.execute("SELECT 1").fetchone()

    def _data(self) -> Any:
        if self._data_conn is None or self._data_conn.closed:
            self._data_conn = connect(self._url, "sequencer")
        return self._data_conn

    # ----------------------------------------------------------------- sequencing

    def _round(self) -> bool:
        """One sequencing transaction; True when it took a full round (more may wait)."""
        ledger = self.ledger
        asked = self._cp_asked
        want_cp = asked > self._cp_served
        conn = self._data()
        with ledger.tree_lock:
            size = ledger.tree.size
            extended = False
            try:
                with conn.transaction():
                    row = conn.execute(
                        "UPDATE frontend_sequencer SET renewed_at = clock_timestamp() "
                        "WHERE id = 1 RETURNING epoch"
                    ).fetchone()
                    if row is None or int(row[0]) != self.epoch:
                        raise Deposed(f"another sequencer was elected (epoch {row and row[0]})")
                    stored = conn.execute("SELECT MAX(log_index) FROM records").fetchone()[0]
                    stored = 0 if stored is None else int(stored) + 1
                    if stored != size:
                        raise StoreError(
                            f"the log holds {stored} records, the sequencer's tree {size}"
                        )
                    rows = conn.execute(
                        "SELECT queue_id, link, received_ms FROM frontend_queue "
                        "ORDER BY queue_id LIMIT %s",
                        (self._round_max,),
                        binary=True,
                    ).fetchall()
                    new_size = size + len(rows)
                    if rows:
                        ledger.tree.extend(
                            b"".join(_core.log_entry(bytes(r[1]), int(r[2])) for r in rows)
                        )
                        extended = True
                        moved = conn.execute(
                            _MOVE, ([int(r[0]) for r in rows], size), binary=True
                        ).rowcount
                        if moved != len(rows):
                            raise StoreError(f"moved {moved} of {len(rows)} queued records")
                    cp = self._due_checkpoint(new_size, want_cp)
                    if cp is not None:
                        conn.execute(
                            "INSERT INTO checkpoints (tree_size, root, note, created_ms) "
                            "VALUES (%b, %b, %b, %b)",
                            (cp.tree_size, cp.root, cp.note, cp.created_ms),
                            binary=True,
                        )
                    if rows or cp is not None:
                        conn.execute("SELECT pg_notify(%s, %s)", (SEQUENCED_CHANNEL, str(new_size)))
            except BaseException as exc:
                if extended:  # the tree holds leaves the log does not: start it afresh
                    ledger.reset_tree()
                if isinstance(exc, psycopg.Error):
                    raise map_error(exc, ledger.where, "sequencing") from exc
                raise
            ledger.sequenced(new_size, cp)
        if want_cp:
            with self._checkpoint_done:
                self._cp_served = max(self._cp_served, asked)
                self._checkpoint_done.notify_all()
        return len(rows) == self._round_max

    def _due_checkpoint(self, new_size: int, wanted: bool) -> StoredCheckpoint | None:
        ledger = self.ledger
        last = ledger.latest.tree_size if ledger.latest is not None else 0
        if new_size == 0 or new_size == last:
            return None
        if wanted or new_size - last >= ledger.checkpoint_every:
            return ledger.sign_checkpoint(new_size)
        return None

    def checkpoint_now(self, timeout_s: float) -> bool:
        """Ask for a checkpoint over everything sequenced (the next round signs it, if the
        log grew); True once that round committed."""
        with self._checkpoint_done:
            self._cp_asked += 1
            asked = self._cp_asked
            self._checkpoint_done.wait_for(
                lambda: self._cp_served >= asked or not self.is_sequencer, timeout_s
            )
            return self._cp_served >= asked

    # ----------------------------------------------------------------- failures, stop

    def _lost(self, exc: BaseException) -> None:
        """A connection failed: step down (if sequencing) and reconnect later."""
        was = self.epoch
        self.epoch = None
        self._close_conns()
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if was is not None:
            log.error("frontend: stopped sequencing (epoch %d): %s", was, text)
        elif self.failure != text:
            log.error("frontend: lost the database: %s", text)
        self.failure = text
        with self._checkpoint_done:
            self._checkpoint_done.notify_all()

    def _close_conns(self) -> None:
        for conn in (self._lock_conn, self._data_conn):
            if conn is not None:
                with contextlib.suppress(psycopg.Error):
                    conn.close()
        self._lock_conn = self._data_conn = None

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop (a sequencer first sequences what is queued, then lets go of the lock)."""
        self._stopping.set()
        self._stopped.wait(timeout_s)


def _holder() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"
