"""The v2 audit on a real Dask cluster: a LocalCluster of 2 worker processes over TCP on
loopback. The distributed, the local streamed and the in-memory audits agree exactly on
bundles whose records and receipts are tampered, with random part sizes; bad receipts,
checked in the parts' log tasks on the workers, get their exact verdicts; a worker
killed mid-audit loses its tasks' results, which the scheduler computes again (same
report); the CLI's --dask and --dask-local give the in-memory audit's --json report, and
refuse bad input in one line."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hashcore
import numpy as np
import pytest
from hashcore.audit.dask_runner import DaskRunner
from hashcore.audit.partitioned import audit_bundle_partitioned
from hashcore.audit.plan_runners import LocalRunner
from hashcore.audit.plan_tasks import JudgeContext
from hashcore.audit.v2_bundle import audit_bundle_v2
from hashcore.cli import audit_cluster, main
from hashcore.errors import InvalidInputError
from hashcore.sim.sample import make_sample
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .partitioned_bundles import (
    RECEIPT_TAMPERINGS,
    TAMPERINGS,
    assert_same_report,
    bad_receipt_codes,
    bad_receipts,
    receipts_of,
    records_of,
    rewrite_parts,
    rewrite_receipts,
    tamper,
    tamper_receipts,
)

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            protocol="tcp://",
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bytes]:
    """A bundle in parts with a receipt for every record, its policy, the log's seed."""
    root = tmp_path_factory.mktemp("dask-sample")
    policy = root / "policy.json"
    info = make_sample(
        root / "bundle",
        devices=6,
        records=20,
        seed=7,
        checkpoint_every=9,
        rotate_every=7,
        witnesses=1,
        part_rows=17,
        policy_path=policy,
    )
    return root / "bundle", policy, info.log_seed


def test_the_cluster_is_two_processes_over_tcp(client: Any) -> None:
    workers = client.scheduler_info()["workers"]
    assert len(workers) == 2 and all(a.startswith("tcp://127.0.0.1:") for a in workers)
    pids = client.run(os.getpid)
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()


def test_audit_bundle_with_a_client_is_the_in_memory_audit(
    client: Any, sample: tuple[Path, Path, bytes]
) -> None:
    bundle, policy, _ = sample
    got = hashcore.audit_bundle(bundle, policy=policy, client=client)
    want = audit_bundle_v2(bundle, policy=policy)
    assert got.clean and got.records == 120
    assert [r.code for r in got.receipts] == ["RECEIPT_OK"] * 120
    assert_same_report(got, want)


def test_bad_receipts_on_the_cluster_get_their_verdicts(
    client: Any, sample: tuple[Path, Path, bytes], tmp_path: Path
) -> None:
    bundle, policy, log_seed = sample
    parted = rewrite_parts(bundle, tmp_path / "b", records_of(bundle), [30, 1, 50])
    rewrite_receipts(parted, bad_receipts(receipts_of(parted), log_seed))
    want = audit_bundle_v2(parted, policy=policy)
    codes = [r.code for r in want.receipts]
    assert {c: codes.count(c) for c in set(codes)} == bad_receipt_codes(120)
    got = hashcore.audit_bundle(parted, policy=policy, client=client)
    assert_same_report(got, want)
    assert not got.clean


@settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    tamperings=st.lists(st.sampled_from(TAMPERINGS), min_size=1, max_size=3),
    receipt_tamperings=st.lists(st.sampled_from(RECEIPT_TAMPERINGS), min_size=0, max_size=3),
    seed=st.integers(0, 2**32 - 1),
    sizes=st.lists(st.integers(0, 40), min_size=1, max_size=5),
    buckets=st.integers(1, 6),
)
def test_distributed_streamed_and_in_memory_audits_agree(
    client: Any,
    sample: tuple[Path, Path, bytes],
    tmp_path_factory: pytest.TempPathFactory,
    tamperings: list[str],
    receipt_tamperings: list[str],
    seed: int,
    sizes: list[int],
    buckets: int,
) -> None:
    bundle, policy, log_seed = sample
    rng = np.random.default_rng(seed)
    rows = records_of(bundle)
    for what in tamperings:
        rows = tamper(rows, what, rng)
    parted = rewrite_parts(bundle, tmp_path_factory.mktemp("d") / "b", rows, sizes)
    receipts = receipts_of(parted)
    for what in receipt_tamperings:
        receipts = tamper_receipts(receipts, what, rng, log_seed)
    rewrite_receipts(parted, receipts)
    want = audit_bundle_v2(parted, policy=policy)
    on_dask = audit_bundle_partitioned(parted, DaskRunner(client), policy=policy, buckets=buckets)
    with LocalRunner() as runner:
        streamed = audit_bundle_partitioned(parted, runner, policy=policy, buckets=buckets)
    assert_same_report(on_dask, want)
    assert_same_report(streamed, want)


