//! The v2 audit's log split into tasks (hashcore/audit/plan.py): what one part of a bundle
//! says of the log, read where the part lies, and the tree combined from the parts.
//!
//! A part's task reads its rows once and returns a compact summary: pass 1's row flags
//! (link and commitment checked, `records::check_row`), each row's chain bucket, the
//! positions it claims as runs, and the few positions that break the log. A second task
//! gives the RFC 6962 roots of 2^k-aligned leaf ranges of its rows, split at the sizes the
//! audit asks roots of: since every aligned range is one subtree of the tree, the driver
//! folds them in position order (`fold_blocks`) into the roots at those sizes, exactly
//! `Log::compute_roots`' answers, without ever holding the leaves. The same task checks
//! the receipts of the positions the part holds (signatures batched, conflicts, the
//! part's entry there): the driver only finishes their verdicts (`ReceiptCheck::verdict`).

use std::collections::{BTreeSet, HashMap};

use rayon::prelude::*;

use super::evidence::{self, ReceiptCheck};
use super::input::{ReceiptRow, RecordRow};
use super::row_checks::check_all_rows;
use crate::v2::entry::entry_leaf_hash;
use crate::v2::tree::{empty_root, node_hash, root};
use crate::v2::Hash;

/// A log position's content as a part holds it: the entry's `(link, received_ms)`, or
/// `None` where a row can't form an entry or the part's rows there differ (decision 7).
pub type PartSlot = Option<(Hash, i64)>;

/// What one part says of the log and of its rows alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartScan {
    /// Pass 1's flags per row (`records::LINK_OK`, ...; DUPLICATE is the driver's to add).
    pub flags: Vec<u16>,
    /// Each row's chain bucket: FNV-1a of its chain_id bytes, modulo the bucket count.
    pub buckets: Vec<u32>,
    /// The positions the part claims, as sorted disjoint runs `[start, end)`.
    pub runs: Vec<(u64, u64)>,
    /// Positions two or more of the part's rows claim.
    pub duplicates: Vec<u64>,
    /// Positions whose slot can't be rebuilt from the part's rows.
    pub unrebuildable: Vec<u64>,
    /// The distinct beacon sizes of the part's rows, sorted.
    pub beacon_sizes: Vec<u64>,
    /// Per size asked: the greatest received_ms of the part's entries below it.
    pub max_received: Vec<Option<i64>>,
}

/// The chain bucket of a chain_id: a hash fixed across processes and machines (Rust's
/// default hasher is seeded per process), so every part sends a chain to one bucket.
pub fn bucket_of(chain_id: &[u8], buckets: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in chain_id {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % u64::from(buckets.max(1))) as u32
}

fn slot_of(row: &RecordRow) -> PartSlot {
    Some((*row.link32()?, row.received_ms?))
}

/// The part's positions once each, sorted, with their slots merged as `Log::build` does
/// (identical rows are one entry, differing ones none) and how many rows claim each.
fn positions(slots: impl ParallelIterator<Item = (u64, PartSlot)>) -> Vec<(u64, PartSlot, u32)> {
    let mut claimed: Vec<(u64, PartSlot)> = slots.collect();
    claimed.par_sort_unstable_by_key(|&(index, _)| index);
    let mut out: Vec<(u64, PartSlot, u32)> = Vec::with_capacity(claimed.len());
    for (index, slot) in claimed {
        match out.last_mut() {
            Some(p) if p.0 == index => {
                p.2 += 1;
                if p.1 != slot {
                    p.1 = None;
                }
            }
            _ => out.push((index, slot, 1)),
        }
    }
    out
}

