"""Synthetic but valid v2 audit bundles: many phones keeping sleep diaries, one relay.

``make_sample`` builds ``devices`` chains of ``records`` records each (genesis included),
interleaves them in the relay log the way phones that sync now and then would, and writes
a SPEC v2 section 4 bundle: v2 headers whose beacons name the newest checkpoint each phone
had verified (it verifies one at every sync, so its beacons advance, never go back),
``received_ms`` in every log entry, the SHA-256 tree, signed-note checkpoints under an
origin and the log key, optionally cosigned by witnesses (with a policy that names them),
and the evidence the phones kept: every receipt they got and every note they verified
(each phone also checks in once after the relay's last checkpoint).

Everything derives from ``seed``, so the same arguments give byte-identical output. The
keys and salts are derived from that seed and therefore NOT secret: test data only.

It scales: columns are flat byte buffers and numpy arrays, not Record objects; the tree
is hashed in runs in Rust; Ed25519 signing (libsodium via PyNaCl, which releases the GIL)
of records and receipts runs in worker threads.
"""

from __future__ import annotations

import datetime
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import blake3
import nacl.bindings
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from .. import _core
from .._atomic import replace_atomically
from ..bundle import write_bundle_v2
from ..bundle.format_v2 import NOTES_FILE, RECEIPT_SCHEMA, RECEIPTS_FILE, RECORD_SCHEMA_V2
from ..errors import InvalidInputError
from ..policy import Policy, parse_policy
from ..record import ZERO_LINK
from .sample_chains import make_chains
from .sample_keys import SampleKeys, derive, write_json
from .sha256_log import Sha256Log, leaf_hash

__all__ = ["SampleInfo", "make_sample"]

_START_MS = int(datetime.datetime(2026, 1, 5, tzinfo=datetime.UTC).timestamp()) * 1000
# One diary entry per day: keep the last date well inside datetime's year 9999.
_MAX_RECORDS_PER_DEVICE = 2_000_000
_SIGN_MS = 1_000  # the relay signs a checkpoint this long after its last entry arrived
_ZERO_ROOT = bytes(32)


@dataclass(frozen=True)
class SampleInfo:
    """What :func:`make_sample` wrote."""

    path: Path
    seed: int
    devices: int
    records_per_device: int
    records: int
    rotations: int
    checkpoints: int
    origin: str
    log_key: bytes
    keys: SampleKeys
    #: The SPEC 3 policy that trusts this sample's relay and witnesses.
    policy: dict[str, Any]
    elapsed_s: float
    #: Where the evidence went (None: not written): receipts.parquet and notes.parquet,
    #: in the bundle or in ``evidence_dir``.
    receipts_file: Path | None = None
    notes_file: Path | None = None
    policy_file: Path | None = None
    keys_file: Path | None = None
    #: Checkpoint tree sizes, ascending.
    checkpoint_sizes: list[int] = field(default_factory=list)

    @property
    def log_seed(self) -> bytes:
        return self.keys.log_seed

    @property
    def trust_policy(self) -> Policy:
        """:attr:`policy` as the auditor takes it."""
        return parse_policy(self.policy)

    def summary(self) -> str:
        """One line for humans."""
        wit = f", {len(self.keys.witnesses)} witnesses (quorum {self.keys.witness_quorum})"
        return (
            f"wrote {self.records} records ({self.devices} devices x {self.records_per_device}, "
            f"{self.rotations} key rotations) and {self.checkpoints} checkpoints{wit} to "
            f"{self.path} in {self.elapsed_s:.1f} s (seed {self.seed}, origin {self.origin}, "
            f"log_key {self.log_key.hex()})"
        )


def _keypair(seed32: bytes) -> tuple[bytes, bytes]:
    """(public key, 64-byte libsodium secret key) of an RFC 8032 seed."""
    pk, sk = nacl.bindings.crypto_sign_seed_keypair(seed32)
    return bytes(pk), bytes(sk)


def _sign_all(jobs: list[tuple[bytes, list[bytes]]]) -> bytes:
    """Sign each list of messages with its key; the signatures, concatenated, in order."""
    out: list[bytes] = []
    sign = nacl.bindings.crypto_sign
    for secret, messages in jobs:
        # crypto_sign returns signature || message; RFC 8032, so deterministic.
        out.extend(sign(m, secret)[:64] for m in messages)
    return b"".join(out)


