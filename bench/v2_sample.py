"""A synthetic protocol v2 bundle for the benchmarks (SPEC v2 section 4), deterministic.

``devices`` chains of ``records`` records each (genesis, then data records with
~200-byte payloads), logged round-robin (position ``s * devices + d`` holds device ``d``'s
record ``s``), a signed checkpoint every ``checkpoint_every`` entries and at the end, each
cosigned by one witness (policy quorum 1), and every record's beacon naming the newest
checkpoint at least ``devices`` entries before it (what its device had verified). The
policy file is written beside the bundle. It exercises every stage of the v2 audit at the
bench's scale.
"""

from __future__ import annotations

import hashlib
import json
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import blake3
import nacl.bindings
import numpy as np
import pyarrow as pa
from hashcore import _core
from hashcore.bundle import write_bundle_v2
from hashcore.bundle.format_v2 import CHECKPOINT_SCHEMA_V2, RECORD_SCHEMA_V2
from hashcore.policy import Policy, load_policy

ORIGIN = "relay.bench.example/trial-v2"
WITNESS = "witness.bench.example"
T0_MS = 1_795_392_000_000
PAYLOAD_LEN = 200


def _seed(*parts: object) -> bytes:
    return hashlib.sha256("/".join(map(str, parts)).encode()).digest()


class _Frontier:
    """RFC 9162 tree root of a growing list of leaves (SHA-256), O(log n) per leaf."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, bytes]] = []  # (subtree size, hash), sizes decreasing
        self.size = 0

    def push(self, leaf: bytes) -> None:
        node, size = leaf, 1
        while self.stack and self.stack[-1][0] == size:
            left = self.stack.pop()[1]
            node = hashlib.sha256(b"\x01" + left + node).digest()
            size *= 2
        self.stack.append((size, node))
        self.size += 1

    def root(self) -> bytes:
        if not self.stack:
            return hashlib.sha256(b"").digest()
        node = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            node = hashlib.sha256(b"\x01" + left + node).digest()
        return node


def _sign(secret: bytes, links: list[bytes]) -> bytes:
    sign = nacl.bindings.crypto_sign
    return b"".join(sign(link, secret)[:64] for link in links)


def make_v2_sample(
    path: Path, *, devices: int, records: int, seed: int, checkpoint_every: int = 1000
) -> tuple[Path, Path]:
    """Write the bundle at ``path`` and its policy at ``path.with_suffix('.policy.json')``;
    returns both paths."""
    total = devices * records
    rng = np.random.default_rng(seed)
    payloads = rng.integers(32, 127, size=(total, PAYLOAD_LEN), dtype=np.uint8)
    salts = rng.bytes(16 * total)
    seeds = [_seed(seed, "device", d) for d in range(devices)]
    keys = [_core.public_key_from_seed(s) for s in seeds]
    secrets = [s + k for s, k in zip(seeds, keys, strict=True)]  # libsodium's secret key
    chain_ids = [_core.chain_id_for_key(k) for k in keys]
    log_seed = _seed(seed, "relay")
    log_key = _core.public_key_from_seed(log_seed)
    witness_seed = _seed(seed, "witness")

    cols: dict[str, list[object]] = {f.name: [] for f in RECORD_SCHEMA_V2}
    prev = [bytes(32)] * devices
    links_of: list[list[bytes]] = [[] for _ in range(devices)]
    frontier = _Frontier()
    checkpoints: list[tuple[int, bytes]] = []
    seen = 0  # checkpoints[:seen] are at least `devices` entries old
    commit_ctx = _core.COMMIT_CONTEXT
    for i in range(total):
        s, d = divmod(i, devices)
        received = T0_MS + 1000 * i
        payload = keys[d] if s == 0 else payloads[i].tobytes()
        salt = salts[16 * i : 16 * i + 16]
        commit = blake3.blake3(salt + payload, derive_key_context=commit_ctx).digest()
        while seen < len(checkpoints) and checkpoints[seen][0] <= i - devices:
            seen += 1
        beacon_size, beacon_root = checkpoints[seen - 1] if seen and s > 0 else (0, bytes(32))
        kind = 0 if s == 0 else 1
        link = _core.v2_link(
            chain_ids[d], s, received - 5000, kind, prev[d], commit, beacon_size, beacon_root
        )
        for name, value in (
            ("log_index", i),
            ("chain_id", chain_ids[d]),
            ("seq", s),
            ("time_ms", received - 5000),
            ("kind", kind),
            ("prev", prev[d]),
            ("commit", commit),
            ("beacon_size", beacon_size),
            ("beacon_root", beacon_root),
            ("link", link),
            ("salt", salt),
            ("payload", payload),
            ("received_ms", received),
        ):
            cols[name].append(value)
        links_of[d].append(link)
        prev[d] = link
        entry = b"\x02" + link + struct.pack(">q", received)
        frontier.push(hashlib.sha256(b"\x00" + entry).digest())
        if frontier.size % checkpoint_every == 0 or frontier.size == total:
            checkpoints.append((frontier.size, frontier.root()))

    with ThreadPoolExecutor(max_workers=2) as pool:
        sigs = list(pool.map(_sign, secrets, links_of))
    by_device = [[sigs[d][64 * s : 64 * s + 64] for s in range(records)] for d in range(devices)]
    cols["signature"] = [by_device[i % devices][i // devices] for i in range(total)]
    table = pa.table(cols, schema=RECORD_SCHEMA_V2)

    cp_rows = checkpoints
    notes = []
    for size, root in cp_rows:
        note = _core.note_sign(log_seed, ORIGIN, size, root)
        notes.append(_core.note_cosign(note, witness_seed, WITNESS, T0_MS // 1000 + size))
    cps = pa.table(
        {
            "tree_size": [s for s, _ in cp_rows],
            "root": [r for _, r in cp_rows],
            "note": notes,
            "tx_hash": [None] * len(cp_rows),
            "block_number": [None] * len(cp_rows),
        },
        schema=CHECKPOINT_SCHEMA_V2,
    )
    write_bundle_v2(path, table, cps, origin=ORIGIN, log_key=log_key, exported_ms=T0_MS)
    policy = path.with_suffix(".policy.json")
    policy.write_text(
        json.dumps(
            {
                "format": "hashcore-policy",
                "version": 2,
                "origin": ORIGIN,
                "log_key": log_key.hex(),
                "witnesses": [
                    {"name": WITNESS, "key": _core.public_key_from_seed(witness_seed).hex()}
                ],
                "witness_quorum": 1,
                "evm": None,
                "max_merge_delay_ms": 86_400_000,
                "max_clock_skew_ms": 300_000,
            }
        )
    )
    return path, policy


def load_sample_policy(path: Path) -> Policy:
    return load_policy(path.with_suffix(".policy.json"))
