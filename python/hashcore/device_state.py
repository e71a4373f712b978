"""The device state file's text, byte for byte what ``json.dumps(state, indent=1)`` writes,
built from fragments cached per record, receipt and note.

Why: a device saves its whole state after every record (one JSON document, replaced
atomically: the format a restarted phone and ``hashcore device`` read). Turning every
record into a dict and encoding it again on each save made a chain of n records cost
O(n^2) Python work. Each item is encoded once here; a save joins the cached strings (a
C-speed copy of the bytes the format needs anyway).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

__all__ = ["StateText"]

T = TypeVar("T")

#: Stands in for a list in the top-level document, replaced by the list's cached text.
_HOLE = "\x00hashcore-list-{}\x00"


def _fragment(obj: Any) -> str:
    """``obj`` as ``json.dumps(..., indent=1)`` writes it as an item of a list that is
    the value of a top-level key (two levels deep: every line after the first indented
    by two more spaces). Raw newlines only separate tokens: strings escape theirs."""
    return json.dumps(obj, indent=1).replace("\n", "\n  ")


def _list_text(fragments: Sequence[str]) -> str:
    if not fragments:
        return "[]"
    return "[\n  " + ",\n  ".join(fragments) + "\n ]"


class _AppendOnly:
    """Fragments of a list that only grows at its end (and shrinks back on a failed save)."""

    def __init__(self) -> None:
        self.fragments: list[str] = []

    def sync(self, items: Sequence[T], to_json: Callable[[T], Any]) -> list[str]:
        del self.fragments[len(items) :]
        for item in items[len(self.fragments) :]:
            self.fragments.append(_fragment(to_json(item)))
        return self.fragments


class StateText:
    """Renders a device's state; one per device (its caches follow that device's lists)."""

    def __init__(self) -> None:
        self._records = _AppendOnly()
        self._receipts = _AppendOnly()
        self._notes: dict[str, str] = {}

    def render(
        self,
        head: dict[str, Any],
        records: Sequence[Any],
        log: dict[str, Any] | None,
        receipts: Sequence[Any],
        notes: Sequence[str],
    ) -> bytes:
        """The file's bytes for ``head`` (format .. sent_through, in order), the records
        and receipts (objects with ``to_dict()``), the pinned log and the notes' texts."""
        lists = {
            "records": _list_text(self._records.sync(records, lambda r: r.to_dict())),
            "receipts": _list_text(self._receipts.sync(receipts, lambda r: r.to_dict())),
            "notes": _list_text([self._note(n) for n in notes]),
        }
        doc = {
            **head,
            "records": _HOLE.format("records"),
            "log": log,
            "receipts": _HOLE.format("receipts"),
            "notes": _HOLE.format("notes"),
        }
        # The document around the holes is small: cut it there and join the lists in, so
        # the large text is copied once (str.replace would scan and copy it per hole).
        parts = [json.dumps(doc, indent=1)]
        for name, listed in lists.items():
            before, after = parts.pop().split(json.dumps(_HOLE.format(name)), 1)
            parts += [before, listed, after]
        return "".join(parts).encode() + b"\n"

    def _note(self, note: str) -> str:
        # Notes are inserted in tree order, not only appended: cached by their text.
        got = self._notes.get(note)
        if got is None:
            got = self._notes[note] = _fragment(note)
        return got
