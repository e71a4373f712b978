"""The relay's Ed25519 key file: its ``log_id`` is the public key (SPEC 2.1).

Created on first start (mode 0600, never overwritten); a relay that loses it can no
longer sign checkpoints for its log, so losing or replacing it must be loud, never silent.
File format (JSON): ``{"format": "hashcore-relay-key", "version": 1, "seed": "<64 hex>"}``.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from .. import _core
from .._atomic import fsync_dir
from ..errors import InvalidInputError

__all__ = ["load_key", "load_or_create_key"]

_FORMAT = "hashcore-relay-key"


def load_key(path: str | os.PathLike[str]) -> bytes:
    """The 32-byte secret seed in ``path``.

    Raises:
        InvalidInputError: the file is missing or not a hashcore relay key.
    """
    file = Path(path)
    try:
        data = json.loads(file.read_text())
        if data.get("format") != _FORMAT or data.get("version") != 1:
            raise ValueError("not a hashcore relay key file")
        seed = bytes.fromhex(data["seed"])
        if len(seed) != 32:
            raise ValueError("seed must be 64 hex digits")
    except FileNotFoundError:
        raise InvalidInputError(f"{file}: relay key file not found") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise InvalidInputError(f"{file}: unreadable relay key file ({e})") from None
    return seed


def load_or_create_key(path: str | os.PathLike[str]) -> tuple[bytes, bool]:
    """(seed, created): load the key, or make a new one if the file does not exist.

    Creation uses O_EXCL, so two relays starting at once can't both write a key.
    """
    file = Path(path)
    if file.exists():
        return load_key(file), False
    seed = secrets.token_bytes(32)
    body = json.dumps(
        {
            "format": _FORMAT,
            "version": 1,
            "seed": seed.hex(),
            "log_id": _core.public_key_from_seed(seed).hex(),
        }
    ).encode()
    file.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_key(file), False
    with os.fdopen(fd, "wb") as fh:
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    fsync_dir(file.parent)  # the new key's directory entry survives a crash too
    return seed, True