/// Scans one part: its rows alone, and what they say of the log. `sizes`: the sizes whose
/// greatest received_ms below is asked (the checkpoints' tree sizes: SPEC 5.2's deadline).
pub fn scan_part(rows: &[RecordRow], buckets: u32, sizes: &[u64]) -> PartScan {
    let states = check_all_rows(rows, |_| false);
    let held = positions(rows.par_iter().map(|r| (r.log_index, slot_of(r))));
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for &(index, _, _) in &held {
        match runs.last_mut() {
            Some(run) if run.1 == index => run.1 += 1,
            _ => runs.push((index, index + 1)),
        }
    }
    // The greatest received_ms up to each held position, read by binary search per size.
    let mut best: Option<i64> = None;
    let prefix_max: Vec<Option<i64>> = held
        .iter()
        .map(|&(_, slot, _)| {
            best = best.max(slot.map(|(_, ms)| ms));
            best
        })
        .collect();
    let max_received = sizes
        .iter()
        .map(|&s| match held.partition_point(|p| p.0 < s) {
            0 => None,
            n => prefix_max[n - 1],
        })
        .collect();
    let beacon_sizes: BTreeSet<u64> = rows.iter().filter_map(|r| r.beacon_size).collect();
    PartScan {
        flags: states.iter().map(|s| s.flags).collect(),
        buckets: rows
            .par_iter()
            .map(|r| bucket_of(r.chain_id, buckets))
            .collect(),
        runs,
        duplicates: held.iter().filter(|p| p.2 > 1).map(|p| p.0).collect(),
        unrebuildable: held.iter().filter(|p| p.1.is_none()).map(|p| p.0).collect(),
        beacon_sizes: beacon_sizes.into_iter().collect(),
        max_received,
    }
}

/// The root of the 2^height leaves from `start` (start a multiple of 2^height).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub start: u64,
    pub height: u32,
    pub root: Hash,
}

/// What the driver asks of a part's log once every part has been scanned.
#[derive(Debug, Clone, Default)]
pub struct LogRequest {
    /// Block boundaries: every size a root is asked at (and every contested position).
    pub cuts: Vec<u64>,
    /// Positions from here on are not part of the rebuildable prefix.
    pub limit: u64,
    /// Positions another part holds too and contributes (sorted).
    pub skip: Vec<u64>,
    /// Positions whose slot the driver needs (beacons' last entries, contested).
    pub lookups: Vec<u64>,
}

/// A part's log positions once each, sorted, with their slots merged as `Log::build`
/// merges them: what its log task reads its blocks, lookups and receipts from.
pub struct PartPositions {
    held: Vec<(u64, PartSlot, u32)>,
}

impl PartPositions {
    pub fn new(slots: &[(u64, PartSlot)]) -> Self {
        PartPositions {
            held: positions(slots.par_iter().copied()),
        }
    }

    /// The part's slot at `position`, where it holds it.
    pub fn slot(&self, position: u64) -> Option<PartSlot> {
        let i = self.held.binary_search_by_key(&position, |h| h.0).ok()?;
        Some(self.held[i].1)
    }

    /// The part's aligned blocks below `limit` (split at `cuts`, without `skip`), and its
    /// slots at `lookups` (positions it holds; in order).
    pub fn blocks(&self, req: &LogRequest) -> (Vec<Block>, Vec<(u64, PartSlot)>) {
        let lookups = req
            .lookups
            .iter()
            .filter_map(|&p| Some((p, self.slot(p)?)))
            .collect();
        let cuts: BTreeSet<u64> = req.cuts.iter().copied().collect();
        // Consecutive entries below the limit, split at the cuts: each a segment of leaves.
        let mut segments: Vec<(u64, Vec<Hash>)> = Vec::new();
        for &(index, slot, _) in self.held.iter().take_while(|p| p.0 < req.limit) {
            if req.skip.binary_search(&index).is_ok() {
                continue;
            }
            let Some((link, ms)) = slot else { break };
            let leaf = entry_leaf_hash(&link, ms);
            match segments.last_mut() {
                Some((start, leaves))
                    if *start + leaves.len() as u64 == index && !cuts.contains(&index) =>
                {
                    leaves.push(leaf)
                }
                _ => segments.push((index, vec![leaf])),
            }
        }
        let blocks = segments
            .par_iter()
            .flat_map_iter(|(start, leaves)| aligned_blocks(*start, leaves))
            .collect();
        (blocks, lookups)
    }

    /// The checks of the receipts whose positions this part was given (every receipt of
    /// those positions: the driver sends a position's receipts to one part holding it, or
    /// to any part where none does): signatures and conflicts as `evidence` has them, and
    /// each against the part's slot. Below the attested size, where alone `logged` is
    /// read, every part holding a position has the log's entry there (the prefix rebuilds
    /// only where their slots agree), so any one of them answers as the whole log would.
    pub fn receipt_checks(&self, receipts: &[ReceiptRow], log_key: &[u8; 32]) -> Vec<ReceiptCheck> {
        evidence::receipt_checks(receipts, log_key, |p| self.slot(p).flatten())
    }
}

