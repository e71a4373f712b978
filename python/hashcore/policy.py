"""The trust policy of protocol v2 (SPEC v2 section 3): whom an auditor trusts, taken from
the trial's registration of its relays, never from the bundle.

Parsing is strict as the vectors' decision 12 says: anything but exactly SPEC 3 is refused
with a :class:`PolicyError` naming the member and what is wrong (unknown members are
ignored). An audit without a policy uses :func:`default_trust`'s values.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _core
from .errors import PolicyError
from .strict_json import parse_json

__all__ = [
    "DEFAULT_MAX_CLOCK_SKEW_MS",
    "DEFAULT_MAX_MERGE_DELAY_MS",
    "POLICY_FORMAT",
    "POLICY_VERSION",
    "EvmPolicy",
    "Policy",
    "Witness",
    "load_policy",
    "parse_policy",
]

POLICY_FORMAT = "hashcore-policy"
POLICY_VERSION = 2
#: SPEC 3: what an audit without a policy uses.
DEFAULT_MAX_MERGE_DELAY_MS: int = _core.V2_DEFAULT_MAX_MERGE_DELAY_MS
DEFAULT_MAX_CLOCK_SKEW_MS: int = _core.V2_DEFAULT_MAX_CLOCK_SKEW_MS

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_U64_MAX = 2**64 - 1


@dataclass(frozen=True, slots=True)
class Witness:
    """A witness (SPEC 2.3): its C2SP key name and Ed25519 key."""

    name: str
    key: bytes


@dataclass(frozen=True, slots=True)
class EvmPolicy:
    """Where the relay's anchors are and who may send them (SPEC 2.5)."""

    chain_id: int
    contract: str
    from_block: int
    anchorer: str
    confirmations: int


@dataclass(frozen=True, slots=True)
class Policy:
    """A checked SPEC 3 policy."""

    origin: str
    log_key: bytes
    witnesses: tuple[Witness, ...]
    witness_quorum: int
    evm: EvmPolicy | None
    max_merge_delay_ms: int
    max_clock_skew_ms: int

    def engine_args(self) -> tuple[str, bytes, list[tuple[str, bytes]], int, int, int]:
        """The policy as the Rust audit engine (``_core.v2_audit``) takes it."""
        return (
            self.origin,
            self.log_key,
            [(w.name, w.key) for w in self.witnesses],
            self.witness_quorum,
            self.max_merge_delay_ms,
            self.max_clock_skew_ms,
        )


def _integer(where: str, value: object, high: int = _U64_MAX) -> int:
    # JSON true is an int in Python; it must not pass for 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(f"{where} must be an integer, got {value!r}")
    if not 0 <= value <= high:
        raise PolicyError(f"{where} must be in 0..{high}, got {value}")
    return value


def _key_name(where: str, value: object) -> str:
    if not isinstance(value, str) or not _core.is_key_name(value):
        raise PolicyError(
            f"{where} must be a key name (non-empty, no spaces, '+' or control "
            f"characters), got {value!r}"
        )
    return value


def _key(where: str, value: object) -> bytes:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise PolicyError(f"{where} must be 64 hex digits, got {value!r}")
    key = bytes.fromhex(value)
    check = _core.check_public_key(key)
    if check == "small_order":
        raise PolicyError(f"{where} is a small-order Ed25519 key (SPEC 1.3: never valid)")
    if check == "not_a_point":
        raise PolicyError(f"{where} is not an Ed25519 curve point")
    return key


def _address(where: str, value: object) -> str:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise PolicyError(f"{where} must be '0x' and 40 hex digits, got {value!r}")
    return value


def _member(obj: Mapping[str, Any], name: str, where: str) -> Any:
    if name not in obj:
        raise PolicyError(f"{where}{name} is missing")
    return obj[name]


