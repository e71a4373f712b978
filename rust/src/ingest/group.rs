//! The relay's hot path for a group of `SubmitRequest`s: the leading batches that pass
//! every v2 ingest check outright (new records only, continuing their chains' heads,
//! linked, committed, signed, beacons the relay signed, times in the window) are accepted
//! here, with their log positions, receive time and receipts, in one call without Python.
//!
//! Anything else stops the fast path at that batch: it and every batch after it go to the
//! relay's Python checker (`hashcore.relay.sequencing`), which words each refusal, keeps
//! fork evidence and acknowledges resent records. So no refusal is worded twice, and a
//! batch this module accepts is exactly one the Python checker would accept with the same
//! acks (same links, positions, time and receipt signatures).

use std::collections::HashMap;

use super::wire::{Record, SubmitRequest};
use super::{check, Submission};
use crate::protocol::{ChainId, Hash, CHAIN_ID_LEN, KEY_LEN, SALT_LEN, SIGNATURE_LEN};
use crate::protocol::{COMMIT_LEN, LINK_LEN};
use crate::v2::entry::{entry, ENTRY_LEN};
use crate::v2::receipt;

const KIND_DATA: u32 = 1;
const KIND_ROTATION: u32 = 2;
/// The largest seq the stores can hold (a signed 64-bit column).
const MAX_SEQ: u64 = i64::MAX as u64;

/// A chain's head before the group (committed, or in a group still in flight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub link: Hash,
    pub key: [u8; KEY_LEN],
}

/// The relay's request limits and clock window for this group.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_records_per_batch: usize,
    pub max_payload_bytes: usize,
    /// time_ms of a new record must lie in `[low_ms, high_ms]`.
    pub low_ms: i64,
    pub high_ms: i64,
}

/// What the group's state is judged against.
pub struct Context<'a> {
    pub heads: &'a HashMap<ChainId, Head>,
    /// tree_size -> root of the checkpoints the relay signed that beacons name.
    pub signed: &'a HashMap<u64, Hash>,
    pub limits: Limits,
    /// The log position of the group's first record.
    pub first_index: u64,
    pub received_ms: i64,
    pub log_seed: &'a [u8; 32],
}

/// The accepted leading batches of a group, in log order.
#[derive(Debug, Default)]
pub struct Block {
    pub first_index: u64,
    pub received_ms: i64,
    pub records: Vec<Record>,
    pub links: Vec<Hash>,
    pub receipts: Vec<[u8; 64]>,
    /// Per accepted batch: its batch_id and the end of its records in `records`.
    pub batch_ids: Vec<u64>,
    pub batch_ends: Vec<usize>,
    /// Each chain's head after the block, in order of first appearance.
    pub heads: Vec<(ChainId, Head)>,
}

impl Block {
    pub fn accepted(&self) -> usize {
        self.batch_ids.len()
    }

    /// Log index after the block's last record.
    pub fn next_index(&self) -> u64 {
        self.first_index + self.records.len() as u64
    }

    /// The SPEC v2 2.1 entries of the block's records, concatenated.
    pub fn entries(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.links.len() * ENTRY_LEN);
        for link in &self.links {
            out.extend_from_slice(&entry(link, self.received_ms));
        }
        out
    }
}

/// A chain's key in force for its next record, and its head seq (staged or before).
type KeyAndSeq = ([u8; KEY_LEN], u64);
/// A chain's head after a planned batch: (chain, last seq, key for the next record).
type Staged = (ChainId, u64, [u8; KEY_LEN]);

/// One batch's plan: its records by chain (in order of first appearance) and the key each
/// record must be signed with.
struct Plan {
    chains: Vec<(ChainId, Vec<usize>)>,
    keys: Vec<[u8; KEY_LEN]>,
}

