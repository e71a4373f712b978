"""The relay's per-address token buckets and burst detector, on a clock the test sets."""

from __future__ import annotations

import pytest
from hashcore.relay.ratelimit import BurstDetector, PeerBuckets, peer_address


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_gives_its_burst_then_its_rate() -> None:
    clock = Clock()
    buckets = PeerBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [None, None, None]
    assert buckets.take("a") == pytest.approx(0.5)
    assert buckets.take("b") is None  # another address has its own bucket
    clock.now += 0.5
    assert buckets.take("a") is None
    assert buckets.take("a") == pytest.approx(0.5)
    clock.now += 60
    assert [buckets.take("a") for _ in range(4)][-1] == pytest.approx(0.5)  # capped at 3


def test_forgotten_peers_start_full() -> None:
    clock = Clock()
    buckets = PeerBuckets(rate=1.0, burst=1, max_peers=2, clock=clock)
    assert buckets.take("a") is None
    assert buckets.take("a") is not None
    buckets.take("b")
    buckets.take("c")  # "a" is forgotten
    assert buckets.take("a") is None


def test_bursts_are_split_by_quiet_time() -> None:
    clock = Clock()
    bursts = BurstDetector(quiet_s=10, clock=clock)
    assert bursts.note("a") == 0
    clock.now += 9
    assert [bursts.note("a") for _ in range(4)] == [None] * 4
    clock.now += 10.5
    assert bursts.note("a") == 5  # a new burst; the previous one had 5
    assert bursts.note("b") == 0


@pytest.mark.parametrize(
    ("peer", "address"),
    [
        ("ipv4:10.0.0.7:51234", "ipv4:10.0.0.7"),
        ("ipv6:[::1]:51234", "ipv6:[::1]"),
        ("unix:/tmp/relay.sock", "unix:/tmp/relay.sock"),
        ("ipv4:10.0.0.7", "ipv4:10.0.0.7"),
    ],
)
def test_peer_address_drops_the_port(peer: str, address: str) -> None:
    assert peer_address(peer) == address
