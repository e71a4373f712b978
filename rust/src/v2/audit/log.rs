//! "The log" of SPEC 5.1: the entries `0x02 || link || i64be(received_ms)` of the bundle's
//! rows in log_index order, and the roots of its prefixes. A position with no row, with rows
//! whose entries differ, or with a row that can't form an entry (decision 7) can't be
//! rebuilt; identical duplicate rows rebuild as one entry.
//!
//! The prefix roots come from `tree::prefix_roots` over the rebuildable positions: aligned
//! chunks hashed in parallel, joined in order.

use std::collections::{BTreeSet, HashMap};

use rayon::prelude::*;

use super::input::RecordRow;
use crate::v2::entry::entry_leaf_hash;
use crate::v2::tree::prefix_roots;
use crate::v2::Hash;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Entry { link: Hash, received_ms: i64 },
    Unrebuildable,
}

/// One position of the log: its slot and how many rows claim it (2+: DUPLICATE_LOG_INDEX).
#[derive(Debug, Clone, Copy)]
struct Position {
    index: u64,
    slot: Slot,
    claims: u32,
}

/// Every claimed position once, in order: the rows themselves where they are in log order,
/// one position each (what an export writes: nothing to build; a copy of their links was
/// 64 MB and ~90 ms at 1M rows), or the claims of rows in any order, merged.
#[derive(Debug)]
enum Positions<'r> {
    Rows(&'r [RecordRow<'r>]),
    Merged(Vec<Position>),
}

fn slot_of(row: &RecordRow) -> Slot {
    match (row.link32(), row.received_ms) {
        (Some(link), Some(received_ms)) => Slot::Entry {
            link: *link,
            received_ms,
        },
        _ => Slot::Unrebuildable,
    }
}

impl Positions<'_> {
    fn len(&self) -> usize {
        match self {
            Positions::Rows(rows) => rows.len(),
            Positions::Merged(p) => p.len(),
        }
    }

    /// The `k`-th position (`k < len`).
    fn get(&self, k: usize) -> Position {
        match self {
            Positions::Rows(rows) => Position {
                index: rows[k].log_index,
                slot: slot_of(&rows[k]),
                claims: 1,
            },
            Positions::Merged(p) => p[k],
        }
    }

    /// How many positions are below `index`.
    fn count_below(&self, index: u64) -> usize {
        match self {
            Positions::Rows(rows) => rows.partition_point(|r| r.log_index < index),
            Positions::Merged(p) => p.partition_point(|p| p.index < index),
        }
    }
}

#[derive(Debug)]
pub struct Log<'r> {
    /// Distinct and ascending: read by binary search and in order.
    positions: Positions<'r>,
    /// Positions 0 .. rebuildable all rebuild.
    rebuildable: u64,
    /// `(size, root)` ascending: a few sizes, read once per record (a binary search is
    /// cheaper than hashing the key).
    roots: Vec<(u64, Hash)>,
}

impl Default for Log<'_> {
    fn default() -> Self {
        Log {
            positions: Positions::Merged(Vec::new()),
            rebuildable: 0,
            roots: Vec::new(),
        }
    }
}

