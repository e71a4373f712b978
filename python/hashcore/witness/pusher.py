"""The relay side of C2SP tlog-witness: push each new checkpoint to every configured witness
with a consistency proof from the size that witness last cosigned, and hand the cosignature
lines back to be merged into the stored note (SPEC 2.3).

One task per witness, so a slow or dead witness delays no other and never the relay's
ingest: ``notify()`` only wakes the tasks. A 409 answer names the size the witness has
(the relay also stores each witness's size, ``known_sizes`` / ``on_known_size``, so that a
restarted relay starts from it instead of learning it from a 409); the request is sent
again from that size at once. A witness that can't be reached, or refuses, is retried with
exponential backoff; its state is in ``statuses()``, ``health()`` and the metrics collector.

What the relay provides (``CheckpointSource``): the newest signed note and RFC 9162
consistency proofs between two of its sizes; and a callback that stores cosignature lines
(``merge_cosignatures`` merges them into a note).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .. import _core
from ..errors import HashcoreError, WitnessError
from .protocol import (
    SIZE_CONTENT_TYPE,
    encode_add_checkpoint,
    parse_conflict_body,
    parse_cosignature_lines,
)

__all__ = [
    "CheckpointSource",
    "CosignatureSink",
    "KnownSizeSink",
    "WitnessEndpoint",
    "WitnessPusher",
    "WitnessStatus",
    "merge_cosignatures",
    "parse_witness_arg",
]

log = logging.getLogger("hashcore.witness.pusher")
_DASH = "\u2014".encode()


@dataclass(frozen=True)
class WitnessEndpoint:
    """A witness as the relay knows it: submission prefix URL, name and Ed25519 key."""

    url: str
    name: str
    key: bytes

    def __post_init__(self) -> None:
        if not _core.is_key_name(self.name):
            raise WitnessError(0, f"witness name {self.name!r} is not a C2SP key name")
        if len(self.key) != 32:
            raise WitnessError(0, f"witness key of {self.name} must be 32 bytes")
        if not self.url.startswith(("http://", "https://")):
            raise WitnessError(0, f"witness URL {self.url!r} is not http(s)")


def parse_witness_arg(text: str) -> WitnessEndpoint:
    """``URL,NAME,HEXKEY`` (the relay's ``--witness``).

    Raises:
        WitnessError: not three fields, or a bad field.
    """
    parts = text.split(",")
    if len(parts) != 3:
        raise WitnessError(0, f"expected URL,NAME,HEXKEY, got {text!r}")
    url, name, key_hex = parts
    try:
        key = bytes.fromhex(key_hex)
    except ValueError:
        raise WitnessError(0, f"witness key {key_hex!r} is not 64 hex digits") from None
    return WitnessEndpoint(url.rstrip("/"), name, key)


class CheckpointSource(Protocol):
    """What the pusher reads from the relay. Called on the event loop; may return
    awaitables."""

    def latest_note(self) -> bytes | Awaitable[bytes | None] | None:
        """The newest signed checkpoint note (None before the first)."""

    def consistency_proof(self, old: int, new: int) -> list[bytes] | Awaitable[list[bytes]]:
        """RFC 9162 consistency proof from size ``old`` to ``new`` (0 < old <= new)."""

    # Optional: ``notes_after(size, limit)``, the notes of the checkpoints larger than
    # ``size``, ascending, at most ``limit`` of them; with it every checkpoint is pushed.


#: ``(tree_size, root, lines)``: store these verified cosignature lines with the checkpoint.
CosignatureSink = Callable[[int, bytes, list[bytes]], object]
#: ``(witness, size)``: keep the size this witness has (it survives a relay restart).
KnownSizeSink = Callable[["WitnessEndpoint", int], object]


def merge_cosignatures(note: bytes, lines: Iterable[bytes]) -> bytes:
    """``note`` with the signature ``lines`` added, one line per (name, key ID): a line
    whose name and key ID the note already has is dropped, and so is any line past SPEC
    2.2's 100 signature lines.

    Raises:
        InvalidInputError: ``note`` doesn't parse.
    """
    _, sigs = _core.note_parse(note)
    have = {(n, k) for n, k, _ in sigs}
    count = len(sigs)
    out = [note]
    for line in lines:
        parsed = parse_cosignature_lines(line)[0]
        if (parsed.name, parsed.key_id) in have or count >= _core.NOTE_MAX_SIGNATURE_LINES:
            continue
        have.add((parsed.name, parsed.key_id))
        count += 1
        out.append(parsed.line)
    return b"".join(out)


@dataclass
class WitnessStatus:
    """What the pusher knows of one witness."""

    endpoint: WitnessEndpoint
    #: The largest size this witness cosigned for us (None: none this run).
    cosigned_size: int | None = None
    #: The size the witness said it has (200 or 409); the next proof starts here.
    known_size: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None
    last_success: float | None = None  # time.time()
    next_attempt: float = 0.0  # monotonic
    attempts: int = 0

    @property
    def up(self) -> bool:
        return self.consecutive_failures == 0


async def _maybe(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


#: How many not-yet-cosigned checkpoints one push sends a witness before yielding.
BACKLOG_PER_PUSH = 64


class WitnessPusher:
    """Pushes the source's checkpoints to every witness in the background."""

    def __init__(
        self,
        witnesses: Sequence[WitnessEndpoint],
        source: CheckpointSource,
        on_cosigned: CosignatureSink,
        *,
        quorum: int = 0,
        timeout_s: float = 10.0,
        backoff_min_s: float = 1.0,
        backoff_max_s: float = 300.0,
        known_sizes: Mapping[WitnessEndpoint, int] | None = None,
        on_known_size: KnownSizeSink | None = None,
    ) -> None:
        names = [w.name for w in witnesses]
        if len(set(names)) != len(names) or len({w.key for w in witnesses}) != len(witnesses):
            raise WitnessError(0, "two witnesses share a name or a key")
        if not 0 <= quorum <= len(witnesses):
            raise WitnessError(0, f"quorum {quorum} is not in 0..{len(witnesses)}")
        self.source = source
        self.on_cosigned = on_cosigned
        self.quorum = quorum
        self.timeout_s = timeout_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        known = known_sizes or {}
        self._status = [WitnessStatus(w, known_size=known.get(w, 0)) for w in witnesses]
        self.on_known_size = on_known_size
        self._wake = [asyncio.Event() for _ in witnesses]
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._newest_size = 0

    # --- what the relay calls -------------------------------------------------------------

    def notify(self) -> None:
        """A new checkpoint was signed: wake every witness's task (never blocks)."""
        for event in self._wake:
            event.set()

    async def start(self) -> None:
        """Start one background task per witness (call on the relay's event loop)."""
        if self._tasks:
            return
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            headers={"User-Agent": "hashcore-relay"},
        )
        self._tasks = [
            asyncio.create_task(self._run(i), name=f"witness {s.endpoint.name}")
            for i, s in enumerate(self._status)
        ]
        self.notify()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def statuses(self) -> list[WitnessStatus]:
        return list(self._status)

    def witnessed_size(self) -> int:
        """The largest size at least ``quorum`` witnesses cosigned this run (0: none)."""
        sizes = sorted((s.cosigned_size or 0 for s in self._status), reverse=True)
        if self.quorum == 0:
            return self._newest_size
        return sizes[self.quorum - 1]

    def health(self) -> dict[str, Any]:
        """JSON-able state for the relay's health answer."""
        now = time.time()
        return {
            "quorum": self.quorum,
            "newest_tree_size": self._newest_size,
            "witnessed_tree_size": self.witnessed_size(),
            "witnessed": self.witnessed_size() >= self._newest_size,
            "witnesses": [
                {
                    "name": s.endpoint.name,
                    "url": s.endpoint.url,
                    "up": s.up,
                    "cosigned_tree_size": s.cosigned_size,
                    "consecutive_failures": s.consecutive_failures,
                    "last_error": s.last_error,
                    "seconds_since_success": (
                        None if s.last_success is None else round(now - s.last_success, 3)
                    ),
                }
                for s in self._status
            ],
        }

    def collector(self) -> Collector:
        """A Prometheus collector of the per-witness state (register it on a registry)."""
        return _PusherCollector(self)

    # --- the per-witness loop ---------------------------------------------------------------

    async def _run(self, i: int) -> None:
        status, wake = self._status[i], self._wake[i]
        while True:
            delay = status.next_attempt - time.monotonic()
            if delay > 0:
                # Backing off: a new checkpoint doesn't cut the wait short.
                await asyncio.sleep(delay)
            else:
                await wake.wait()
            wake.clear()
            try:
                await self.push_to(i)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # anything: record it, back off, never kill the task
                self._failed(status, f"{type(e).__name__}: {e}")

    async def push_to(self, i: int) -> bool:
        """Push to witness ``i`` every checkpoint it has not cosigned, oldest first, then
        the newest (following 409s); True when it cosigned the newest (or already had).
        Failures are recorded and backed off, not raised.

        Every checkpoint, not only the newest: SPEC v2 5.2 judges each checkpoint by its
        own cosignatures (a later one does not vouch for an earlier one), so a checkpoint
        the witnesses never saw would audit UNWITNESSED under a quorum policy. A source
        without ``notes_after`` gets only its newest pushed; a backlog over
        ``BACKLOG_PER_PUSH`` is pushed in chunks, the task woken again after each."""
        status = self._status[i]
        latest = await _maybe(self.source.latest_note())
        if latest is None:
            return False
        notes_after = getattr(self.source, "notes_after", None)
        if notes_after is not None:
            since = max(status.cosigned_size or 0, status.known_size)
            backlog = list(await _maybe(notes_after(since, BACKLOG_PER_PUSH + 1)))
            if len(backlog) > BACKLOG_PER_PUSH:  # the rest on the next wake, in order
                for note in backlog[:BACKLOG_PER_PUSH]:
                    if not await self._push_note(status, note):
                        return False
                self._wake[i].set()
                return False
            for note in backlog:
                if note != latest and not await self._push_note(status, note):
                    return False
        return await self._push_note(status, latest)

    async def _push_note(self, status: WitnessStatus, note: bytes) -> bool:
        """Push one signed checkpoint to a witness (following 409s); True when cosigned."""
        text, _ = _core.note_parse(note)
        _, size, root = _core.checkpoint_parse_body(text)
        self._newest_size = max(self._newest_size, size)
        if status.cosigned_size == size:
            return True
        status.attempts += 1
        old = status.known_size
        for _ in range(3):  # the second and third only after a 409 naming another size
            if old > size:
                self._failed(
                    status,
                    f"the witness has cosigned size {old}, larger than the newest checkpoint "
                    f"{size}: this log was shown to it with another history, or was cut",
                )
                return False
            proof = (
                [] if old in (0, size) else await _maybe(self.source.consistency_proof(old, size))
            )
            try:
                answer, body = await self._post(
                    status.endpoint, encode_add_checkpoint(old, proof, note)
                )
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                self._failed(status, f"unreachable: {type(e).__name__}: {e}")
                return False
            if answer == 409:
                try:
                    known = parse_conflict_body(body)
                except WitnessError as e:
                    self._failed(status, f"HTTP 409 with a bad body: {e}")
                    return False
                await self._set_known(status, known)
                if known == old:
                    self._failed(status, f"HTTP 409 naming the size sent ({old})")
                    return False
                old = known
                continue
            if answer != 200:
                first = body.split(b"\n", 1)[0].decode("utf-8", "replace")[:200]
                self._failed(status, f"HTTP {answer}: {first}")
                return False
            lines = self._valid_lines(status.endpoint, text, body)
            if not lines:
                self._failed(status, "HTTP 200 without a valid cosignature by the witness's key")
                return False
            await _maybe(self.on_cosigned(size, root, lines))
            status.cosigned_size = size
            await self._set_known(status, size)
            status.consecutive_failures = 0
            status.last_error = None
            status.last_success = time.time()
            status.next_attempt = 0.0
            return True
        self._failed(status, "the witness keeps answering 409 with another size")
        return False

    async def _set_known(self, status: WitnessStatus, size: int) -> None:
        if size == status.known_size:
            return
        status.known_size = size
        if self.on_known_size is not None:
            await _maybe(self.on_known_size(status.endpoint, size))

    async def _post(self, endpoint: WitnessEndpoint, body: bytes) -> tuple[int, bytes]:
        if self._session is None:
            raise WitnessError(0, "the pusher is not started")
        async with self._session.post(f"{endpoint.url}/add-checkpoint", data=body) as resp:
            data = await resp.content.read(1 << 16)
            if resp.status == 409 and resp.content_type != SIZE_CONTENT_TYPE:
                return 0, f"409 with Content-Type {resp.content_type}".encode()
            return resp.status, data

    @staticmethod
    def _valid_lines(endpoint: WitnessEndpoint, text: bytes, body: bytes) -> list[bytes]:
        """The answer's lines by this witness's name and key that verify over ``text``
        (tlog-witness: the client MUST ignore cosignatures from unknown keys)."""
        try:
            parsed = parse_cosignature_lines(body)
        except HashcoreError:
            return []
        key_id = _core.witness_key_id(endpoint.name, endpoint.key)
        return [
            p.line
            for p in parsed
            if p.name == endpoint.name
            and p.key_id == key_id
            and _core.cosignature_verify(endpoint.key, text, p.value) not in (None, 0)
        ]

    def _failed(self, status: WitnessStatus, message: str) -> None:
        status.consecutive_failures += 1
        status.last_error = message
        backoff = min(
            self.backoff_max_s, self.backoff_min_s * 2 ** min(status.consecutive_failures - 1, 30)
        )
        status.next_attempt = time.monotonic() + backoff
        log.warning(
            "witness %s (%s): %s; retrying in %.1fs",
            status.endpoint.name,
            status.endpoint.url,
            message,
            backoff,
        )


class _PusherCollector(Collector):
    def __init__(self, pusher: WitnessPusher) -> None:
        self.pusher = pusher

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "hashcore_relay_witness_up",
            "1 if the last push to the witness succeeded",
            labels=["witness"],
        )
        size = GaugeMetricFamily(
            "hashcore_relay_witness_cosigned_tree_size",
            "Largest tree_size the witness cosigned (this run)",
            labels=["witness"],
        )
        failures = GaugeMetricFamily(
            "hashcore_relay_witness_consecutive_failures",
            "Failed pushes to the witness since its last success",
            labels=["witness"],
        )
        for s in self.pusher.statuses():
            up.add_metric([s.endpoint.name], 1.0 if s.up else 0.0)
            size.add_metric([s.endpoint.name], float(s.cosigned_size or 0))
            failures.add_metric([s.endpoint.name], float(s.consecutive_failures))
        yield up
        yield size
        yield failures
        yield GaugeMetricFamily(
            "hashcore_relay_witnessed_tree_size",
            "Largest tree_size cosigned by at least the quorum of witnesses",
            value=float(self.pusher.witnessed_size()),
        )