/// `PartPositions::blocks` of `slots`.
pub fn part_blocks(
    slots: &[(u64, PartSlot)],
    req: &LogRequest,
) -> (Vec<Block>, Vec<(u64, PartSlot)>) {
    PartPositions::new(slots).blocks(req)
}

/// `[start, start + leaves.len())` as the fewest 2^k-aligned blocks, in order.
fn aligned_blocks(start: u64, leaves: &[Hash]) -> Vec<Block> {
    let mut out = Vec::new();
    let (mut at, end) = (start, start + leaves.len() as u64);
    while at < end {
        let mut height = if at == 0 { 63 } else { at.trailing_zeros() };
        while height > 0 && (1u64 << height) > end - at {
            height -= 1;
        }
        let from = (at - start) as usize;
        let block = &leaves[from..from + (1usize << height)];
        out.push(Block {
            start: at,
            height,
            root: root(block),
        });
        at += 1u64 << height;
    }
    out
}

/// The roots at `sizes` (those `<= limit`) of the tree whose blocks, from every part, tile
/// `[0, limit)`: they are pushed in order into a frontier of subtrees, as leaves are into
/// `tree::Frontier` (an aligned block lands where the frontier's size is its multiple).
pub fn fold_blocks(
    mut blocks: Vec<Block>,
    limit: u64,
    sizes: &BTreeSet<u64>,
) -> HashMap<u64, Hash> {
    blocks.sort_unstable_by_key(|b| b.start);
    let mut nodes: Vec<(u32, Hash)> = Vec::new();
    let mut size = 0u64;
    let mut roots = HashMap::new();
    let mut wanted = sizes.iter().copied().filter(|&s| s <= limit).peekable();
    let mut blocks = blocks.into_iter().filter(|b| b.start < limit);
    while let Some(&want) = wanted.peek() {
        if size == want {
            roots.insert(want, frontier_root(&nodes));
            wanted.next();
            continue;
        }
        let Some(block) = blocks.next() else { break };
        if block.start != size {
            break; // not a tiling (a driver bug): the roots past here stay unknown
        }
        let mut node = (block.height, block.root);
        while let Some(&(height, left)) = nodes.last() {
            if height != node.0 {
                break;
            }
            nodes.pop();
            node = (height + 1, node_hash(&left, &node.1));
        }
        nodes.push(node);
        size += 1u64 << block.height;
    }
    roots
}

fn frontier_root(nodes: &[(u32, Hash)]) -> Hash {
    let mut iter = nodes.iter().rev();
    let Some(&(_, mut acc)) = iter.next() else {
        return empty_root();
    };
    for (_, left) in iter {
        acc = node_hash(left, &acc);
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v2::tree::Frontier;

    fn slots(n: u64) -> Vec<(u64, PartSlot)> {
        (0..n)
            .map(|i| (i, Some(([i as u8; 32], i as i64))))
            .collect()
    }

    #[test]
    fn blocks_of_uneven_parts_fold_to_every_prefix_root() {
        let all = slots(37);
        // Every size, then a few: leaves alone, then blocks of up to 2^4 across parts.
        for sizes in [(0..=37).collect(), BTreeSet::from([0, 5, 13, 37])] {
            let req = LogRequest {
                cuts: sizes.iter().copied().collect(),
                limit: 37,
                ..LogRequest::default()
            };
            let mut blocks = Vec::new();
            for part in [&all[..5], &all[5..6], &all[6..29], &all[29..]] {
                blocks.extend(part_blocks(part, &req).0);
            }
            let roots = fold_blocks(blocks, 37, &sizes);
            assert_eq!(roots.len(), sizes.len());
            let mut f = Frontier::new();
            for s in 0..=37u64 {
                if sizes.contains(&s) {
                    assert_eq!(roots[&s], f.root(), "size {s}");
                }
                if s < 37 {
                    let (link, ms) = all[s as usize].1.unwrap();
                    f.push(entry_leaf_hash(&link, ms));
                }
            }
        }
    }

    #[test]
    fn bucket_hash_is_fixed() {
        assert_eq!(bucket_of(b"", 7), (0xcbf2_9ce4_8422_2325u64 % 7) as u32);
        assert_eq!(bucket_of(&[1; 16], 1), 0);
    }
}
