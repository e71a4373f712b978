//! The relay's Merkle log with every perfect subtree kept, so that inclusion and
//! consistency proofs for *any* tree size up to the current one (the size of the newest
//! checkpoint, or an older one a client asks about) cost O(log² n) hashes, not O(n).
//!
//! Memory is about 2 × 32 bytes per leaf (the leaves plus every perfect-subtree root
//! above them). The relay rebuilds it from stored entries at start-up in one O(n) pass.
//!
//! The tree is SPEC v2 2.1's: RFC 6962 / RFC 9162 with SHA-256 (C2SP tlog-tiles),
//! `MTH({}) = SHA256("")`, nodes `SHA256(0x01 || l || r)` (`crate::v2::tree`).

use crate::v2::tree::{empty_root, node_hash};
use crate::v2::Hash;

#[derive(Debug, Clone)]
pub struct LogTree {
    /// `levels[h][i]` is the root of the perfect subtree of height `h` covering leaves
    /// `i·2^h .. (i+1)·2^h`; `levels[0]` are the leaf hashes.
    levels: Vec<Vec<Hash>>,
}

impl Default for LogTree {
    fn default() -> Self {
        Self::sha256()
    }
}

impl LogTree {
    /// An empty SHA-256 tree of SPEC v2 2.1.
    pub fn sha256() -> Self {
        Self {
            levels: vec![Vec::new()],
        }
    }

    pub fn size(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// Appends a leaf hash, completing every perfect subtree it closes.
    pub fn push(&mut self, leaf: Hash) {
        self.levels[0].push(leaf);
        let mut h = 0;
        while self.levels[h].len() % 2 == 0 {
            let n = self.levels[h].len();
            let parent = node_hash(&self.levels[h][n - 2], &self.levels[h][n - 1]);
            if self.levels.len() == h + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[h + 1].push(parent);
            h += 1;
        }
    }

    /// Leaf hash at `index`, if present.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.levels[0].get(usize::try_from(index).ok()?).copied()
    }

    /// `MTH(D[start:end])` for `start < end <= size`: a perfect aligned range is one
    /// lookup; any other range splits as RFC 9162 does (largest power of two first).
    fn range_hash(&self, start: u64, end: u64) -> Hash {
        let n = end - start;
        if n.is_power_of_two() && start % n == 0 {
            let h = n.trailing_zeros() as usize;
            return self.levels[h][(start >> h) as usize];
        }
        let k = split_point(n);
        node_hash(
            &self.range_hash(start, start + k),
            &self.range_hash(start + k, end),
        )
    }

    /// `MTH` of the first `size` leaves; `None` when `size` exceeds the log.
    pub fn root(&self, size: u64) -> Option<Hash> {
        match size {
            0 => Some(empty_root()),
            s if s <= self.size() => Some(self.range_hash(0, s)),
            _ => None,
        }
    }

    /// RFC 9162 `PATH(index, D[size])`; `None` unless `index < size <= self.size()`.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Option<Vec<Hash>> {
        if index >= size || size > self.size() {
            return None;
        }
        let mut path = Vec::new();
        self.path(index, 0, size, &mut path);
        Some(path)
    }

    fn path(&self, m: u64, start: u64, end: u64, out: &mut Vec<Hash>) {
        let n = end - start;
        if n <= 1 {
            return;
        }
        let k = split_point(n);
        if m < k {
            self.path(m, start, start + k, out);
            out.push(self.range_hash(start + k, end));
        } else {
            self.path(m - k, start + k, end, out);
            out.push(self.range_hash(start, start + k));
        }
    }

    /// RFC 9162 `PROOF(first, D[second])` (empty for `first == 0` or `first == second`,
    /// SPEC section 2); `None` unless `first <= second <= self.size()`.
    pub fn consistency_proof(&self, first: u64, second: u64) -> Option<Vec<Hash>> {
        if first > second || second > self.size() {
            return None;
        }
        let mut proof = Vec::new();
        if first > 0 && first < second {
            self.subproof(first, 0, second, true, &mut proof);
        }
        Some(proof)
    }

    fn subproof(&self, m: u64, start: u64, end: u64, complete: bool, out: &mut Vec<Hash>) {
        let n = end - start;
        if m == n {
            if !complete {
                out.push(self.range_hash(start, end));
            }
            return;
        }
        let k = split_point(n);
        if m <= k {
            self.subproof(m, start, start + k, complete, out);
            out.push(self.range_hash(start + k, end));
        } else {
            self.subproof(m - k, start + k, end, false, out);
            out.push(self.range_hash(start, start + k));
        }
    }
}

/// Largest power of two strictly below `n` (n >= 2).
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sha256_tree_matches_the_v2_definitions() {
        use crate::v2::tree as t;
        let all: Vec<Hash> = (0..40u64).map(|i| t::leaf_hash(&i.to_be_bytes())).collect();
        let mut tree = LogTree::sha256();
        assert_eq!(tree.root(0), Some(t::empty_root()));
        for (i, leaf) in all.iter().enumerate() {
            tree.push(*leaf);
            assert_eq!(tree.size(), i as u64 + 1);
        }
        for size in 0..=40u64 {
            let prefix = &all[..size as usize];
            assert_eq!(tree.root(size), Some(t::root(prefix)), "root {size}");
            for index in 0..size {
                assert_eq!(
                    tree.inclusion_proof(index, size),
                    t::inclusion_proof(prefix, index),
                    "inclusion {index} of {size}"
                );
            }
            for first in 0..=size {
                assert_eq!(
                    tree.consistency_proof(first, size),
                    t::consistency_proof(prefix, first),
                    "consistency {first} -> {size}"
                );
            }
        }
        assert_eq!(tree.root(41), None);
        assert_eq!(tree.inclusion_proof(40, 40), None);
        assert_eq!(tree.consistency_proof(5, 41), None);
        assert_eq!(tree.consistency_proof(6, 5), None);
    }
}
