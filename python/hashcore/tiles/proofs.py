"""Proofs for a device or site from a log's tiles (C2SP tlog-tiles), not from the relay:
``TileProofs(url, pin)`` reads a tiled log (``relay serve --tiles-listen``, the files of
``relay publish-tiles`` on a CDN, a site's ``hashcore mirror``) synchronously, beside
:class:`hashcore.RelayClient`.

- ``checkpoint()``: the published checkpoint, verified under the pinned origin and log key
  (and, when the pin has a witness quorum, that many policy witnesses' cosignatures);
- ``inclusion_proof(log_index, entry)``: the RFC 9162 path of an entry in that checkpoint,
  checked against its signed root before it is returned;
- ``consistency_proof(from_size, to_size)``: a :data:`ConsistencyProver` for
  :meth:`Device.accept_checkpoint` (the device checks the path against the roots of the
  notes it verified, so the roots given here are only the tiles' word);
- ``refresh_beacon(device)`` and ``prove_receipt(device, seq)``: the device's beacon, and
  the proof that one of its acknowledged records is in the published log, both through
  the device's own checks (a checkpoint inconsistent with one it verified is refused).

Tiles are immutable, so the client keeps what it fetched (``cache``, ``requests``, ``bytes``).
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from .. import _core
from ..device import Device
from ..device_trust import LogPin, VerifiedCheckpoint
from ..errors import RelayTrustError
from .client import TileClient, TileError

__all__ = ["TileInclusion", "TileProofs", "UrlFetcher"]

T = TypeVar("T")


class UrlFetcher:
    """GETs ``<prefix>/<path>`` with urllib (no event loop of its own needed)."""

    def __init__(self, prefix: str, timeout_s: float = 30.0) -> None:
        if not prefix.startswith(("http://", "https://")):
            raise TileError(f"a tiles URL must be http(s), got {prefix!r}")
        self.prefix = prefix.rstrip("/")
        self.timeout_s = timeout_s
        self.requests = 0
        self.bytes = 0

    def __call__(self, path: str) -> bytes:
        self.requests += 1
        request = urllib.request.Request(
            f"{self.prefix}/{path}", headers={"User-Agent": "hashcore-tiles-client"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
                data: bytes = resp.read()
        except urllib.error.HTTPError as e:
            raise TileError(f"GET {path}: HTTP {e.code}") from None
        except (urllib.error.URLError, OSError) as e:
            raise TileError(f"GET {self.prefix}/{path}: {e}") from None
        self.bytes += len(data)
        return data


@dataclass(frozen=True, slots=True)
class TileInclusion:
    """An entry's inclusion in a published checkpoint (every part checked)."""

    log_index: int
    entry: bytes
    tree_size: int
    root: bytes
    note: bytes
    path: list[bytes]


class TileProofs:
    """Verified checkpoints and proofs of the log ``pin`` names, from its tiles at ``url``."""

    def __init__(self, url: str, pin: LogPin, *, timeout_s: float = 30.0) -> None:
        self.pin = pin
        self.fetch = UrlFetcher(url, timeout_s)
        self.client = TileClient(self.fetch, pin.origin, pin.log_key)

    @classmethod
    def for_device(cls, url: str, device: Device, *, timeout_s: float = 30.0) -> TileProofs:
        """For the log ``device`` pinned at enrollment (and its witness quorum)."""
        pin = device.log_pin
        if pin is None:
            raise RelayTrustError("the device has pinned no log yet (enroll it first)")
        return cls(url, pin, timeout_s=timeout_s)

    @staticmethod
    def _run(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run(coro)

    def checkpoint(self) -> tuple[int, bytes, bytes]:
        """(tree_size, root, note) of the published checkpoint, verified.

        Raises:
            TileError: unreachable, or the note doesn't verify under the pinned log.
            RelayTrustError: fewer policy witnesses than the pin's quorum cosigned it.
        """
        size, root, note = self._run(self.client.checkpoint())
        if self.pin.witness_quorum:
            have = sum(
                1 for w in self.pin.witnesses if _core.note_witness_times(note, w.name, w.key)
            )
            if have < self.pin.witness_quorum:
                raise RelayTrustError(
                    f"the published checkpoint (tree_size {size}) has {have} policy witness "
                    f"cosignature(s); the quorum is {self.pin.witness_quorum}"
                )
        return size, root, note

    def inclusion_proof(self, log_index: int, entry: bytes) -> TileInclusion:
        """The inclusion of ``entry`` (41 bytes) at ``log_index`` in the published
        checkpoint, checked against its signed root.

        Raises:
            TileError: the checkpoint doesn't cover ``log_index`` yet, or the tiles give
                no valid proof of this entry there (another entry is at that position).
        """
        size, root, note = self.checkpoint()
        path = self._run(
            self.client.inclusion_proof(log_index, size, root, _core.sha256_leaf_hash(entry))
        )
        return TileInclusion(log_index, bytes(entry), size, root, note, path)

    def consistency_proof(self, from_size: int, to_size: int) -> tuple[bytes, bytes, list[bytes]]:
        """(from_root, to_root, path) between two sizes of the published tree, computed
        from the tiles (the roots are the tiles' word: check them against signed notes, as
        :meth:`Device.accept_checkpoint` does)."""

        async def prove() -> tuple[bytes, bytes, list[bytes]]:
            old = await self.client.root(from_size)
            new = await self.client.root(to_size)
            return old, new, await self.client.consistency_proof(from_size, old, to_size, new)

        return self._run(prove())

    def refresh_beacon(self, device: Device) -> VerifiedCheckpoint:
        """Have ``device`` verify the published checkpoint (consistent with every one it
        verified before, by proofs from the tiles) and take it as its beacon."""
        _size, _root, note = self.checkpoint()
        return device.accept_checkpoint(note, self.consistency_proof)

    def prove_receipt(self, device: Device, seq: int) -> TileInclusion:
        """The proof that ``device``'s record ``seq`` is in the published log where its
        receipt says; the published checkpoint is checked by the device too (so a log that
        was rewritten since the device last looked is refused).

        Raises:
            RelayTrustError: no verified receipt for ``seq``, or the published checkpoint
                is not consistent with the device's.
            TileError: the published log doesn't hold the record where its receipt says.
        """
        receipt = next((r for r in device.receipts() if r.seq == seq), None)
        if receipt is None:
            raise RelayTrustError(f"the device holds no verified receipt for seq {seq}")
        entry = _core.log_entry(receipt.link, receipt.received_ms)
        got = self.inclusion_proof(receipt.log_index, entry)
        device.accept_checkpoint(got.note, self.consistency_proof)
        return got
