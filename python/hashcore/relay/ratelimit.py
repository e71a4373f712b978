"""Per-peer token buckets and burst detection for the relay's unauthenticated calls.

Enroll and the read calls need no credential, so anyone can call them as fast as the
network allows (669 wrong enrollment tokens a second were answered, without a log line).
A token bucket per source address bounds that; a burst detector turns a stream of
refused tokens into ONE log line per burst.

Hand-written (about 60 lines) rather than a library: the token-bucket packages keep one
bucket per key forever, and a client that changes its source address at will would grow
that without bound; here the least recently seen peers are forgotten beyond a cap (a
forgotten peer simply starts with a full bucket).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["BurstDetector", "PeerBuckets", "peer_address"]

#: How many peers each structure remembers at most.
MAX_PEERS = 65536


def peer_address(peer: str) -> str:
    """The address part of a gRPC peer string ("ipv4:10.0.0.7:51234" -> "ipv4:10.0.0.7";
    "ipv6:[::1]:51234" -> "ipv6:[::1]"): a client's every connection counts as one."""
    scheme, sep, rest = peer.partition(":")
    if not sep or scheme not in ("ipv4", "ipv6"):
        return peer
    host, colon, port = rest.rpartition(":")
    return f"{scheme}:{host}" if colon and port.isdigit() else peer


class PeerBuckets:
    """A token bucket per peer: ``burst`` calls at once, then ``rate`` calls a second."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_peers: int = MAX_PEERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"need rate > 0 and burst >= 1, got {rate} and {burst}")
        self.rate = rate
        self.burst = burst
        self._max = max_peers
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def take(self, peer: str) -> float | None:
        """Take one token for ``peer``: None if there was one, else the seconds until
        there will be."""
        now = self._clock()
        tokens, at = self._buckets.pop(peer, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        wait = None
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[peer] = (tokens, now)
        if len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return wait


class BurstDetector:
    """Groups events per peer into bursts: an event more than ``quiet_s`` after the
    peer's previous one starts a new burst."""

    def __init__(
        self,
        quiet_s: float,
        *,
        max_peers: int = MAX_PEERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.quiet_s = quiet_s
        self._max = max_peers
        self._clock = clock
        self._last: OrderedDict[str, tuple[float, int]] = OrderedDict()  # at, count

    def note(self, peer: str) -> int | None:
        """Count one event of ``peer``. When it starts a new burst, returns how many
        events the peer's previous burst had (0 for its first); otherwise None."""
        now = self._clock()
        held = self._last.pop(peer, None)
        if held is not None and now - held[0] <= self.quiet_s:
            self._last[peer] = (now, held[1] + 1)
            return None
        self._last[peer] = (now, 1)
        if len(self._last) > self._max:
            self._last.popitem(last=False)
        return 0 if held is None else held[1]
