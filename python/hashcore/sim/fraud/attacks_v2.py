"""The attacks v2 adds at the bundle level: on beacons and device clocks, on receipts and
notes the devices kept, on the log's tail, and on the anchors (those need an EVM chain).
Where the relay stays honest in an attack (a device cheats), the simulation plays the
relay: it logs the device's record, gives it a receipt and signs a checkpoint over it,
which the witnesses cosign and the device verifies."""

from __future__ import annotations

from ... import _core
from ...record import Kind
from .model import (
    BOGUS,
    MINUTE_MS,
    ORIGINAL,
    ROOT_OF,
    SIGNED,
    TAMPERED,
    ZERO32,
    Anchor,
    Ctx,
    Row,
    Skip,
    Tampered,
    all_witnesses_at,
    attack,
    forged_entry,
    largest_checkpoint,
    new_row,
    pick_chain,
    receipt_for,
    signed_checkpoint,
    signed_note,
    tampered_root,
    where_of,
)

__all__: list[str] = []

_NEEDS_EVM = "needs an EVM chain to write its anchors on (an anvil node: evm_url)"


def _device_record(
    ctx: Ctx,
    beacon: tuple[int, bytes],
    time_ms: int | None = None,
    chain_id: bytes | None = None,
) -> Row:
    """A new diary entry at the head of a chain (``chain_id``, or one picked) whose key the
    simulation holds, signed by that device, naming ``beacon``; logged after everything."""
    chain = ctx.base.chains[pick_chain(ctx) if chain_id is None else chain_id]
    head = ctx.base.rows[chain[-1]]
    fields = {} if time_ms is None else {"time_ms": time_ms}
    return ctx.appended_row(
        chain_id=head["chain_id"],
        seq=head["seq"] + 1,
        kind=Kind.DATA,
        prev=head["link"],
        payload=forged_entry(ctx, "device"),
        signer_seed=ctx.device_seed(head["chain_id"]),
        beacon=beacon,
        **fields,
    )


def _relay_logs(ctx: Ctx, row: Row, extra_notes: list[Row] | None = None) -> Tampered:
    """The honest relay logs ``row`` at the end, acknowledges it and signs a checkpoint
    over the new log, which every witness cosigns and the device verifies and keeps."""
    keys = ctx.need_keys("the relay's and the witnesses' keys")
    rows = [*ctx.rows(), row]
    size = len(rows)
    t_s = row["received_ms"] // 1000 + 1
    cp = signed_checkpoint(
        keys, size, tampered_root(rows, size), TAMPERED, all_witnesses_at(keys, t_s)
    )
    note = {k: v for k, v in cp.items() if k in ("note",) or k.startswith("_")}
    receipts = [*ctx.receipts(), receipt_for(keys.log_seed, row)]
    notes = [*ctx.notes(), *(extra_notes or []), note]
    target = {"record": where_of(row), "new_checkpoint_tree_size": size}
    return ctx.tampered(rows, [*ctx.checkpoints(), cp], target, receipts=receipts, notes=notes)


def _newest(ctx: Ctx) -> tuple[int, bytes]:
    size = max(ctx.base.checkpoint_sizes())
    return size, ctx.base.root_at(size)


@attack(
    "backdated-entry",
    "a device that has verified the newest checkpoint sets its clock back three days and makes "
    "an entry: the relay logs it honestly; TIME_BEFORE_BEACON on it (a finding: unclean with "
    "strict time), everything else clean (needs the device's key)",
)
def _backdated_entry(ctx: Ctx) -> Tampered:
    size, root = _newest(ctx)
    lower: int = ctx.base.rows[size - 1]["received_ms"]
    row = _device_record(ctx, (size, root), time_ms=lower - 3 * 86_400_000)
    return _relay_logs(ctx, row)


@attack(
    "forged-beacon",
    "a device names a log state the relay never signed (the newest tree size with an invented "
    "root) to look younger than it is; the relay logs it honestly: BAD_BEACON on it (needs the "
    "device's key)",
)
def _forged_beacon(ctx: Ctx) -> Tampered:
    size, _ = _newest(ctx)
    row = _device_record(ctx, (size, ctx.rng.randbytes(32)))
    row[ROOT_OF] = BOGUS
    return _relay_logs(ctx, row)


@attack(
    "beacon-beyond-its-position",
    "a device names a tree larger than the log was when its record was logged (a checkpoint "
    "that can't have existed yet, with an invented root): BAD_BEACON on it, though no attesting "
    "checkpoint reaches that size (decision 1: the log_index rule needs none) (needs the "
    "device's key)",
)
def _beacon_beyond_its_position(ctx: Ctx) -> Tampered:
    row = _device_record(ctx, (ctx.base.size + 5, ctx.rng.randbytes(32)))
    row[ROOT_OF] = BOGUS
    return _relay_logs(ctx, row)


