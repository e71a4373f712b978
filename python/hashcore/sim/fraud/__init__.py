"""Fraud simulation: tampered copies of a clean bundle, each with the audit it must get.

``simulate_fraud`` reads a clean audit bundle (SPEC section 3) and writes one tampered
copy per attack to ``out_dir/<attack>/``, next to an ``expected.json`` that states exactly
which failures an auditor must report: record verdicts (with log index, chain and seq),
checkpoint verdicts, missing log positions and whether the audit is clean.

The expectations are *derived*, never observed: an attack states what it did to which rows
(``this row's payload changed with its commit kept: BAD_COMMIT``; ``its successor's prev no
longer matches: BROKEN_CHAIN``) and a small model of SPEC section 4's log rules
(:func:`.expect.derive_expectation`) works out, from the leaf positions the attack touched
and the checkpoint sizes, which checkpoints still rebuild or are INCONSISTENT, how far the
attested prefix reaches (everything OK beyond it is NOT_LOGGED) and which positions below
the largest signed ``tree_size`` hold no row. The auditor under test is run only on the
*input*, to check that it is clean (every expectation assumes a clean starting point). They
are for a bundle-only audit (``audit_bundle``): anchors on chain are not checked, so no
checkpoint is expected NOT_ANCHORED or UNCONFIRMED.

Targets are chosen from ``seed`` (one independent stream per attack), so the same bundle
and seed give the same tampered copies and expectations.
"""

from __future__ import annotations

from .attacks import ATTACKS
from .compare import compare
from .expect import expected_summary
from .files import EXPECTED_FILE
from .simulate import AttackResult, simulate_fraud

__all__ = [
    "ATTACKS",
    "EXPECTED_FILE",
    "AttackResult",
    "compare",
    "expected_summary",
    "simulate_fraud",
]
