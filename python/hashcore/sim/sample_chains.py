"""The phones of a synthetic sample (:mod:`hashcore.sim.sample`): each device's diary
entries, commitments, key generations and clocks (when a record was made, what the phone's
clock said, when the relay received it, and when the phone last synced before making it).
The links come later: they need the beacons, which need the relay's log order."""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass

import blake3
import numpy as np
import numpy.typing as npt

from .. import _core
from ..record import Kind
from .sample_keys import derive
from .sleep_diary import diary_entries

__all__ = ["Chains", "make_chains", "rng"]

_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
_START = datetime.date(2026, 1, 5)
_START_MS = int(datetime.datetime(2026, 1, 5, tzinfo=datetime.UTC).timestamp()) * 1000
_ENROLMENT_DAYS = 7  # devices enrol during the trial's first week
_MIN_UPLOAD_GAP_MS = 20  # a phone's uploads reach the relay at least this far apart


def rng(seed: int, label: str, *numbers: int) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(derive(seed, label, *numbers), "big"))


def _arrivals(rng: np.random.Generator, true_ms: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Relay receive times of one phone's records, in seq order.

    Mostly a phone uploads within seconds; sometimes it is offline for hours or days and
    then uploads its backlog at once, in order, so the relay sees a burst. A record
    always arrives after it was made (delay >= 1 ms).
    """
    n = len(true_ms)
    online = rng.uniform(0.6, 0.97)
    quick = rng.lognormal(np.log(3_000.0), 1.0, n)
    offline = rng.uniform(1 * _HOUR_MS, 72 * _HOUR_MS, n)
    delay = np.maximum(np.where(rng.random(n) < online, quick, offline).astype(np.int64), 1)
    steps = np.arange(n, dtype=np.int64) * _MIN_UPLOAD_GAP_MS
    # Uploads go out in seq order: a record can't arrive before the one before it.
    arrived: npt.NDArray[np.int64] = np.maximum.accumulate(true_ms + delay - steps) + steps
    return arrived


@dataclass
class Chains:
    """Per-record columns in chain order (record r = device d, seq s at r = d*records+s)."""

    chain_ids: list[bytes]
    commits: list[bytes]
    payloads: list[bytes]
    kinds: npt.NDArray[np.uint8]
    true_ms: npt.NDArray[np.int64]
    time_ms: npt.NDArray[np.int64]
    received_ms: npt.NDArray[np.int64]
    #: For record r, the index (into the same record numbering) of the last record of its
    #: chain whose receipt had arrived when r was made, or -1: the phone's last sync.
    last_sync: npt.NDArray[np.int64]
    #: Per device: (key generation of each seq, the seeds of each generation).
    generations: list[tuple[list[int], list[bytes]]]
    rotations: int
    salts: bytes


def make_chains(seed: int, devices: int, records: int, rotate_every: int | None) -> Chains:
    """Diary entries, commitments and clocks of every device (no links yet: those need
    the beacons, which need the log order)."""
    total = devices * records
    kinds_one = np.full(records, Kind.DATA, dtype=np.uint8)
    kinds_one[0] = Kind.GENESIS
    if rotate_every is not None:
        kinds_one[rotate_every::rotate_every] = Kind.ROTATION
    n_data = int(np.count_nonzero(kinds_one == Kind.DATA))
    kinds_list = kinds_one.tolist()
    salts = rng(seed, "salts").bytes(16 * total)
    commit_ctx = _core.COMMIT_CONTEXT
    out = Chains(
        chain_ids=[],
        commits=[],
        payloads=[],
        kinds=np.tile(kinds_one, devices),
        true_ms=np.empty(total, dtype=np.int64),
        time_ms=np.empty(total, dtype=np.int64),
        received_ms=np.empty(total, dtype=np.int64),
        last_sync=np.empty(total, dtype=np.int64),
        generations=[],
        rotations=0,
        salts=salts,
    )
    for d in range(devices):
        timing = rng(seed, "timing", d)
        enrol_day = int(timing.integers(0, _ENROLMENT_DAYS))
        skew = int(timing.normal(0.0, 20_000.0))  # the phone's clock is a little off
        mornings = timing.integers(6 * _HOUR_MS, 10 * _HOUR_MS, records).tolist()
        afternoons = timing.integers(1 * _HOUR_MS, 6 * _HOUR_MS, records).tolist()
        genesis_ms = _START_MS + enrol_day * _DAY_MS + int(timing.integers(9, 17)) * _HOUR_MS
        diary = diary_entries(
            random.Random(derive(seed, "diary", d)),
            f"P{d + 1:04d}",
            n_data,
            start_date=_START + datetime.timedelta(days=enrol_day),
        )
        seeds = [derive(seed, "device key", d, 0)]
        gen_of_seq: list[int] = []
        pk = _core.public_key_from_seed(seeds[0])
        chain_id = _core.chain_id_for_key(pk)
        true_ms = np.empty(records, dtype=np.int64)
        day = 0
        clock = genesis_ms
        base = d * records
        for s in range(records):
            kind = kinds_list[s]
            gen_of_seq.append(len(seeds) - 1)  # a rotation is signed by the old key
            if kind == Kind.GENESIS:
                payload = pk
            elif kind == Kind.DATA:
                payload = next(diary)
                # The entry for the night starting start_date + day is logged next morning.
                clock = _START_MS + (enrol_day + day + 1) * _DAY_MS + mornings[s]
                day += 1
            else:
                seeds.append(derive(seed, "device key", d, len(seeds)))
                payload = _core.public_key_from_seed(seeds[-1])
                clock += afternoons[s]
                out.rotations += 1
            true_ms[s] = clock
            i = base + s
            salt = salts[16 * i : 16 * i + 16]
            # blake3-py keeps the GIL for small inputs, which is what we want here.
            out.commits.append(
                blake3.blake3(salt + payload, derive_key_context=commit_ctx).digest()
            )
            out.chain_ids.append(chain_id)
            out.payloads.append(payload)
        received = _arrivals(timing, true_ms)
        out.true_ms[base : base + records] = true_ms
        out.time_ms[base : base + records] = true_ms + skew
        out.received_ms[base : base + records] = received
        # A phone learns the newest checkpoint whenever a receipt comes back: the last
        # sync before a record is made is its latest own record received by then
        # (received is non-decreasing along the chain and later than the record itself).
        synced = np.searchsorted(received, true_ms, side="right") - 1
        out.last_sync[base : base + records] = np.where(synced >= 0, synced + base, -1)
        out.generations.append((gen_of_seq, seeds))
    return out
