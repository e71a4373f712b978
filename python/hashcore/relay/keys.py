"""The relay's Ed25519 key file: its ``log_id`` is the public key (SPEC 2.1).

Created on first start (mode 0600, never overwritten); a relay that loses it can no
longer sign checkpoints for its log, so losing or replacing it must be loud, never silent.
File format (JSON): ``{"format": "hashcore-relay-key", "version": 1, "seed": "<64 hex>"}``.

One key serves one store: the store records the log_id it belongs to (a store refuses
another key), and ``<key file>.store-id`` records the store the key serves (a key refuses
another store): ``{"format": "hashcore-relay-key-store", "version": 1, "store_id": "<32
hex>", "store": "<where it was>"}``. Backups and moved copies of a store keep its id.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from .. import _core
from .._atomic import fsync_dir
from ..errors import InvalidInputError

__all__ = [
    "check_key_binding",
    "load_key",
    "load_or_create_key",
    "load_or_create_operator_token",
    "record_key_binding",
]

_FORMAT = "hashcore-relay-key"
_BINDING_FORMAT = "hashcore-relay-key-store"


def _binding_file(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + ".store-id")


def check_key_binding(key_file: str | os.PathLike[str], store_id: bytes, store: str) -> None:
    """Refuse to use ``key_file`` for a store other than the one it is bound to.

    Raises:
        InvalidInputError: the key serves another store, or its binding file is damaged.
    """
    binding = _binding_file(Path(key_file))
    try:
        data = json.loads(binding.read_text())
        if data.get("format") != _BINDING_FORMAT or data.get("version") != 1:
            raise ValueError("not a hashcore key binding file")
        bound = str(data["store_id"])
        bound_to = str(data.get("store", "?"))
    except FileNotFoundError:
        return
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise InvalidInputError(f"{binding}: unreadable key binding file ({e})") from None
    if bound != store_id.hex():
        raise InvalidInputError(
            f"{key_file}: this relay key already serves another store ({bound_to}, store id "
            f"{bound}); {store} (store id {store_id.hex()}) needs a key of its own: give it "
            "its own --key-dir"
        )


def record_key_binding(key_file: str | os.PathLike[str], store_id: bytes, store: str) -> None:
    """Bind ``key_file`` to the store ``store_id`` (once; see :func:`check_key_binding`)."""
    binding = _binding_file(Path(key_file))
    body = json.dumps(
        {"format": _BINDING_FORMAT, "version": 1, "store_id": store_id.hex(), "store": store}
    ).encode()
    try:
        fd = os.open(binding, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        check_key_binding(key_file, store_id, store)
        return
    with os.fdopen(fd, "wb") as fh:
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())


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


def load_or_create_operator_token(path: Path) -> str:
    """The operator bearer token, created (0600) on first start like the relay key."""
    if path.exists():
        token = path.read_text().strip()
        if not token:
            raise InvalidInputError(f"{path}: operator token file is empty")
        return token
    token = "hco_" + secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token