def _evm(value: object) -> EvmPolicy | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise PolicyError(f"evm must be an object or null, got {type(value).__name__}")
    return EvmPolicy(
        chain_id=_integer("evm.chain_id", _member(value, "chain_id", "evm.")),
        contract=_address("evm.contract", _member(value, "contract", "evm.")),
        from_block=_integer("evm.from_block", _member(value, "from_block", "evm.")),
        anchorer=_address("evm.anchorer", _member(value, "anchorer", "evm.")),
        confirmations=_integer("evm.confirmations", _member(value, "confirmations", "evm.")),
    )


def _witnesses(value: object, log_key: bytes) -> tuple[Witness, ...]:
    if not isinstance(value, list):
        raise PolicyError(f"witnesses must be a list, got {type(value).__name__}")
    out: list[Witness] = []
    names: set[str] = set()
    keys: set[bytes] = set()
    for i, item in enumerate(value):
        where = f"witnesses[{i}]"
        if not isinstance(item, Mapping):
            raise PolicyError(f"{where} must be an object, got {type(item).__name__}")
        name = _key_name(f"{where}.name", _member(item, "name", f"{where}."))
        key = _key(f"{where}.key", _member(item, "key", f"{where}."))
        if name in names:
            raise PolicyError(f"{where}.name {name!r} names two witnesses")
        if key in keys:
            raise PolicyError(f"{where}.key {key.hex()} is the key of another witness")
        if key == log_key:
            # An Ed25519 cosignature doesn't commit to the name: the log could pose as it.
            raise PolicyError(f"{where}.key is the log key")
        names.add(name)
        keys.add(key)
        out.append(Witness(name, key))
    return tuple(out)


def parse_policy(data: str | bytes | Mapping[str, Any]) -> Policy:
    """A :class:`Policy` from its JSON text (or the parsed object).

    Raises:
        PolicyError: not JSON, not an object, or a member that is not exactly SPEC 3:
            format/version, key names, 64-hex keys that are usable Ed25519 points, quorum
            in 0..number of witnesses, ``evm`` null or the whole object, delays integers
            >= 0; two witnesses sharing a name or a key, or a witness key equal to the log
            key.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyError(f"not JSON: {exc}") from None
    # A bundle's JSON limits: no RecursionError, no int() digit-limit ValueError.
    obj = parse_json(data, "policy", PolicyError) if isinstance(data, str) else data
    if not isinstance(obj, Mapping):
        raise PolicyError(f"must be a JSON object, got {type(obj).__name__}")
    if obj.get("format") != POLICY_FORMAT:
        raise PolicyError(f"format is {obj.get('format')!r}, expected {POLICY_FORMAT!r}")
    version = obj.get("version")
    if isinstance(version, bool) or version != POLICY_VERSION:
        raise PolicyError(f"version is {version!r}, expected {POLICY_VERSION}")
    origin = _key_name("origin", _member(obj, "origin", ""))
    log_key = _key("log_key", _member(obj, "log_key", ""))
    witnesses = _witnesses(_member(obj, "witnesses", ""), log_key)
    quorum = _integer("witness_quorum", _member(obj, "witness_quorum", ""), len(witnesses))
    return Policy(
        origin=origin,
        log_key=log_key,
        witnesses=witnesses,
        witness_quorum=quorum,
        evm=_evm(_member(obj, "evm", "")),
        max_merge_delay_ms=_integer("max_merge_delay_ms", _member(obj, "max_merge_delay_ms", "")),
        max_clock_skew_ms=_integer("max_clock_skew_ms", _member(obj, "max_clock_skew_ms", "")),
    )


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """:func:`parse_policy` of a file; errors name the file.

    Raises:
        PolicyError: the file is unreadable or not a SPEC 3 policy.
    """
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise PolicyError(f"{file}: unreadable: {exc.strerror or exc}") from None
    try:
        return parse_policy(raw)
    except PolicyError as exc:
        raise PolicyError(f"{file}: {exc}") from None
