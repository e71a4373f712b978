"""The bytes of C2SP tlog-witness ``add-checkpoint`` (request body, 200 and 409 bodies) and
of a cosignature/v1 signature line (SPEC 2.3), shared by the witness and the relay's pusher.

Request body (C2SP tlog-witness): ``old <size>\\n``, zero to 63 base64 consistency-proof
lines, an empty line, then the checkpoint note. Parsing here is the format only; what the
note says is the witness's business (server.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from .. import _core
from ..errors import WitnessError

__all__ = [
    "COSIGNATURE_VALUE_LEN",
    "MAX_PROOF_LINES",
    "MAX_REQUEST_BYTES",
    "SIZE_CONTENT_TYPE",
    "AddCheckpoint",
    "CosignatureLine",
    "SizeConflictError",
    "b64",
    "cosignature_line",
    "encode_add_checkpoint",
    "origin_hash",
    "parse_add_checkpoint",
    "parse_conflict_body",
    "parse_cosignature_lines",
    "parse_decimal",
]

#: C2SP tlog-witness: "The client MUST NOT send more than 63 consistency proof lines".
MAX_PROOF_LINES = 63
#: The 409 answer's Content-Type (C2SP tlog-witness).
SIZE_CONTENT_TYPE = "text/x.tlog.size"
#: u64be(t) || Ed25519 signature (SPEC 2.3).
COSIGNATURE_VALUE_LEN = 72
_HASH_B64_LEN = 44  # a 32-byte hash in padded base64
_U64_MAX = 2**64 - 1
#: The largest well-formed request: "old " + 20 digits + "\n", 63 proof lines of 44 + 1
#: bytes, the empty line and a note of SPEC 2.2's 1 MiB. Anything larger answers 413
#: before it is read whole.
MAX_REQUEST_BYTES = 4 + 20 + 1 + MAX_PROOF_LINES * (_HASH_B64_LEN + 1) + 1 + _core.NOTE_MAX_LEN
_DASH = "\u2014".encode()


class SizeConflictError(WitnessError):
    """409: the old size isn't the one the witness last cosigned (``known_size``)."""

    def __init__(self, known_size: int, message: str) -> None:
        super().__init__(409, message)
        self.known_size = known_size


def _bad(message: str) -> WitnessError:
    return WitnessError(400, message)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64_hash(line: bytes, number: int) -> bytes:
    """A canonical base64 32-byte hash (vectors/README.md Decision 9: canonical only)."""
    try:
        raw = base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError):
        raise _bad(f"consistency proof line {number} is not base64") from None
    if len(raw) != 32 or base64.b64encode(raw) != line:
        raise _bad(f"consistency proof line {number} is not a canonical base64 32-byte hash")
    return raw


def parse_decimal(text: bytes, what: str) -> int:
    """A u64 in ASCII decimal with no leading zeros (``0`` itself is allowed)."""
    if not text or not text.isdigit() or not text.isascii() or (len(text) > 1 and text[:1] == b"0"):
        raise _bad(f"{what} is not a decimal number without leading zeros")
    value = int(text)
    if value > _U64_MAX:
        raise _bad(f"{what} is larger than 2^64 - 1")
    return value


@dataclass(frozen=True)
class AddCheckpoint:
    """One parsed ``add-checkpoint`` request."""

    old_size: int
    proof: tuple[bytes, ...]
    note: bytes


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Split a request body into old size, proof and note.

    Raises:
        WitnessError: status 400, naming the rule broken.
    """
    head, sep, note = body.partition(b"\n\n")
    if not sep:
        raise _bad("request has no empty line before the checkpoint")
    lines = head.split(b"\n")
    if not lines[0].startswith(b"old "):
        raise _bad("request does not start with an 'old <size>' line")
    old_size = parse_decimal(lines[0][4:], "old size")
    proof_lines = lines[1:]
    if len(proof_lines) > MAX_PROOF_LINES:
        raise _bad(f"request has {len(proof_lines)} consistency proof lines, more than 63")
    proof = tuple(_b64_hash(line, i + 1) for i, line in enumerate(proof_lines))
    return AddCheckpoint(old_size, proof, note)


def encode_add_checkpoint(
    old_size: int, proof: list[bytes] | tuple[bytes, ...], note: bytes
) -> bytes:
    """The request body for ``add-checkpoint``."""
    if len(proof) > MAX_PROOF_LINES:
        raise WitnessError(0, f"a consistency proof of {len(proof)} hashes is more than 63")
    parts = [f"old {old_size}\n".encode()]
    parts.extend(base64.b64encode(h) + b"\n" for h in proof)
    parts.append(b"\n")
    parts.append(note)
    return b"".join(parts)


def cosignature_line(name: str, witness_key: bytes, value: bytes) -> bytes:
    """``— <name> b64(key_id || value)\\n`` (SPEC 2.3, C2SP signed-note)."""
    key_id = _core.witness_key_id(name, witness_key)
    return _DASH + b" " + name.encode() + b" " + base64.b64encode(key_id + value) + b"\n"


@dataclass(frozen=True)
class CosignatureLine:
    name: str
    key_id: bytes
    value: bytes
    line: bytes


def parse_cosignature_lines(body: bytes) -> list[CosignatureLine]:
    """The signature lines of a 200 answer (one or more ``— name b64`` lines).

    Raises:
        WitnessError: status 0, the answer isn't signature lines.
    """
    if not body or not body.endswith(b"\n"):
        raise WitnessError(0, "witness answer is not newline-terminated signature lines")
    out = []
    for raw in body[:-1].split(b"\n"):
        parts = raw.split(b" ")
        if len(parts) != 3 or parts[0] != _DASH:
            raise WitnessError(0, "witness answer has a line that is not a signature line")
        try:
            name = parts[1].decode()
            sig = base64.b64decode(parts[2], validate=True)
        except (UnicodeDecodeError, binascii.Error, ValueError):
            raise WitnessError(0, "witness answer has an undecodable signature line") from None
        if len(sig) < 5 or base64.b64encode(sig) != parts[2]:
            raise WitnessError(0, "witness answer has a malformed signature line")
        out.append(CosignatureLine(name, sig[:4], sig[4:], raw + b"\n"))
    return out


def parse_conflict_body(body: bytes) -> int:
    """The size in a 409 answer (``<decimal>\\n``).

    Raises:
        WitnessError: status 0, not a size.
    """
    if not body.endswith(b"\n"):
        raise WitnessError(0, "409 answer is not a newline-terminated size")
    try:
        return parse_decimal(body[:-1], "409 answer's size")
    except WitnessError as e:
        raise WitnessError(0, str(e)) from None


def origin_hash(origin: str) -> str:
    """The monitoring path element: lowercase hex SHA-256 of the origin (C2SP tlog-witness)."""
    return hashlib.sha256(origin.encode()).hexdigest()
