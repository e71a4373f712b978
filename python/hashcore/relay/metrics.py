"""Prometheus metrics of a relay, on their own registry (several relays in one test
process must not share counters)."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["RelayMetrics"]


class RelayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.accepted = Counter(
            "hashcore_relay_records_accepted", "Records durably stored and logged", registry=r
        )
        self.duplicates = Counter(
            "hashcore_relay_records_duplicate",
            "Re-sent records acknowledged with their original position",
            registry=r,
        )
        self.rejected = Counter(
            "hashcore_relay_records_rejected",
            "Records in refused batches, by reason",
            ["reason"],
            registry=r,
        )
        self.batch_latency = Histogram(
            "hashcore_relay_batch_seconds",
            "Time from receiving a batch to acknowledging it",
            buckets=(
                0.001,
                0.0025,
                0.005,
                0.01,
                0.015,
                0.02,
                0.03,
                0.04,
                0.05,
                0.075,
                0.1,
                0.15,
                0.25,
                0.5,
                1,
                2.5,
            ),
            registry=r,
        )
        self.group_batches = Histogram(
            "hashcore_relay_group_batches",
            "Batches checked together and stored in one transaction (a group commit)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=r,
        )
        self.log_size = Gauge("hashcore_relay_log_size", "Records in the Merkle log", registry=r)
        self.checkpoint_size = Gauge(
            "hashcore_relay_checkpoint_tree_size", "tree_size of the newest checkpoint", registry=r
        )
        self.checkpoint_age = Gauge(
            "hashcore_relay_checkpoint_age_seconds",
            "Seconds since the newest checkpoint was signed",
            registry=r,
        )
        self.enrolled = Counter("hashcore_relay_enrollments", "Devices enrolled", registry=r)
        self.token_refusals = Counter(
            "hashcore_relay_enroll_tokens_refused",
            "Enroll calls refused for their token (unknown, used, expired, another's)",
            registry=r,
        )
        self.token_refusal_bursts = Counter(
            "hashcore_relay_enroll_token_refusal_bursts",
            "Bursts of refused enrollment tokens from one address (one log line each)",
            registry=r,
        )
        self.rate_limited = Counter(
            "hashcore_relay_rate_limited",
            "Unauthenticated calls refused by the per-address rate limit, by call",
            ["call"],
            registry=r,
        )
        self.store_errors = Counter(
            "hashcore_store_errors",
            "Store failures answered UNAVAILABLE / RESOURCE_EXHAUSTED, by kind",
            ["kind"],
            registry=r,
        )
        self.anchor_failures = Gauge(
            "hashcore_relay_anchor_consecutive_failures",
            "Consecutive failed attempts to reach the EVM chain",
            registry=r,
        )
        self.anchored_size = Gauge(
            "hashcore_relay_anchored_tree_size",
            "tree_size of the newest checkpoint anchored on chain",
            registry=r,
        )

    def track_checkpoint_age(self, created_ms: Callable[[], int | None]) -> None:
        def age() -> float:
            ms = created_ms()
            return 0.0 if ms is None else max(0.0, time.time() - ms / 1000)

        self.checkpoint_age.set_function(age)
