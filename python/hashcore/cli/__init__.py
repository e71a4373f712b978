"""The ``hashcore`` command line: one module per command, shared argument types and exit codes."""

from __future__ import annotations

from .main import main

__all__ = ["main"]