def _check_count(name: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{name} must be an integer, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise InvalidInputError(f"{name} must be {bound}, got {value}")
    return value


def _binary_array(data: bytes, width: int, n: int) -> pa.Array:
    """A ``binary`` Arrow array of ``n`` values of ``width`` bytes from one flat buffer."""
    offsets = np.arange(0, width * (n + 1), width, dtype=np.int32)
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _reordered_binary(
    values: list[bytes], order: npt.NDArray[np.int64], chunk: int = 1_000_000
) -> pa.ChunkedArray:
    """``values`` in ``order`` as a ``binary`` column, in chunks of at most ``chunk`` rows
    (a ``binary`` array holds at most 2 GiB, which 10M diary payloads pass)."""
    big = pa.array(values, type=pa.large_binary())
    if isinstance(big, pa.ChunkedArray):
        big = big.combine_chunks()
    return pa.chunked_array(
        [
            big.take(pa.array(order[i : i + chunk])).cast(pa.binary())
            for i in range(0, max(len(order), 1), chunk)
        ],
        type=pa.binary(),
    )


def _fixed(data: npt.NDArray[np.uint8] | bytes, width: int) -> pa.Array:
    raw = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    flat = np.ascontiguousarray(raw).reshape(-1)
    return pa.Array.from_buffers(pa.binary(width), len(flat) // width, [None, pa.py_buffer(flat)])


def _write_parquet(table: pa.Table, file: Path) -> None:
    replace_atomically(file, lambda tmp: pq.write_table(table, tmp))


def make_sample(
    path: str | os.PathLike[str],
    *,
    devices: int,
    records: int,
    seed: int | None = None,
    checkpoint_every: int = 1000,
    rotate_every: int | None = None,
    part_rows: int | None = None,
    witnesses: int = 0,
    witness_quorum: int | None = None,
    origin: str | None = None,
    evidence: bool = True,
    evidence_dir: str | os.PathLike[str] | None = None,
    policy_path: str | os.PathLike[str] | None = None,
    keys_path: str | os.PathLike[str] | None = None,
) -> SampleInfo:
    """Write a valid synthetic v2 bundle to ``path`` and describe it.

    Args:
        path: bundle directory to create (must not exist or be empty).
        devices: number of enrolled devices (chains).
        records: records per device, genesis included (so 1 means genesis only).
        seed: makes the output reproducible; ``None`` picks a random one (reported back).
        checkpoint_every: the relay signs a checkpoint every this many log entries, and
            one at the end.
        rotate_every: when given, each device rotates its key at every seq that is a
            positive multiple of it (the rotation record counts as one of ``records``).
        part_rows: write ``records/part-*.parquet`` parts of this many rows.
        witnesses: this many witnesses cosign every checkpoint (seed-derived keys).
        witness_quorum: the policy's quorum (default: a majority of the witnesses).
        origin: the log's origin (default: one naming the seed).
        evidence: write the devices' receipts and verified notes (receipts.parquet,
            notes.parquet); in the bundle, or in ``evidence_dir`` when given.
        policy_path: write the SPEC 3 policy of the sample there.
        keys_path: write the sample's (non-secret) keys there, for the fraud simulation.

    Raises:
        InvalidInputError: a count or name is out of range.
        BundleError: ``path`` exists and is not empty.
    """
    started = time.perf_counter()
    _check_count("devices", devices, 1)
    _check_count("records", records, 1, _MAX_RECORDS_PER_DEVICE)
    _check_count("checkpoint_every", checkpoint_every, 1)
    _check_count("witnesses", witnesses, 0, 100)
    quorum = (witnesses // 2 + 1 if witnesses else 0) if witness_quorum is None else witness_quorum
    _check_count("witness_quorum", quorum, 0, witnesses)
    if rotate_every is not None:
        _check_count("rotate_every", rotate_every, 1)
    if seed is None:
        seed = int.from_bytes(os.urandom(8), "big")
    _check_count("seed", seed, 0)
    origin = f"sample.hashcore.example/seed-{seed}" if origin is None else origin
    if not isinstance(origin, str) or not _core.is_key_name(origin):
        raise InvalidInputError(f"origin must be a key name, got {origin!r}")

    total = devices * records
    chains = make_chains(seed, devices, records, rotate_every)
    # The relay logs records in the order it received them (ties: device, then seq).
    device_of = np.repeat(np.arange(devices, dtype=np.int64), records)
    seq_of = np.tile(np.arange(records, dtype=np.uint64), devices)
    order = np.lexsort((seq_of, device_of, chains.received_ms))
    position = np.empty(total, dtype=np.int64)
    position[order] = np.arange(total, dtype=np.int64)

    sizes = list(range(checkpoint_every, total + 1, checkpoint_every))
    if not sizes or sizes[-1] != total:
        sizes.append(total)
    received_log = chains.received_ms[order]
    published = received_log[np.array(sizes) - 1] + _SIGN_MS
    # Each record's beacon: the newest checkpoint published by the phone's last sync.
    sync_ms = np.where(chains.last_sync >= 0, chains.received_ms[chains.last_sync], -(2**62))
    beacon_k = np.searchsorted(published, sync_ms, side="right") - 1
    sizes_arr = np.array([0, *sizes], dtype=np.uint64)
    beacon_size = sizes_arr[beacon_k + 1]

    # In log order: links (which need the roots the beacons name), entries, the tree.
    log_seed = derive(seed, "relay key")
    log_key = _core.public_key_from_seed(log_seed)
    links: list[bytes] = [b""] * total
    leaves = bytearray()
    tree = Sha256Log()
    roots: list[bytes] = []
    root_at: dict[int, bytes] = {0: _ZERO_ROOT}
    next_cp = 0
    v2_link = _core.v2_link
    kinds = chains.kinds.tolist()
    seqs = seq_of.tolist()
    times = chains.time_ms.tolist()
    received = chains.received_ms.tolist()
    beacons = beacon_size.tolist()
    entries: list[bytes] = []
    for li, r in enumerate(order.tolist()):
        while next_cp < len(sizes) and sizes[next_cp] == li:
            tree.extend(bytes(leaves))
            leaves.clear()
            roots.append(tree.root())
            root_at[sizes[next_cp]] = roots[-1]
            next_cp += 1
        b = beacons[r]
        prev = links[r - 1] if seqs[r] else ZERO_LINK
        link = v2_link(
            chains.chain_ids[r],
            seqs[r],
            times[r],
            kinds[r],
            prev,
            chains.commits[r],
            b,
            root_at[b] if b else _ZERO_ROOT,
        )
        links[r] = link
        entry = b"\x02" + link + received[r].to_bytes(8, "big", signed=True)
        entries.append(entry)
        leaves += leaf_hash(entry)
    tree.extend(bytes(leaves))
    roots.append(tree.root())
    assert len(roots) == len(sizes)

    witness_keys = tuple(
        (f"witness-{w + 1}.hashcore.example", derive(seed, "witness key", w))
        for w in range(witnesses)
    )
    notes: list[bytes] = []
    for k, (size, root) in enumerate(zip(sizes, roots, strict=True)):
        note = _core.note_sign(log_seed, origin, size, root)
        for w, (name, wseed) in enumerate(witness_keys):
            # Witness w cosigns a second (and w more) after the relay signed.
            note = _core.note_cosign(note, wseed, name, int(published[k]) // 1000 + 1 + w)
        notes.append(note)

    secrets_jobs: list[list[tuple[bytes, list[bytes]]]] = []
    head_seeds: dict[bytes, bytes] = {}
    for d, (gens, seeds) in enumerate(chains.generations):
        secrets = [_keypair(s)[1] for s in seeds]
        jobs: list[tuple[bytes, list[bytes]]] = []
        for s in range(records):
            g = gens[s]
            if not jobs or jobs[-1][0] != secrets[g]:
                jobs.append((secrets[g], []))
            jobs[-1][1].append(links[d * records + s])
        secrets_jobs.append(jobs)
        head_seeds[chains.chain_ids[d * records]] = seeds[-1]
    keys = SampleKeys(origin, log_seed, witness_keys, quorum, head_seeds)

    workers = max(1, min(8, os.cpu_count() or 1))
    log_secret = _keypair(log_seed)[1]
    chunk = 50_000
    receipt_ctx = _core.V2_RECEIPT_CONTEXT
    with ThreadPoolExecutor(max_workers=workers) as pool:
        sig_futures = [pool.submit(_sign_all, jobs) for jobs in secrets_jobs]
        receipt_futures = []
        if evidence:
            for start in range(0, total, chunk):
                digests = [
                    blake3.blake3(
                        log_key + li.to_bytes(8, "big") + entries[li],
                        derive_key_context=receipt_ctx,
                    ).digest()
                    for li in range(start, min(total, start + chunk))
                ]
                receipt_futures.append(pool.submit(_sign_all, [(log_secret, digests)]))
        signatures = b"".join(f.result() for f in sig_futures)
        receipt_sigs = b"".join(f.result() for f in receipt_futures)

    def column(parts: list[bytes], width: int) -> npt.NDArray[np.uint8]:
        flat = np.frombuffer(b"".join(parts), dtype=np.uint8).reshape(total, width)
        return flat[order]

    salts = chains.salts
    link_col = column(links, 32)
    salt_col = np.frombuffer(salts, dtype=np.uint8).reshape(total, 16)[order]
    beacon_roots = [root_at[b] if b else _ZERO_ROOT for b in beacons]
    prevs = [links[r - 1] if seqs[r] else ZERO_LINK for r in range(total)]
    table = pa.Table.from_arrays(
        [
            pa.array(np.arange(total, dtype=np.uint64)),
            _fixed(column(chains.chain_ids, 16), 16),
            pa.array(seq_of[order]),
            pa.array(chains.time_ms[order]),
            pa.array(chains.kinds[order]),
            _fixed(column(prevs, 32), 32),
            _fixed(column(chains.commits, 32), 32),
            pa.array(beacon_size[order]),
            _fixed(column(beacon_roots, 32), 32),
            _fixed(link_col, 32),
            _fixed(np.frombuffer(signatures, dtype=np.uint8).reshape(total, 64)[order], 64),
            _binary_array(salt_col.tobytes(), 16, total),
            _reordered_binary(chains.payloads, order),
            pa.array(received_log),
        ],
        schema=RECORD_SCHEMA_V2,
    )
    checkpoints = pa.table(
        {
            "tree_size": pa.array(sizes, pa.uint64()),
            "root": pa.array(roots, pa.binary(32)),
            "note": pa.array(notes, pa.binary()),
        }
    )
    receipts_t = notes_t = None
    if evidence:
        receipts_t = pa.Table.from_arrays(
            [
                _fixed(column(chains.chain_ids, 16), 16),
                pa.array(seq_of[order]),
                _fixed(link_col, 32),
                pa.array(np.arange(total, dtype=np.uint64)),
                pa.array(received_log),
                _fixed(receipt_sigs, 64),
            ],
            schema=RECEIPT_SCHEMA,
        )
        # The notes the phones verified: each one a beacon names, and the last one, which
        # every phone verifies when it checks in after the trial.
        seen = sorted({int(k) for k in beacon_k.tolist() if k >= 0} | {len(sizes) - 1})
        notes_t = pa.table({"note": pa.array([notes[k] for k in seen], pa.binary())})
    exported_ms = int(received_log[-1]) + 60_000 if total else _START_MS
    in_bundle = evidence and evidence_dir is None
    out = write_bundle_v2(
        path,
        table,
        checkpoints,
        origin=origin,
        log_key=log_key,
        exported_ms=exported_ms,
        receipts=receipts_t if in_bundle else None,
        notes=notes_t if in_bundle else None,
        part_rows=part_rows,
    )
    receipts_file = notes_file = None
    if evidence:
        where = out if evidence_dir is None else Path(evidence_dir)
        receipts_file, notes_file = where / RECEIPTS_FILE, where / NOTES_FILE
        if evidence_dir is not None:
            where.mkdir(parents=True, exist_ok=True)
            assert receipts_t is not None and notes_t is not None
            _write_parquet(receipts_t, receipts_file)
            _write_parquet(notes_t, notes_file)
    policy = keys.policy()
    return SampleInfo(
        path=out,
        seed=seed,
        devices=devices,
        records_per_device=records,
        records=total,
        rotations=chains.rotations,
        checkpoints=len(sizes),
        origin=origin,
        log_key=log_key,
        keys=keys,
        policy=policy,
        elapsed_s=time.perf_counter() - started,
        receipts_file=receipts_file,
        notes_file=notes_file,
        policy_file=write_json(policy_path, policy) if policy_path is not None else None,
        keys_file=write_json(keys_path, keys.to_json()) if keys_path is not None else None,
        checkpoint_sizes=sizes,
    )