class _KillingRunner(DaskRunner):
    """Kills (SIGKILL) a worker holding scan results before the buckets are judged."""

    killed: int | None = None

    def judge(self, buckets: int, ctx: JudgeContext) -> Any:
        held = self.client.who_has(self._scans)
        victim = next(iter(a for addrs in held.values() for a in addrs))
        pid = self.client.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)
        self.killed = pid
        return super().judge(buckets, ctx)


def test_a_worker_killed_mid_audit_changes_nothing(
    client: Any, sample: tuple[Path, Path, bytes], tmp_path: Path
) -> None:
    bundle, policy, _ = sample
    rows = tamper(records_of(bundle), "flip_signature", np.random.default_rng(3))
    parted = rewrite_parts(bundle, tmp_path / "b", rows, [20, 20, 20, 20, 20])
    runner = _KillingRunner(client)
    got = audit_bundle_partitioned(parted, runner, policy=policy, buckets=4)
    assert runner.killed is not None
    assert_same_report(got, audit_bundle_v2(parted, policy=policy))
    assert [f.code for f in got.failures] == ["BAD_SIGNATURE"]
    # The nanny restarts the worker: the cluster is whole again for the next test.
    deadline = time.monotonic() + 30
    while len(client.scheduler_info()["workers"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(client.scheduler_info()["workers"]) == 2


def _json_of(args: list[str], out: Path) -> dict[str, Any]:
    assert main([*args, "--json", str(out)]) in (0, 1)
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def test_cli_dask_and_dask_local_write_the_in_memory_report(
    client: Any, sample: tuple[Path, Path, bytes], tmp_path: Path
) -> None:
    bundle, policy, _ = sample
    base = ["audit", str(bundle), "--policy", str(policy)]
    want = _json_of(base, tmp_path / "memory.json")
    address = client.scheduler.address
    assert _json_of([*base, "--dask", address], tmp_path / "dask.json") == want
    assert _json_of([*base, "--dask-local", "1"], tmp_path / "local.json") == want


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--dask-local", "0"], "not a worker count from 1 to 64"),
        (["--dask-local", "many"], "not a worker count"),
        (["--dask-local", "65"], "not a worker count"),
        (["--dask", "localhost:8786"], "not a Dask scheduler address"),
        (["--dask", "tcp://host:99999"], "not a Dask scheduler address"),
        (["--dask", "tcp://127.0.0.1:8786", "--dask-local", "2"], "not allowed with argument"),
        (["--dask", "CLOSED"], "cannot reach the Dask scheduler at tcp://127.0.0.1:"),
    ],
)
def test_cli_bad_cluster_flags_exit_2_with_one_line(
    sample: tuple[Path, Path, bytes],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    message: str,
) -> None:
    monkeypatch.setattr(audit_cluster, "CONNECT_TIMEOUT_S", 2)
    flags = [f"tcp://127.0.0.1:{_closed_port()}" if f == "CLOSED" else f for f in flags]
    bundle, _, _ = sample
    capsys.readouterr()
    assert main(["audit", str(bundle), *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hashcore: error: ") and message in err


def test_client_must_be_a_dask_client(sample: tuple[Path, Path, bytes]) -> None:
    bundle, policy, _ = sample
    with pytest.raises(InvalidInputError, match=r"dask\.distributed\.Client, not str"):
        hashcore.audit_bundle(bundle, policy=policy, client="tcp://127.0.0.1:8786")
