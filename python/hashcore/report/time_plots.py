"""The time picture of a v2 audit (SPEC v2 5.3) as plots a trial monitor would rather look
at than read, drawn by matplotlib and inlined as SVG (no script, no external asset):

- **entry delay per participant** (:func:`entry_delay_svg`): how long after the device's
  clock said an entry was made the relay received it (``received_ms - time_ms``), one box
  per participant (in a unit chosen for the spread); an entry made late or back-dated
  stands out;
- **records outside their window** (:func:`window_svg`): each record with a time finding
  as its window (from its beacon's log entry to the relay's receipt, or the witnesses'
  bound where that is earlier) and the time its device claims, relative to the receipt.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot state: safe
in threads), with text kept as SVG text (the page's search finds participants) and a fixed
hash salt so that the same audit gives the same bytes. Labels come from untrusted data:
matplotlib escapes them in the SVG, and their ``$`` is not read as math.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_PARTICIPANTS",
    "MAX_WINDOWS",
    "DelaySeries",
    "WindowRow",
    "entry_delay_svg",
    "window_svg",
]

#: Participants shown in the delay plot (those with the longest median delay first).
MAX_PARTICIPANTS = 40
#: Records drawn in the window plot (the JSON report lists all).
MAX_WINDOWS = 40

_RC: dict[Any, Any] = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "svg.hashsalt": "hashcore-report",
    "font.size": 9.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_OK_COLOR = "#17703a"
_BAD_COLOR = "#a4161a"
_WINDOW_COLOR = "#8fa3bf"


@dataclass(frozen=True, slots=True)
class DelaySeries:
    """One participant's entry delays (``received_ms - time_ms``), in ms."""

    label: str
    delays_ms: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class WindowRow:
    """A record with a time finding: its window and its claimed time, in ms (exact)."""

    label: str
    code: str
    time_ms: int
    lower: int | None
    upper: int
    upper_witnessed: int | None


_UNITS = ((86_400_000, "days"), (3_600_000, "hours"), (60_000, "minutes"), (1_000, "seconds"))


def _unit(spread_ms: float) -> tuple[float, str]:
    """The largest unit in which ``spread_ms`` is at least 2 (else milliseconds)."""
    for size, name in _UNITS:
        if spread_ms >= 2 * size:
            return float(size), name
    return 1.0, "ms"


def _svg(fig: object) -> str:
    from matplotlib.figure import Figure

    assert isinstance(fig, Figure)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buf.getvalue()
    # Inline: drop the XML prolog and DOCTYPE, keep the <svg> element.
    return text[text.index("<svg") :]


def entry_delay_svg(series: Sequence[DelaySeries], *, flagged: Sequence[str] = ()) -> str:
    """Horizontal box plots of entry delay, one per participant, the participants
    with the longest median delay on top (at most :data:`MAX_PARTICIPANTS`; the caller
    says how many were left out). Participants in ``flagged`` (a time finding) are red."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    shown = sorted(series, key=lambda s: (-float(np.median(s.delays_ms)), s.label))
    shown = shown[:MAX_PARTICIPANTS][::-1]  # the longest delay at the top
    bad = set(flagged)
    spread = max((float(np.max(np.abs(s.delays_ms))) for s in shown), default=0.0)
    size, unit = _unit(spread)
    with rc_context(_RC):
        fig = Figure(figsize=(8.0, 1.2 + 0.24 * max(1, len(shown))))
        ax = fig.subplots()
        parts = ax.boxplot(
            [s.delays_ms / size for s in shown],
            orientation="horizontal",
            widths=0.6,
            patch_artist=True,
            showfliers=True,
            flierprops={"marker": ".", "markersize": 3, "markeredgecolor": "#5c6675"},
            medianprops={"color": "#1d2430"},
        )
        for i, (box, s) in enumerate(zip(parts["boxes"], shown, strict=True)):
            flag = s.label in bad
            box.set_facecolor("#fbe4e4" if flag else "#e3f4e8")
            box.set_edgecolor(_BAD_COLOR if flag else _OK_COLOR)
            box.set_gid(f"delay-box-{'flagged-' if flag else ''}{i}")
        ax.set_yticks(range(1, len(shown) + 1), [s.label for s in shown])
        ax.set_xlabel(f"entry delay: relay receipt − device time ({unit})")
        ax.axvline(0.0, color="#5c6675", linewidth=0.8, linestyle=":")
        ax.grid(axis="x", color="#d9dee6", linewidth=0.6)
        return _svg(fig)


def window_svg(rows: Sequence[WindowRow]) -> str:
    """Each record with a time finding (at most :data:`MAX_WINDOWS`) as its window, a bar
    from the beacon's entry (``lower``; open to the left where none) to the relay's
    receipt or the witnesses' bound, and a red dot at the time its device claims, all in
    relative to the receipt (``upper``), in a unit chosen for the spread."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    shown = list(rows[:MAX_WINDOWS])[::-1]
    rel_ms = [float(r.time_ms - r.upper) for r in shown]
    lows_ms = [None if r.lower is None else float(r.lower - r.upper) for r in shown]
    highs_ms = [
        0.0 if r.upper_witnessed is None else min(0.0, float(r.upper_witnessed - r.upper))
        for r in shown
    ]
    spread = max((abs(v) for v in (*rel_ms, *(x for x in lows_ms if x is not None))), default=0)
    size, unit = _unit(spread)
    rel = [v / size for v in rel_ms]
    lows = [None if v is None else v / size for v in lows_ms]
    highs = [v / size for v in highs_ms]
    finite = [*rel, *(x for x in lows if x is not None), *highs]
    left, right = min(finite, default=-1.0), max(finite, default=1.0)
    pad = max(1.0, 0.05 * (right - left))
    left, right = left - pad, right + pad
    with rc_context(_RC):
        fig = Figure(figsize=(8.0, 1.2 + 0.28 * max(1, len(shown))))
        ax = fig.subplots()
        ys = np.arange(len(shown), dtype=np.float64)
        starts = [left if lo is None else lo for lo in lows]
        ax.hlines(ys, starts, highs, colors=_WINDOW_COLOR, linewidth=5.0, gid="windows")
        ax.plot(
            rel,
            ys,
            linestyle="none",
            marker="o",
            markersize=5,
            color=_BAD_COLOR,
            gid="record-times",
        )
        ax.set_yticks(ys, [f"{r.label} ({r.code})" for r in shown])
        ax.set_xlim(left, right)
        ax.axvline(0.0, color="#5c6675", linewidth=0.8, linestyle=":")
        ax.set_xlabel(
            f"{unit} relative to the relay's receipt: window (bar) and the device's time (dot)"
        )
        ax.grid(axis="x", color="#d9dee6", linewidth=0.6)
        return _svg(fig)
