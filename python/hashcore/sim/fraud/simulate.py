"""``simulate_fraud``: run the chosen attacks on a clean bundle, one tampered copy each."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import BundleError, InvalidInputError
from .attacks import ATTACKS
from .expect import derive_expectation, expected_summary
from .files import load_base, write_attack
from .model import REGISTRY, Attack, Ctx, Skip


@dataclass(frozen=True, slots=True)
class AttackResult:
    """One attack of :func:`simulate_fraud`: where it was written and what it must give."""

    name: str
    description: str
    #: The tampered bundle directory (also holding expected.json); None when skipped.
    path: Path | None
    #: The content of expected.json; None when skipped.
    expected: dict[str, Any] | None
    #: Why the attack was not run (e.g. it needs the relay's log key); None when it was.
    skipped: str | None = None

    def summary(self) -> str:
        """One line for humans: the expected verdict counts, or why it was skipped."""
        if self.skipped is not None or self.expected is None:
            return f"{self.name}: skipped ({self.skipped})"
        return f"{self.name}: {expected_summary(self.expected)} -> {self.path}"


def _select(attacks: Sequence[str] | None) -> list[Attack]:
    if attacks is None:
        return list(REGISTRY.values())
    unknown = [a for a in attacks if a not in REGISTRY]
    if unknown:
        raise InvalidInputError(
            f"unknown attack(s): {', '.join(unknown)}; known: {', '.join(ATTACKS)}"
        )
    return [REGISTRY[a] for a in dict.fromkeys(attacks)]


def simulate_fraud(
    bundle: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    log_seed: bytes | None = None,
    seed: int = 0,
    attacks: Sequence[str] | None = None,
) -> list[AttackResult]:
    """Write one tampered copy of the clean ``bundle`` per attack, with its expectation.

    Each attack goes to ``out_dir/<name>/``: a full bundle plus ``expected.json`` with
    keys ``attack``, ``description``, ``target`` (what was changed, by log index),
    ``clean``, ``failures`` (``log_index``, ``chain_id`` hex, ``seq``, ``verdict``, sorted by
    log index then verdict), ``checkpoints`` (``tree_size``, ``verdict`` of every non-OK
    checkpoint), ``missing_log_positions`` ([start, end) runs) and ``derivation`` (the log
    facts the expectation was computed from). ``attacks`` picks some of :data:`ATTACKS`
    (default: all, in that order). Attacks that need the relay's key (``log_seed``, its
    32-byte Ed25519 seed) are skipped without it, as are attacks the bundle has no
    suitable target for; both are returned with ``skipped`` set.

    The bundle is held as Python rows while the copies are made: this is for test and
    demo bundles (tens of thousands of records take a few seconds), not for a trial's.

    Raises:
        InvalidInputError: the input is not clean, ``log_seed`` is not its relay's key,
            or an attack name is unknown.
        BundleError: the input is unreadable, or an ``out_dir/<name>`` exists and is
            not an empty directory.
    """
    src = Path(bundle)
    out = Path(out_dir)
    chosen = _select(attacks)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInputError(f"seed must be an integer >= 0, got {seed!r}")
    base = load_base(src, log_seed)
    for attack in chosen:
        target = out / attack.name
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            # Refuse before writing anything, rather than leave half a run behind.
            raise BundleError(f"{target}: exists and is not an empty directory; not overwriting")

    results = []
    for attack in chosen:
        # One stream per attack: its targets don't depend on which other attacks run.
        ctx = Ctx(base, random.Random(f"hashcore fraud v1 {seed} {attack.name}"), log_seed)
        try:
            tampered = attack.build(ctx)
        except Skip as why:
            results.append(AttackResult(attack.name, attack.description, None, None, str(why)))
            continue
        expected = {
            "attack": attack.name,
            "description": attack.description,
            "target": tampered.target,
            **derive_expectation(base, tampered),
        }
        path = out / attack.name
        write_attack(base, tampered, path, expected)
        results.append(AttackResult(attack.name, attack.description, path, expected))
    return results
