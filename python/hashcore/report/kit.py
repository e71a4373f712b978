"""The HTML kit of the reports: the page with its inline CSS, escaping (:class:`Markup`),
pills, cards, tables and the small formatters the pages share."""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Mapping, Sequence

from .._atomic import write_atomically

#: Rows shown per table before an "N more" note (the JSON report holds them all).
MAX_ROWS = 100


OK_CODES = frozenset({"OK", "OK_REDACTED"})


CSS = """
:root { --ok: #17703a; --ok-bg: #e3f4e8; --bad: #a4161a; --bad-bg: #fbe4e4;
  --warn: #8a5a00; --warn-bg: #fff3d6; --ink: #1d2430; --muted: #5c6675; --line: #d9dee6; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); margin: 0; background: #f6f7f9; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px;
  border-bottom: 2px solid var(--line); }
h3 { font-size: 17px; margin: 26px 0 6px; }
p.sub, .muted { color: var(--muted); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 13px; }
.banner { padding: 14px 18px; border-radius: 8px; font-weight: 600; font-size: 17px;
  margin: 14px 0; }
.banner.ok { background: var(--ok-bg); color: var(--ok); border: 1px solid #9fd3b0; }
.banner.bad { background: var(--bad-bg); color: var(--bad); border: 1px solid #eba9a9; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px;
  margin: 12px 0; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card .v { font-size: 22px; font-weight: 700; }
.card .l { color: var(--muted); font-size: 13px; }
.card.ok { border-left: 5px solid var(--ok); }
.card.bad { border-left: 5px solid var(--bad); }
.card.warn { border-left: 5px solid var(--warn); }
table { border-collapse: collapse; width: 100%; background: #fff; margin: 8px 0;
  border: 1px solid var(--line); }
th, td { text-align: left; padding: 5px 9px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { background: #eef1f5; font-size: 13px; }
table.facts th { width: 32%; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.diff td { background: var(--warn-bg); }
.pill { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
  font-weight: 700; }
.pill.ok { background: var(--ok-bg); color: var(--ok); }
.pill.bad { background: var(--bad-bg); color: var(--bad); }
.pill.warn { background: var(--warn-bg); color: var(--warn); }
.note { color: var(--muted); font-size: 13px; margin: 4px 0; }
section.attack { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 4px 18px 14px; margin: 14px 0; }
section.attack table { border: 1px solid var(--line); }
ul { margin: 6px 0; }
figure.plot { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  margin: 10px 0; padding: 8px 12px; }
figure.plot svg { max-width: 100%; height: auto; }
figure.plot figcaption { color: var(--muted); font-size: 13px; }
"""


class Markup(str):
    """HTML built here: inserted as is, where any other string is escaped."""


def esc(value: object) -> str:
    """Escape ``value`` unless it is :class:`Markup` (None shows as a dash)."""
    if isinstance(value, Markup):
        return str(value)
    if value is None:
        return "–"
    return html.escape(str(value), quote=True)


def element(name: str, content: object, cls: str | None = None) -> Markup:
    attr = f' class="{esc(cls)}"' if cls else ""
    return Markup(f"<{name}{attr}>{esc(content)}</{name}>")


def concat(parts: Iterable[object]) -> Markup:
    return Markup("".join(esc(p) for p in parts))


def pill(text: str, tone: str) -> Markup:
    return element("span", text, f"pill {tone}")


def status_pill(ok: bool, yes: str = "OK", no: str = "FAIL") -> Markup:
    return pill(yes, "ok") if ok else pill(no, "bad")


def code_pill(code: str) -> Markup:
    return pill(code, "ok" if code in OK_CODES else "bad")


def html_page(title: str, body: Markup) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def card_row(items: Sequence[tuple[str, object, str]]) -> Markup:
    """Summary cards: (label, value, tone) with tone "ok", "bad", "warn" or ""."""
    cells = [
        f'<div class="card {esc(tone)}"><div class="v">{esc(value)}</div>'
        f'<div class="l">{esc(label)}</div></div>'
        for label, value, tone in items
    ]
    return Markup(f'<div class="cards">{"".join(cells)}</div>')


def html_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    numeric: Iterable[int] = (),
    limit: int = MAX_ROWS,
    more: str = "see the JSON report for all of them",
    row_classes: Sequence[str] | None = None,
) -> Markup:
    """A table of at most ``limit`` rows, then a note saying how many were left out."""
    right = set(numeric)

    def cell(tag: str, i: int, value: object) -> str:
        cls = ' class="n"' if i in right else ""
        return f"<{tag}{cls}>{esc(value)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows[:limit]):
        cls = row_classes[r] if row_classes is not None and row_classes[r] else ""
        attr = f' class="{esc(cls)}"' if cls else ""
        body.append(f"<tr{attr}>{''.join(cell('td', i, v) for i, v in enumerate(row))}</tr>")
    out = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    if len(rows) > limit:
        out += element("p", f"… and {len(rows) - limit:,} more ({more}).", "note")
    return Markup(out)


def fact_list(rows: Sequence[tuple[str, object]]) -> Markup:
    """A two-column table of label and value, without a header row."""
    body = "".join(f'<tr><th scope="row">{esc(k)}</th><td>{esc(v)}</td></tr>' for k, v in rows)
    return Markup(f'<table class="facts"><tbody>{body}</tbody></table>')


def number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else esc(value)


def short_hex(hex_text: object, keep: int = 16) -> Markup:
    """A long hex string cut for a table cell, whole in the tooltip."""
    if not isinstance(hex_text, str) or len(hex_text) <= keep + 2:
        return Markup(f'<span class="mono">{esc(hex_text)}</span>')
    return Markup(f'<span class="mono" title="{esc(hex_text)}">{esc(hex_text[:keep])}…</span>')


def mono(value: object) -> Markup:
    return Markup(f'<span class="mono">{esc(value)}</span>')


def participant_of(chain_id: object, participants: Mapping[str, str] | None) -> str:
    if participants is None or not isinstance(chain_id, str):
        return "–"
    return participants.get(chain_id, "–")


def ranges(positions: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted positions as inclusive (first, last) runs."""
    runs: list[tuple[int, int]] = []
    for p in sorted(positions):
        if runs and p <= runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], max(runs[-1][1], p))
        else:
            runs.append((p, p))
    return runs


def ranges_text(runs: Sequence[Sequence[int]], limit: int = 8) -> str:
    """``12, 40–99`` from inclusive runs, cut after ``limit`` runs."""
    shown = ", ".join(f"{a:,}" if a == b else f"{a:,}–{b:,}" for a, b in runs[:limit])
    if len(runs) > limit:
        shown += f" and {len(runs) - limit} more ranges"
    return shown


def write_html(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (a reader never sees half a report)."""
    write_atomically(path, text)
