"""Why the relay refuses a request: one exception carrying the gRPC status to answer with.

The ledger raises :class:`Rejected` with a status *name* (it knows nothing of grpc); the
server's one error interceptor turns it into that status with the message. ``reason`` is
a short stable label for the ``hashcore_relay_records_rejected_total`` metric.
"""

from __future__ import annotations

from ..errors import RelayError

__all__ = ["Rejected"]


class Rejected(RelayError):
    """A request the relay refuses; nothing of it was stored (fork evidence aside)."""

    def __init__(self, code: str, reason: str, message: str) -> None:
        super().__init__(code, message)
        #: metric label: malformed, too_large, unknown_chain, gap, broken_chain, fork,
        #: bad_commit, bad_key, bad_signature, link_mismatch, token, enrolled, ...
        self.reason = reason


def invalid(reason: str, message: str) -> Rejected:
    return Rejected("INVALID_ARGUMENT", reason, message)


def too_large(message: str) -> Rejected:
    return Rejected("RESOURCE_EXHAUSTED", "too_large", message)
