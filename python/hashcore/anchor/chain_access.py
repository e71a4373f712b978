"""How the chain client gets at a node: the signing key from a key file, and the node's
URL as it may appear in logs (without the path or query, which often hold API keys)."""

from __future__ import annotations

import logging
import os
import re
import stat
import urllib.parse
from pathlib import Path
from typing import cast

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ..errors import AnchorError

_log = logging.getLogger("hashcore.anchor")
KEY_RE = re.compile(r"0x[0-9a-fA-F]{64}")


def read_key_file(path: str | os.PathLike[str]) -> LocalAccount:
    """The account of a key file: one ``0x``-prefixed, 64-hex-digit private key.

    A key file readable by group or others is used, with a warning in the log.

    Raises:
        AnchorError: the file is missing, unreadable or does not hold one such key.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="ascii").strip()
        mode = p.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise AnchorError(f"EVM key file {p}: cannot read it: {exc}") from None
    if not KEY_RE.fullmatch(text):
        raise AnchorError(
            f"EVM key file {p}: must hold one 0x-prefixed private key of 64 hex digits"
        )
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        _log.warning("EVM key file %s is readable by others (mode %o); use 0600", p, mode & 0o777)
    try:
        return cast(LocalAccount, Account.from_key(text))
    except Exception as exc:  # eth_keys: a key of 0 or >= the curve order
        raise AnchorError(f"EVM key file {p}: not a valid secp256k1 private key: {exc}") from None


def redact_url(url: str) -> str:
    """A node URL fit for logs: scheme, host and port only (paths and queries often hold
    API keys)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<bad url>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    tail = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{host}{port}{tail}"
