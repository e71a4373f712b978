"""Protocol v1 synthetic bundles, kept only for the v1 auditor's tests and benchmarks until
that engine is removed (v2 bundles: :mod:`hashcore.sim.sample`).

``make_sample_v1`` builds ``devices`` chains of ``records`` records each (genesis included),
signs them, interleaves them in the relay log the way phones that sync now and then
would, signs checkpoints and writes a SPEC section 3 bundle. Everything derives from
``seed``, so the same arguments give byte-identical bundles. The keys and salts are
derived from that seed and therefore NOT secret: this is test data only.

It scales: columns are built as flat byte buffers and numpy arrays, not as Record
objects, and Ed25519 signing (libsodium via PyNaCl, which releases the GIL) runs in
worker threads while the main thread makes diary entries and hashes.
"""

from __future__ import annotations

import datetime
import os
import random
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import blake3
import nacl.bindings
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from .. import _core
from ..bundle import write_bundle
from ..errors import InvalidInputError
from ..record import ZERO_LINK, Kind
from ..schema import CHECKPOINT_SCHEMA, RECORD_SCHEMA
from .sleep_diary import diary_entries

__all__ = ["SampleInfoV1", "make_sample_v1"]

_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
_START = datetime.date(2026, 1, 5)
_START_MS = int(datetime.datetime(2026, 1, 5, tzinfo=datetime.UTC).timestamp()) * 1000
# One diary entry per day: keep the last date well inside datetime's year 9999.
_MAX_RECORDS_PER_DEVICE = 2_000_000
_ENROLMENT_DAYS = 7  # devices enrol during the trial's first week
_MIN_UPLOAD_GAP_MS = 20  # a phone's uploads reach the relay at least this far apart


@dataclass(frozen=True, slots=True)
class SampleInfoV1:
    """What :func:`make_sample_v1` wrote."""

    path: Path
    seed: int
    devices: int
    records_per_device: int
    records: int
    rotations: int
    checkpoints: int
    #: The relay's public key (the bundle's manifest log_id) and its (non-secret) seed.
    log_id: bytes
    log_seed: bytes
    elapsed_s: float

    def summary(self) -> str:
        """One line for humans."""
        return (
            f"wrote {self.records} records ({self.devices} devices x {self.records_per_device}, "
            f"{self.rotations} key rotations) and {self.checkpoints} checkpoints to {self.path} "
            f"in {self.elapsed_s:.1f} s (seed {self.seed}, log_id {self.log_id.hex()})"
        )


def _derive(seed: int, label: str, *numbers: int) -> bytes:
    """32 bytes for ``label`` and ``numbers``, deterministic in ``seed`` (BLAKE3 KDF)."""
    hasher = blake3.blake3(derive_key_context=f"hashcore sample v1 {label}")
    hasher.update(str(seed).encode())
    for n in numbers:
        hasher.update(n.to_bytes(8, "big"))
    digest: bytes = hasher.digest()
    return digest


def _rng(seed: int, label: str, *numbers: int) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(_derive(seed, label, *numbers), "big"))


def _keypair(seed32: bytes) -> tuple[bytes, bytes]:
    """(public key, 64-byte libsodium secret key) of an RFC 8032 seed."""
    pk, sk = nacl.bindings.crypto_sign_seed_keypair(seed32)
    return bytes(pk), bytes(sk)


def _sign_all(jobs: list[tuple[bytes, list[bytes]]]) -> bytes:
    """Sign each list of links with its key; the signatures, concatenated, in order."""
    out: list[bytes] = []
    sign = nacl.bindings.crypto_sign
    for secret, links in jobs:
        # crypto_sign returns signature || message; RFC 8032, so deterministic.
        out.extend(sign(link, secret)[:64] for link in links)
    return b"".join(out)


