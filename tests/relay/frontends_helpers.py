"""What the relay-frontend tests share: a database of their own, frontends as processes,
which frontend is the sequencer (asked of PostgreSQL), and a loopback TCP proxy that cuts
one frontend off from the database."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

from .conftest import ProcessRelay, start_process_relay

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
#: The sequencer's advisory lock (sequencer_election._SEQUENCER_LOCK), its first key.
SEQUENCER_LOCK = 0x73657172


@contextlib.contextmanager
def frontends_database(tag: str = "") -> Iterator[str]:
    """A fresh hc_frontends_* database (dropped afterwards); fails without a server.
    HASHCORE_TEST_PG_DB_PREFIX replaces ``hc_frontends_`` (sessions sharing a server
    keep to their own names)."""
    prefix = os.environ.get("HASHCORE_TEST_PG_DB_PREFIX", "hc_frontends_")
    name = f"{prefix}{tag}{secrets.token_hex(5)}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_frontend(workdir: Path, url: str, *extra: str) -> ProcessRelay:
    """A frontend process; every frontend of a test shares ``workdir``'s key and token."""
    return start_process_relay(
        workdir, url, "--frontend", "--checkpoint-every", "64", "--sequence-wait", "4", *extra
    )


def start_frontends(workdir: Path, url: str, n: int, *extra: str) -> list[ProcessRelay]:
    """``n`` frontends: the first alone (it makes the log's key, and is elected), then the
    others side by side (each start is mostly Python importing: in parallel they cost
    about one)."""
    first = start_frontend(workdir, url, *extra)
    frontends = [first]
    try:
        assert sequencer_pid(url) == first.proc.pid
        started: list[ProcessRelay | BaseException] = []

        def start() -> None:
            try:
                started.append(start_frontend(workdir, url, *extra))
            except BaseException as exc:
                started.append(exc)

        threads = [threading.Thread(target=start) for _ in range(n - 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        frontends += [f for f in started if isinstance(f, ProcessRelay)]
        failed = [f for f in started if not isinstance(f, ProcessRelay)]
        if failed:
            raise failed[0]
        assert len(frontends) == n, "a frontend did not start in time"
    except BaseException:
        for f in frontends:
            f.kill9()
        raise
    return frontends


def sequencer_pid(url: str, timeout_s: float = 15.0, *, not_pid: int | None = None) -> int:
    """The pid of the frontend holding the sequencer lock (waits for one to be elected,
    other than ``not_pid`` when given)."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            rows = conn.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.classid = %s::oid AND l.objsubid = 2 AND l.mode = 'ExclusiveLock' "
                "AND a.datname = current_database()",
                (SEQUENCER_LOCK,),
            ).fetchall()
            for (name,) in rows:
                m = re.fullmatch(r"hashcore-frontend (\d+) lock", name or "")
                if m and int(m.group(1)) != not_pid:
                    return int(m.group(1))
            time.sleep(0.05)
    raise AssertionError("no frontend was elected sequencer")


class CutProxy:
    """A loopback TCP proxy to PostgreSQL; ``cut()`` closes every connection through it
    and refuses new ones (a frontend cut off from the database), ``heal()`` reopens it."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self._target = target
        self._socks: list[socket.socket] = []
        self._guard = threading.Lock()
        self._listener: socket.socket | None = None
        self.port = 0
        self.heal()

    def url(self, database_url: str) -> str:
        return database_url.replace("127.0.0.1:5432", f"127.0.0.1:{self.port}")

    def heal(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._guard:
            listener, self._listener = self._listener, None
            socks, self._socks = self._socks, []
        if listener is not None:
            listener.close()
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            with self._guard:
                if self._listener is not listener:
                    client.close()
                    server.close()
                    return
                self._socks += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
