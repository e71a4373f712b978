"""Reference auditor for SPEC section 4: literal, naive and slow on purpose.

The hypothesis tests compare the Rust engine with this module on random
tampered bundles, so every rule here is written the way SPEC.md states it,
without indexes or shortcuts that could hide a mistake. EVM anchors are not
checked: checkpoints never get NOT_ANCHORED / UNCONFIRMED.

Where SPEC leaves a choice open, the reading taken is marked "Reading:" at the
place it is used, with who chose it (the lead engineer, or this module where
neither SPEC nor the vectors decide).
"""

from __future__ import annotations

from typing import Any, TypeGuard

import blake3

from . import zip215

CHAIN_ID_CONTEXT = "hashcore 2026-11-23 chain id v1"
COMMIT_CONTEXT = "hashcore 2026-11-23 payload commitment v1"
LINK_CONTEXT = "hashcore 2026-11-23 record link v1"
CHECKPOINT_CONTEXT = "hashcore 2026-11-23 checkpoint v1"

KIND_GENESIS = 0
KIND_DATA = 1
KIND_ROTATION = 2

U64_MAX = 2**64 - 1
I64_MIN = -(2**63)
I64_MAX = 2**63 - 1
ZERO32 = bytes(32)

# Record verdicts, in SPEC section 4 table order.
MALFORMED = "MALFORMED"
DUPLICATE_LOG_INDEX = "DUPLICATE_LOG_INDEX"
BAD_LINK = "BAD_LINK"
BAD_COMMIT = "BAD_COMMIT"
NO_GENESIS = "NO_GENESIS"
FORK = "FORK"
GAP = "GAP"
BROKEN_CHAIN = "BROKEN_CHAIN"
BAD_SIGNATURE = "BAD_SIGNATURE"
NOT_LOGGED = "NOT_LOGGED"
OK = "OK"
OK_REDACTED = "OK_REDACTED"
# Checkpoint verdicts (OK shared).
BAD_CHECKPOINT_SIG = "BAD_CHECKPOINT_SIG"
ROOT_MISMATCH = "ROOT_MISMATCH"
INCONSISTENT = "INCONSISTENT"


# --------------------------------------------------------------------------
# Hashing (SPEC sections 1 and 2)
# --------------------------------------------------------------------------


def h(data: bytes) -> bytes:
    """SPEC's H: BLAKE3-256 in plain hash mode."""
    return blake3.blake3(data).digest()


def kdf(context: str, data: bytes) -> bytes:
    """SPEC's KDF(ctx, x): BLAKE3-256 in derive-key mode."""
    return blake3.blake3(data, derive_key_context=context).digest()


def chain_id_for_key(public_key: bytes) -> bytes:
    """First 16 bytes of KDF(chain id ctx, key), over the key bytes as written."""
    return kdf(CHAIN_ID_CONTEXT, bytes(public_key))[:16]


def commitment(salt: bytes, payload: bytes) -> bytes:
    return kdf(COMMIT_CONTEXT, bytes(salt) + bytes(payload))


def header(chain_id: bytes, seq: int, time_ms: int, kind: int, prev: bytes, commit: bytes) -> bytes:
    """The 98-byte record header; raises ValueError on any field of the wrong size."""
    if len(chain_id) != 16 or len(prev) != 32 or len(commit) != 32:
        raise ValueError("chain_id must be 16 bytes, prev and commit 32")
    if not (0 <= seq <= U64_MAX and I64_MIN <= time_ms <= I64_MAX and 0 <= kind <= 255):
        raise ValueError("seq, time_ms or kind out of range")
    return (
        b"\x01"
        + bytes(chain_id)
        + seq.to_bytes(8, "big")
        + time_ms.to_bytes(8, "big", signed=True)
        + bytes([kind])
        + bytes(prev)
        + bytes(commit)
    )


def link(record_header: bytes) -> bytes:
    return kdf(LINK_CONTEXT, bytes(record_header))


def checkpoint_digest(log_id: bytes, tree_size: int, root: bytes) -> bytes:
    return kdf(CHECKPOINT_CONTEXT, bytes(log_id) + tree_size.to_bytes(8, "big") + bytes(root))


