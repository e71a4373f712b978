"""Synthetic sleep-diary entries for an insomnia trial.

The entries look like what a participant's phone would log each morning in a
trial of cognitive behavioural therapy for insomnia (CBT-I): compact JSON of
about 245-250 bytes (up to 265 with the weekly ``isi_score``) for ids like
``"P0042"``, the typical ``payload`` of a hashcore data record. They are made
up: no real participant is behind them.

Each entry is internally consistent:

* ``total_sleep_time_min == time_in_bed_min - sleep_onset_latency_min
  - wake_after_sleep_onset_min - final_wake_min``
* ``sleep_efficiency == round(total_sleep_time_min / time_in_bed_min, 2)``
* ``awakenings == 0`` exactly when ``wake_after_sleep_onset_min == 0``

Every participant has a stable profile (habitual bedtime, how badly they
sleep at baseline, how well they respond to therapy) derived from the
participant id alone, so two participants differ while one participant stays
recognisable from night to night. Night-to-night noise comes from the
caller's :class:`random.Random`, so the same seed gives the same bytes.

Day 0 .. 6 is the baseline week. From day 7 on the therapy takes effect
gradually: sleep restriction first shortens the time in bed, which is then
lengthened week by week, while sleep onset latency and wake time shrink.
On every 7th day (``day % 7 == 6``) the entry also carries the participant's
Insomnia Severity Index (``isi_score``, 0-28).
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import InvalidInputError

__all__ = ["diary_entries", "diary_entry"]

_DEFAULT_START = datetime.date(2026, 1, 5)
_MINUTES_PER_DAY = 24 * 60
_MIN_TIME_IN_BED = 300  # a prescribed sleep window is never below 5 h
_MIN_SLEEP = 120  # keep every night above 2 h of sleep
_BASELINE_DAYS = 7  # days 0 .. 6 are the baseline week, before therapy starts
_ISI_WEEKDAY = 6  # isi_score is reported when day % 7 == _ISI_WEEKDAY


@dataclass(frozen=True)
class _Profile:
    """Stable per-participant traits (baseline severity and response)."""

    bedtime_min: float  # habitual bedtime, minutes after midnight (may exceed 24 h)
    time_in_bed: float  # habitual time in bed at baseline, minutes
    sol: float  # baseline sleep onset latency, minutes
    waso: float  # baseline wake after sleep onset, minutes
    final_wake: float  # baseline early-morning wake before rising, minutes
    awakenings: float  # baseline mean number of awakenings
    responder: float  # 0 (no therapy effect) .. 1 (full effect)
    isi: float  # baseline Insomnia Severity Index


@functools.lru_cache(maxsize=4096)
def _profile(participant: str) -> _Profile:
    """Derive a participant's profile from the id alone (stable across runs)."""
    prng = random.Random(f"hashcore sleep diary profile {participant}")
    return _Profile(
        bedtime_min=prng.uniform(21.75 * 60, 24.75 * 60),
        time_in_bed=prng.uniform(450.0, 540.0),
        sol=prng.uniform(25.0, 75.0),
        waso=prng.uniform(25.0, 90.0),
        final_wake=prng.uniform(10.0, 45.0),
        awakenings=prng.uniform(1.5, 4.0),
        responder=prng.uniform(0.35, 1.0),
        isi=prng.uniform(15.0, 24.0),
    )


def _progress(profile: _Profile, day: int) -> float:
    """Therapy effect in [0, responder]: none in the baseline week, then rising."""
    if day < _BASELINE_DAYS:
        return 0.0
    return profile.responder * (1.0 - math.exp(-(day - _BASELINE_DAYS + 1) / 24.0))


def _noisy(rng: random.Random, mean: float, sigma: float) -> float:
    """Log-normal noise around ``mean``: right-skewed, as diary wake times are."""
    return mean * rng.lognormvariate(-sigma * sigma / 2.0, sigma)


def _clock(minutes: int) -> str:
    """Format minutes after midnight (any integer) as ``HH:MM`` on a 24 h clock."""
    minutes %= _MINUTES_PER_DAY
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _time_in_bed_target(profile: _Profile, day: int) -> float:
    """Prescribed time in bed: habitual at baseline, restricted, then titrated up."""
    if day < _BASELINE_DAYS:
        return profile.time_in_bed
    baseline_tst = profile.time_in_bed - profile.sol - profile.waso - profile.final_wake
    restricted = max(float(_MIN_TIME_IN_BED) + 30.0, baseline_tst + 30.0)
    week = (day - _BASELINE_DAYS) // 7
    titrated = restricted + 15.0 * week * (0.5 + profile.responder)
    return min(titrated, profile.time_in_bed)


def _isi(rng: random.Random, profile: _Profile, progress: float) -> int:
    """Insomnia Severity Index: the sum of seven items scored 0-4."""
    mean_item = profile.isi * (1.0 - 0.65 * progress) / 7.0
    total = 0
    for _ in range(7):
        item = round(rng.gauss(mean_item, 0.6))
        total += min(4, max(0, item))
    return total


