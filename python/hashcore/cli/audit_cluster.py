"""``hashcore audit --dask URL`` / ``--dask-local N``: the v2 audit on a Dask cluster, one
that runs (the scheduler's address) or one started here of N worker processes."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import InvalidInputError

__all__ = [
    "MAX_LOCAL_WORKERS",
    "add_arguments",
    "dask_client",
    "scheduler_address",
    "task_threads",
]

MAX_LOCAL_WORKERS = 64
_ADDRESS = re.compile(r"^(tcp|tls|ws|wss)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")
#: How long to wait for a scheduler to answer.
CONNECT_TIMEOUT_S = 10


def scheduler_address(text: str) -> str:
    """A Dask scheduler's address: ``tcp://HOST:PORT`` (or tls://, ws://, wss://)."""
    m = _ADDRESS.match(text)
    if m is None or not 0 < int(m.group(3)) < 65536:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a Dask scheduler address (tcp://HOST:PORT)"
        )
    return text


def _local_workers(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_LOCAL_WORKERS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a worker count from 1 to {MAX_LOCAL_WORKERS}"
        )
    return n


def add_arguments(group: Any) -> None:
    """``--dask`` and ``--dask-local`` on the audit's v2 option group."""
    cluster = group.add_mutually_exclusive_group()
    cluster.add_argument(
        "--dask",
        type=scheduler_address,
        metavar="URL",
        help="audit on the Dask cluster of this scheduler (tcp://HOST:8786); every worker "
        "must see the bundle's files at the same path",
    )
    cluster.add_argument(
        "--dask-local",
        type=_local_workers,
        metavar="N",
        help=f"audit on a Dask cluster started here of N worker processes (1 to "
        f"{MAX_LOCAL_WORKERS})",
    )


@contextmanager
def dask_client(address: str | None, local_workers: int | None) -> Iterator[Any]:
    """A ``distributed.Client`` of the scheduler at ``address``, or of a local cluster of
    ``local_workers`` processes on loopback; None when neither is given.

    Raises:
        InvalidInputError: dask is not installed, or the scheduler does not answer.
    """
    if address is None and local_workers is None:
        yield None
        return
    try:
        import distributed
    except ImportError:
        raise InvalidInputError(
            "the audit on a Dask cluster needs dask[distributed] (pip install 'hashcore[dask]')"
        ) from None
    # distributed is untyped: its calls go through Any.
    dd: Any = distributed
    if address is not None:
        try:
            client = dd.Client(address, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise InvalidInputError(
                f"cannot reach the Dask scheduler at {address}: {exc}"
            ) from None
        with client:
            yield client
        return
    assert local_workers is not None
    with (
        dd.LocalCluster(
            n_workers=local_workers,
            threads_per_worker=1,
            processes=True,
            # Loopback only, the dashboard on a free port (8787 may be another's).
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        dd.Client(cluster) as client,
    ):
        yield client


def task_threads(local_workers: int | None, threads: int | None) -> int | None:
    """The Rust threads of each audit task: ``--threads``, or on a local cluster an equal
    share of this machine's cores per worker (None: each worker's own cores)."""
    if threads is not None or local_workers is None:
        return threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return max(1, cores // local_workers)
