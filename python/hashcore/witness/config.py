"""What a witness is configured with: its name, its Ed25519 key file (created mode 0600 on
first start, never overwritten), its state database, and the logs it witnesses (origin and
log key each).

Key file (JSON): ``{"format": "hashcore-witness-key", "version": 1, "seed": "<64 hex>",
"key": "<64 hex>"}``. A witness that loses its key loses its identity (auditors' policies
name the key), so a missing file is only created, never replaced, and a file that others can
read is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from .. import _core
from .._atomic import fsync_dir
from ..errors import InvalidInputError

__all__ = [
    "LogSpec",
    "WitnessConfig",
    "load_or_create_witness_key",
    "load_witness_key",
    "parse_log_spec",
]

_FORMAT = "hashcore-witness-key"


@dataclass(frozen=True)
class LogSpec:
    """A log the witness cosigns: its origin (C2SP key name) and 32-byte Ed25519 log key."""

    origin: str
    log_key: bytes

    def __post_init__(self) -> None:
        if not _core.is_key_name(self.origin):
            raise InvalidInputError(f"log origin {self.origin!r} is not a C2SP key name")
        if len(self.log_key) != 32:
            raise InvalidInputError(f"log key of {self.origin} must be 32 bytes")


def parse_log_spec(text: str) -> LogSpec:
    """``ORIGIN=<64 hex log key>`` or a C2SP verifier key ``ORIGIN+<key id hex>+<b64(0x01||key)>``.

    Raises:
        InvalidInputError: neither form, or the verifier key's ID doesn't match its key.
    """
    if "=" in text and "+" not in text.rsplit("=", 1)[1]:
        origin, _, key_hex = text.rpartition("=")
        try:
            key = bytes.fromhex(key_hex)
        except ValueError:
            key = b""
        if len(key) != 32 or len(key_hex) != 64:
            raise InvalidInputError(f"{text!r}: expected ORIGIN=<64 hex log key>")
        return LogSpec(origin, key)
    parts = text.split("+")
    if len(parts) != 3:
        raise InvalidInputError(
            f"{text!r}: expected ORIGIN=<64 hex log key> or a C2SP verifier key name+id+key"
        )
    origin, id_hex, key_b64 = parts
    try:
        raw = base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 33 or raw[0] != 0x01:
        raise InvalidInputError(f"{text!r}: the verifier key is not an Ed25519 (0x01) key")
    spec = LogSpec(origin, raw[1:])
    if _core.log_key_id(origin, spec.log_key).hex() != id_hex.lower():
        raise InvalidInputError(f"{text!r}: the key ID does not match the key")
    return spec


@dataclass
class WitnessConfig:
    """A witness's settings (``hashcore witness serve``)."""

    name: str
    key_file: Path
    db_path: Path
    logs: list[LogSpec]
    listen: str = "127.0.0.1:0"
    metrics_listen: str | None = None
    #: Seconds a client may take to send a request (slow senders hold a connection).
    read_timeout: float = 10.0

    def check(self, witness_key: bytes) -> None:
        """Refuse settings that can't be right.

        Raises:
            InvalidInputError: a bad name, no logs, two logs with one origin, or a log whose
                key is the witness's own (an Ed25519 cosignature doesn't commit to the name).
        """
        if not _core.is_key_name(self.name):
            raise InvalidInputError(f"witness name {self.name!r} is not a C2SP key name")
        if not self.logs:
            raise InvalidInputError("a witness needs at least one log to witness (--log)")
        seen: set[str] = set()
        for log in self.logs:
            if log.origin in seen:
                raise InvalidInputError(f"log origin {log.origin} is configured twice")
            seen.add(log.origin)
            if log.log_key == witness_key:
                raise InvalidInputError(f"log {log.origin} has the witness's own key")


def load_witness_key(path: str | os.PathLike[str]) -> bytes:
    """The 32-byte secret seed in ``path``.

    Raises:
        InvalidInputError: missing, readable by others, or not a hashcore witness key.
    """
    file = Path(path)
    try:
        mode = file.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ValueError(f"mode {stat.S_IMODE(mode):04o} lets others read it; chmod 600")
        data = json.loads(file.read_text())
        if data.get("format") != _FORMAT or data.get("version") != 1:
            raise ValueError("not a hashcore witness key file")
        seed = bytes.fromhex(data["seed"])
        if len(seed) != 32:
            raise ValueError("seed must be 64 hex digits")
    except FileNotFoundError:
        raise InvalidInputError(f"{file}: witness key file not found") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise InvalidInputError(f"{file}: unusable witness key file ({e})") from None
    return seed


def load_or_create_witness_key(path: str | os.PathLike[str]) -> tuple[bytes, bool]:
    """(seed, created): load the key, or make one (mode 0600, O_EXCL) if there is none."""
    file = Path(path)
    if file.exists():
        return load_witness_key(file), False
    seed = secrets.token_bytes(32)
    body = json.dumps(
        {
            "format": _FORMAT,
            "version": 1,
            "seed": seed.hex(),
            "key": _core.public_key_from_seed(seed).hex(),
        }
    ).encode()
    file.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_witness_key(file), False
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)  # whatever the umask
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    fsync_dir(file.parent)
    return seed, True
