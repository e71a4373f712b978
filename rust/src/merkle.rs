//! RFC 9162 section 2.1 Merkle tree with `HASH = BLAKE3-256` (SPEC section 2).
//!
//! Leaves are record links; the tree hashes them as `H(0x00 || link)`. Functions that take
//! `leaves` take the *leaf hashes*, so callers hash each link once and reuse it.

use crate::protocol::{hash, Hash};

/// `MTH({}) = H("")`.
pub fn empty_root() -> Hash {
    hash(b"")
}

/// `H(0x00 || link)`.
pub fn leaf_hash(link: &[u8]) -> Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&[0u8]);
    hasher.update(link);
    *hasher.finalize().as_bytes()
}

/// `H(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = 1;
    buf[1..33].copy_from_slice(left);
    buf[33..].copy_from_slice(right);
    hash(&buf)
}

/// Largest power of two strictly below `n` (n >= 2).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[n])` of the given leaf hashes, bottom-up: pairing adjacent nodes and carrying an
/// odd last node up one level gives exactly RFC 9162's left-balanced tree.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        _ => {
            let mut level: Vec<Hash> = leaves.to_vec();
            while level.len() > 1 {
                let next_len = level.len().div_ceil(2);
                for i in 0..next_len {
                    level[i] = if 2 * i + 1 < level.len() {
                        node_hash(&level[2 * i], &level[2 * i + 1])
                    } else {
                        level[2 * i]
                    };
                }
                level.truncate(next_len);
            }
            level[0]
        }
    }
}

/// The compact state of an append-only tree: the roots of its perfect subtrees, largest
/// first. Appending is O(log n) amortised and the root of the current size is O(log n), so
/// the relay keeps a log without recomputing it and the auditor gets every prefix root it
/// needs in one pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// (height, subtree root) with strictly decreasing heights.
    nodes: Vec<(u32, Hash)>,
}

impl Frontier {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = (0u32, leaf);
        while let Some(&(height, left)) = self.nodes.last() {
            if height != node.0 {
                break;
            }
            self.nodes.pop();
            node = (height + 1, node_hash(&left, &node.1));
        }
        self.nodes.push(node);
        self.size += 1;
    }

    /// `MTH` of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return empty_root();
        };
        for (_, left) in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }

    /// The perfect-subtree roots (largest first), for persisting the frontier.
    pub fn subtree_roots(&self) -> Vec<Hash> {
        self.nodes.iter().map(|&(_, h)| h).collect()
    }

    /// Rebuilds a frontier from its size and its subtree roots (largest first), as stored.
    pub fn from_parts(size: u64, roots: &[Hash]) -> Option<Self> {
        let heights: Vec<u32> = (0..64).rev().filter(|b| size >> b & 1 == 1).collect();
        if heights.len() != roots.len() {
            return None;
        }
        Some(Self {
            size,
            nodes: heights.into_iter().zip(roots.iter().copied()).collect(),
        })
    }
}

/// RFC 9162 2.1.3.1 `PATH(m, D[n])`, from the leaf upward. `None` when `index >= n`.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Option<Vec<Hash>> {
    if index >= leaves.len() as u64 {
        return None;
    }
    let mut path = Vec::new();
    path_rec(index as usize, leaves, &mut path);
    Some(path)
}

fn path_rec(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
    let n = d.len();
    if n <= 1 {
        return;
    }
    let k = split_point(n as u64) as usize;
    if m < k {
        path_rec(m, &d[..k], out);
        out.push(root(&d[k..]));
    } else {
        path_rec(m - k, &d[k..], out);
        out.push(root(&d[..k]));
    }
}

