"""The relay's store: the :class:`Store` interface and :func:`open_store` to get one.

``open_store("relay.db")`` or ``open_store("sqlite:///var/relay.db")`` gives the SQLite store,
``open_store("postgresql://user@host/db")`` the PostgreSQL one (psycopg is imported only
then, so SQLite users don't need it).
"""

from __future__ import annotations

import os

from ...errors import StoreError
from .base import (
    SCHEMA_VERSION,
    Anchor,
    ChainHead,
    Device,
    Erasure,
    ForkEvidence,
    Store,
    StoredCheckpoint,
    StoredRecord,
    StoreUnavailableError,
)
from .sqlite import SqliteStore

__all__ = [
    "SCHEMA_VERSION",
    "Anchor",
    "ChainHead",
    "Device",
    "Erasure",
    "ForkEvidence",
    "SqliteStore",
    "Store",
    "StoreUnavailableError",
    "StoredCheckpoint",
    "StoredRecord",
    "describe_target",
    "open_store",
]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_SQLITE_SCHEME = "sqlite://"


def open_store(
    target: str | os.PathLike[str], *, readonly: bool = False, exclusive: bool = False
) -> Store:
    """Open (creating and migrating, unless ``readonly``) the store at ``target``.

    ``exclusive=True`` is for the relay that owns the store: it holds a lock while the
    store is open (an flock beside a SQLite file, a session advisory lock on PostgreSQL),
    and a second exclusive open raises StoreError at once.

    ``target`` is a file path, a ``sqlite://`` URL (what follows ``sqlite://`` is the path,
    as in a file URL: ``sqlite:///var/relay.db`` is ``/var/relay.db``, ``sqlite://relay.db``
    is relative) or a ``postgresql://`` / ``postgres://`` URL.

    Raises:
        StoreError: an unknown URL scheme, or the store can't be opened.
    """
    if isinstance(target, str):
        lowered = target.lower()
        if lowered.startswith(_POSTGRES_SCHEMES):
            from .postgres import PostgresStore

            return PostgresStore(target, readonly=readonly, exclusive=exclusive)
        if lowered.startswith(_SQLITE_SCHEME):
            return SqliteStore(
                target[len(_SQLITE_SCHEME) :], readonly=readonly, exclusive=exclusive
            )
        scheme, sep, _ = target.partition("://")
        if sep and scheme.isidentifier():
            raise StoreError(
                f"unsupported store URL scheme {scheme!r}: use a file path, sqlite:///path "
                "or postgresql://..."
            )
    return SqliteStore(target, readonly=readonly, exclusive=exclusive)


def describe_target(target: str) -> str:
    """How messages name a store: a SQLite file by its absolute path, a PostgreSQL one by
    its URL without the password."""
    lowered = target.lower()
    if lowered.startswith(_POSTGRES_SCHEMES):
        from .postgres import describe_url

        return describe_url(target)
    path = target[len(_SQLITE_SCHEME) :] if lowered.startswith(_SQLITE_SCHEME) else target
    return os.path.abspath(path)
