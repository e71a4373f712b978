"""The keys of a synthetic v2 sample, all derived from its seed (so NOT secret: test data
only), the policy (SPEC v2 section 3) an auditor of the sample trusts, and the keys file
that lets the fraud simulation act as the relay, a witness or a device of the sample."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3

from .. import _core
from .._atomic import write_atomically
from ..errors import InvalidInputError
from ..policy import (
    DEFAULT_MAX_CLOCK_SKEW_MS,
    DEFAULT_MAX_MERGE_DELAY_MS,
    POLICY_FORMAT,
    POLICY_VERSION,
)

__all__ = [
    "KEYS_FORMAT",
    "SampleKeys",
    "derive",
    "load_sample_keys",
    "sample_policy",
    "write_json",
]

KEYS_FORMAT = "hashcore-sample-keys"


def derive(seed: int, label: str, *numbers: int) -> bytes:
    """32 bytes for ``label`` and ``numbers``, deterministic in ``seed`` (BLAKE3 KDF)."""
    hasher = blake3.blake3(derive_key_context=f"hashcore sample v2 {label}")
    hasher.update(str(seed).encode())
    for n in numbers:
        hasher.update(n.to_bytes(8, "big"))
    digest: bytes = hasher.digest()
    return digest


@dataclass(frozen=True)
class SampleKeys:
    """Every secret of a sample: the relay's, the witnesses' and each chain's head key."""

    origin: str
    log_seed: bytes
    #: (name, Ed25519 seed) of each witness, in policy order.
    witnesses: tuple[tuple[str, bytes], ...]
    witness_quorum: int
    #: chain_id -> the seed of the key in force after the chain's last record.
    device_seeds: dict[bytes, bytes]
    max_merge_delay_ms: int = DEFAULT_MAX_MERGE_DELAY_MS
    max_clock_skew_ms: int = DEFAULT_MAX_CLOCK_SKEW_MS

    @property
    def log_key(self) -> bytes:
        return _core.public_key_from_seed(self.log_seed)

    def policy(self) -> dict[str, Any]:
        """The SPEC 3 policy of this sample (no EVM)."""
        return sample_policy(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": KEYS_FORMAT,
            "note": "derived from the sample's seed: NOT secret, test data only",
            "origin": self.origin,
            "log_seed": self.log_seed.hex(),
            "witnesses": [{"name": n, "seed": s.hex()} for n, s in self.witnesses],
            "witness_quorum": self.witness_quorum,
            "max_merge_delay_ms": self.max_merge_delay_ms,
            "max_clock_skew_ms": self.max_clock_skew_ms,
            "devices": {c.hex(): s.hex() for c, s in sorted(self.device_seeds.items())},
        }


def sample_policy(keys: SampleKeys, evm: dict[str, Any] | None = None) -> dict[str, Any]:
    """The policy (SPEC 3) that trusts the sample's relay and witnesses."""
    return {
        "format": POLICY_FORMAT,
        "version": POLICY_VERSION,
        "origin": keys.origin,
        "log_key": keys.log_key.hex(),
        "witnesses": [
            {"name": name, "key": _core.public_key_from_seed(seed).hex()}
            for name, seed in keys.witnesses
        ],
        "witness_quorum": keys.witness_quorum,
        "evm": evm,
        "max_merge_delay_ms": keys.max_merge_delay_ms,
        "max_clock_skew_ms": keys.max_clock_skew_ms,
    }


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(out, json.dumps(obj, indent=2) + "\n")
    return out


def _hex32(where: str, value: object) -> bytes:
    if not isinstance(value, str) or len(value) != 64:
        raise InvalidInputError(f"{where} must be 64 hex digits")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise InvalidInputError(f"{where} must be 64 hex digits") from None


def load_sample_keys(path: str | os.PathLike[str]) -> SampleKeys:
    """A keys file written by ``make_sample(keys_path=...)``.

    Raises:
        InvalidInputError: unreadable, or not a keys file.
    """
    file = Path(path)
    try:
        obj = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"{file}: not a sample keys file: {exc}") from None
    if not isinstance(obj, dict) or obj.get("format") != KEYS_FORMAT:
        raise InvalidInputError(f"{file}: format is not {KEYS_FORMAT!r}")
    try:
        return SampleKeys(
            origin=str(obj["origin"]),
            log_seed=_hex32("log_seed", obj["log_seed"]),
            witnesses=tuple(
                (str(w["name"]), _hex32("witness seed", w["seed"])) for w in obj["witnesses"]
            ),
            witness_quorum=int(obj["witness_quorum"]),
            device_seeds={
                bytes.fromhex(c): _hex32("device seed", s) for c, s in obj["devices"].items()
            },
            max_merge_delay_ms=int(obj["max_merge_delay_ms"]),
            max_clock_skew_ms=int(obj["max_clock_skew_ms"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"{file}: not a sample keys file: {exc!r}") from None