impl<'r> Log<'r> {
    pub fn build(rows: &'r [RecordRow<'r>]) -> Self {
        // A bundle lists its rows in log order, each position once (what an export writes):
        // then every row is its own position. The general case sorts, then merges on one
        // thread.
        let in_order = rows.par_windows(2).all(|w| w[0].log_index < w[1].log_index);
        let positions = if in_order {
            Positions::Rows(rows)
        } else {
            Positions::Merged(Self::merge_claims(
                rows.par_iter().map(|r| (r.log_index, slot_of(r))).collect(),
            ))
        };
        // Positions are distinct and ascending: 0 .. rebuildable are at their own place.
        let rebuildable = (0..positions.len())
            .into_par_iter()
            .position_first(|k| {
                let p = positions.get(k);
                k as u64 != p.index || p.slot == Slot::Unrebuildable
            })
            .unwrap_or(positions.len()) as u64;
        Log {
            positions,
            rebuildable,
            roots: Vec::new(),
        }
    }

    /// Every claimed position once, ascending, from `(log_index, slot)` claims in any order:
    /// a position claimed with different slots can't be rebuilt.
    fn merge_claims(mut claimed: Vec<(u64, Slot)>) -> Vec<Position> {
        claimed.par_sort_unstable_by_key(|&(index, _)| index);
        let mut positions: Vec<Position> = Vec::with_capacity(claimed.len());
        for (index, slot) in claimed {
            match positions.last_mut() {
                Some(p) if p.index == index => {
                    p.claims += 1;
                    if p.slot != slot {
                        p.slot = Slot::Unrebuildable;
                    }
                }
                _ => positions.push(Position {
                    index,
                    slot,
                    claims: 1,
                }),
            }
        }
        positions
    }

    /// A log known at a few positions only, its prefix roots computed elsewhere: what the
    /// partitioned audit (`partial.rs`) combines from its tasks. `root` and `entry` answer
    /// for what was given; `missing_below`, `max_received_below` and `is_duplicate` are
    /// the tasks' to answer, not this one's.
    pub fn sparse(mut entries: Vec<(u64, Hash, i64)>, roots: HashMap<u64, Hash>) -> Self {
        entries.sort_unstable_by_key(|&(index, _, _)| index);
        entries.dedup_by_key(|&mut (index, _, _)| index);
        let positions = entries
            .into_iter()
            .map(|(index, link, received_ms)| Position {
                index,
                slot: Slot::Entry { link, received_ms },
                claims: 1,
            })
            .collect();
        let mut roots: Vec<(u64, Hash)> = roots.into_iter().collect();
        roots.sort_unstable_by_key(|&(size, _)| size);
        Log {
            positions: Positions::Merged(positions),
            rebuildable: 0,
            roots,
        }
    }

    fn find(&self, index: u64) -> Option<Position> {
        let positions = &self.positions;
        // Positions are distinct and ascending: where the log has no hole below `index`,
        // it is at its own place (most lookups, one per record).
        if (index as usize) < positions.len() {
            let p = positions.get(index as usize);
            if p.index == index {
                return Some(p);
            }
        }
        let k = positions.count_below(index);
        (k < positions.len())
            .then(|| positions.get(k))
            .filter(|p| p.index == index)
    }

    pub fn is_duplicate(&self, log_index: u64) -> bool {
        self.find(log_index).is_some_and(|p| p.claims > 1)
    }

    /// Computes the roots of the prefixes of the given sizes that can be rebuilt (the
    /// entries hashed in parallel, `tree::prefix_roots`).
    pub fn compute_roots(&mut self, sizes: &BTreeSet<u64>) {
        let wanted: Vec<u64> = sizes
            .iter()
            .copied()
            .filter(|&s| s <= self.rebuildable)
            .collect();
        // Positions 0 .. rebuildable are consecutive entries: position i is at i.
        let positions = &self.positions;
        let leaf = |i: u64| match positions.get(i as usize).slot {
            Slot::Entry { link, received_ms } => entry_leaf_hash(&link, received_ms),
            Slot::Unrebuildable => unreachable!("below the rebuildable size"),
        };
        let roots = prefix_roots(self.rebuildable, leaf, &wanted);
        self.roots = wanted.into_iter().zip(roots).collect();
    }

    /// `MTH` of the first `size` entries, where they rebuild (and were asked for).
    pub fn root(&self, size: u64) -> Option<Hash> {
        let i = self.roots.binary_search_by_key(&size, |&(s, _)| s).ok()?;
        Some(self.roots[i].1)
    }

    /// The entry at a rebuildable position: `(link, received_ms)`.
    pub fn entry(&self, position: u64) -> Option<(Hash, i64)> {
        match self.find(position)?.slot {
            Slot::Entry { link, received_ms } => Some((link, received_ms)),
            Slot::Unrebuildable => None,
        }
    }

    /// The greatest `received_ms` of the entries below `size` (they rebuild).
    pub fn max_received_below(&self, size: u64) -> Option<i64> {
        (0..self.positions.count_below(size))
            .into_par_iter()
            .filter_map(|k| match self.positions.get(k).slot {
                Slot::Entry { received_ms, .. } => Some(received_ms),
                Slot::Unrebuildable => None,
            })
            .max()
    }

    /// Ranges `[start, end)` of positions below `size` that no row holds.
    pub fn missing_below(&self, size: u64) -> Vec<(u64, u64)> {
        let below = self.positions.count_below(size);
        // Distinct positions below `size`, as many as `size`: no hole (the usual answer,
        // without a pass over a million positions).
        if below as u64 == size {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut expected = 0u64;
        for p in (0..below).map(|k| self.positions.get(k).index) {
            if p > expected {
                out.push((expected, p));
            }
            expected = p + 1;
        }
        if expected < size {
            out.push((expected, size));
        }
        out
    }
}
