"""Every v1 attack re-derived for v2, one function each, registered in run order with
``@attack``: what each does to which rows, and the verdict it states for the rows it
changed (the skeleton is in :mod:`.model`). The log, checkpoint, receipt, note and time
consequences follow from what the attack touched (:mod:`.expect`); the descriptions say
what they come to. The v2 bundle-level attacks are in :mod:`.attacks_v2`."""

from __future__ import annotations

from ... import _core
from ...record import ZERO_LINK, Kind
from .model import (
    BAD_COMMIT,
    BAD_LINK,
    BAD_SIGNATURE,
    BOGUS,
    BROKEN_CHAIN,
    DUPLICATE_LOG_INDEX,
    EXPECT,
    FORK,
    GAP,
    MALFORMED,
    NO_GENESIS,
    ROW_MATCHES,
    SIGNED,
    TAMPERED,
    WITNESS_TIMES,
    Ctx,
    Row,
    Skip,
    Tampered,
    attack,
    edited_payload,
    forge_in_place,
    forged_entry,
    largest_checkpoint,
    non_last_checkpoint,
    pick_chain,
    pick_chain_head,
    pick_data_run,
    signed_checkpoint,
    tampered_root,
    where_of,
)

__all__: list[str] = []

_LOG_BREAKS = (
    "ROOT_MISMATCH on every checkpoint covering it, NOT_LOGGED from the largest checkpoint "
    "below it on, the receipts of those records PENDING or WITHHELD and the devices' notes "
    "of the larger trees EQUIVOCATION"
)


@attack(
    "payload-edited",
    "a diary entry's payload edited, commit kept: BAD_COMMIT on it, nothing else",
)
def _payload_edited(ctx: Ctx) -> Tampered:
    rows = ctx.rows()
    li = pick_data_run(ctx, 2)
    rows[li]["payload"] = edited_payload(rows[li]["payload"])
    # Commit, link and signature are untouched: only the commitment check sees it.
    rows[li][EXPECT] = BAD_COMMIT
    return ctx.tampered(rows, ctx.checkpoints(), {"edited": where_of(rows[li])})


@attack(
    "payload-and-commit-edited",
    "payload edited and commit recomputed, stored link kept: BAD_LINK on it; chain and log use the "
    "stored link, so nothing follows",
)
def _payload_and_commit_edited(ctx: Ctx) -> Tampered:
    rows = ctx.rows()
    li = pick_data_run(ctx, 2)
    row = rows[li]
    row["payload"] = edited_payload(row["payload"])
    row["commit"] = _core.commitment(row["salt"], row["payload"])
    # The stored link no longer hashes the header: BAD_LINK. Chain and log rules use
    # the *stored* link, which is unchanged, so nothing follows from it.
    row[EXPECT] = BAD_LINK
    return ctx.tampered(rows, ctx.checkpoints(), {"edited": where_of(row)})


@attack(
    "relay-forged-record",
    "a record rewritten with commit and link recomputed but no device key: BAD_SIGNATURE on it, "
    f"BROKEN_CHAIN on its successor, {_LOG_BREAKS}",
)
def _relay_forged_record(ctx: Ctx) -> Tampered:
    rows, li, succ = forge_in_place(ctx)
    target = {"rewritten": where_of(rows[li]), "successor": where_of(rows[succ])}
    return ctx.tampered(rows, ctx.checkpoints(), target)


@attack(
    "record-deleted",
    f"a diary entry deleted: GAP on its successor, its position missing, {_LOG_BREAKS}",
)
def _record_deleted(ctx: Ctx) -> Tampered:
    rows = ctx.rows()
    li = pick_data_run(ctx, 2)
    succ = ctx.base.successor(li)
    rows[succ][EXPECT] = GAP
    target = {"deleted": where_of(rows[li]), "successor": where_of(rows[succ])}
    del rows[li]
    return ctx.tampered(rows, ctx.checkpoints(), target)