fn shape_ok(r: &Record, limits: &Limits) -> bool {
    r.version == 2
        && r.chain_id.len() == CHAIN_ID_LEN
        && r.prev.len() == LINK_LEN
        && r.commit.len() == COMMIT_LEN
        && r.beacon_root.len() == LINK_LEN
        && (r.beacon_size != 0 || r.beacon_root.iter().all(|&b| b == 0))
        && r.salt.len() == SALT_LEN
        && r.signature.len() == SIGNATURE_LEN
        && (r.link.is_empty() || r.link.len() == LINK_LEN)
        && r.payload.len() <= limits.max_payload_bytes
        && (r.kind == KIND_DATA || r.kind == KIND_ROTATION)
        && r.seq <= MAX_SEQ
        && (limits.low_ms..=limits.high_ms).contains(&r.time_ms)
        // A rotation whose payload is no key is refused by the Python checker (BAD_KEY).
        && (r.kind != KIND_ROTATION || r.payload.len() == KEY_LEN)
}

/// Pass 1 of a batch (no hashing): shapes, times, every record new and continuing its
/// chain's head (`head_of`), beacons; None when any of it fails.
fn plan(
    req: &SubmitRequest,
    head_of: &dyn Fn(&ChainId) -> Option<KeyAndSeq>,
    ctx: &Context<'_>,
    first_index: u64,
) -> Option<(Plan, Vec<Staged>)> {
    let records = &req.records;
    let limits = &ctx.limits;
    if records.is_empty() || records.len() > limits.max_records_per_batch {
        return None;
    }
    if !records.iter().all(|r| shape_ok(r, limits)) {
        return None;
    }
    let mut chains: Vec<(ChainId, Vec<usize>)> = Vec::new();
    let mut at: HashMap<ChainId, usize> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        let id: ChainId = r.chain_id.as_slice().try_into().expect("shape checked");
        let slot = *at.entry(id).or_insert_with(|| {
            chains.push((id, Vec::new()));
            chains.len() - 1
        });
        chains[slot].1.push(i);
    }
    let mut keys = vec![[0u8; KEY_LEN]; records.len()];
    let mut next = Vec::with_capacity(chains.len());
    for (id, idx) in &chains {
        let (mut key, head_seq) = head_of(id)?;
        let first = records[idx[0]].seq;
        // Every record new: the first continues the head (a resent one is the Python
        // checker's), then consecutive seqs.
        if head_seq.checked_add(1) != Some(first) {
            return None;
        }
        for (j, &i) in idx.iter().enumerate() {
            if records[i].seq != first + j as u64 {
                return None;
            }
            keys[i] = key;
            if records[i].kind == KIND_ROTATION {
                key = records[i]
                    .payload
                    .as_slice()
                    .try_into()
                    .expect("shape checked");
            }
        }
        next.push((*id, records[*idx.last().expect("one a chain")].seq, key));
    }
    // SPEC v2 1.5: a beacon names a checkpoint this relay signed, older than the record.
    for (p, r) in records.iter().enumerate() {
        if r.beacon_size == 0 {
            continue;
        }
        let index = first_index + p as u64;
        if r.beacon_size > index
            || ctx.signed.get(&r.beacon_size).map(|h| &h[..]) != Some(&r.beacon_root[..])
        {
            return None;
        }
    }
    Some((Plan { chains, keys }, next))
}

fn submission<'a>(r: &'a Record, key: &'a [u8; KEY_LEN]) -> Submission<'a> {
    Submission {
        chain_id: r.chain_id.as_slice().try_into().expect("shape checked"),
        seq: r.seq,
        time_ms: r.time_ms,
        kind: r.kind as u8,
        prev: r.prev.as_slice().try_into().expect("shape checked"),
        commit: r.commit.as_slice().try_into().expect("shape checked"),
        beacon_size: r.beacon_size,
        beacon_root: r.beacon_root.as_slice().try_into().expect("shape checked"),
        salt: Some(&r.salt),
        payload: Some(&r.payload),
        signature: r.signature.as_slice().try_into().expect("shape checked"),
        key,
    }
}

