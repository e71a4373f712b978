"""Fraud simulation (protocol v2): tampered copies of a clean bundle and its evidence, each
with the audit it must get.

``simulate_fraud`` reads a clean v2 bundle, its policy and the evidence the devices hand in
(receipts, notes they verified), and writes one tampered copy per attack to
``out_dir/<attack>/`` (the bundle, the evidence as the attack left it, the policy) next to
an ``expected.json`` that states exactly what a v2 auditor must report: record verdicts
(with log index, chain and seq), every checkpoint's verdict, the receipts' and evidence
notes' verdicts, the time findings, missing log positions, INCOMPLETE and both clean flags.

The expectations are *derived*, never observed: an attack states what it did to which rows
(``this row's payload changed with its commit kept: BAD_COMMIT``), which log each root it
wrote is the root of, and what each note and receipt signs; a small model of SPEC v2
section 5 (:func:`.expect.derive_expectation`) works out the rest from the positions the
attack touched. The auditor under test runs only on the *input*, to check that it is clean.

Targets are chosen from ``seed`` (one independent stream per attack), so the same input and
seed give the same tampered copies and expectations.
"""

from __future__ import annotations

from .compare import compare
from .expect import expected_summary
from .files import EXPECTED_FILE
from .simulate import ATTACKS, AttackResult, simulate_fraud

__all__ = [
    "ATTACKS",
    "EXPECTED_FILE",
    "AttackResult",
    "compare",
    "expected_summary",
    "simulate_fraud",
]
