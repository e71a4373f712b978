"""Fixtures for the EVM anchoring tests: an embedded chain, a real anvil node, a store.

anvil comes from the npm package ``@foundry-rs/anvil`` that ``make install`` puts in
``node_modules/``. A missing anvil fails the tests (it does not skip them): anchoring is
only tested for real against a node.
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from hashcore import _core
from hashcore.anchor import EvmChain
from hashcore.relay.store.base import Anchor, Store, StoredCheckpoint

REPO = Path(__file__).resolve().parents[2]

#: anvil's default account 0 and 1 (from its well-known test mnemonic): not secret.
ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_KEY_1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
ANVIL_CHAIN_ID = 31337

#: A relay key for the tests (not secret) and its log_id.
RELAY_SEED = bytes(range(32))


def relay_log_id() -> bytes:
    import nacl.signing

    return bytes(nacl.signing.SigningKey(RELAY_SEED).verify_key)


def root_of(n: int) -> bytes:
    """A distinct, recognisable 32-byte root for tree size ``n``."""
    return n.to_bytes(4, "big") * 8


def signed_checkpoint(tree_size: int, root: bytes | None = None) -> StoredCheckpoint:
    root = root if root is not None else root_of(tree_size)
    note = _core.note_sign(RELAY_SEED, "relay.test.example/anchor", tree_size, root)
    return StoredCheckpoint(tree_size=tree_size, root=root, note=note, created_ms=1_000 + tree_size)


#: Gas an anchor() uses beyond the transaction's 21000 and its call data: the first
#: anchor of a logId writes two fresh storage slots, every later one overwrites one.
EXEC_GAS_FIRST = 46_390
EXEC_GAS_LATER = 9_329


def anchor_gas(log_id: bytes, tree_size: int, root: bytes, *, first: bool) -> int:
    """The gas an anchor() transaction uses (EIP-2028 call data: 16 per non-zero byte,
    4 per zero byte)."""
    from hashcore.anchor.contract import encode_anchor_call

    data = encode_anchor_call(log_id, tree_size, root)
    calldata = sum(16 if b else 4 for b in data)
    return 21_000 + calldata + (EXEC_GAS_FIRST if first else EXEC_GAS_LATER)


# --------------------------------------------------------------------------- store


class MemoryStore(Store):
    """The part of :class:`Store` the anchorer uses, in memory; the rest is not needed."""

    def __init__(self, log_id: bytes | None = None) -> None:
        self.log_id = log_id
        self.checkpoints: dict[int, StoredCheckpoint] = {}
        self.set_anchor_calls: list[tuple[int, Anchor | None]] = []

    def add(self, *sizes: int) -> None:
        for n in sizes:
            self.add_checkpoint(signed_checkpoint(n))

    def anchor(self, tree_size: int) -> Anchor | None:
        return self.checkpoints[tree_size].anchor

    def close(self) -> None:
        pass

    def schema_version(self) -> int:
        return 1

    def get_log_id(self) -> bytes | None:
        return self.log_id

    def set_log_id(self, log_id: bytes) -> None:
        self.log_id = log_id

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        self.checkpoints[checkpoint.tree_size] = checkpoint

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        return self.checkpoints[max(self.checkpoints)] if self.checkpoints else None

    def get_checkpoint(self, tree_size: int) -> StoredCheckpoint | None:
        return self.checkpoints.get(tree_size)

    def list_checkpoints(self) -> list[StoredCheckpoint]:
        return [self.checkpoints[k] for k in sorted(self.checkpoints)]

    def set_anchor(self, tree_size: int, anchor: Anchor | None) -> None:
        self.set_anchor_calls.append((tree_size, anchor))
        self.checkpoints[tree_size] = replace(self.checkpoints[tree_size], anchor=anchor)

    def _unused(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("not used by the anchorer")

    add_token = enroll = enrolled_with = get_device = list_devices = tree_size = append = _unused
    get_record = get_records = record_at = iter_entries = add_fork_evidence = _unused
    list_fork_evidence = erase = list_erasures = iter_record_batches = _unused
    checkpoints_table = store_id = get_meta = set_meta = rotations = _unused
    count_fork_evidence = set_checkpoint_note = _unused


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore(relay_log_id())


# --------------------------------------------------------------------------- embedded


@pytest.fixture(scope="module")
def embedded() -> EvmChain:
    """One embedded chain per test module (py-evm is slow to start): blocks only from
    transactions and ``mine()``."""
    return EvmChain.embedded(block_time_s=None)


def embedded_account(i: int) -> Any:
    from eth_tester.backends.pyevm.main import get_default_account_keys

    return Account.from_key(get_default_account_keys()[i].to_bytes())


# --------------------------------------------------------------------------- anvil


def _anvil_binary() -> Path:
    system = {"Linux": "linux", "Darwin": "darwin", "Windows": "win32"}.get(platform.system(), "")
    arch = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine(), ""
    )
    # The native binary of the platform package; node_modules/.bin/anvil is a node
    # wrapper around it (an extra process between the test and the node).
    for candidate in (
        REPO / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil",
        REPO / "node_modules" / ".bin" / "anvil",
    ):
        if candidate.exists():
            return candidate
    pytest.fail(
        "anvil is missing: run `make install` (it installs the npm package "
        "@foundry-rs/anvil into node_modules/)",
        pytrace=False,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class AnvilNode:
    """A running anvil on a loopback port; ``stop()``/``start()`` keep port and state."""

    binary: Path
    port: int
    args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 20.0) -> None:
        cmd = [str(self.binary), "--host", "127.0.0.1", "--port", str(self.port), "--silent"]
        self.proc = subprocess.Popen(
            [*cmd, *self.args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout_s
        body = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                pytest.fail(f"anvil exited with {self.proc.returncode}: {err}", pytrace=False)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(
                        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                        + body
                    )
                    if b'"result"' in s.recv(4096):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"anvil did not answer eth_chainId on {self.url} in {timeout_s} s")

    def stop(self) -> None:
        """SIGTERM (anvil then writes its --state file) and wait."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None


@pytest.fixture
def anvil_factory() -> Iterator[Callable[..., AnvilNode]]:
    """Start anvil nodes with extra arguments; all are stopped at teardown."""
    binary = _anvil_binary()
    nodes: list[AnvilNode] = []

    def start(*args: str) -> AnvilNode:
        node = AnvilNode(binary, free_port(), list(args))
        nodes.append(node)
        node.start()
        return node

    yield start
    for node in nodes:
        node.stop()


@pytest.fixture
def anvil(anvil_factory: Callable[..., AnvilNode]) -> str:
    """The URL of a fresh anvil (automine, chain id 31337)."""
    return anvil_factory().url


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """anvil's account 0 key in a 0600 key file."""
    path = tmp_path / "evm.key"
    path.write_text(ANVIL_KEY_0 + "\n")
    os.chmod(path, 0o600)
    return path
