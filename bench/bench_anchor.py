"""EVM anchoring figures on a real anvil node: gas per anchor, and latency to final.

Two ways to run it:

- ``make bench`` (pytest-benchmark): the timed figure is the time from a new checkpoint
  in the store to its anchor being final (the Anchorer running as in the relay); gas is
  in ``extra_info``.
- ``python bench/bench_anchor.py``: prints the same figures as a table.

anvil comes from ``make install`` (npm package ``@foundry-rs/anvil``).
"""

from __future__ import annotations

import asyncio
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hashcore import _core
from hashcore.anchor import Anchorer, EvmChain
from hashcore.anchor.chain import Receipt
from hashcore.relay.store.base import Anchor, Store, StoredCheckpoint

REPO = Path(__file__).resolve().parents[1]
#: anvil's default account 0 (well-known test key, not secret).
ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
RELAY_SEED = bytes(range(32))
#: Tree sizes whose anchors are weighed: from a handful of records to a billion.
SIZES = (10, 1_000, 1_000_000, 1_000_000_000)


def anvil_binary() -> Path:
    system = {"Linux": "linux", "Darwin": "darwin"}.get(platform.system(), "")
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "")
    for p in (
        REPO / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil",
        REPO / "node_modules" / ".bin" / "anvil",
    ):
        if p.exists():
            return p
    raise RuntimeError("anvil is missing: run `make install`")


@contextmanager
def anvil(*args: str) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [str(anvil_binary()), "--host", "127.0.0.1", "--port", str(port), "--silent", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                EvmChain.connect(url).chain_id()
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"anvil did not start on {url}") from None
                time.sleep(0.05)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


class CheckpointStore(Store):
    """The part of the relay's Store the anchorer uses, in memory (a real store wants
    the records behind each checkpoint; the anchorer never reads them)."""

    def __init__(self, log_id: bytes) -> None:
        self.log_id = log_id
        self.checkpoints: dict[int, StoredCheckpoint] = {}
        self.lock = threading.Lock()

    def get_log_id(self) -> bytes | None:
        return self.log_id

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        with self.lock:
            self.checkpoints[checkpoint.tree_size] = checkpoint

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self.lock:
            return self.checkpoints[max(self.checkpoints)] if self.checkpoints else None

    def get_checkpoint(self, tree_size: int) -> StoredCheckpoint | None:
        with self.lock:
            return self.checkpoints.get(tree_size)

    def list_checkpoints(self) -> list[StoredCheckpoint]:
        with self.lock:
            return [self.checkpoints[k] for k in sorted(self.checkpoints)]

    def set_anchor(self, tree_size: int, anchor: Anchor | None) -> None:
        with self.lock:
            cp = self.checkpoints[tree_size]
            self.checkpoints[tree_size] = StoredCheckpoint(
                cp.tree_size, cp.root, cp.note, cp.created_ms, anchor
            )

    def close(self) -> None:
        pass

    def _unused(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    schema_version = set_log_id = add_token = enroll = get_device = _unused
    list_devices = tree_size = append = get_record = get_records = record_at = _unused
    iter_entries = add_fork_evidence = list_fork_evidence = erase = list_erasures = _unused
    iter_record_batches = checkpoints_table = get_meta = set_meta = rotations = _unused
    count_fork_evidence = enrolled_with = store_id = set_checkpoint_note = _unused


class Rig:
    """anvil + anchor contract + a store + an Anchorer running in its own loop."""

    def __init__(self, url: str, tmp: Path, *, confirmations: int) -> None:
        key = tmp / "evm.key"
        key.write_text(ANVIL_KEY_0)
        os.chmod(key, 0o600)
        self.chain = EvmChain.connect(url, key)
        self.contract = self.chain.deploy_anchor_contract()
        import nacl.signing

        self.store = CheckpointStore(bytes(nacl.signing.SigningKey(RELAY_SEED).verify_key))
        self.anchorer = Anchorer(
            self.store,
            self.chain,
            self.contract,
            interval_s=0.02,
            finality_poll_s=0.02,
            poll_s=0.01,
            confirmations=confirmations,
        )
        self.size = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.task = asyncio.run_coroutine_threadsafe(self.anchorer.run(), self.loop)

    def add_checkpoint(self, size: int) -> None:
        root = size.to_bytes(8, "big") * 4
        note = _core.note_sign(RELAY_SEED, "relay.bench.example/anchor", size, root)
        self.store.add_checkpoint(StoredCheckpoint(size, root, note, int(time.time() * 1000)))
        self.size = size

    def wait_final(self, size: int, timeout_s: float = 120.0) -> Receipt:
        deadline = time.monotonic() + timeout_s
        while True:
            cp = self.store.get_checkpoint(size)
            if cp is not None and cp.anchor is not None and cp.anchor.final:
                receipt = self.chain.receipt(cp.anchor.tx_hash)
                assert receipt is not None
                return receipt
            if time.monotonic() > deadline:
                raise TimeoutError(f"tree_size {size} not final: {self.anchorer.status}")
            time.sleep(0.002)

    def anchor_to_final(self) -> Receipt:
        self.add_checkpoint(self.size + 1)
        return self.wait_final(self.size)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.anchorer.stop)
        self.task.result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.store.close()