@attack(
    "beacon-regressed",
    "a device names an older checkpoint than its previous record did (to widen the window a "
    "back-dated entry could hide in); the relay logs it honestly: BEACON_REGRESSED on it (a "
    "finding: unclean with strict time) (needs the device's key)",
)
def _beacon_regressed(ctx: Ctx) -> Tampered:
    heads = sorted(
        (lis[-1] for lis in ctx.base.chains.values() if ctx.base.rows[lis[-1]]["beacon_size"] > 0),
    )
    if not heads:
        raise Skip("no chain whose last record names a checkpoint")
    head = ctx.base.rows[ctx.rng.choice(heads)]
    older = [s for s in [0, *ctx.base.checkpoint_sizes()] if s < head["beacon_size"]]
    size = ctx.rng.choice(older)
    beacon = (size, ctx.base.root_at(size) if size else bytes(32))
    row = _device_record(ctx, beacon, chain_id=head["chain_id"])
    tampered = _relay_logs(ctx, row)
    tampered.target["previous_beacon_size"] = head["beacon_size"]
    return tampered


@attack(
    "split-view-to-one-device",
    "the relay shows one device (which does not check witnesses) a checkpoint of another "
    "history at the current size; the device names it in its next entry and keeps the note: "
    "that note EQUIVOCATION, the device's entry OK (not blamed), the rest clean (needs the log "
    "and device keys)",
)
def _split_view(ctx: Ctx) -> Tampered:
    keys = ctx.need_keys("the relay's log key")
    size, _ = _newest(ctx)
    # No witness cosigns a fork: the note carries the relay's line only.
    fork = signed_note(keys, size, ctx.rng.randbytes(32), BOGUS)
    row = _device_record(ctx, fork[SIGNED])
    row[ROOT_OF] = BOGUS
    tampered = _relay_logs(ctx, row, extra_notes=[fork])
    tampered.target["split_view_tree_size"] = size
    return tampered


@attack(
    "log-position-promised-twice",
    "the relay acknowledges two devices' records with the same log_index: RECEIPT_CONFLICT on "
    "both receipts, the rest clean (needs the log key)",
)
def _position_promised_twice(ctx: Ctx) -> Tampered:
    log_seed = ctx.need_log_seed()
    receipts = ctx.receipts()
    by_index = {r["log_index"]: i for i, r in enumerate(receipts)}
    rows = ctx.base.rows
    p = ctx.rng.randrange(ctx.base.size)
    others = [r for r in rows if r["chain_id"] != rows[p]["chain_id"]]
    if not others or p not in by_index:
        raise Skip("needs two chains and a receipt for the chosen position")
    victim = ctx.rng.choice(others)
    if victim["log_index"] not in by_index:
        raise Skip("no receipt for the second record")
    # The second device was promised position p for its record (which the log holds
    # elsewhere): two valid receipts, one position, two entries.
    receipts[by_index[victim["log_index"]]] = receipt_for(log_seed, victim, log_index=p)
    target = {"position": p, "holder": where_of(rows[p]), "also_promised": where_of(victim)}
    return ctx.tampered(ctx.rows(), ctx.checkpoints(), target, receipts=receipts)


def _tail_cut(ctx: Ctx) -> tuple[int, list[Row], list[Row]]:
    sizes = ctx.base.checkpoint_sizes()
    if len(sizes) < 2 or sizes[-2] == 0:
        raise Skip("needs two checkpoints of different, non-zero sizes")
    keep = sizes[-2]
    rows = ctx.rows()[:keep]
    cps = [c for c in ctx.checkpoints() if c["tree_size"] <= keep]
    return keep, rows, cps


@attack(
    "log-tail-cut-within-merge-delay",
    "the log cut back to an earlier checkpoint soon after (less than the merge delay): the cut "
    "records' receipts RECEIPT_PENDING, the devices' notes of the larger trees INCOMPLETE",
)
def _tail_cut_early(ctx: Ctx) -> Tampered:
    keep, rows, cps = _tail_cut(ctx)
    target = {"kept_tree_size": keep, "deleted_log_positions": [keep, ctx.base.size]}
    return ctx.tampered(rows, cps, target)


