"""Fraud simulation: tampered copies of a clean bundle, each with the audit it must get."""

from __future__ import annotations

from .attacks import (
    ATTACKS,
    EXPECTED_FILE,
    AttackResult,
    compare,
    expected_summary,
    simulate_fraud,
)

__all__ = [
    "ATTACKS",
    "EXPECTED_FILE",
    "AttackResult",
    "compare",
    "expected_summary",
    "simulate_fraud",
]
