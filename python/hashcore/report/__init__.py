"""HTML reports a person would rather read than the console: one audit
(:func:`render_audit_html_v2`, ``hashcore audit --html FILE``) or the whole demo story
(:func:`render_demo_html`, ``hashcore demo``).

Each report is one self-contained file: inline CSS, no script, no external asset, so it
can be mailed or archived with the bundle and opened anywhere, offline. Everything taken
from the data (participant ids, reasons, paths) is HTML-escaped: a bundle is untrusted
input, and a report must not become a way to run script in an auditor's browser. Cells
are escaped by default; only markup built here is wrapped in :class:`Markup`.
"""

from .audit_page_v2 import render_audit_html_v2
from .demo_page import render_demo_html
from .kit import Markup, ranges, ranges_text, write_html

__all__ = [
    "Markup",
    "ranges",
    "ranges_text",
    "render_audit_html_v2",
    "render_demo_html",
    "write_html",
]