def gas_figures(url: str, tmp: Path) -> dict[str, int]:
    """Gas of the first anchor of a logId, then of anchors at ever larger tree sizes."""
    rig = Rig(url, tmp, confirmations=1)
    try:
        out = {}
        for i, size in enumerate(SIZES):
            rig.add_checkpoint(size)
            receipt = rig.wait_final(size)
            out["first anchor" if i == 0 else f"tree_size {size:,}"] = receipt.gas_used
        return out
    finally:
        rig.close()


# --------------------------------------------------------------------------- pytest


@pytest.fixture(scope="module")
def tmp() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


@pytest.mark.parametrize(
    ("block_time", "confirmations"),
    [(None, 1), ("1", 3)],
    ids=["automine-1conf", "1s-blocks-3conf"],
)
def test_anchor_latency_to_final(
    benchmark: Any, tmp: Path, block_time: str | None, confirmations: int
) -> None:
    args = ("--block-time", block_time) if block_time else ()
    with anvil(*args) as url:
        sub = tmp / f"lat-{block_time}-{confirmations}"
        sub.mkdir()
        rig = Rig(url, sub, confirmations=confirmations)
        try:
            rig.anchor_to_final()  # the first anchor of the logId (two fresh slots)
            receipt = benchmark.pedantic(rig.anchor_to_final, rounds=5, iterations=1)
            benchmark.extra_info["gas_used"] = receipt.gas_used
            benchmark.extra_info["confirmations"] = confirmations
            benchmark.extra_info["block_time_s"] = block_time or "automine"
        finally:
            rig.close()


def test_anchor_gas(benchmark: Any, tmp: Path) -> None:
    with anvil() as url:
        sub = tmp / "gas"
        sub.mkdir()
        figures = benchmark.pedantic(gas_figures, args=(url, sub), rounds=1, iterations=1)
    benchmark.extra_info.update(figures)
    later = [v for k, v in figures.items() if k != "first anchor"]
    assert max(later) - min(later) <= 16 * 8  # only the call data's bytes differ


# --------------------------------------------------------------------------- script


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "gas").mkdir()
        with anvil() as url:
            gas = gas_figures(url, tmp / "gas")
        print("gas per anchor (anvil):")
        for k, v in gas.items():
            print(f"  {k:>26}: {v:,}")
        for block_time, conf in ((None, 1), ("1", 3), ("1", 12)):
            args = ("--block-time", block_time) if block_time else ()
            sub = tmp / f"l{block_time}{conf}"
            sub.mkdir()
            with anvil(*args) as url:
                rig = Rig(url, sub, confirmations=conf)
                try:
                    rig.anchor_to_final()
                    times = []
                    for _ in range(3 if conf < 12 else 2):
                        t = time.perf_counter()
                        rig.anchor_to_final()
                        times.append(time.perf_counter() - t)
                finally:
                    rig.close()
            where = "automine" if block_time is None else f"{block_time} s blocks"
            print(
                f"latency to final ({where}, {conf} confirmations): "
                + ", ".join(f"{x:.3f} s" for x in times)
            )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
