"""What a relay is told to do (``hashcore relay serve``'s settings) and the start-up checks
that refuse contradictory or unsafe settings with one clear line before anything is opened.

Where the relay's files live is decided here too: a SQLite store keeps its key, operator
token and embedded chain state beside it; a PostgreSQL store has no "beside".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import _core
from ..errors import InvalidInputError
from .limits import Limits

__all__ = ["RelayConfig", "default_origin", "split_hostport"]


def default_origin(log_key: bytes) -> str:
    """The origin of a relay started without ``--origin`` (and a store that has none):
    named by its key, so two relays never share a name by accident. A trial should name
    its relays (``relay.site-a.example/trial-...``): the name is in every checkpoint."""
    return f"hashcore-relay/{log_key[:8].hex()}"


@dataclass
class RelayConfig:
    """Everything ``hashcore relay serve`` can set. Paths default next to the store."""

    store: str
    listen: str = "127.0.0.1:7443"
    # The log's name (SPEC v2 2.2, a C2SP key name, e.g. relay.site-a.example/trial-x).
    # None: the name the store already has, else ``default_origin(log_key)``. A store
    # keeps its origin for life: another one is refused at start-up.
    origin: str | None = None
    # Where the relay key, the operator token (and the embedded chain's state) live:
    # beside a SQLite store by default; a PostgreSQL store has no "beside", so it needs
    # key_dir (or key_file) said explicitly.
    key_dir: Path | None = None
    key_file: Path | None = None
    operator_token_file: Path | None = None
    checkpoint_every: int = 1000
    checkpoint_interval_s: float = 5.0
    limits: Limits = field(default_factory=Limits)
    max_message_bytes: int = 8 * 1024 * 1024
    token_ttl_s: int = 7 * 24 * 3600
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None
    plaintext: bool = False
    # Plaintext anywhere but loopback sends patient data and bearer tokens in the clear:
    # refused unless asked for by name (a TLS-terminating proxy on the same host/pod).
    allow_insecure_remote: bool = False
    metrics_listen: str | None = None  # "HOST:PORT" for Prometheus
    # "HOST:PORT" to serve the log as C2SP tlog-tiles (read-only HTTP, public data).
    tiles_listen: str | None = None
    # The HTTP face (connect_face/): the same services over Connect and gRPC-Web for
    # browsers and apps, with the same TLS; the web origins allowed to call it (CORS).
    http_listen: str | None = None
    cors_origins: tuple[str, ...] = ()
    grace_s: float = 10.0
    group_max_records: int = 16384
    # Anchoring (SPEC 2.2): "embedded" = an anvil child with its state beside the store
    # (survives restarts, private to this host; not for frontends); "url" = any JSON-RPC
    # node (evm_url + evm_key: on frontends the same key everywhere, frontend_anchoring.py);
    # "none" = no anchoring.
    evm: str = "none"
    evm_url: str | None = None
    evm_key: Path | None = None
    evm_contract: str | None = None
    evm_chain_id: int | None = None  # refuse to start if the node reports another
    confirmations: int = 3
    anchor_interval_s: float = 30.0
    # Graceful stop anchors the final checkpoint and waits this long for it to be final.
    stop_anchor_wait_s: float = 30.0
    # Witnesses to push every checkpoint to (hashcore.witness.pusher.WitnessEndpoint), and
    # how many cosignatures make a checkpoint witnessed (for health and metrics).
    witnesses: tuple[Any, ...] = ()
    witness_quorum: int = 0
    # The relay's clock (ms since the Unix epoch) for received_ms and checkpoint times;
    # None: the system clock. Only simulations set it (the demo runs weeks in seconds).
    clock: Callable[[], int] | None = None
    # One of several frontends of one PostgreSQL log (frontend_ledger.py): a sequencer
    # elected among them; acks wait at most sequence_wait_s for the records' positions.
    frontend: bool = False
    sequence_wait_s: float = 10.0
    # A sequencer that has not renewed its lease this long is evicted (its session ended).
    sequencer_lease_s: float = 10.0

    @property
    def is_postgres(self) -> bool:
        return self.store.lower().startswith(("postgresql://", "postgres://"))

    def _beside_store(self, suffix: str) -> Path:
        """``relay<suffix>`` in key_dir, else beside a PostgreSQL relay's key file, else
        ``<store stem><suffix>`` beside the SQLite store."""
        if self.key_dir is not None:
            return self.key_dir / f"relay{suffix}"
        if self.is_postgres:
            if self.key_file is None:
                raise InvalidInputError(_NO_KEY_DIR)
            return self.key_file.with_suffix(suffix)
        return Path(self.store.removeprefix("sqlite://")).with_suffix(suffix)

    def resolved_key_file(self) -> Path:
        return self.key_file or self._beside_store(".key")

    def resolved_token_file(self) -> Path:
        return self.operator_token_file or self._beside_store(".operator-token")

    def resolved_evm_state_file(self) -> Path:
        """The embedded chain's state (``--evm embedded``)."""
        return self._beside_store(".evm-state.json")

    def check(self) -> None:
        """Refuse contradictory settings with one clear line (InvalidInputError)."""
        if not self.plaintext and not (self.tls_cert and self.tls_key):
            raise InvalidInputError(
                "no TLS: give --tls-cert and --tls-key, or --plaintext to serve unencrypted"
            )
        if self.plaintext and (self.tls_cert or self.tls_key or self.client_ca):
            raise InvalidInputError("--plaintext cannot be combined with TLS options")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise InvalidInputError("--tls-cert and --tls-key go together")
        if self.is_postgres and self.key_dir is None and self.key_file is None:
            raise InvalidInputError(_NO_KEY_DIR)
        if self.frontend:
            self._check_frontend()
        host, _ = split_hostport(self.listen)
        if self.plaintext and not self.allow_insecure_remote and not _is_loopback(host):
            raise InvalidInputError(
                f"--plaintext on {self.listen} would serve unencrypted beyond this host: "
                "listen on 127.0.0.1 or ::1, use TLS, or add --allow-insecure-remote"
            )
        for listen in (self.metrics_listen, self.tiles_listen):
            if listen is not None:
                split_hostport(listen)
        if self.http_listen is not None:
            http_host, _ = split_hostport(self.http_listen)
            if self.plaintext and not self.allow_insecure_remote and not _is_loopback(http_host):
                raise InvalidInputError(
                    f"--plaintext on --http-listen {self.http_listen} would serve unencrypted "
                    "beyond this host: listen on 127.0.0.1 or ::1, use TLS, or add "
                    "--allow-insecure-remote"
                )
        elif self.cors_origins:
            raise InvalidInputError("--cors-origin is for the HTTP face: add --http-listen")
        if self.checkpoint_every < 1:
            raise InvalidInputError("--checkpoint-every must be at least 1")
        if self.checkpoint_interval_s <= 0:
            raise InvalidInputError("--checkpoint-interval must be positive")
        if self.evm not in ("none", "embedded", "url"):
            raise InvalidInputError(f"--evm must be none, embedded or url, got {self.evm!r}")
        if self.evm == "url" and not (self.evm_url and self.evm_key):
            raise InvalidInputError(
                "--evm-url needs --evm-key FILE (the account that pays for anchors)"
            )
        if self.evm != "url" and (self.evm_url or self.evm_key):
            raise InvalidInputError("--evm-url/--evm-key are only for an external chain")
        if self.anchor_interval_s <= 0:
            raise InvalidInputError("--anchor-interval must be positive")
        if self.stop_anchor_wait_s < 0:
            raise InvalidInputError("--stop-anchor-wait must not be negative")
        if self.origin is not None and not _core.is_key_name(self.origin):
            raise InvalidInputError(
                f"--origin must be a C2SP key name (no spaces, no '+', no control "
                f"characters), got {self.origin!r}"
            )

    def _check_frontend(self) -> None:
        if not self.is_postgres:
            raise InvalidInputError(
                "--frontend shares one log between relays through PostgreSQL: it needs a "
                "postgresql:// --db (a SQLite store is one relay's)"
            )
        if self.evm == "embedded":
            raise InvalidInputError(_FRONTEND_EMBEDDED)
        if self.sequence_wait_s <= 0 or self.sequencer_lease_s <= 0:
            raise InvalidInputError("--sequence-wait and --sequencer-lease must be positive")


_FRONTEND_EMBEDDED = (
    "--frontend: an embedded chain (--evm embedded, the default) belongs to one relay "
    "process; frontends anchor on a node they all reach: --evm-url URL --evm-key FILE "
    "(the same key file on every frontend), or --evm none"
)

_NO_KEY_DIR = (
    "a postgresql:// store needs --key-dir DIR: where this relay's key and operator token "
    "live (one directory per store; never shared by two relays)"
)


def split_hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise InvalidInputError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _is_loopback(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1 (bracketed or not)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False