# --------------------------------------------------------------------------
# Merkle tree: RFC 9162 section 2.1, HASH = H, written as the RFC's recursive
# definitions over the list of links (the leaves are H(0x00 || link)).
# --------------------------------------------------------------------------


def leaf_hash(leaf_link: bytes) -> bytes:
    return h(b"\x00" + bytes(leaf_link))


def node_hash(left: bytes, right: bytes) -> bytes:
    return h(b"\x01" + left + right)


def _split(n: int) -> int:
    """Largest power of two strictly smaller than n (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def merkle_root(links: list[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 section 2.1.1."""
    n = len(links)
    if n == 0:
        return h(b"")
    if n == 1:
        return leaf_hash(links[0])
    k = _split(n)
    return node_hash(merkle_root(links[:k]), merkle_root(links[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    # PATH(m, D[n]) of RFC 9162 section 2.1.3.1.
    n = len(leaves)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*_path(m, leaves[:k]), merkle_root(leaves[k:])]
    return [*_path(m - k, leaves[k:]), merkle_root(leaves[:k])]


def inclusion_proof(links: list[bytes], leaf_index: int, tree_size: int) -> list[bytes]:
    """Audit path of leaf ``leaf_index`` in the tree of the first ``tree_size``."""
    if not 0 <= leaf_index < tree_size <= len(links):
        raise ValueError("need 0 <= leaf_index < tree_size <= len(links)")
    return _path(leaf_index, links[:tree_size])


def verify_inclusion(
    leaf: bytes, leaf_index: int, tree_size: int, path: list[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2, step by step. ``leaf`` is the leaf *hash*.

    Deliberately the RFC algorithm rather than "rebuild and compare": it
    accepts some proofs for a wrong tree_size with the same path shape (see
    merkle.json, leaf 10 of size 18), and the Rust engine must do the same.
    """
    if leaf_index >= tree_size:
        return False
    fn, sn = leaf_index, tree_size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def _subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    # SUBPROOF(m, D[n], b) of RFC 9162 section 2.1.4.1.
    n = len(leaves)
    if m == n:
        return [] if complete else [merkle_root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), merkle_root(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), merkle_root(leaves[:k])]


def consistency_proof(links: list[bytes], m: int, n: int) -> list[bytes]:
    """PROOF(m, D[n]); for m = n and m = 0 the empty path (SPEC section 2)."""
    if not 0 <= m <= n <= len(links):
        raise ValueError("need 0 <= m <= n <= len(links)")
    if m in (0, n):
        return []
    return _subproof(m, links[:n], True)


def verify_consistency(
    first: int, second: int, first_hash: bytes, second_hash: bytes, path: list[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2 for 0 < first < second, SPEC conventions otherwise."""
    if first < 0 or second < 0 or first > second:
        return False
    if first == second:
        # Reading: for first = second = 0 both SPEC conventions apply (equal
        # roots AND first root H("")). It never matters in an audit, where
        # the second root always rebuilds, i.e. is H("") for size 0.
        return not path and first_hash == second_hash and (first != 0 or first_hash == h(b""))
    if first == 0:
        return not path and first_hash == h(b"")
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [first_hash, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn != 0 and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


# --------------------------------------------------------------------------
# Field shape checks
# --------------------------------------------------------------------------


def _is_bytes(value: object, size: int | None = None) -> TypeGuard[bytes | bytearray]:
    if not isinstance(value, (bytes, bytearray)):
        return False
    return size is None or len(value) == size


def _is_int(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _has_log_index(row: dict[str, Any]) -> bool:
    return _is_int(row.get("log_index"), 0, U64_MAX)


def _takes_part(row: dict[str, Any]) -> bool:
    """SPEC section 4: rows with right-sized chain_id, seq, prev and link take
    part in FORK / GAP / BROKEN_CHAIN, whatever their own verdict."""
    return (
        _is_bytes(row.get("chain_id"), 16)
        and _is_int(row.get("seq"), 0, U64_MAX)
        and _is_bytes(row.get("prev"), 32)
        and _is_bytes(row.get("link"), 32)
    )


def _is_usable_key(key: object) -> bool:
    if not _is_bytes(key, 32):
        return False
    return zip215.decodes(bytes(key)) and not zip215.is_small_order(bytes(key))


def _is_malformed(row: dict[str, Any]) -> bool:
    """Every MALFORMED condition of the SPEC section 4 table."""
    # Reading (lead engineer): a null in any of these fields is MALFORMED.
    # Reading (mine): a log_index that is null or not a u64 is MALFORMED too
    # (a wrong-size field); such a row claims no log position at all.
    # received_ms is never used by any rule, so it is not checked at all
    # (a null there is not a size error and has nothing to be verified).
    if not (
        _has_log_index(row)
        and _is_bytes(row.get("chain_id"), 16)
        and _is_int(row.get("seq"), 0, U64_MAX)
        and _is_int(row.get("time_ms"), I64_MIN, I64_MAX)
        and _is_int(row.get("kind"), 0, 255)
        and _is_bytes(row.get("prev"), 32)
        and _is_bytes(row.get("commit"), 32)
        and _is_bytes(row.get("link"), 32)
        and _is_bytes(row.get("signature"), 64)
    ):
        return True
    kind, salt, payload = row["kind"], row.get("salt"), row.get("payload")
    if kind not in (KIND_GENESIS, KIND_DATA, KIND_ROTATION):
        return True
    if (salt is None) != (payload is None):
        return True
    if salt is not None and not (_is_bytes(salt, 16) and _is_bytes(payload)):
        return True
    if kind in (KIND_GENESIS, KIND_ROTATION) and not _is_usable_key(payload):
        return True  # null, not 32 bytes, not a curve point, or small order
    if kind == KIND_GENESIS and row["seq"] != 0:
        return True
    # Derived over the 32 key bytes as written (chain_id.json): no re-encoding.
    return kind == KIND_GENESIS and bytes(row["chain_id"]) != chain_id_for_key(row["payload"])


def _link_ok(row: dict[str, Any]) -> bool:
    computed = header(
        row["chain_id"],
        row["seq"],
        row["time_ms"],
        row["kind"],
        row["prev"],
        row["commit"],
    )
    return link(computed) == bytes(row["link"])


def _commit_ok(row: dict[str, Any]) -> bool:
    """False only when payload and salt are present and don't match commit."""
    if row.get("payload") is None:
        return True
    return commitment(row["salt"], row["payload"]) == bytes(row["commit"])


# --------------------------------------------------------------------------
# The audit
# --------------------------------------------------------------------------


class _Chain:
    """Rows of one chain_id that take part, with the key schedule."""

    def __init__(self) -> None:
        self.rows_at: dict[int, list[int]] = {}  # seq -> row numbers (input order)
        self.genesis_key: bytes | None = None
        # (seq, log_index, new key) of every rotation whose link, commit and
        # signature verify.
        self.rotations: list[tuple[int, int, bytes]] = []

    def key_at(self, seq: int) -> bytes | None:
        """Key in force at ``seq`` (SPEC section 1.4)."""
        if seq == 0:
            # "below seq 0" is empty; SPEC's NO_GENESIS note ("BAD_SIGNATURE
            # never falls on seq 0") means the genesis verifies under its own
            # key. Every non-MALFORMED genesis of a chain has the same key:
            # chain_id is derived from its bytes.
            return self.genesis_key
        below = [r for r in self.rotations if r[0] < seq]
        if not below:
            return self.genesis_key
        top = max(r[0] for r in below)
        # A fork of rotations at one seq: the lowest log_index wins.
        return min(r for r in below if r[0] == top)[2]


def audit(
    records: list[dict[str, Any]], checkpoints: list[dict[str, Any]], log_id: bytes
) -> dict[str, Any]:
    malformed = [_is_malformed(row) for row in records]

    # ---- log positions --------------------------------------------------
    # Reading (lead engineer): every row with a log_index claims it,
    # MALFORMED or not, both for DUPLICATE_LOG_INDEX and for "holding" a
    # position in missing_log_positions.
    rows_at_position: dict[int, list[int]] = {}
    for i, row in enumerate(records):
        if _has_log_index(row):
            rows_at_position.setdefault(row["log_index"], []).append(i)

    link_ok = [not malformed[i] and _link_ok(row) for i, row in enumerate(records)]
    commit_ok = [not malformed[i] and _commit_ok(row) for i, row in enumerate(records)]

    # ---- chains ---------------------------------------------------------
    chains: dict[bytes, _Chain] = {}
    for i, row in enumerate(records):
        if _takes_part(row):
            chain = chains.setdefault(bytes(row["chain_id"]), _Chain())
            chain.rows_at.setdefault(row["seq"], []).append(i)

    def verifies(i: int, key: bytes | None) -> bool:
        return key is not None and zip215.verify(key, records[i]["link"], records[i]["signature"])

    # A valid genesis (NO_GENESIS row of the table): not MALFORMED (which
    # already covers kind 0 only at seq 0 and chain_id derived from the
    # payload), prev all zero, link and commit right, signed by its payload.
    has_valid_genesis: dict[bytes, bool] = {}
    for chain_id, chain in chains.items():
        has_valid_genesis[chain_id] = False
        for i in chain.rows_at.get(0, []):
            row = records[i]
            if malformed[i] or row["kind"] != KIND_GENESIS or not (link_ok[i] and commit_ok[i]):
                continue
            if not verifies(i, row["payload"]):
                continue
            # Reading (lead engineer): a genesis or rotation sets the key when
            # it is not MALFORMED and its link, commit and signature verify,
            # whatever else its verdict is (FORK, DUPLICATE_LOG_INDEX, ...).
            # The genesis key doesn't depend on prev: all non-MALFORMED
            # geneses of a chain carry the same key bytes.
            chain.genesis_key = bytes(row["payload"])
            if row["prev"] == ZERO32:
                has_valid_genesis[chain_id] = True

        # Rotations in increasing seq: each one's signature is checked under
        # the key in force at its own seq, which only depends on lower seqs.
        for seq in sorted(chain.rows_at):
            found = []
            for i in chain.rows_at[seq]:
                row = records[i]
                if (
                    malformed[i]
                    or row["kind"] != KIND_ROTATION
                    or not (link_ok[i] and commit_ok[i])
                ):
                    continue
                # seq 0 has no key below it, so a rotation there never verifies.
                if seq > 0 and verifies(i, chain.key_at(seq)):
                    found.append((seq, row["log_index"], bytes(row["payload"])))
            chain.rotations.extend(found)

    # ---- checkpoints ----------------------------------------------------
    log_id_ok = _is_usable_key(log_id)

    def validly_signed(cp: dict[str, Any]) -> bool:
        # BAD_CHECKPOINT_SIG also covers "a field of the wrong size".
        # Reading (mine): that includes a non-null tx_hash that is not 32
        # bytes and a non-null block_number that is not an i64 (both nullable
        # per SPEC section 3), and "validly signed" (for T and INCONSISTENT)
        # means exactly "not BAD_CHECKPOINT_SIG".
        if not (
            log_id_ok
            and _is_int(cp.get("tree_size"), 0, U64_MAX)
            and _is_bytes(cp.get("root"), 32)
            and _is_bytes(cp.get("signature"), 64)
            and (cp.get("tx_hash") is None or _is_bytes(cp.get("tx_hash"), 32))
            and (
                cp.get("block_number") is None or _is_int(cp.get("block_number"), I64_MIN, I64_MAX)
            )
        ):
            return False
        digest = checkpoint_digest(log_id, cp["tree_size"], cp["root"])
        return zip215.verify(log_id, digest, cp["signature"])

    signed = [validly_signed(cp) for cp in checkpoints]

    # Links of the longest prefix of positions that can be rebuilt: a
    # position needs at least one row, and all its rows must carry the same
    # 32-byte link. Reading (mine): a row whose link is not 32 bytes (null
    # or wrong size) makes its position impossible to rebuild.
    prefix: list[bytes] = []
    while len(prefix) in rows_at_position:
        position_links: set[bytes | None] = {
            bytes(records[i]["link"]) if _is_bytes(records[i].get("link"), 32) else None
            for i in rows_at_position[len(prefix)]
        }
        only = position_links.pop()
        if position_links or only is None:
            break  # rows whose links differ, or a link that is not 32 bytes
        prefix.append(only)

    def rebuilds(cp: dict[str, Any]) -> bool:
        size = cp["tree_size"]
        return size <= len(prefix) and merkle_root(prefix[:size]) == bytes(cp["root"])

    root_ok = [signed[j] and rebuilds(cp) for j, cp in enumerate(checkpoints)]

    checkpoint_verdicts: list[str] = []
    for j, cp in enumerate(checkpoints):
        if not signed[j]:
            checkpoint_verdicts.append(BAD_CHECKPOINT_SIG)
            continue
        if not root_ok[j]:
            checkpoint_verdicts.append(ROOT_MISMATCH)
            continue
        n = cp["tree_size"]
        consistent = True
        for other_j, other in enumerate(checkpoints):
            # Every *other* validly signed checkpoint of smaller or equal size,
            # whatever its own verdict (a ROOT_MISMATCH one included: that is
            # how truncate_checkpoint_root makes the later ones INCONSISTENT).
            if other_j == j or not signed[other_j] or other["tree_size"] > n:
                continue
            m = other["tree_size"]
            proof = consistency_proof(prefix, m, n)
            if not verify_consistency(m, n, other["root"], cp["root"], proof):
                consistent = False
        checkpoint_verdicts.append(OK if consistent else INCONSISTENT)

    # A checkpoint attests when its signature verifies and the stored links
    # rebuild its root; INCONSISTENT ones still attest.
    attested = max((cp["tree_size"] for j, cp in enumerate(checkpoints) if root_ok[j]), default=0)

    # ---- record verdicts, first applicable in table order ----------------
    def record_verdict(i: int) -> str:
        row = records[i]
        if malformed[i]:
            return MALFORMED
        if len(rows_at_position[row["log_index"]]) > 1:
            return DUPLICATE_LOG_INDEX
        if not link_ok[i]:
            return BAD_LINK
        if not commit_ok[i]:
            return BAD_COMMIT
        chain_id, seq = bytes(row["chain_id"]), row["seq"]
        chain = chains[chain_id]  # a non-MALFORMED row always takes part
        if not has_valid_genesis[chain_id]:
            return NO_GENESIS
        if len(chain.rows_at[seq]) > 1:
            return FORK
        if seq > 0 and seq - 1 not in chain.rows_at:
            return GAP
        # Where seq-1 is forked, a match with the link of any of its rows counts.
        prev_links = {bytes(records[k]["link"]) for k in chain.rows_at.get(seq - 1, [])}
        if bytes(row["prev"]) not in (prev_links if seq > 0 else {ZERO32}):
            return BROKEN_CHAIN
        if not verifies(i, chain.key_at(seq)):
            return BAD_SIGNATURE
        if row["log_index"] >= attested:
            return NOT_LOGGED
        return OK_REDACTED if row.get("payload") is None else OK

    record_verdicts = [record_verdict(i) for i in range(len(records))]

    # ---- missing positions below T ---------------------------------------
    # T may be as large as 2^64 - 1, so walk the held positions, not 0..T-1.
    top = max((cp["tree_size"] for j, cp in enumerate(checkpoints) if signed[j]), default=0)
    missing: list[list[int]] = []
    start = 0
    for position in sorted(p for p in rows_at_position if p < top):
        if position > start:
            missing.append([start, position])
        start = position + 1
    if start < top:
        missing.append([start, top])

    clean = (
        all(v in (OK, OK_REDACTED) for v in record_verdicts)
        and all(v == OK for v in checkpoint_verdicts)
        and not missing
    )
    return {
        "record_verdicts": record_verdicts,
        "checkpoint_verdicts": checkpoint_verdicts,
        "missing_log_positions": missing,
        "clean": clean,
    }
