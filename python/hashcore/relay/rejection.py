"""Why the relay refuses a request: one exception carrying the gRPC status to answer with.

The ledger raises :class:`Rejected` with a status *name* (it knows nothing of grpc); the
server's one error interceptor turns it into that status with the message. ``reason`` is
a short stable label for the ``hashcore_relay_records_rejected_total`` metric.
"""

from __future__ import annotations

from ..errors import RelayError

__all__ = ["RETRY_AFTER_KEY", "Rejected", "invalid", "too_large"]

#: Trailing-metadata key of a refusal worth retrying later (its value: milliseconds to
#: wait). Only RESOURCE_EXHAUSTED needs it: UNAVAILABLE is always retryable, while most
#: RESOURCE_EXHAUSTED refusals (a batch over the limits) would fail again the same way.
RETRY_AFTER_KEY = "hashcore-retry-after-ms"


class Rejected(RelayError):
    """A request the relay refuses; nothing of it was stored (fork evidence aside)."""

    def __init__(
        self, code: str, reason: str, message: str, *, retry_after_ms: int | None = None
    ) -> None:
        super().__init__(code, message)
        #: metric label: malformed, too_large, unknown_chain, gap, broken_chain, fork,
        #: bad_commit, bad_key, bad_signature, link_mismatch, token, enrolled, store, ...
        self.reason = reason
        #: Set when the same request may succeed later (sent as RETRY_AFTER_KEY).
        self.retry_after_ms = retry_after_ms


def invalid(reason: str, message: str) -> Rejected:
    return Rejected("INVALID_ARGUMENT", reason, message)


def too_large(message: str) -> Rejected:
    return Rejected("RESOURCE_EXHAUSTED", "too_large", message)
