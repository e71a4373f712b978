//! Pass 3: the relay log (SPEC 2 and the DUPLICATE_LOG_INDEX / NOT_LOGGED rows and the
//! checkpoint verdicts of SPEC 4). The Merkle tree is rebuilt from the bundle's stored
//! links, never taken on trust.

use rayon::prelude::*;

use super::rows::{self, RowState};
use crate::checkpoint;
use crate::columns::RecordColumns;
use crate::ed25519::{self, BatchItem, KeyCheck};
use crate::merkle;
use crate::protocol::Hash;
use crate::verdict::CheckpointVerdict;

/// Checkpoint signatures per batch.
const CHECKPOINT_BATCH: usize = 256;

/// One row of `checkpoints.parquet`; sizes are checked here, not by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    pub tree_size: Option<u64>,
    pub root: Option<Vec<u8>>,
    pub signature: Option<Vec<u8>>,
    /// `None` while not anchored; when present it must be 32 bytes (SPEC 3), or the
    /// checkpoint is BAD_CHECKPOINT_SIG like any other field of the wrong size.
    pub tx_hash: Option<Vec<u8>>,
}

/// (log_index, row), sorted.
pub fn sort_by_log_index(cols: &RecordColumns<'_>, n: usize) -> Vec<(u64, u32)> {
    let mut order: Vec<(u64, u32)> = (0..n)
        .into_par_iter()
        .map(|i| (cols.log_index.get_u64(i).expect("validated"), i as u32))
        .collect();
    order.par_sort_unstable();
    order
}

/// Every row at a log position claimed by more than one row (identical or not).
pub fn mark_duplicates(order: &[(u64, u32)], states: &mut [RowState]) {
    for w in order.windows(2) {
        if w[0].0 == w[1].0 {
            states[w[0].1 as usize].flags |= rows::DUPLICATE;
            states[w[1].1 as usize].flags |= rows::DUPLICATE;
        }
    }
}

pub struct LogOutcome {
    pub verdicts: Vec<CheckpointVerdict>,
    pub missing: Vec<(u64, u64)>,
    pub largest_signed: Option<u64>,
    pub attested_size: u64,
}

/// The perfect-subtree hashes of the rebuildable prefix of the log, level by level
/// (`levels[h][i]` covers leaves `i*2^h .. (i+1)*2^h`), so the root of any prefix is
/// O(log n) hashes away. Building it is one parallel pass over the leaves.
struct Levels(Vec<Vec<Hash>>);

impl Levels {
    fn build(leaves: Vec<Hash>) -> Self {
        let mut levels = vec![leaves];
        while levels.last().is_some_and(|l| l.len() >= 2) {
            let below = levels.last().expect("non-empty");
            let next: Vec<Hash> = below
                .par_chunks_exact(2)
                .map(|pair| merkle::node_hash(&pair[0], &pair[1]))
                .collect();
            levels.push(next);
        }
        Levels(levels)
    }

    fn size(&self) -> u64 {
        self.0[0].len() as u64
    }

    /// `MTH(D[0:m])` for `m <= size`.
    fn prefix_root(&self, m: u64) -> Hash {
        let mut frontier = Vec::new();
        let mut start = 0u64;
        for h in (0..64).rev() {
            if m >> h & 1 == 1 {
                frontier.push(self.0[h][(start >> h) as usize]);
                start += 1 << h;
            }
        }
        let mut iter = frontier.into_iter().rev();
        let Some(mut acc) = iter.next() else {
            return merkle::empty_root();
        };
        for left in iter {
            acc = merkle::node_hash(&left, &acc);
        }
        acc
    }
}

/// Leaf hashes of positions 0..R, where R is the first position that can't be rebuilt:
/// no row holds it, or its rows' links differ (identical rows rebuild).
fn rebuildable_leaves(cols: &RecordColumns<'_>, order: &[(u64, u32)]) -> Vec<Hash> {
    let mut links: Vec<&[u8; 32]> = Vec::new();
    let mut i = 0;
    while i < order.len() && order[i].0 == links.len() as u64 {
        let pos = order[i].0;
        let Some(link) = cols.link.get_array::<32>(order[i].1 as usize) else {
            break;
        };
        let mut j = i + 1;
        let mut agree = true;
        while j < order.len() && order[j].0 == pos {
            agree &= cols.link.get_array::<32>(order[j].1 as usize) == Some(link);
            j += 1;
        }
        if !agree {
            break;
        }
        links.push(link);
        i = j;
    }
    links.par_iter().map(|l| merkle::leaf_hash(*l)).collect()
}

pub fn check_log(
    cols: &RecordColumns<'_>,
    order: &[(u64, u32)],
    cps: &[CheckpointRow],
    log_id: &[u8; 32],
) -> LogOutcome {
    let mut outcome = check_checkpoints(rebuildable_leaves(cols, order), cps, log_id);
    outcome.missing = missing_positions(
        order.iter().map(|&(pos, _)| pos),
        outcome.largest_signed.unwrap_or(0),
    );
    outcome
}

