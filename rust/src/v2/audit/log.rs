//! "The log" of SPEC 5.1: the entries `0x02 || link || i64be(received_ms)` of the bundle's
//! rows in log_index order, and the roots of its prefixes. A position with no row, with rows
//! whose entries differ, or with a row that can't form an entry (decision 7) can't be
//! rebuilt; identical duplicate rows rebuild as one entry.
//!
//! The prefix roots come from one pass of a `Frontier` over the positions in order, taking
//! the roots at the sizes asked for: a streamed audit can feed the same pass in order.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::input::RecordRow;
use crate::v2::entry::entry_leaf_hash;
use crate::v2::tree::Frontier;
use crate::v2::Hash;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Entry { link: Hash, received_ms: i64 },
    Unrebuildable,
}

#[derive(Debug, Default)]
pub struct Log {
    slots: BTreeMap<u64, Slot>,
    /// How many rows claim each position (2+: DUPLICATE_LOG_INDEX).
    claims: HashMap<u64, u32>,
    /// Positions 0 .. rebuildable all rebuild.
    rebuildable: u64,
    roots: HashMap<u64, Hash>,
}

impl Log {
    pub fn build(rows: &[RecordRow]) -> Self {
        let mut log = Log::default();
        for row in rows {
            *log.claims.entry(row.log_index).or_default() += 1;
            let slot = match (row.link32(), row.received_ms) {
                (Some(link), Some(received_ms)) => Slot::Entry {
                    link: *link,
                    received_ms,
                },
                _ => Slot::Unrebuildable,
            };
            log.slots
                .entry(row.log_index)
                .and_modify(|s| {
                    if *s != slot {
                        *s = Slot::Unrebuildable;
                    }
                })
                .or_insert(slot);
        }
        log.rebuildable = log
            .slots
            .iter()
            .enumerate()
            .take_while(|(i, (p, s))| *i as u64 == **p && matches!(s, Slot::Entry { .. }))
            .count() as u64;
        log
    }

    pub fn is_duplicate(&self, log_index: u64) -> bool {
        self.claims.get(&log_index).is_some_and(|&n| n > 1)
    }

    /// Computes the roots of the prefixes of the given sizes that can be rebuilt.
    pub fn compute_roots(&mut self, sizes: &BTreeSet<u64>) {
        let mut frontier = Frontier::new();
        let mut wanted = sizes
            .iter()
            .copied()
            .filter(|&s| s <= self.rebuildable)
            .peekable();
        // Positions 0 .. rebuildable are consecutive entries, so the slots' order is theirs.
        let mut positions = self.slots.values();
        while let Some(&size) = wanted.peek() {
            if frontier.size() == size {
                self.roots.insert(size, frontier.root());
                wanted.next();
                continue;
            }
            match positions.next() {
                Some(Slot::Entry { link, received_ms }) => {
                    frontier.push(entry_leaf_hash(link, *received_ms))
                }
                _ => break,
            }
        }
    }

    /// `MTH` of the first `size` entries, where they rebuild (and were asked for).
    pub fn root(&self, size: u64) -> Option<Hash> {
        self.roots.get(&size).copied()
    }

    /// The entry at a rebuildable position: `(link, received_ms)`.
    pub fn entry(&self, position: u64) -> Option<(Hash, i64)> {
        match self.slots.get(&position) {
            Some(Slot::Entry { link, received_ms }) => Some((*link, *received_ms)),
            _ => None,
        }
    }

    /// The greatest `received_ms` of the entries below `size` (they rebuild).
    pub fn max_received_below(&self, size: u64) -> Option<i64> {
        self.slots
            .range(..size)
            .filter_map(|(_, s)| match s {
                Slot::Entry { received_ms, .. } => Some(*received_ms),
                Slot::Unrebuildable => None,
            })
            .max()
    }

    /// Ranges `[start, end)` of positions below `size` that no row holds.
    pub fn missing_below(&self, size: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut expected = 0u64;
        for &p in self.slots.keys() {
            if p >= size {
                break;
            }
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