@attack(
    "forged-record-inserted",
    "a record signed with a new key appended to a chain (correctly linked, logged at the end): "
    "BAD_SIGNATURE",
)
def _forged_record_inserted(ctx: Ctx) -> Tampered:
    rows = ctx.rows()
    chain = ctx.base.chains[pick_chain(ctx)]
    last = rows[chain[-1]]
    forged = ctx.appended_row(
        chain_id=last["chain_id"],
        seq=last["seq"] + 1,
        kind=Kind.DATA,
        prev=last["link"],
        payload=forged_entry(ctx, "inserted"),
        signer_seed=ctx.fresh_seed(),
    )
    # Correctly linked onto the chain's head, but not under the chain's key.
    forged[EXPECT] = BAD_SIGNATURE
    rows.append(forged)
    return ctx.tampered(rows, ctx.checkpoints(), {"inserted": where_of(forged)})


@attack(
    "record-replayed",
    "an existing record duplicated at a new log position: FORK on both copies",
)
def _record_replayed(ctx: Ctx) -> Tampered:
    rows = ctx.rows()
    li = pick_data_run(ctx, 2)
    received = ctx.latest_received_ms() + 60_000
    copy = dict(rows[li], log_index=ctx.base.size, received_ms=received)
    # Identical rows are still distinct records: a replayed copy is a fork (SPEC 5.1).
    rows[li][EXPECT] = FORK
    copy[EXPECT] = FORK
    rows.append(copy)
    target = {"original": where_of(rows[li]), "copy": where_of(copy)}
    return ctx.tampered(rows, ctx.checkpoints(), target)


@attack(
    "records-swapped",
    "two consecutive entries of a chain exchange log position and seq: BAD_LINK on both, "
    "BROKEN_CHAIN on the next, and the log breaks at the earlier position",
)
def _records_swapped(ctx: Ctx) -> Tampered:
    rows = ctx.rows()
    a = pick_data_run(ctx, 3)
    b = ctx.base.successor(a)
    c = ctx.base.successor(b)
    first, second = rows[a], rows[b]
    # The two rows exchange (log_index, seq): the later entry now claims to come first,
    # in the chain and in the log. Each keeps its own prev, commit, link, signature and
    # received_ms (so both log entries change).
    first["log_index"], second["log_index"] = b, a
    first["seq"], second["seq"] = second["seq"], first["seq"]
    first[EXPECT] = BAD_LINK  # seq is in the header
    second[EXPECT] = BAD_LINK
    # The next record's prev is the link of the entry that was at seq+1; the row now at
    # seq+1 is the other entry, whose stored link differs.
    rows[c][EXPECT] = BROKEN_CHAIN
    target = {"swapped": [where_of(first), where_of(second)], "successor": where_of(rows[c])}
    return ctx.tampered(rows, ctx.checkpoints(), target)


@attack(
    "device-impersonation",
    "an impostor continues another device's chain: a rotation to its own key and two entries, all "
    "signed with its key: BAD_SIGNATURE on all three",
)
def _device_impersonation(ctx: Ctx) -> Tampered:
    rows = ctx.rows()
    chain = ctx.base.chains[pick_chain(ctx)]
    head = rows[chain[-1]]
    impostor = ctx.fresh_seed()
    impostor_pk = _core.public_key_from_seed(impostor)
    # First a key rotation to its own key (signed by itself, since it lacks the victim's),
    # then diary entries under it.
    kinds = (Kind.ROTATION, Kind.DATA, Kind.DATA)
    forged: list[Row] = []
    prev = head["link"]
    for k, kind in enumerate(kinds):
        row = ctx.appended_row(
            chain_id=head["chain_id"],
            seq=head["seq"] + 1 + k,
            kind=kind,
            prev=prev,
            payload=impostor_pk if kind == Kind.ROTATION else forged_entry(ctx, "impostor"),
            signer_seed=impostor,
            k=k,
        )
        # The rotation doesn't verify under the victim's key, so it sets no key, and
        # the victim's key stays in force for the data records after it.
        row[EXPECT] = BAD_SIGNATURE
        forged.append(row)
        prev = row["link"]
    rows.extend(forged)
    return ctx.tampered(rows, ctx.checkpoints(), {"forged": [where_of(r) for r in forged]})


