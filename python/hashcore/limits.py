"""The limits an auditor applies to a bundle it did not write, in one place.

A bundle comes from a relay the auditor need not trust, so nothing in it may make the
auditor crash, hang or allocate without bound. Each limit is documented in the README.
"""

from __future__ import annotations

__all__ = ["MAX_JSON_DEPTH", "MAX_JSON_INT_DIGITS"]

#: The longest integer (in decimal digits) a manifest may hold. The largest value a manifest
#: legitimately holds is an EVM chain id, a uint256 (78 digits); Python itself refuses to
#: convert more than 4,300 digits, with a ValueError that is not a HashcoreError.
MAX_JSON_INT_DIGITS = 78

#: The deepest nesting of arrays and objects a manifest may have (a real one is 2 deep: the
#: evm object). Checked before decoding: Python's C decoder recurses once per level, and in
#: a process that raised the recursion limit (py-evm sets 100,000 on import, so every
#: ``hashcore audit --evm-url``) a deep enough document overflows the C stack: a segfault.
MAX_JSON_DEPTH = 64
