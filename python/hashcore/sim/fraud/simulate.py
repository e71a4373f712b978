"""``simulate_fraud``: run the chosen attacks on a clean v2 bundle and its evidence, one
tampered copy each."""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...audit.v2_bundle import EvidenceSource
from ...bundle.format_v2 import NOTES_FILE, RECEIPTS_FILE
from ...errors import BundleError, InvalidInputError
from ...policy import EvmPolicy, Policy
from ..sample_keys import SampleKeys, load_sample_keys
from . import attacks as _attacks  # noqa: F401  (registers the v1-derived attacks)
from . import attacks_v2 as _attacks_v2  # noqa: F401  (registers the v2 attacks)
from .expect import derive_expectation, expected_summary
from .files import EVIDENCE_DIR, POLICY_FILE, load_base, write_attack
from .model import REGISTRY, Attack, Ctx, Skip, Tampered

#: Attack name -> what it does and what the audit must say, in the order they run.
ATTACKS: dict[str, str] = {a.name: a.description for a in REGISTRY.values()}

#: The EVM an attack that needs one is derived against while no chain is given (the
#: expectation doesn't depend on the addresses).
_PLACEHOLDER_EVM = EvmPolicy(
    chain_id=31337,
    contract="0x" + "00" * 20,
    from_block=0,
    anchorer="0x" + "11" * 20,
    confirmations=2,
)


@dataclass(frozen=True, slots=True)
class AttackResult:
    """One attack of :func:`simulate_fraud`: where it was written and what it must give."""

    name: str
    description: str
    #: The tampered bundle directory; None when skipped.
    path: Path | None
    #: The content of expected.json: for a skipped attack that needs an EVM, what it
    #: would give (derived all the same); None when skipped for another reason.
    expected: dict[str, Any] | None
    #: Why the attack was not run; None when it was.
    skipped: str | None = None
    #: The evidence and policy written beside the bundle (None when skipped).
    receipts: Path | None = None
    notes: Path | None = None
    policy: Path | None = None
    #: The EVM node holding the attack's anchors (its policy has ``evm``), else None.
    evm_url: str | None = None

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


def _keys(keys: SampleKeys | str | os.PathLike[str] | None, policy: Policy) -> SampleKeys | None:
    if keys is None:
        return None
    loaded = keys if isinstance(keys, SampleKeys) else load_sample_keys(keys)
    if loaded.log_key != policy.log_key or loaded.origin != policy.origin:
        raise InvalidInputError(
            f"the keys are those of log {loaded.origin} / {loaded.log_key.hex()}, not of the "
            f"policy's {policy.origin} / {policy.log_key.hex()}"
        )
    return loaded


def simulate_fraud(
    bundle: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    policy: Policy | str | os.PathLike[str],
    receipts: Sequence[EvidenceSource] = (),
    notes: Sequence[EvidenceSource] = (),
    keys: SampleKeys | str | os.PathLike[str] | None = None,
    seed: int = 0,
    attacks: Sequence[str] | None = None,
    evm_url: str | None = None,
) -> list[AttackResult]:
    """Write one tampered copy of the clean v2 ``bundle`` (with its evidence) per attack.

    Each attack goes to ``out_dir/<name>/``: ``bundle/`` (what the relay exports: the
    bundle's own receipts and notes left out), ``evidence/receipts.parquet`` and
    ``evidence/notes.parquet`` (every receipt and note the devices hand in: the bundle's,
    ``receipts`` and ``notes``, as the attack left them), ``policy.json`` and
    ``expected.json``: ``attack``, ``description``, ``target``, ``clean``,
    ``clean_with_strict_time``, ``failures``, ``checkpoints`` (every checkpoint's verdict),
    ``receipts`` (the non-OK ones) and ``receipt_counts``, ``notes``, ``time_findings``,
    ``missing_log_positions``, ``incomplete``, ``covered_size``, ``deadline_clock_ms``,
    ``anchors`` and ``derivation``. The expectation is for
    ``audit_bundle(bundle, policy=policy.json, receipts=[...], notes=[...])``.

    ``keys`` (a :class:`SampleKeys` or the keys file of ``make_sample``) lets attacks act
    as the relay, a witness or a device; attacks that need a key are skipped without it,
    as are attacks the bundle has no target for. ``evm_url`` is an anvil node the attacks
    that need an EVM chain write their anchors to (:mod:`.onchain`: a contract each, its
    policy.json naming it; audit them with ``evm_url``); without it they are skipped,
    their expectation derived all the same.

    Raises:
        InvalidInputError: the input is not clean under the policy with its evidence, the
            keys are another log's, or an attack name is unknown.
        BundleError, PolicyError: the input or policy is unreadable, or an
            ``out_dir/<name>`` exists and is not an empty directory.
    """
    src = Path(bundle)
    out = Path(out_dir)
    chosen = _select(attacks)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInputError(f"seed must be an integer >= 0, got {seed!r}")
    base = load_base(src, policy, receipts, notes)
    secrets = _keys(keys, base.policy)
    for attack in chosen:
        target = out / attack.name
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            # Refuse before writing anything, rather than leave half a run behind.
            raise BundleError(f"{target}: exists and is not an empty directory; not overwriting")

    results = []
    replay = None
    for attack in chosen:
        # One stream per attack: its targets don't depend on which other attacks run.
        ctx = Ctx(base, random.Random(f"hashcore fraud v2 {seed} {attack.name}"), secrets)
        try:
            tampered = attack.build(ctx)
        except Skip as why:
            results.append(AttackResult(attack.name, attack.description, None, None, str(why)))
            continue
        head = {"attack": attack.name, "description": attack.description, "target": tampered.target}
        policy_used = base.policy
        if attack.needs_evm is not None:
            if evm_url is None:
                evm_policy = dataclasses.replace(base.policy, evm=_PLACEHOLDER_EVM)
                expected = {**head, **derive_expectation(base, tampered, evm_policy)}
                results.append(
                    AttackResult(attack.name, attack.description, None, expected, attack.needs_evm)
                )
                continue
            replay = replay or _replay(evm_url)
            policy_used = dataclasses.replace(base.policy, evm=_on_chain(replay, base, tampered))
        expected = {**head, **derive_expectation(base, tampered, policy_used)}
        path = write_attack(base, tampered, out / attack.name, expected, policy_used)
        evidence = out / attack.name / EVIDENCE_DIR
        results.append(
            AttackResult(
                attack.name,
                attack.description,
                path,
                expected,
                receipts=evidence / RECEIPTS_FILE,
                notes=evidence / NOTES_FILE,
                policy=out / attack.name / POLICY_FILE,
                evm_url=evm_url if policy_used.evm is not None else None,
            )
        )
    return results


def _replay(evm_url: str) -> Any:
    from .onchain import AnchorReplay  # web3: only for a simulation that writes anchors

    return AnchorReplay(evm_url)


def _on_chain(replay: Any, base: Any, tampered: Tampered) -> EvmPolicy:
    """The attack's anchors written on the chain; the ``evm`` of the policy naming them."""
    evm: EvmPolicy = replay.replay(base.policy.log_key, tampered.anchors or [])
    return evm