def diary_entry(
    rng: random.Random,
    participant: str,
    day: int,
    *,
    start_date: datetime.date = _DEFAULT_START,
) -> bytes:
    """Return one synthetic sleep-diary entry as compact, key-sorted JSON bytes.

    Args:
        rng: source of night-to-night variation; the same state gives the same bytes.
        participant: participant id, e.g. ``"P0042"``; it alone fixes the
            participant's profile (baseline severity, habits, therapy response).
        day: 0-based day of the trial; the entry is for the night that starts on
            ``start_date + day``.
        start_date: date of day 0.

    Returns:
        UTF-8 JSON with the fields ``participant``, ``date``, ``bedtime``,
        ``time_in_bed_min``, ``sleep_onset_latency_min``,
        ``wake_after_sleep_onset_min``, ``awakenings``, ``final_wake_min``,
        ``total_sleep_time_min``, ``sleep_efficiency`` and ``sleep_quality``
        (1 very poor .. 5 very good), plus ``isi_score`` when ``day % 7 == 6``.

    Raises:
        ValueError: if ``day`` is negative.
    """
    if day < 0:
        raise InvalidInputError(f"day must be >= 0, got {day}")
    profile = _profile(participant)
    progress = _progress(profile, day)

    time_in_bed = round(_time_in_bed_target(profile, day) + rng.gauss(0.0, 18.0))
    # Nights vary around the prescription: 4.5 h .. 11 h in bed.
    time_in_bed = max(_MIN_TIME_IN_BED - 30, min(660, time_in_bed))

    # A shorter window raises sleep pressure, which compresses the wake periods
    # at once; the learned effect (progress) adds to that over the weeks.
    compression = (time_in_bed / profile.time_in_bed) ** 1.5
    sol = _noisy(rng, profile.sol * compression * (1.0 - 0.7 * progress), 0.45)
    waso = _noisy(rng, profile.waso * compression * (1.0 - 0.65 * progress), 0.5)
    final_wake = _noisy(rng, profile.final_wake * compression * (1.0 - 0.6 * progress), 0.6)

    # Keep at least _MIN_SLEEP minutes of sleep: shrink the wake periods together.
    awake_budget = time_in_bed - _MIN_SLEEP
    awake = sol + waso + final_wake
    if awake > awake_budget:
        scale = awake_budget / awake
        sol, waso, final_wake = sol * scale, waso * scale, final_wake * scale
    sol_min = max(1, round(sol))
    waso_min = max(0, round(waso))
    final_wake_min = max(0, round(final_wake))

    if waso_min == 0:
        awakenings = 0
    else:
        mean_awakenings = profile.awakenings * (1.0 - 0.4 * progress)
        awakenings = max(1, round(rng.gauss(mean_awakenings, 0.9)))
        awakenings = min(awakenings, waso_min, 9)

    total_sleep = time_in_bed - sol_min - waso_min - final_wake_min
    efficiency = round(total_sleep / time_in_bed, 2)

    quality = round(1.0 + 4.0 * (efficiency - 0.55) / 0.4 + rng.gauss(0.0, 0.7))
    quality = min(5, max(1, quality))

    bedtime = round(
        profile.bedtime_min
        + (profile.time_in_bed - _time_in_bed_target(profile, day)) * 0.6
        + rng.gauss(0.0, 20.0)
    )

    entry: dict[str, str | int | float] = {
        "participant": participant,
        "date": (start_date + datetime.timedelta(days=day)).isoformat(),
        "bedtime": _clock(bedtime),
        "time_in_bed_min": time_in_bed,
        "sleep_onset_latency_min": sol_min,
        "wake_after_sleep_onset_min": waso_min,
        "awakenings": awakenings,
        "final_wake_min": final_wake_min,
        "total_sleep_time_min": total_sleep,
        "sleep_efficiency": efficiency,
        "sleep_quality": quality,
    }
    if day % 7 == _ISI_WEEKDAY:
        entry["isi_score"] = _isi(rng, profile, progress)
    return json.dumps(entry, separators=(",", ":"), sort_keys=True).encode()


def diary_entries(
    rng: random.Random,
    participant: str,
    days: int,
    *,
    start_date: datetime.date = _DEFAULT_START,
) -> Iterator[bytes]:
    """Yield the entries of days ``0 .. days-1`` for one participant, in order.

    Args:
        rng: source of night-to-night variation, consumed in day order.
        participant: participant id, e.g. ``"P0042"``.
        days: number of consecutive days to generate.
        start_date: date of day 0.

    Raises:
        ValueError: if ``days`` is negative.
    """
    if days < 0:
        raise InvalidInputError(f"days must be >= 0, got {days}")
    # The check above runs at the call; the entries are made lazily.
    return (diary_entry(rng, participant, day, start_date=start_date) for day in range(days))
