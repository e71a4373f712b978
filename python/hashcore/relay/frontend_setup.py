"""Start-up rules of a relay frontend (``hashcore relay serve --frontend``).

The key: one log has one log key (SPEC v2 2.2: every checkpoint and receipt is signed
by it, and phones pin it at enrollment), so every frontend of a log holds the *same* key,
either one key directory they share or copies of it made by the operator (like a TLS
key). The store is what makes this hold: it records the log_id it belongs to, and a
frontend whose key is another one is refused (Ledger). A frontend with no key file
creates one only while the store has no log yet; for a log that exists, a missing key is
refused with the log_id to copy, instead of minting a key nobody can use. Each key file
stays bound to that one store (``relay.key.store-id``), so a key of one log is still
refused by any other store.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidInputError

if TYPE_CHECKING:
    from .store.base import Store

__all__ = ["check_frontend_key"]


def check_frontend_key(key_file: Path, known_seed: bytes | None, store: Store) -> None:
    """A frontend without a key file may only start a new log (see the module doc)."""
    if known_seed is not None:
        return
    log_id = store.get_log_id()
    if log_id is not None:
        raise InvalidInputError(
            f"{key_file}: no relay key, but this log exists (log key {log_id.hex()}): "
            "frontends of one log share its key; copy relay.key (and relay.key.store-id) "
            "from a frontend of this log"
        )
