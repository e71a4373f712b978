"""Argument checks shared by the value classes; each error names the field."""

from __future__ import annotations

from .errors import InvalidInputError


def as_bytes(name: str, value: object, size: int | None = None) -> bytes:
    """``value`` as immutable bytes (of exactly ``size`` bytes when given)."""
    if isinstance(value, bytearray | memoryview):
        value = bytes(value)
    if not isinstance(value, bytes):
        raise InvalidInputError(f"{name} must be bytes, got {type(value).__name__}")
    if size is not None and len(value) != size:
        raise InvalidInputError(f"{name} must be {size} bytes, got {len(value)}")
    return value


def int_in(name: str, value: object, low: int, high: int) -> int:
    """``value`` as an int in ``low..high``."""
    # bool is an int subclass; accepting True as seq 1 would hide caller bugs.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInputError(f"{name} must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise InvalidInputError(f"{name} must be in {low}..{high}, got {value}")
    return value