/// RFC 9162 2.1.3.2. Note that an inclusion proof does not bind the tree size exactly:
/// sizes whose paths have the same shape verify alike (the checkpoint binds the size).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    tree_size: u64,
    path: &[Hash],
    root_hash: &Hash,
) -> bool {
    if index >= tree_size {
        return false;
    }
    let (mut fn_, mut sn) = (index, tree_size - 1);
    let mut r = *leaf;
    for p in path {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && &r == root_hash
}

/// RFC 9162 2.1.4.1 `PROOF(m, D[n])`. `None` when `m > n`. Empty for `m == n` and `m == 0`
/// (SPEC section 2 conventions).
pub fn consistency_proof(leaves: &[Hash], m: u64) -> Option<Vec<Hash>> {
    let n = leaves.len() as u64;
    if m > n {
        return None;
    }
    let mut proof = Vec::new();
    if m > 0 && m < n {
        subproof(m as usize, leaves, true, &mut proof);
    }
    Some(proof)
}

fn subproof(m: usize, d: &[Hash], complete: bool, out: &mut Vec<Hash>) {
    let n = d.len();
    if m == n {
        if !complete {
            out.push(root(d));
        }
        return;
    }
    let k = split_point(n as u64) as usize;
    if m <= k {
        subproof(m, &d[..k], complete, out);
        out.push(root(&d[k..]));
    } else {
        subproof(m - k, &d[k..], false, out);
        out.push(root(&d[..k]));
    }
}

/// RFC 9162 2.1.4.2, plus SPEC section 2 for the cases RFC 9162 leaves out: `m == n` is
/// valid iff the path is empty and the roots are equal; `m == 0` iff the path is empty and
/// the first root is `H("")`.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    path: &[Hash],
) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return path.is_empty() && first_root == second_root;
    }
    if first == 0 {
        return path.is_empty() && *first_root == empty_root();
    }
    if path.is_empty() {
        return false;
    }
    let mut nodes: Vec<&Hash> = Vec::with_capacity(path.len() + 1);
    if first.is_power_of_two() {
        nodes.push(first_root);
    }
    nodes.extend(path.iter());
    let (mut fn_, mut sn) = (first - 1, second - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*nodes[0], *nodes[0]);
    for c in &nodes[1..] {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    &fr == first_root && &sr == second_root && sn == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&hash(&i.to_be_bytes()))).collect()
    }

    /// The textbook recursive definition, to check the iterative code against.
    fn naive_root(d: &[Hash]) -> Hash {
        match d.len() {
            0 => empty_root(),
            1 => d[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&naive_root(&d[..k]), &naive_root(&d[k..]))
            }
        }
    }

    #[test]
    fn roots_match_recursive_definition_and_frontier() {
        let all = leaves(70);
        let mut frontier = Frontier::new();
        assert_eq!(frontier.root(), empty_root());
        for n in 0..=70usize {
            assert_eq!(root(&all[..n]), naive_root(&all[..n]), "n={n}");
            assert_eq!(frontier.root(), root(&all[..n]), "frontier n={n}");
            let rebuilt = Frontier::from_parts(frontier.size(), &frontier.subtree_roots());
            assert_eq!(rebuilt.as_ref(), Some(&frontier));
            if n < 70 {
                frontier.push(all[n]);
            }
        }
    }

    #[test]
    fn every_proof_verifies_and_tampering_fails() {
        let all = leaves(21);
        for n in 1..=21u64 {
            let d = &all[..n as usize];
            let r = root(d);
            for i in 0..n {
                let p = inclusion_proof(d, i).unwrap();
                assert!(verify_inclusion(&d[i as usize], i, n, &p, &r));
                assert!(
                    !verify_inclusion(&d[(i as usize + 1) % n as usize], i, n, &p, &r) || n == 1
                );
            }
            for m in 0..=n {
                let p = consistency_proof(d, m).unwrap();
                let fr = root(&d[..m as usize]);
                assert!(verify_consistency(m, n, &fr, &r, &p), "m={m} n={n}");
                if m > 0 {
                    let other = leaves(m + 100);
                    let wrong = root(&other[100..]);
                    assert!(!verify_consistency(m, n, &wrong, &r, &p), "m={m} n={n}");
                }
            }
        }
        assert!(inclusion_proof(&all[..3], 3).is_none());
        assert!(consistency_proof(&all[..3], 4).is_none());
    }
}