@attack(
    "log-tail-cut-past-merge-delay",
    "the log cut back to an earlier checkpoint, which the relay keeps showing the witnesses for "
    "longer than the merge delay (they cosign it again, later): the cut records' receipts "
    "RECEIPT_WITHHELD, the devices' notes of the larger trees INCOMPLETE (needs the witnesses' "
    "keys to play them)",
)
def _tail_cut_late(ctx: Ctx) -> Tampered:
    keys = ctx.need_keys("the relay's and the witnesses' keys")
    if not keys.witnesses:
        raise Skip("needs witnesses (their clocks set the deadline)")
    keep, rows, cps = _tail_cut(ctx)
    cut = ctx.base.rows[keep:]
    late_ms = max(r["received_ms"] for r in cut) + ctx.base.policy.max_merge_delay_ms
    j = largest_checkpoint(cps)
    old = cps[j]
    # The same checkpoint, cosigned again by every witness once the deadline has passed.
    cps[j] = signed_checkpoint(
        keys, old["tree_size"], old["root"], old[ROOT_OF], all_witnesses_at(keys, late_ms // 1000)
    )
    target = {
        "kept_tree_size": keep,
        "deleted_log_positions": [keep, ctx.base.size],
        "witnessed_again_at_ms": late_ms,
    }
    return ctx.tampered(rows, cps, target)


def _anchors_of(ctx: Ctx, *, by_anchorer: bool) -> list[Anchor]:
    """An anchor of every checkpoint of the clean log, final."""
    return [
        Anchor(s, ctx.base.root_at(s), ORIGINAL, by_anchorer, True)
        for s in ctx.base.checkpoint_sizes()
    ]


@attack(
    "export-cut-before-final-anchor",
    "the relay exports its log cut back to an earlier checkpoint after anchoring the full one; "
    "the evidence handed in predates the cut (no receipt or note beyond it): INCOMPLETE by the "
    "final anchor on chain",
    needs_evm=_NEEDS_EVM,
)
def _export_cut_before_final_anchor(ctx: Ctx) -> Tampered:
    keep, rows, cps = _tail_cut(ctx)
    receipts = [r for r in ctx.receipts() if r["log_index"] < keep]
    notes = [n for n in ctx.notes() if n[SIGNED] is None or n[SIGNED][0] <= keep]
    target = {"kept_tree_size": keep, "final_anchor_tree_size": ctx.base.size}
    anchors = _anchors_of(ctx, by_anchorer=True)
    return ctx.tampered(rows, cps, target, receipts=receipts, notes=notes, anchors=anchors)


@attack(
    "relay-identity-squatted",
    "another sender anchored the relay's log_id on the contract first, so the relay's own "
    "anchorer can't: every checkpoint NOT_ANCHORED (the squatter's anchors don't count)",
    needs_evm=_NEEDS_EVM,
)
def _relay_identity_squatted(ctx: Ctx) -> Tampered:
    target = {"squatted_log_id": ctx.base.policy.log_key.hex()}
    anchors = _anchors_of(ctx, by_anchorer=False)
    return ctx.tampered(ctx.rows(), ctx.checkpoints(), target, anchors=anchors)


@attack(
    "log-resigned-against-its-anchors",
    "the relay swaps the log's newest entry (a participant's last diary entry) for a record of "
    "its own (a new chain's genesis, validly signed), re-signs the last checkpoint and has it "
    "cosigned by witnesses it controls (all of them: more than the SPEC's q - 1 faulty); the "
    "evidence handed in predates that checkpoint and holds none of the victim's receipts. The "
    "bundle, witnesses and evidence all agree: only the anchor on chain contradicts it: "
    "ANCHOR_CONTRADICTED, that checkpoint NOT_ANCHORED (needs the log and witness keys)",
    needs_evm=_NEEDS_EVM,
)
def _log_resigned_against_its_anchors(ctx: Ctx) -> Tampered:
    keys = ctx.need_keys("the relay's and the witnesses' keys")
    size = ctx.base.size
    rows = ctx.rows()
    victim = rows[size - 1]  # the newest entry: its chain's head, nothing points at it
    seed = ctx.fresh_seed()
    key = _core.public_key_from_seed(seed)
    rows[size - 1] = new_row(
        chain_id=_core.chain_id_for_key(key),
        seq=0,
        kind=Kind.GENESIS,
        prev=ZERO32,
        payload=key,
        time_ms=victim["received_ms"] - MINUTE_MS,
        signer_seed=seed,
        salt=ctx.rng.randbytes(16),
        log_index=size - 1,
        received_ms=victim["received_ms"],
        beacon_size=0,
        beacon_root=ZERO32,
    )
    t_s = victim["received_ms"] // 1000 + 1
    root = tampered_root(rows, size)
    witnessed = all_witnesses_at(keys, t_s)
    cps = [
        signed_checkpoint(keys, size, root, TAMPERED, witnessed) if c["tree_size"] == size else c
        for c in ctx.checkpoints()
    ]
    receipts = [
        r
        for r in ctx.receipts()
        if r["chain_id"] != victim["chain_id"] and r["log_index"] < size - 1
    ]
    notes = [n for n in ctx.notes() if n[SIGNED] is None or n[SIGNED][0] < size]
    target = {"replaced": where_of(victim), "by": where_of(rows[size - 1])}
    anchors = _anchors_of(ctx, by_anchorer=True)
    return ctx.tampered(rows, cps, target, receipts=receipts, notes=notes, anchors=anchors)