@attack(
    "chain-ids-swapped",
    "two chains exchange their chain_id on every record: MALFORMED geneses, BAD_LINK on every "
    "other record of both",
)
def _chain_ids_swapped(ctx: Ctx) -> Tampered:
    rows = ctx.rows()
    x = pick_chain(ctx, 1)
    y = pick_chain(ctx, 1, exclude=[x])
    swap = {x: y, y: x}
    for li in ctx.base.chains[x] + ctx.base.chains[y]:
        row = rows[li]
        row["chain_id"] = swap[row["chain_id"]]
        # A genesis' chain_id must derive from its key: MALFORMED. Every other record's
        # header changed under its stored link: BAD_LINK. The stored links (the log) and
        # so the checkpoints are untouched; receipts don't sign chain_id.
        row[EXPECT] = MALFORMED if row["seq"] == 0 else BAD_LINK
    return ctx.tampered(rows, ctx.checkpoints(), {"chains": [x.hex(), y.hex()]})


@attack(
    "checkpoint-root-altered",
    "an earlier checkpoint row's root altered, its note kept: BAD_CHECKPOINT_SIG (the row is not "
    "what the note signs); the note still attests what it signs (decision 2), so the records "
    "and receipts stay OK",
)
def _checkpoint_root_altered(ctx: Ctx) -> Tampered:
    cps = ctx.checkpoints()
    j = non_last_checkpoint(ctx, cps)
    root = bytearray(cps[j]["root"])
    root[ctx.rng.randrange(32)] ^= 1 << ctx.rng.randrange(8)
    # The note (what the relay signed) is untouched: its body still counts (decision 2).
    cps[j].update(root=bytes(root), **{ROW_MATCHES: False})
    return ctx.tampered(ctx.rows(), cps, {"checkpoint_tree_size": cps[j]["tree_size"]})


@attack(
    "checkpoint-signature-forged",
    "the largest checkpoint's note signed by a key that is not the relay's: BAD_CHECKPOINT_SIG, "
    "the records only it covered NOT_LOGGED (their receipts PENDING or WITHHELD), and the "
    "devices' notes of that tree INCOMPLETE",
)
def _checkpoint_signature_forged(ctx: Ctx) -> Tampered:
    cps = ctx.checkpoints()
    j = largest_checkpoint(cps)
    cp = cps[j]
    origin = ctx.base.policy.origin
    cp["note"] = _core.note_sign(ctx.fresh_seed(), origin, cp["tree_size"], cp["root"])
    # No line by the trusted key: not signed, and no witness line came with it.
    cp.update(**{SIGNED: None, WITNESS_TIMES: {}})
    return ctx.tampered(ctx.rows(), cps, {"checkpoint_tree_size": cp["tree_size"]})


@attack(
    "history-rewritten-after-checkpoint",
    "the relay rewrites a checkpointed record and signs a new checkpoint over the rewritten log, "
    "which no witness cosigns (old checkpoints kept): BAD_SIGNATURE, BROKEN_CHAIN, ROOT_MISMATCH "
    "on the old checkpoints covering it, INCONSISTENT on the new one, the receipts from it on "
    "CONTRADICTED, the devices' notes of the larger trees EQUIVOCATION (needs the log key)",
)
def _history_rewritten(ctx: Ctx) -> Tampered:
    keys = ctx.need_keys("the relay's log key")
    rows, li, succ = forge_in_place(ctx)
    size = ctx.base.size
    # The relay signs the rewritten log at its current size; the old checkpoints stay
    # (they were published), and they no longer rebuild. Witnesses refuse the new one:
    # it is not consistent with what they cosigned.
    new = signed_checkpoint(keys, size, tampered_root(rows, size), TAMPERED)
    target = {
        "rewritten": where_of(rows[li]),
        "successor": where_of(rows[succ]),
        "new_checkpoint_tree_size": size,
    }
    return ctx.tampered(rows, [*ctx.checkpoints(), new], target)


@attack(
    "payload-erased",
    "right to erasure on a diary entry (payload and salt removed): OK_REDACTED, clean",
)
def _payload_erased(ctx: Ctx) -> Tampered:
    rows = ctx.rows()
    li = pick_data_run(ctx, 2)
    rows[li]["payload"] = rows[li]["salt"] = None  # right to erasure: OK_REDACTED
    return ctx.tampered(rows, ctx.checkpoints(), {"erased": where_of(rows[li])})


