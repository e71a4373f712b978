"""Prometheus metrics of a witness, on their own registry (several witnesses in one test
process must not share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["WitnessMetrics"]


class WitnessMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "hashcore_witness_add_checkpoint_requests",
            "add-checkpoint requests answered, by HTTP status",
            ["status"],
            registry=r,
        )
        self.latency = Histogram(
            "hashcore_witness_add_checkpoint_seconds",
            "Time from reading an add-checkpoint request to answering it",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.cosigned_size = Gauge(
            "hashcore_witness_cosigned_tree_size",
            "tree_size of the newest checkpoint cosigned, by origin",
            ["origin"],
            registry=r,
        )
        self.logs = Gauge(
            "hashcore_witness_logs", "Logs this witness is configured for", registry=r
        )
