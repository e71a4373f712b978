"""``hashcore audit BUNDLE --log-url URL``: the bundle's log against the one the relay
publishes as C2SP tlog-tiles (issue 11).

A bundle is what the relay chose to export; the published log is what it shows everyone
else. The check reads the published checkpoint (it must verify under the audit's log
identity), every published entry up to its size (their tree must give its root, so each
entry compared is the log's, not the server's word), and then:

- **entries**: at every position the bundle holds below the published size, the bundle's
  entry (``0x02 || link || i64be(received_ms)``) must be the published one;
- **checkpoints**: each bundle checkpoint the relay signed must be consistent with the
  published checkpoint: ``CONSISTENT`` / ``INCONSISTENT`` (an RFC 9162 consistency proof
  computed from the published tiles and checked against both signed roots, or, for a
  bundle checkpoint larger than the published one, the bundle's own tree at the published
  size against the published root), ``UNCHECKED`` (larger than the published one and the
  bundle lacks positions below it).

A published log whose checkpoint or tiles don't verify is a finding (``error``), not an
unusable input: a relay that publishes a bad log is what the check is for. A URL that
can't be reached is unusable input (InvalidInputError).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pyarrow as pa

from .. import _core
from ..errors import HashcoreError, InvalidInputError
from .client import HttpFetcher, TileClient, TileError
from .paths import TILE_WIDTH

__all__ = ["LogUrlCheck", "check_against_log"]

#: Entry mismatches listed in the report (all are counted).
MAX_LISTED = 100


@dataclass
class LogUrlCheck:
    url: str
    published_tree_size: int | None = None
    published_root: bytes | None = None
    entries_compared: int = 0
    #: Bundle rows at positions the published log doesn't have (yet).
    entries_beyond_published: int = 0
    mismatch_count: int = 0
    #: (log_index, bundle entry, published entry), the first MAX_LISTED.
    mismatches: list[tuple[int, bytes, bytes]] = field(default_factory=list)
    #: (tree_size, code) of every bundle checkpoint the relay signed.
    checkpoints: list[tuple[int, str]] = field(default_factory=list)
    #: Why the published log itself is unusable (its checkpoint or tiles don't verify).
    error: str | None = None

    @property
    def clean(self) -> bool:
        return (
            self.error is None
            and self.mismatch_count == 0
            and all(code != "INCONSISTENT" for _, code in self.checkpoints)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "clean": self.clean,
            "error": self.error,
            "published_tree_size": self.published_tree_size,
            "published_root": None if self.published_root is None else self.published_root.hex(),
            "entries_compared": self.entries_compared,
            "entries_beyond_published": self.entries_beyond_published,
            "entry_mismatch_count": self.mismatch_count,
            "entry_mismatches": [
                {"log_index": i, "bundle_entry": b.hex(), "published_entry": p.hex()}
                for i, b, p in self.mismatches
            ],
            "checkpoints": [{"tree_size": s, "code": c} for s, c in self.checkpoints],
        }


def _bundle_entries(records: pa.Table) -> dict[int, bytes]:
    """log_index -> entry of every bundle row (a duplicated position keeps its first row;
    the audit reports DUPLICATE_LOG_INDEX)."""
    out: dict[int, bytes] = {}
    cols = [records.column(n).to_pylist() for n in ("log_index", "link", "received_ms")]
    for index, link, received in zip(*cols, strict=True):
        if index is None or link is None or received is None or len(link) != 32:
            continue  # malformed rows are the audit's to report
        out.setdefault(int(index), _core.log_entry(link, int(received)))
    return out


def _signed_checkpoints(cps: pa.Table, origin: str, log_key: bytes) -> list[tuple[int, bytes]]:
    out = set()
    for note in cps.column("note").to_pylist():
        try:
            out.add(_core.note_verify(note, origin, log_key))
        except (HashcoreError, TypeError):
            continue  # not the relay's: the audit's BAD_CHECKPOINT_SIG
    return sorted(out)


async def _published(client: TileClient, check: LogUrlCheck) -> tuple[int, bytes, list[bytes]]:
    size, root, _note = await client.checkpoint()
    check.published_tree_size, check.published_root = size, root
    entries: list[bytes] = []
    for bundle in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        entries.extend(await client.entries(bundle, size))
        client.cache.clear()  # each bundle is read once
    tree = _core.Sha256LogTree()
    if entries:
        if {len(e) for e in entries} != {_core.V2_ENTRY_LEN}:
            raise TileError("the published entry bundles hold entries that are not 41 bytes")
        tree.extend(b"".join(entries))
        if tree.root(size) != root:
            raise TileError(
                f"the published entries don't give the published checkpoint's root "
                f"(tree_size {size})"
            )
    return size, root, entries


async def _check(
    url: str, records: pa.Table, checkpoints: pa.Table, origin: str, log_key: bytes
) -> LogUrlCheck:
    check = LogUrlCheck(url)
    bundle = _bundle_entries(records)
    signed = _signed_checkpoints(checkpoints, origin, log_key)
    timeout = aiohttp.ClientTimeout(total=300, sock_connect=15)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        client = TileClient(HttpFetcher(url, session), origin, log_key)
        try:
            size, root, published = await _published(client, check)
        except TileError as e:
            check.error = str(e)
            return check
        for index in sorted(bundle):
            if index >= size:
                check.entries_beyond_published += 1
                continue
            check.entries_compared += 1
            if bundle[index] != published[index]:
                check.mismatch_count += 1
                if len(check.mismatches) < MAX_LISTED:
                    check.mismatches.append((index, bundle[index], published[index]))
        contiguous = 0
        while contiguous in bundle:
            contiguous += 1
        own: Any = None
        for cp_size, cp_root in signed:
            if cp_size <= size:
                try:
                    await client.consistency_proof(cp_size, cp_root, size, root)
                    code = "CONSISTENT"
                except TileError:
                    code = "INCONSISTENT"
            elif contiguous >= cp_size:
                if own is None:
                    own = _core.Sha256LogTree()
                    own.extend(b"".join(bundle[i] for i in range(contiguous)))
                consistent = own.root(size) == root and own.root(cp_size) == cp_root
                code = "CONSISTENT" if consistent else "INCONSISTENT"
            else:
                code = "UNCHECKED"
            check.checkpoints.append((cp_size, code))
    return check


def check_against_log(
    url: str, records: pa.Table, checkpoints: pa.Table, origin: str, log_key: bytes
) -> LogUrlCheck:
    """Check a bundle's ``records`` and ``checkpoints`` tables against the tiled log at
    ``url`` (its prefix), under the log identity ``origin`` / ``log_key``.

    Raises:
        InvalidInputError: ``url`` is not http(s), or can't be reached.
    """
    if not url.startswith(("http://", "https://")):
        raise InvalidInputError(f"--log-url must be an http(s) URL, got {url!r}")
    try:
        return asyncio.run(_check(url.rstrip("/"), records, checkpoints, origin, log_key))
    except (aiohttp.ClientConnectionError, TimeoutError) as e:
        raise InvalidInputError(f"cannot read the log at {url}: {type(e).__name__}: {e}") from None