@attack(
    "genesis-payload-erased",
    "a genesis' payload and salt removed: MALFORMED, NO_GENESIS on the rest of its chain",
)
def _genesis_payload_erased(ctx: Ctx) -> Tampered:
    rows = ctx.rows()
    chain = ctx.base.chains[pick_chain(ctx)]
    genesis = rows[chain[0]]
    genesis["payload"] = genesis["salt"] = None
    # A genesis with a null payload is MALFORMED and opens no chain: every other
    # record of the chain is NO_GENESIS. Links are unchanged, so the log is intact.
    genesis[EXPECT] = MALFORMED
    for li in chain[1:]:
        rows[li][EXPECT] = NO_GENESIS
    return ctx.tampered(rows, ctx.checkpoints(), {"erased": where_of(genesis)})


@attack(
    "record-deleted-log-compacted",
    "a diary entry deleted and later log positions shifted down to hide the hole: GAP on its "
    f"successor, the last position missing, the log broken from the deletion on: {_LOG_BREAKS}",
)
def _record_deleted_compacted(ctx: Ctx) -> Tampered:
    rows = ctx.rows()
    li = pick_data_run(ctx, 2)
    succ = ctx.base.successor(li)
    rows[succ][EXPECT] = GAP
    target = {"deleted": where_of(rows[li]), "successor": where_of(rows[succ])}
    del rows[li]
    # Close the hole: every later record moves down one position, so the log has no
    # missing position below the end, but every leaf from li on has changed.
    for row in rows[li:]:
        row["log_index"] -= 1
    return ctx.tampered(rows, ctx.checkpoints(), target)


@attack(
    "forged-record-forked",
    "a record signed with a new key at the seq of an existing entry: FORK on both",
)
def _forged_record_forked(ctx: Ctx) -> Tampered:
    rows = ctx.rows()
    li = pick_data_run(ctx, 2)
    original = rows[li]
    forged = ctx.appended_row(
        chain_id=original["chain_id"],
        seq=original["seq"],
        kind=Kind.DATA,
        prev=original["prev"],
        payload=forged_entry(ctx, "forked"),
        signer_seed=ctx.fresh_seed(),
        beacon=(original["beacon_size"], original["beacon_root"]),
    )
    # FORK comes before BAD_SIGNATURE, and the genuine record is forked too. Its
    # successor's prev matches one of the forked rows, which SPEC 5.1 accepts.
    forged[EXPECT] = FORK
    original[EXPECT] = FORK
    rows.append(forged)
    target = {"forked": where_of(original), "forged": where_of(forged)}
    return ctx.tampered(rows, ctx.checkpoints(), target)


@attack(
    "genesis-forged",
    "a genesis with an impostor's key claiming an existing chain_id: MALFORMED, and the genuine "
    "genesis is FORK (a MALFORMED row still takes part in FORK)",
)
def _genesis_forged(ctx: Ctx) -> Tampered:
    rows = ctx.rows()
    chain = ctx.base.chains[pick_chain(ctx)]
    genesis = rows[chain[0]]
    impostor = ctx.fresh_seed()
    forged = ctx.appended_row(
        chain_id=genesis["chain_id"],
        seq=0,
        kind=Kind.GENESIS,
        prev=ZERO_LINK,
        payload=_core.public_key_from_seed(impostor),
        signer_seed=impostor,
        beacon=(0, bytes(32)),
    )
    # The chain_id is not derived from the impostor's key: MALFORMED, so it opens no
    # chain. But it still takes part in FORK (SPEC 5.1: whatever its own verdict), so the
    # genuine genesis is FORK. Seq 1 matches the genuine genesis' link: OK.
    forged[EXPECT] = MALFORMED
    genesis[EXPECT] = FORK
    rows.append(forged)
    target = {"forged": where_of(forged), "genesis": where_of(genesis)}
    return ctx.tampered(rows, ctx.checkpoints(), target)


