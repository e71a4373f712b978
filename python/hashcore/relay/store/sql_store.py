"""What the SQLite and PostgreSQL stores share: every Store method, written once.

The two backends differ in the driver (placeholders, error types, how a transaction is
opened), in the fast paths (executemany vs. COPY) and in how a long read gets its own
snapshot; :class:`SqlStore` leaves exactly those to them. SQL here uses ``?``
placeholders and only the dialect both databases accept.

The methods live by concern in ``sql_connection`` (driver hooks, transactions, schema),
``sql_enrollment`` (identity, tokens, devices), ``sql_log`` (append, record reads),
``sql_evidence`` (fork evidence, erasure) and ``sql_checkpoints`` (checkpoints, anchors);
row spelling is in ``sql_rows``.
"""

from __future__ import annotations

from .sql_enrollment import SqlEnrollment
from .sql_log import SqlLog


class SqlStore(SqlEnrollment, SqlLog):
    """Every Store method over one DB-API connection; a backend adds the driver hooks."""