def _check_count(name: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{name} must be an integer, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise InvalidInputError(f"{name} must be {bound}, got {value}")
    return value


def _arrivals(rng: np.random.Generator, true_ms: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Relay receive times of one phone's records, in seq order.

    Mostly a phone uploads within seconds; sometimes it is offline for hours or days and
    then uploads its backlog at once, in order, so the relay sees a burst.
    """
    n = len(true_ms)
    online = rng.uniform(0.6, 0.97)
    quick = rng.lognormal(np.log(3_000.0), 1.0, n)
    offline = rng.uniform(1 * _HOUR_MS, 72 * _HOUR_MS, n)
    delay = np.where(rng.random(n) < online, quick, offline).astype(np.int64)
    steps = np.arange(n, dtype=np.int64) * _MIN_UPLOAD_GAP_MS
    # Uploads go out in seq order: a record can't arrive before the one before it.
    arrived: npt.NDArray[np.int64] = np.maximum.accumulate(true_ms + delay - steps) + steps
    return arrived


def _binary_array(data: bytes, width: int, n: int) -> pa.Array:
    """A ``binary`` Arrow array of ``n`` values of ``width`` bytes from one flat buffer."""
    offsets = np.arange(0, width * (n + 1), width, dtype=np.int32)
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _reordered_binary(
    values: list[bytes], order: npt.NDArray[np.int64], chunk: int = 1_000_000
) -> pa.ChunkedArray:
    """``values`` in ``order`` as a ``binary`` column, in chunks of at most ``chunk`` rows.

    A ``binary`` array holds at most 2 GiB (int32 offsets), which 10M diary payloads pass,
    so the values go through ``large_binary`` and each chunk is taken (compactly) from it.
    """
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


def _fixed(data: npt.NDArray[np.uint8], width: int) -> pa.Array:
    flat = np.ascontiguousarray(data).reshape(-1)
    return pa.Array.from_buffers(pa.binary(width), len(flat) // width, [None, pa.py_buffer(flat)])


def make_sample_v1(
    path: str | os.PathLike[str],
    *,
    devices: int,
    records: int,
    seed: int | None = None,
    checkpoint_every: int = 1000,
    rotate_every: int | None = None,
    part_rows: int | None = None,
) -> SampleInfoV1:
    """Write a valid synthetic bundle to ``path`` and describe it.

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

    Raises:
        InvalidInputError: a count is out of range.
        BundleError: ``path`` exists and is not empty.
    """
    started = time.perf_counter()
    _check_count("devices", devices, 1)
    _check_count("records", records, 1, _MAX_RECORDS_PER_DEVICE)
    _check_count("checkpoint_every", checkpoint_every, 1)
    if rotate_every is not None:
        _check_count("rotate_every", rotate_every, 1)
    if seed is None:
        seed = int.from_bytes(os.urandom(8), "big")
    _check_count("seed", seed, 0)

    total = devices * records
    seq_in_chain = np.arange(records, dtype=np.uint64)
    kinds_one = np.full(records, Kind.DATA, dtype=np.uint8)
    kinds_one[0] = Kind.GENESIS
    if rotate_every is not None:
        kinds_one[rotate_every::rotate_every] = Kind.ROTATION
    n_data = int(np.count_nonzero(kinds_one == Kind.DATA))
    kinds_list = kinds_one.tolist()
    salts = _rng(seed, "salts").bytes(16 * total)

    chain_ids: list[bytes] = []
    prevs: list[bytes] = []
    commits: list[bytes] = []
    links: list[bytes] = []
    payloads: list[bytes] = []
    time_ms = np.empty(total, dtype=np.int64)
    received_ms = np.empty(total, dtype=np.int64)
    sig_futures: list[Future[bytes]] = []
    rotations = 0

    header = _core.record_header
    link_of = _core.link_of_header
    commit_ctx = _core.COMMIT_CONTEXT
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for d in range(devices):
            timing = _rng(seed, "timing", d)
            enrol_day = int(timing.integers(0, _ENROLMENT_DAYS))
            skew = int(timing.normal(0.0, 20_000.0))  # the phone's clock is a little off
            mornings = timing.integers(6 * _HOUR_MS, 10 * _HOUR_MS, records).tolist()
            afternoons = timing.integers(1 * _HOUR_MS, 6 * _HOUR_MS, records).tolist()
            genesis_ms = _START_MS + enrol_day * _DAY_MS + int(timing.integers(9, 17)) * _HOUR_MS
            start_date = _START + datetime.timedelta(days=enrol_day)
            diary = diary_entries(
                random.Random(_derive(seed, "diary", d)),
                f"P{d + 1:04d}",
                n_data,
                start_date=start_date,
            )

            generation = 0
            pk, secret = _keypair(_derive(seed, "device key", d, generation))
            chain_id = _core.chain_id_for_key(pk)
            jobs: list[tuple[bytes, list[bytes]]] = [(secret, [])]
            true_ms = np.empty(records, dtype=np.int64)
            prev = ZERO_LINK
            day = 0
            clock = genesis_ms
            base = d * records
            for s in range(records):
                kind = kinds_list[s]
                if kind == Kind.GENESIS:
                    payload = pk
                elif kind == Kind.DATA:
                    payload = next(diary)
                    # The entry for the night starting start_date + day is logged next morning.
                    clock = _START_MS + (enrol_day + day + 1) * _DAY_MS + mornings[s]
                    day += 1
                else:
                    generation += 1
                    new_pk, new_secret = _keypair(_derive(seed, "device key", d, generation))
                    payload = new_pk
                    clock += afternoons[s]
                    rotations += 1
                true_ms[s] = clock
                t = clock + skew
                i = base + s
                salt = salts[16 * i : 16 * i + 16]
                # blake3-py keeps the GIL for small inputs, while _core.commitment releases
                # it on every call and then waits for the signing threads to hand it back.
                commit = blake3.blake3(salt + payload, derive_key_context=commit_ctx).digest()
                link = link_of(header(chain_id, s, t, kind, prev, commit))
                time_ms[i] = t
                chain_ids.append(chain_id)
                prevs.append(prev)
                commits.append(commit)
                links.append(link)
                payloads.append(payload)
                # The rotation itself is signed by the old key (SPEC 1.4), later ones by the new.
                jobs[-1][1].append(link)
                if kind == Kind.ROTATION:
                    jobs.append((new_secret, []))
                prev = link
            received_ms[base : base + records] = _arrivals(timing, true_ms)
            sig_futures.append(pool.submit(_sign_all, jobs))
        signatures = b"".join(f.result() for f in sig_futures)

    # The relay logs records in the order it received them (ties: device, then seq).
    device_of = np.repeat(np.arange(devices, dtype=np.int64), records)
    seqs = np.tile(seq_in_chain, devices)
    order = np.lexsort((seqs, device_of, received_ms))

    def column(parts: list[bytes], width: int) -> npt.NDArray[np.uint8]:
        flat = np.frombuffer(b"".join(parts), dtype=np.uint8).reshape(total, width)
        return flat[order]

    link_col = column(links, 32)
    salt_col = np.frombuffer(salts, dtype=np.uint8).reshape(total, 16)[order]
    table = pa.Table.from_arrays(
        [
            pa.array(np.arange(total, dtype=np.uint64)),
            _fixed(column(chain_ids, 16), 16),
            pa.array(seqs[order]),
            pa.array(time_ms[order]),
            pa.array(np.tile(kinds_one, devices)[order]),
            _fixed(column(prevs, 32), 32),
            _fixed(column(commits, 32), 32),
            _fixed(link_col, 32),
            _fixed(np.frombuffer(signatures, dtype=np.uint8).reshape(total, 64)[order], 64),
            _binary_array(salt_col.tobytes(), 16, total),
            _reordered_binary(payloads, order),
            pa.array(received_ms[order]),
        ],
        schema=RECORD_SCHEMA,
    )

    # Checkpoints every checkpoint_every entries and at the end, signed by the relay.
    log_seed = _derive(seed, "relay key")
    log_id = _core.public_key_from_seed(log_seed)
    sizes = list(range(checkpoint_every, total + 1, checkpoint_every))
    if not sizes or sizes[-1] != total:
        sizes.append(total)
    tree = _core.MerkleLog()
    link_bytes = link_col.reshape(-1).data
    roots: list[bytes] = []
    for size in sizes:
        tree.extend(link_bytes[tree.size * 32 : size * 32])
        roots.append(tree.root())
    checkpoints = pa.Table.from_pydict(
        {
            "tree_size": sizes,
            "root": roots,
            "signature": [
                _core.sign_checkpoint(log_seed, size, root)
                for size, root in zip(sizes, roots, strict=True)
            ],
            "tx_hash": [None] * len(sizes),
            "block_number": [None] * len(sizes),
        },
        schema=CHECKPOINT_SCHEMA,
    )
    out = write_bundle(path, table, checkpoints, log_id=log_id, evm=None, part_rows=part_rows)
    return SampleInfoV1(
        path=out,
        seed=seed,
        devices=devices,
        records_per_device=records,
        records=total,
        rotations=rotations,
        checkpoints=len(sizes),
        log_id=log_id,
        log_seed=log_seed,
        elapsed_s=time.perf_counter() - started,
    )