/// Accept the leading batches of `batches` that pass outright (`None`: not a
/// SubmitRequest), taking their records out. Hashing, signature checks and receipts run
/// on the caller's rayon pool (call it inside `pool.install`).
pub fn accept_leading(batches: &mut [Option<SubmitRequest>], ctx: &Context<'_>) -> Block {
    // Pass 1, every batch planned as if the ones before it pass.
    let mut staged: HashMap<ChainId, KeyAndSeq> = HashMap::new();
    let mut plans: Vec<Plan> = Vec::new();
    let mut index = ctx.first_index;
    for req in batches.iter() {
        let Some(req) = req else { break };
        let head_of = |id: &ChainId| {
            staged
                .get(id)
                .copied()
                .or_else(|| ctx.heads.get(id).map(|h| (h.key, h.seq)))
        };
        let Some((p, next)) = plan(req, &head_of, ctx, index) else {
            break;
        };
        for (id, seq, key) in next {
            staged.insert(id, (key, seq));
        }
        index += req.records.len() as u64;
        plans.push(p);
    }
    // The hashing and signatures of all of them in one parallel call.
    let (links, rejects) = {
        let subs: Vec<Submission<'_>> = batches
            .iter()
            .zip(&plans)
            .flat_map(|(req, p)| {
                let req = req.as_ref().expect("planned");
                req.records
                    .iter()
                    .zip(&p.keys)
                    .map(|(r, k)| submission(r, k))
            })
            .collect();
        check(&subs)
    };
    // Pass 2, in order: claimed links, prev links, verdicts; the first batch that fails
    // ends the block.
    let mut heads: HashMap<ChainId, Head> = HashMap::new();
    let mut order: Vec<ChainId> = Vec::new();
    let mut block = Block {
        first_index: ctx.first_index,
        received_ms: ctx.received_ms,
        ..Block::default()
    };
    let mut at = 0;
    for (req, p) in batches.iter_mut().zip(&plans) {
        let records = &req.as_ref().expect("planned").records;
        let n = records.len();
        let (links, rejects) = (&links[at..at + n], &rejects[at..at + n]);
        let linked = |(id, idx): &(ChainId, Vec<usize>)| {
            let head = heads
                .get(id)
                .or_else(|| ctx.heads.get(id))
                .expect("planned");
            let mut expected = &head.link;
            idx.iter().all(|&i| {
                let ok = records[i].prev[..] == expected[..];
                expected = &links[i];
                ok
            })
        };
        let claimed_ok = records
            .iter()
            .zip(links)
            .all(|(r, l)| r.link.is_empty() || r.link[..] == l[..]);
        if !claimed_ok || !p.chains.iter().all(linked) || rejects.iter().any(Option::is_some) {
            break;
        }
        for (id, idx) in &p.chains {
            let last = *idx.last().expect("one a chain");
            let key = key_after(records, idx, p);
            if heads
                .insert(
                    *id,
                    Head {
                        seq: records[last].seq,
                        link: links[last],
                        key,
                    },
                )
                .is_none()
                && !order.contains(id)
            {
                order.push(*id);
            }
        }
        at += n;
        let req = req.take().expect("planned");
        block.batch_ids.push(req.batch_id);
        block.records.extend(req.records);
        block.links.extend_from_slice(links);
        block.batch_ends.push(block.records.len());
    }
    block.heads = order.into_iter().map(|id| (id, heads[&id])).collect();
    let entries: Vec<[u8; ENTRY_LEN]> = block
        .links
        .iter()
        .map(|l| entry(l, ctx.received_ms))
        .collect();
    match receipt::sign_consecutive(ctx.log_seed, ctx.first_index, &entries) {
        Some(receipts) => block.receipts = receipts,
        // Positions beyond 2^64: nothing accepted here; the Python checker refuses them.
        None => {
            return Block {
                first_index: ctx.first_index,
                received_ms: ctx.received_ms,
                ..Block::default()
            }
        }
    }
    block
}

/// The key in force after a chain's records of one batch.
fn key_after(records: &[Record], idx: &[usize], p: &Plan) -> [u8; KEY_LEN] {
    let last = *idx.last().expect("one a chain");
    if records[last].kind == KIND_ROTATION {
        records[last]
            .payload
            .as_slice()
            .try_into()
            .expect("shape checked")
    } else {
        p.keys[last]
    }
}
