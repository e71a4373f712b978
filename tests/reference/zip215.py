"""Pure-Python Ed25519 with ZIP-215 verification (reference only, slow on purpose).

SPEC section 1.3: verification follows ZIP-215, i.e.

* ``S`` must be canonical (``S < L``), otherwise the signature is invalid;
* ``A`` and ``R`` are decoded the way curve25519-dalek decompresses points:
  the 255-bit ``y`` is taken mod p even when it is not canonical (``y >= p``),
  and ``x = 0`` with the sign bit set is accepted (it decodes to ``x = 0``);
  decoding fails only when ``x^2 = (y^2 - 1) / (d y^2 + 1)`` has no root;
* ``k = SHA-512(R_bytes || A_bytes || M)`` over the bytes exactly as given
  (no re-encoding of a non-canonical point);
* the cofactored equation ``[8][S]B == [8]R + [8][k]A`` decides.

Signing and key derivation are plain RFC 8032 and only exist to make test data.
Everything works on big ints in extended twisted-Edwards coordinates with the
unified addition law, which is complete on this curve (a = -1 is a square and
d is not), so no special cases are needed for the identity or torsion points.
"""

from __future__ import annotations

import hashlib

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z

IDENTITY: Point = (0, 1, 1, 0)


def _inv(x: int) -> int:
    return pow(x, P - 2, P)


def _add(p1: Point, p2: Point) -> Point:
    # RFC 8032 section 5.1.4 addition ("add-2008-hwcd-3"); complete for a = -1.
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * D % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(scalar: int, point: Point) -> Point:
    # Plain double-and-add; constant time is irrelevant for a test oracle.
    result = IDENTITY
    addend = point
    while scalar > 0:
        if scalar & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        scalar >>= 1
    return result


def _mul8(point: Point) -> Point:
    for _ in range(3):
        point = _add(point, point)
    return point


def _equal(p1: Point, p2: Point) -> bool:
    x1, y1, z1, _ = p1
    x2, y2, z2, _ = p2
    return (x1 * z2 - x2 * z1) % P == 0 and (y1 * z2 - y2 * z1) % P == 0


def _recover_x(y: int, sign: int) -> int | None:
    """x with the given sign bit for this y, dalek-style; None if no x exists."""
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P  # never 0: -1/d is not a square mod p
    x2 = u * _inv(v) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    # Take the non-negative root (even canonical x), then negate if the sign
    # bit is set. For x = 0 the negation is 0 again: dalek accepts "-0", which
    # RFC 8032 section 5.1.3 would reject.
    if x & 1:
        x = P - x
    if sign:
        x = (P - x) % P
    return x


def _decode(encoded: bytes) -> Point | None:
    if len(encoded) != 32:
        return None
    raw = int.from_bytes(encoded, "little")
    sign = raw >> 255
    # dalek loads all 255 low bits and works mod p, so y >= p is reduced
    # rather than rejected (RFC 8032 would reject it).
    y = (raw & ((1 << 255) - 1)) % P
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def _encode(point: Point) -> bytes:
    x, y, z, _ = point
    zi = _inv(z)
    x, y = x * zi % P, y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


_BASE_Y = 4 * _inv(5) % P
_BASE = _decode(_BASE_Y.to_bytes(32, "little"))
assert _BASE is not None
BASE: Point = _BASE


def decodes(public_key: bytes) -> bool:
    """True when the 32 bytes decode to a curve point under ZIP-215 rules."""
    return _decode(bytes(public_key)) is not None


def is_small_order(public_key: bytes) -> bool:
    """True when the encoding decodes and [8]A is the identity.

    A string that does not decode is not a point at all, so it is reported as
    not small-order; callers that care must also check ``decodes``.
    """
    point = _decode(bytes(public_key))
    return point is not None and _equal(_mul8(point), IDENTITY)


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """ZIP-215 single verification; any wrong-length input is simply invalid."""
    public_key, message, signature = bytes(public_key), bytes(message), bytes(signature)
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decode(public_key)
    r_bytes = signature[:32]
    r = _decode(r_bytes)
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    # k over the bytes as received: ZIP-215 never re-encodes A or R.
    k = int.from_bytes(hashlib.sha512(r_bytes + public_key + message).digest(), "little") % L
    # [8]([k]A) == [8]([k mod L]A) because 8L kills every point, so reducing k
    # mod L is safe; what would be wrong is reducing 8k mod L (torsion of A).
    lhs = _mul8(_mul(s, BASE))
    rhs = _mul8(_add(r, _mul(k, a)))
    return _equal(lhs, rhs)


def _expand(seed32: bytes) -> tuple[int, bytes]:
    if len(seed32) != 32:
        raise ValueError("Ed25519 seed must be 32 bytes")
    h = hashlib.sha512(seed32).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8  # clear the 3 low bits and bit 255
    a |= 1 << 254
    return a, h[32:]


def public_key(seed32: bytes) -> bytes:
    """RFC 8032 public key of a 32-byte secret seed."""
    a, _ = _expand(bytes(seed32))
    return _encode(_mul(a, BASE))


def sign(seed32: bytes, message: bytes) -> bytes:
    """RFC 8032 deterministic signature (for generating test data)."""
    seed32, message = bytes(seed32), bytes(message)
    a, prefix = _expand(seed32)
    a_bytes = _encode(_mul(a, BASE))
    r = int.from_bytes(hashlib.sha512(prefix + message).digest(), "little") % L
    r_bytes = _encode(_mul(r, BASE))
    k = int.from_bytes(hashlib.sha512(r_bytes + a_bytes + message).digest(), "little") % L
    s = (r + k * a) % L
    return r_bytes + s.to_bytes(32, "little")