/// The checkpoint verdicts against `leaves`, the leaf hashes of the rebuildable prefix of
/// the log (positions `0..R`, R the first position that can't be rebuilt). `missing` is
/// left empty: it needs every held position, which the caller has.
pub fn check_checkpoints(
    leaves: Vec<Hash>,
    cps: &[CheckpointRow],
    log_id: &[u8; 32],
) -> LogOutcome {
    let t0 = std::time::Instant::now();
    let levels = Levels::build(leaves);
    let rebuilt = levels.size();
    let t1 = t0.elapsed();
    // (tree_size, root) of each validly signed checkpoint. The signatures are verified in
    // batches (they share one key, which the batch coalesces); a batch names its failing
    // items exactly as single verification would (ZIP-215, SPEC 1.3).
    let shaped: Vec<Option<(u64, Hash, [u8; 64])>> = cps
        .iter()
        .map(|cp| {
            if cp.tx_hash.as_ref().is_some_and(|t| t.len() != 32) {
                return None;
            }
            let ts = cp.tree_size?;
            let root: Hash = cp.root.as_deref()?.try_into().ok()?;
            let sig: [u8; 64] = cp.signature.as_deref()?.try_into().ok()?;
            Some((ts, root, sig))
        })
        .collect();
    let digests: Vec<Option<Hash>> = shaped
        .par_iter()
        .map(|s| s.map(|(ts, root, _)| checkpoint::digest(log_id, ts, &root)))
        .collect();
    let candidates: Vec<usize> = (0..cps.len()).filter(|&i| shaped[i].is_some()).collect();
    let items: Vec<BatchItem<'_>> = candidates
        .iter()
        .map(|&i| BatchItem {
            key: log_id,
            message: digests[i].as_ref().expect("shaped"),
            signature: &shaped[i].as_ref().expect("shaped").2,
        })
        .collect();
    // SPEC 1.3: a small-order key is never a valid log_id.
    let key_ok = ed25519::check_public_key(log_id) == KeyCheck::Valid;
    let valid: Vec<bool> = if key_ok {
        items
            .par_chunks(CHECKPOINT_BATCH)
            .flat_map_iter(ed25519::verify_batch_each)
            .collect()
    } else {
        vec![false; items.len()]
    };
    let mut signed: Vec<Option<(u64, Hash)>> = vec![None; cps.len()];
    for (&i, ok) in candidates.iter().zip(valid) {
        if ok {
            let (ts, root, _) = shaped[i].expect("shaped");
            signed[i] = Some((ts, root));
        }
    }
    let rebuilds = |(ts, root): (u64, Hash)| ts <= rebuilt && levels.prefix_root(ts) == root;
    // The smallest validly signed tree size whose root the bundle contradicts: every
    // rebuilding checkpoint at or above it fails a consistency proof against it. (A proof
    // built from the bundle verifies iff the smaller root equals MTH of its prefix.)
    let first_mismatch = signed
        .iter()
        .flatten()
        .filter(|s| s.0 <= rebuilt && !rebuilds(**s))
        .map(|s| s.0)
        .min();
    let verdicts = signed
        .iter()
        .map(|s| match *s {
            None => CheckpointVerdict::BadCheckpointSig,
            Some(s) if !rebuilds(s) => CheckpointVerdict::RootMismatch,
            Some((ts, _)) if first_mismatch.is_some_and(|m| m <= ts) => {
                CheckpointVerdict::Inconsistent
            }
            Some(_) => CheckpointVerdict::Ok,
        })
        .collect();
    let attested_size = signed
        .iter()
        .flatten()
        .filter(|s| rebuilds(**s))
        .map(|s| s.0)
        .max()
        .unwrap_or(0);
    let largest_signed = signed.iter().flatten().map(|s| s.0).max();
    if std::env::var_os("HASHCORE_TRACE").is_some() {
        eprintln!("  levels {t1:?} signatures+roots {:?}", t0.elapsed() - t1);
    }
    LogOutcome {
        verdicts,
        missing: Vec::new(),
        largest_signed,
        attested_size,
    }
}

/// Half-open ranges below `limit` that no row holds; `held` is every held position in
/// ascending order (repeats allowed).
pub fn missing_positions(held: impl IntoIterator<Item = u64>, limit: u64) -> Vec<(u64, u64)> {
    let mut missing = Vec::new();
    let mut expected = 0u64;
    for pos in held {
        if pos >= limit {
            break;
        }
        if pos > expected {
            missing.push((expected, pos));
        }
        expected = expected.max(pos + 1);
    }
    if expected < limit {
        missing.push((expected, limit));
    }
    missing
}
