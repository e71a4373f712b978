"""What the relay accepts per request and per client: batch and payload sizes, the clock
window of a new record, and the per-address rates of the unauthenticated calls."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DAY_MS", "Limits"]

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request may carry (refused with RESOURCE_EXHAUSTED beyond), and how far a
    new record's ``time_ms`` may be from the relay's clock (INVALID_ARGUMENT beyond: no
    device clock makes 2**63-1 or the year 9999; the audit's time findings judge the
    rest, such as time running backwards within a chain)."""

    max_records_per_batch: int = 4096
    max_payload_bytes: int = 64 * 1024
    #: A phone offline for longer than this can't send what it wrote then.
    max_clock_behind_ms: int = 365 * DAY_MS
    max_clock_ahead_ms: int = DAY_MS
    #: Per source address (RESOURCE_EXHAUSTED beyond, with a retry-after): Enroll, and
    #: the unauthenticated reads (receipts, checkpoints, proofs, chain heads). A burst
    #: of ``*_burst`` calls at once, then ``*_per_s`` a second; a rate of 0 is no limit.
    enroll_per_s: float = 10.0
    enroll_burst: int = 200
    reads_per_s: float = 100.0
    reads_burst: int = 1000
    #: Refused enrollment tokens from one address are logged once per burst: a burst
    #: ends after this long without one.
    token_burst_quiet_s: float = 60.0
    #: Fork evidence kept per chain (SPEC: only records signed under the chain's key;
    #: a stolen key could still send endless forks, so the store keeps the first few).
    max_fork_evidence_per_chain: int = 16

    def time_window(self, now_ms: int) -> tuple[int, int]:
        """The time_ms a new record may carry at relay time ``now_ms`` (both ends in)."""
        return now_ms - self.max_clock_behind_ms, now_ms + self.max_clock_ahead_ms
