"""The relay's embedded EVM chain (``--evm embedded``): an anvil child process whose state
lives in files beside the store, so the chain, its anchor contract and every anchor on it
survive the relay's restarts.

Why anvil and not py-evm on a persistent database: eth-tester keeps py-evm's state in
memory only (a persistent py-evm chain would be hand-written plumbing under a library
meant for tests), while anvil already loads and dumps its whole chain (accounts, blocks,
transactions, receipts) with ``--load-state``/``--dump-state``, starts in ~0.3 s, and
``make install`` brings it. Measured with anvil 1.7.1: SIGTERM dumps the state and exits
in ~10 ms; kill -9 of anvil dumps nothing (only the last ``--state-interval`` dump is
left); the dump rewrites the file in place (O_TRUNC), so a crash mid-write can tear it.

Files, for ``STATE`` (e.g. ``relay.evm-state.json``):

- ``STATE``: what anvil dumps, every ``dump_interval_s`` and when it exits.
- ``STATE.prev``: the state this run started from (``STATE`` renamed at start). A torn or
  missing ``STATE`` falls back to it: the chain then lags the store, which the anchorer
  notices (anchors it does not hold are cleared and sent again).
- ``STATE.lock``: an flock the relay takes and anvil inherits, so a new relay waits for
  the previous anvil to finish writing its state.
- ``STATE.log``: anvil's stderr.

Lifetime: anvil is told (PR_SET_PDEATHSIG) to get SIGTERM when the thread that started it
dies, so a relay killed with -9 still leaves a dumped state and no orphaned node. Start
it from a thread that lives as long as the relay (the event loop's).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import logging
import os
import platform
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from ..errors import AnchorError

__all__ = ["EMBEDDED_CHAIN_ID", "EMBEDDED_KEY", "EmbeddedAnvil", "find_anvil"]

_log = logging.getLogger("hashcore.anchor")

#: The embedded chain keeps the chain id the in-process eth-tester chain always had.
EMBEDDED_CHAIN_ID = 131277322940537
#: anvil's default account 0 (from its well-known test mnemonic): not a secret, and the
#: embedded chain proves nothing to anyone outside this host anyway.
EMBEDDED_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
_PR_SET_PDEATHSIG = 1
_NOT_FOUND = (
    "anvil not found: the embedded chain (--evm embedded, the default) runs Foundry's "
    "anvil; install it (npm install @foundry-rs/anvil, or foundryup), set "
    "HASHCORE_ANVIL=/path/to/anvil, or use --evm url / --evm none"
)


def _native_in(node_modules: Path) -> list[Path]:
    system = {"Linux": "linux", "Darwin": "darwin"}.get(platform.system(), "")
    arch = {"x86_64": "amd64", "AMD64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine(), ""
    )
    # The platform package's native binary first: node_modules/.bin/anvil is a node
    # wrapper, a process between us and anvil that PR_SET_PDEATHSIG would not reach.
    return [
        node_modules / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil",
        node_modules / ".bin" / "anvil",
    ]


def find_anvil() -> Path:
    """The anvil binary: ``$HASHCORE_ANVIL``, else ``node_modules`` of the working
    directory or of the source checkout this package runs from (``make install``), else
    ``anvil`` on PATH (foundryup, a system package).

    Raises:
        AnchorError: none found (one line saying how to get it).
    """
    explicit = os.environ.get("HASHCORE_ANVIL")
    if explicit:
        if os.access(explicit, os.X_OK):
            return Path(explicit)
        raise AnchorError(f"HASHCORE_ANVIL={explicit} is not an executable file")
    checkout = Path(__file__).resolve().parents[3]  # python/hashcore/anchor/ -> repo
    for base in (Path.cwd(), checkout):
        for candidate in _native_in(base / "node_modules"):
            if os.access(candidate, os.X_OK):
                return candidate
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    raise AnchorError(_NOT_FOUND)


def _pdeathsig() -> None:  # runs in the child between fork and exec
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


_LIBC = ctypes.CDLL(None, use_errno=True) if platform.system() == "Linux" else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _usable_state(path: Path) -> bool:
    """A complete anvil state dump (a torn one does not parse)."""
    try:
        with path.open("rb") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "accounts" in data


class EmbeddedAnvil:
    """A running anvil for one relay store; see the module docstring."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, lock_fd: int) -> None:
        self.proc = proc
        self.port = port
        self._lock_fd: int | None = lock_fd

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls,
        state: Path,
        *,
        binary: Path | None = None,
        dump_interval_s: int = 5,
        wait_s: float = 30.0,
    ) -> EmbeddedAnvil:
        """Start anvil on a free loopback port with the chain in ``state``.

        Raises:
            AnchorError: no anvil, the state is locked for longer than ``wait_s``, or
                anvil did not come up (the line of its log that says why).
        """
        anvil = binary or find_anvil()
        lock_fd = cls._lock(state.with_name(state.name + ".lock"), wait_s)
        try:
            load = cls._choose_state(state)
            for _attempt in range(3):  # a free port can be taken before anvil binds it
                port = _free_port()
                node = cls._spawn(anvil, state, load, port, lock_fd, dump_interval_s, wait_s)
                if node is not None:
                    return node
            raise AnchorError("anvil could not bind a free port on 127.0.0.1 (3 tries)")
        except BaseException:
            os.close(lock_fd)
            raise

    @staticmethod
    def _lock(path: Path, wait_s: float) -> int:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise AnchorError(
                        f"{path}: the embedded chain is still held by another anvil after "
                        f"{wait_s:g} s (another relay on this store?)"
                    ) from None
                time.sleep(0.05)

    @staticmethod
    def _choose_state(state: Path) -> Path | None:
        """Which dump to load: ``state`` if complete (renamed to ``.prev``, as anvil will
        rewrite ``state``), else the previous start's. Pre-creates ``state`` 0600 (anvil
        keeps the mode of a file it rewrites)."""
        prev = state.with_name(state.name + ".prev")
        if state.exists():
            if state.stat().st_size == 0:
                state.unlink()  # created, never dumped into
            elif _usable_state(state):
                os.replace(state, prev)
            else:
                damaged = state.with_name(state.name + ".damaged")
                os.replace(state, damaged)
                _log.warning(
                    "EVM: %s is damaged (torn by a crash?), kept as %s; the embedded chain "
                    "starts from %s: anchors it lacks are sent again",
                    state,
                    damaged,
                    prev if prev.exists() else "nothing",
                )
        os.close(os.open(state, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return prev if prev.exists() and _usable_state(prev) else None

    @classmethod
    def _spawn(
        cls,
        anvil: Path,
        state: Path,
        load: Path | None,
        port: int,
        lock_fd: int,
        dump_interval_s: int,
        wait_s: float,
    ) -> EmbeddedAnvil | None:
        cmd = [str(anvil), "--host", "127.0.0.1", "--port", str(port), "--silent"]
        cmd += ["--chain-id", str(EMBEDDED_CHAIN_ID), "--dump-state", str(state)]
        cmd += ["--state-interval", str(dump_interval_s)]
        if load is not None:
            cmd += ["--load-state", str(load)]
        log_path = state.with_name(state.name + ".log")
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                # Never a pipe to us: anvil must outlive our reading end to dump its state.
                stdout=subprocess.DEVNULL,
                stderr=log_fd,
                pass_fds=(lock_fd,),
                preexec_fn=_pdeathsig if _LIBC is not None else None,
            )
        finally:
            os.close(log_fd)
        node = cls(proc, port, lock_fd)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                lines = log_path.read_text(errors="replace").strip().splitlines()
                last = lines[-1] if lines else f"exit status {proc.returncode}"
                if "in use" in last.lower():
                    return None
                raise AnchorError(f"anvil (embedded chain) did not start: {last[:300]}")
            if node._answers():
                _log.info(
                    "EVM: embedded chain is anvil pid %d on %s, state in %s%s",
                    proc.pid,
                    node.url,
                    state,
                    f" (loaded from {load.name})" if load else " (a new chain)",
                )
                return node
            time.sleep(0.05)
        node.stop()
        raise AnchorError(f"anvil (embedded chain) did not answer on {node.url} in {wait_s:g} s")

    def _answers(self) -> bool:
        body = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'
        request = urllib.request.Request(
            self.url, body, {"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=1) as response:
                return b'"result"' in response.read()
        except OSError:
            return False

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM (anvil dumps its state), wait, then let go of the lock."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                _log.error("EVM: anvil did not stop in %g s; killed (state may lag)", timeout_s)
                self.proc.kill()
                self.proc.wait()
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None
