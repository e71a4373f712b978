"""Tests of the synthetic sleep-diary generator (hashcore.sim.sleep_diary)."""

from __future__ import annotations

import datetime
import importlib
import importlib.util
import json
import random
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest


def _load_sleep_diary() -> ModuleType:
    """Import hashcore.sim.sleep_diary, or load the source file if not installed."""
    try:
        return importlib.import_module("hashcore.sim.sleep_diary")
    except ImportError:
        path = Path(__file__).resolve().parents[1] / "python/hashcore/sim/sleep_diary.py"
        spec = importlib.util.spec_from_file_location("_hashcore_sleep_diary", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        # dataclasses look the module up in sys.modules while it executes.
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module


sleep_diary = _load_sleep_diary()

START = datetime.date(2026, 1, 5)
INT_FIELDS = (
    "time_in_bed_min",
    "sleep_onset_latency_min",
    "wake_after_sleep_onset_min",
    "awakenings",
    "final_wake_min",
    "total_sleep_time_min",
    "sleep_quality",
)
FIELDS = {*INT_FIELDS, "participant", "date", "bedtime", "sleep_efficiency"}
MIN_BYTES = 150
MAX_BYTES = 250  # plain days
MAX_BYTES_ISI = 270  # days that also carry isi_score


def _entries(seed: int, participants: int, days: int) -> Iterator[tuple[int, bytes]]:
    rng = random.Random(seed)
    for p in range(participants):
        yield from enumerate(sleep_diary.diary_entries(rng, f"P{p:04d}", days))


def test_same_seed_gives_same_bytes() -> None:
    first = list(_entries(1234, 5, 60))
    second = list(_entries(1234, 5, 60))
    assert first == second
    assert first != list(_entries(1235, 5, 60))


def test_single_entry_matches_sequence() -> None:
    rng_a = random.Random(9)
    rng_b = random.Random(9)
    seq = list(sleep_diary.diary_entries(rng_a, "P0042", 3))
    one_by_one = [sleep_diary.diary_entry(rng_b, "P0042", d) for d in range(3)]
    assert seq == one_by_one


def test_encoding_is_compact_sorted_json() -> None:
    raw = sleep_diary.diary_entry(random.Random(1), "P0042", 0)
    assert isinstance(raw, bytes)
    obj = json.loads(raw)
    assert raw == json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
    assert obj["participant"] == "P0042"
    assert obj["date"] == "2026-01-05"


def test_consistency_over_500_entries() -> None:
    seen = 0
    for day, raw in _entries(7, 10, 50):
        e = json.loads(raw)
        assert set(e) - {"isi_score"} == FIELDS
        for field in INT_FIELDS:
            assert isinstance(e[field], int), field
        tib = e["time_in_bed_min"]
        sol = e["sleep_onset_latency_min"]
        waso = e["wake_after_sleep_onset_min"]
        final = e["final_wake_min"]
        tst = e["total_sleep_time_min"]
        assert tst == tib - sol - waso - final
        assert e["sleep_efficiency"] == round(tst / tib, 2)
        assert abs(e["sleep_efficiency"] - tst / tib) <= 0.005 + 1e-9
        # plausible ranges
        assert 240 <= tib <= 720
        assert 1 <= sol <= tib
        assert waso >= 0
        assert final >= 0
        assert 120 <= tst < tib
        assert 0.0 < e["sleep_efficiency"] < 1.0
        assert 1 <= e["sleep_quality"] <= 5
        assert (e["awakenings"] == 0) == (waso == 0)
        assert e["awakenings"] <= max(waso, 0)
        assert e["date"] == (START + datetime.timedelta(days=day)).isoformat()
        hh, mm = e["bedtime"].split(":")
        assert len(hh) == len(mm) == 2
        assert 0 <= int(hh) <= 23
        assert 0 <= int(mm) <= 59
        if "isi_score" in e:
            assert isinstance(e["isi_score"], int)
            assert 0 <= e["isi_score"] <= 28
        seen += 1
    assert seen == 500


def test_byte_size_range() -> None:
    for day, raw in _entries(11, 50, 63):
        upper = MAX_BYTES_ISI if day % 7 == 6 else MAX_BYTES
        assert MIN_BYTES <= len(raw) <= upper, (day, len(raw), raw)


def test_isi_exactly_on_every_seventh_day() -> None:
    for day, raw in _entries(3, 5, 70):
        has_isi = "isi_score" in json.loads(raw)
        assert has_isi == (day % 7 == 6), day


def test_therapy_improves_over_weeks() -> None:
    baseline: list[float] = []
    late: list[float] = []
    isi_first: list[int] = []
    isi_last: list[int] = []
    for day, raw in _entries(5, 60, 56):
        e = json.loads(raw)
        if day < 7:
            baseline.append(e["sleep_efficiency"])
        elif day >= 42:
            late.append(e["sleep_efficiency"])
        if day == 6:
            isi_first.append(e["isi_score"])
        elif day == 55:
            isi_last.append(e["isi_score"])
    assert statistics.mean(late) > statistics.mean(baseline) + 0.05
    assert statistics.mean(isi_last) < statistics.mean(isi_first) - 3


def test_participants_differ() -> None:
    def mean_sol(participant: str) -> float:
        rng = random.Random(0)
        return statistics.mean(
            float(json.loads(raw)["sleep_onset_latency_min"])
            for raw in sleep_diary.diary_entries(rng, participant, 7)
        )

    means = {round(mean_sol(f"P{p:04d}")) for p in range(20)}
    assert len(means) > 10


def test_start_date_and_invalid_arguments() -> None:
    raw = sleep_diary.diary_entry(
        random.Random(0), "P0001", 3, start_date=datetime.date(2025, 12, 30)
    )
    assert json.loads(raw)["date"] == "2026-01-02"
    with pytest.raises(ValueError, match="day must be >= 0"):
        sleep_diary.diary_entry(random.Random(0), "P0001", -1)
    with pytest.raises(ValueError, match="days must be >= 0"):
        sleep_diary.diary_entries(random.Random(0), "P0001", -1)
