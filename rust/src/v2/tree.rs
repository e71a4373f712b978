//! SPEC 2.1: the RFC 9162 section 2.1 (= RFC 6962) Merkle tree with SHA-256, the tree of
//! C2SP tlog-tiles, its inclusion and consistency proofs and their verification, with the
//! SPEC's conventions for consistency from `m = n` and `m = 0`.
//!
//! Functions that take `leaves` take the *leaf hashes*, so callers hash each entry once.
//! `tlog_tiles` 0.2.0 computes the same tree (the tests check ours against it), but only
//! over its stored-hash layout, and answers `InvalidInput` for consistency from size 0.

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::Hash;

/// `SHA256(x)`.
pub fn sha256(data: &[u8]) -> Hash {
    Sha256::digest(data).into()
}

/// `MTH({}) = SHA256("")`.
pub fn empty_root() -> Hash {
    sha256(b"")
}

/// `SHA256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    // A log entry (41 bytes) fits one block: straight onto the compression function.
    if entry.len() < 55 {
        return super::sha256::one_block(0, entry);
    }
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// `SHA256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    super::sha256::node(left, right)
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
/// first. The relay keeps its log in it, and an audit gets every prefix root it needs in
/// one pass over the entries (bounded memory: O(log n)).
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
        self.push_subtree(0, leaf);
    }

    /// Appends the root of a perfect subtree of `2^height` leaves; the size must be a
    /// multiple of `2^height` (the subtree is aligned, as in the tree of the whole log).
    fn push_subtree(&mut self, height: u32, root: Hash) {
        debug_assert!(self.size % (1u64 << height) == 0);
        let mut node = (height, root);
        while let Some(&(h, left)) = self.nodes.last() {
            if h != node.0 {
                break;
            }
            self.nodes.pop();
            node = (h + 1, node_hash(&left, &node.1));
        }
        self.nodes.push(node);
        self.size += 1u64 << height;
    }

    /// `MTH` of the leaves pushed so far followed by those of `tail`, a frontier of the
    /// leaves after them whose subtrees are all lower than this one's (the rest of a chunk).
    fn root_with(&self, tail: &Frontier) -> Hash {
        let mut iter = self.nodes.iter().chain(&tail.nodes).rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return empty_root();
        };
        for (_, left) in iter {
            acc = node_hash(left, &acc);
        }
        acc
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
}

/// Leaves per aligned chunk of `prefix_roots` (2^10: a chunk's hashing is worth a task).
const CHUNK_HEIGHT: u32 = 10;

/// `MTH` of the first `s` of the `n` leaves `leaf(i)` for each `s` of `sizes` (ascending,
/// each <= n), in that order. Aligned chunks of 1,024 leaves are hashed in parallel, each
/// leaf once and none kept (O(log n) memory): a chunk gives its perfect subtree's root and,
/// at each size that ends inside it, its own frontier there; one pass joins them in order.
pub fn prefix_roots<F>(n: u64, leaf: F, sizes: &[u64]) -> Vec<Hash>
where
    F: Fn(u64) -> Hash + Sync,
{
    debug_assert!(sizes.windows(2).all(|w| w[0] <= w[1]) && sizes.iter().all(|&s| s <= n));
    let chunk = 1u64 << CHUNK_HEIGHT;
    let top = sizes.last().copied().unwrap_or(0);
    // Per chunk below `top`: its root if whole, and its frontier at each size ending in it.
    let chunks: Vec<(Option<Hash>, Vec<Frontier>)> = (0..top.div_ceil(chunk))
        .into_par_iter()
        .map(|c| {
            let (start, end) = (c * chunk, ((c + 1) * chunk).min(top));
            let inside = &sizes[sizes.partition_point(|&s| s <= start)..];
            let mut inside = inside.iter().take_while(|&&s| s <= end).peekable();
            let mut local = Frontier::new();
            let mut snapshots = Vec::new();
            for i in start..end {
                local.push(leaf(i));
                while inside.next_if(|&&s| s == i + 1).is_some() {
                    snapshots.push(local.clone());
                }
            }
            let whole = (end - start == chunk).then(|| local.root());
            (whole, snapshots)
        })
        .collect();
    let mut out = Vec::with_capacity(sizes.len());
    let mut global = Frontier::new();
    // Sizes on a chunk boundary (0 included) are the joined frontier's own roots.
    let mut on_boundary = sizes.iter().filter(|&&s| s % chunk == 0).peekable();
    for (whole, snapshots) in chunks {
        while on_boundary.next_if(|&&s| s == global.size()).is_some() {
            out.push(global.root());
        }
        for local in &snapshots {
            // A size inside a whole chunk ends at its last leaf: on the next boundary.
            if local.size() < chunk {
                out.push(global.root_with(local));
            }
        }
        if let Some(root) = whole {
            global.push_subtree(CHUNK_HEIGHT, root);
        }
    }
    while on_boundary.next_if(|&&s| s == global.size()).is_some() {
        out.push(global.root());
    }
    out
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

/// RFC 9162 2.1.3.2. An inclusion proof does not bind the tree size exactly: sizes whose
/// paths have the same shape verify alike (the signed checkpoint binds the size).
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
/// (SPEC 2.1).
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

/// RFC 9162 2.1.4.2, plus SPEC 2.1 for the cases RFC 9162 leaves out: `m == n` is valid iff
/// the path is empty and the roots are equal; `m == 0` iff the path is empty and the first
/// root is `SHA256("")`.
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
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
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
        for n in 0..=70usize {
            assert_eq!(root(&all[..n]), naive_root(&all[..n]), "n={n}");
            assert_eq!(frontier.root(), root(&all[..n]), "frontier n={n}");
            if n < 70 {
                frontier.push(all[n]);
            }
        }
    }

    #[test]
    fn prefix_roots_match_root_of_every_prefix() {
        let n = 3 * 1024 + 77;
        let all = leaves(n);
        let sizes: Vec<u64> = vec![0, 0, 1, 2, 3, 1023, 1024, 1025, 2048, 2049, 3000, 3072, n];
        let got = prefix_roots(n, |i| all[i as usize], &sizes);
        let want: Vec<Hash> = sizes.iter().map(|&s| root(&all[..s as usize])).collect();
        assert_eq!(got, want);
        assert!(prefix_roots(n, |i| all[i as usize], &[]).is_empty());
        let some = [5, 1500, 1500, 2047];
        let got = prefix_roots(n, |i| all[i as usize], &some);
        assert_eq!(got, some.map(|s| root(&all[..s as usize])));
        assert_eq!(
            prefix_roots(2048, |i| all[i as usize], &[2048]),
            [root(&all[..2048])]
        );
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
            }
            for m in 0..=n {
                let p = consistency_proof(d, m).unwrap();
                let fr = root(&d[..m as usize]);
                assert!(verify_consistency(m, n, &fr, &r, &p), "m={m} n={n}");
                if m > 0 {
                    let wrong = root(&leaves(m + 100)[100..]);
                    assert!(!verify_consistency(m, n, &wrong, &r, &p), "m={m} n={n}");
                }
            }
        }
        assert!(inclusion_proof(&all[..3], 3).is_none());
        assert!(consistency_proof(&all[..3], 4).is_none());
    }
}
