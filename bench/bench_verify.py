"""verify_bulk throughput against a plain Python loop and against the raw library ceilings.

Run with `make bench`; BENCHMARKS.md records one run's figures. Each benchmark stores its
records/s in `extra_info` so the figures and the ratios come from the same run.

The bundle is a protocol v2 one (bench/v2_sample.py). `test_verify_bulk_v2` stores
`of_ceiling`: its records/s over the batch-verify ceiling of the same thread count
(`test_ceiling_batch_verify_v2`, measured earlier in the same run) with signatures, and
over the BLAKE3 ceiling (`test_ceiling_blake3`, links and commits only) without. The v1
benchmarks were removed with v1 (BENCHMARKS.md keeps their figures; commit ec22071 runs
them).
"""

from __future__ import annotations

import struct

import blake3
import hashcore
import numpy as np
import pyarrow as pa
import pytest
from conftest import DatasetV2
from hashcore import _core
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from pytest_benchmark.fixture import BenchmarkFixture

LOOP_SLICE = 20_000


#: records/s of the benchmarks that ran, by (name, parameters), for the v2 ratios.
_rates: dict[tuple[str, int, bool], float] = {}


def _rate(benchmark: BenchmarkFixture, n: int) -> float:
    benchmark.extra_info["records"] = n
    # --benchmark-disable (a smoke run) times nothing: there is no rate then.
    stats = getattr(benchmark, "stats", None)
    if stats is None:
        return 0.0
    rate = n / stats.stats.min
    benchmark.extra_info["records_per_s"] = round(rate)
    return rate


def _python_loop(rows: list[dict[str, object]], keys: dict[bytes, VerifyKey]) -> int:
    """What an auditor would write without hashcore: blake3-py + PyNaCl, record by record
    (SPEC v2 1.2's header, link and commit)."""
    ok = 0
    for r in rows:
        salt, payload = r["salt"], r["payload"]
        header = (
            b"\x02"
            + r["chain_id"]
            + struct.pack(">QqB", r["seq"], r["time_ms"], r["kind"])
            + r["prev"]
            + r["commit"]
            + struct.pack(">Q", r["beacon_size"])
            + r["beacon_root"]
        )  # type: ignore[operator]
        link = blake3.blake3(header, derive_key_context=_core.V2_LINK_CONTEXT).digest()
        if link != r["link"]:
            continue
        if (
            salt is not None
            and blake3.blake3(salt + payload, derive_key_context=_core.COMMIT_CONTEXT).digest()
            != r["commit"]
        ):  # type: ignore[operator]
            continue
        try:
            keys[r["chain_id"]].verify(link, r["signature"])  # type: ignore[index,arg-type]
        except BadSignatureError:
            continue
        ok += 1
    return ok


def test_python_loop_baseline(benchmark: BenchmarkFixture, dataset_v2: DatasetV2) -> None:
    dataset = dataset_v2
    rows = dataset.records.slice(0, LOOP_SLICE).to_pylist()
    # Keys in force per chain (the sample's rotations are excluded from the slice's keys
    # by taking data records signed under the genesis key only).
    genesis = dataset.records.filter(pa.compute.equal(dataset.records["kind"], 0)).to_pylist()
    keys = {g["chain_id"]: VerifyKey(g["payload"]) for g in genesis}
    rows = [r for r in rows if r["kind"] == 1 and r["chain_id"] in keys]
    ok = benchmark.pedantic(_python_loop, args=(rows, keys), rounds=1, iterations=1)
    assert ok > 0
    _rate(benchmark, len(rows))


@pytest.mark.parametrize("threads", [1, 2])
def test_ceiling_blake3(benchmark: BenchmarkFixture, dataset_v2: DatasetV2, threads: int) -> None:
    t = dataset_v2.records
    names = ("chain_id", "seq", "time_ms", "kind", "prev", "commit", "beacon_size", "beacon_root")
    headers = b"".join(
        _core.v2_record_header(*fields)
        for fields in zip(*(t[n].to_pylist() for n in names), strict=True)
    )
    payloads = [
        (s or b"") + (p or b"")
        for s, p in zip(t["salt"].to_pylist(), t["payload"].to_pylist(), strict=True)
    ]
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in payloads])]).astype("<i8").tobytes()
    out = benchmark.pedantic(
        _core._raw_blake3,
        args=(headers, _core.V2_HEADER_LEN, b"".join(payloads), offsets, threads),
        rounds=3,
        iterations=1,
    )
    assert len(out) == 32
    _rates[("ceiling_blake3", threads, False)] = _rate(benchmark, t.num_rows)


def _signed_items_v2(dataset: DatasetV2) -> tuple[bytes, bytes, bytes]:
    """(keys, links, signatures) of every v2 data record (the sample does not rotate)."""
    t = dataset.records
    genesis = t.filter(pa.compute.equal(t["kind"], 0))
    key_of = dict(zip(genesis["chain_id"].to_pylist(), genesis["payload"].to_pylist(), strict=True))
    data = t.filter(pa.compute.equal(t["kind"], 1)).sort_by(
        [("chain_id", "ascending"), ("seq", "ascending")]
    )
    keys = b"".join(key_of[c] for c in data["chain_id"].to_pylist())
    return keys, b"".join(data["link"].to_pylist()), b"".join(data["signature"].to_pylist())


@pytest.mark.parametrize("threads", [1, 2])
def test_ceiling_batch_verify_v2(
    benchmark: BenchmarkFixture, dataset_v2: DatasetV2, threads: int
) -> None:
    keys, links, sigs = _signed_items_v2(dataset_v2)
    failed = benchmark.pedantic(
        _core._raw_batch_verify, args=(keys, links, sigs, threads), rounds=3, iterations=1
    )
    assert failed == 0
    _rates[("ceiling_v2", threads, True)] = _rate(benchmark, len(links) // 32)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("signatures", [True, False], ids=["full", "nosig"])
def test_verify_bulk_v2(
    benchmark: BenchmarkFixture, dataset_v2: DatasetV2, threads: int, signatures: bool
) -> None:
    report = benchmark.pedantic(
        hashcore.verify_bulk,
        args=(dataset_v2.records,),
        kwargs={
            "checkpoints": dataset_v2.checkpoints,
            "policy": dataset_v2.policy,
            "threads": threads,
            "check_signatures": signatures,
        },
        rounds=3,
        iterations=1,
    )
    assert report.clean and not report.time_findings
    assert report.counts["OK"] == dataset_v2.records.num_rows
    rate = _rate(benchmark, dataset_v2.records.num_rows)
    key = ("ceiling_v2", threads, True) if signatures else ("ceiling_blake3", threads, False)
    ceiling = _rates.get(key)
    if ceiling:
        benchmark.extra_info["of_ceiling"] = round(rate / ceiling, 3)