@attack(
    "log-index-duplicated",
    "a later record moved onto an earlier record's log position: DUPLICATE_LOG_INDEX on both, its "
    "own position missing, the log broken from the earlier position on",
)
def _log_index_duplicated(ctx: Ctx) -> Tampered:
    rows = ctx.rows()
    p = pick_data_run(ctx, 2)
    if p + 1 >= ctx.base.size:
        raise Skip("no later record to move")
    q = ctx.rng.randrange(p + 1, ctx.base.size)
    rows[q]["log_index"] = p
    # Two rows at p (DUPLICATE_LOG_INDEX, both), position q holds none: p can't be
    # rebuilt and q is missing.
    rows[p][EXPECT] = DUPLICATE_LOG_INDEX
    rows[q][EXPECT] = DUPLICATE_LOG_INDEX
    target = {"moved": where_of(rows[q]), "from_log_index": q, "onto": where_of(rows[p])}
    return ctx.tampered(rows, ctx.checkpoints(), target)


@attack(
    "checkpoint-false-root-signed",
    "the relay signs an invented root for an earlier checkpoint (no witness cosigns it): "
    "ROOT_MISMATCH on it, INCONSISTENT on every larger checkpoint, the devices' note of that "
    "tree EQUIVOCATION; records stay attested (needs the log key)",
)
def _checkpoint_false_root_signed(ctx: Ctx) -> Tampered:
    keys = ctx.need_keys("the relay's log key")
    cps = ctx.checkpoints()
    j = non_last_checkpoint(ctx, cps)
    size = cps[j]["tree_size"]
    cps[j] = signed_checkpoint(keys, size, ctx.rng.randbytes(32), BOGUS)
    return ctx.tampered(ctx.rows(), cps, {"checkpoint_tree_size": size})


@attack(
    "checkpoint-withheld",
    "the largest checkpoint left out of the bundle: the records only it covered NOT_LOGGED, "
    "their receipts PENDING or WITHHELD, and the devices' notes of that tree INCOMPLETE",
)
def _checkpoint_withheld(ctx: Ctx) -> Tampered:
    cps = ctx.checkpoints()
    dropped = cps.pop(largest_checkpoint(cps))
    target = {"dropped_checkpoint_tree_size": dropped["tree_size"]}
    return ctx.tampered(ctx.rows(), cps, target)


@attack(
    "received-time-edited",
    "a record's relay receive time moved to an hour before the device made it: the log entry "
    f"binds received_ms, so it is a changed entry: {_LOG_BREAKS}; and the record's own window "
    "(its beacon names a checkpoint below it, which still attests) gives TIME_AFTER_RECEIPT",
)
def _received_time_edited(ctx: Ctx) -> Tampered:
    rows = ctx.rows()
    li = pick_data_run(ctx, 2)
    skew = ctx.base.policy.max_clock_skew_ms
    rows[li]["received_ms"] = rows[li]["time_ms"] - skew - 3_600_000
    return ctx.tampered(rows, ctx.checkpoints(), {"edited": where_of(rows[li])})


@attack(
    "chain-head-deleted-log-resigned",
    "the relay deletes a chain's latest record, closes the hole and re-signs every checkpoint "
    "over the new log (witnesses refuse to cosign a rewritten history): UNWITNESSED checkpoints, "
    "the participant's receipts from the deleted position on CONTRADICTED, the devices' notes "
    "EQUIVOCATION and INCOMPLETE (needs the log key)",
)
def _chain_head_deleted_log_resigned(ctx: Ctx) -> Tampered:
    keys = ctx.need_keys("the relay's log key")
    rows = ctx.rows()
    li = pick_chain_head(ctx)
    target = {"deleted": where_of(rows[li])}
    del rows[li]
    for row in rows[li:]:
        row["log_index"] -= 1
    # Nothing in the chain points at a chain's last record, so nothing in the records
    # shows the loss; the receipts the devices kept do. The checkpoints below the deleted
    # position are unchanged (same body, so the witnesses' lines still verify); the later
    # ones are re-signed, and no witness cosigns a history that contradicts its own.
    cps = [c for c in ctx.checkpoints() if c["tree_size"] <= li]
    sizes = sorted({min(s, len(rows)) for s in ctx.base.checkpoint_sizes() if s > li})
    cps += [signed_checkpoint(keys, s, tampered_root(rows, s), TAMPERED) for s in sizes]
    return ctx.tampered(rows, cps, target)
