//! SPEC 2.5 / 5.2 / 5.4 with `evm`: each anchor's verdict, and which checkpoints the
//! anchorer's final anchors vouch for (NOT_ANCHORED / UNCONFIRMED otherwise).
//!
//! The anchors come from the chain, read by the caller (hashcore/anchor/policy_anchors.py):
//! only `Anchored` events of the policy's contract and logId = log_key sent by the policy's
//! `anchorer`, from `from_block`, each with its finality. Everything the SPEC decides
//! from them is decided here, beside the other verdicts.

use std::collections::HashSet;

use super::checkpoints::CheckpointState;
use super::input::AnchorRow;
use super::log::Log;
use super::verdict::{AnchorVerdict, CheckpointVerdict};
use crate::v2::Hash;

/// Each anchor's verdict (see [`AnchorVerdict`]); `covered` is `T`.
pub fn verdicts(anchors: &[AnchorRow], log: &Log, covered: u64) -> Vec<AnchorVerdict> {
    anchors
        .iter()
        .map(|a| {
            if a.tree_size <= covered && log.root(a.tree_size) != Some(a.root) {
                AnchorVerdict::Contradicted
            } else if !a.is_final {
                AnchorVerdict::Unconfirmed
            } else if a.tree_size > covered {
                AnchorVerdict::BeyondBundle
            } else {
                AnchorVerdict::Ok
            }
        })
        .collect()
}

/// SPEC 5.4: a final anchor larger than `T` makes the bundle INCOMPLETE.
pub fn beyond_bundle(anchors: &[AnchorRow], covered: u64) -> bool {
    anchors.iter().any(|a| a.is_final && a.tree_size > covered)
}

/// SPEC 5.2's NOT_ANCHORED / UNCONFIRMED, in place of OK: a checkpoint is anchored when it,
/// or an attesting checkpoint of larger tree size, has a final anchor of its `(tree_size,
/// root)` (both rebuild from the same log, so they are consistent); UNCONFIRMED where only
/// an anchor not yet final does so. Earlier verdicts stand.
pub fn apply_to_checkpoints(
    verdicts: &mut [CheckpointVerdict],
    states: &[CheckpointState],
    anchors: &[AnchorRow],
    log: &Log,
) {
    let all: HashSet<(u64, Hash)> = anchors.iter().map(|a| (a.tree_size, a.root)).collect();
    let finals: HashSet<(u64, Hash)> = anchors
        .iter()
        .filter(|a| a.is_final)
        .map(|a| (a.tree_size, a.root))
        .collect();
    let attesting: Vec<(u64, Hash)> = states
        .iter()
        .filter(|s| s.attests(log))
        .filter_map(|s| s.signed.as_ref().map(|cp| (cp.tree_size, cp.root)))
        .collect();
    // The largest attesting checkpoint with a (final) anchor vouches for every smaller one.
    let largest = |set: &HashSet<(u64, Hash)>| {
        attesting
            .iter()
            .filter(|key| set.contains(key))
            .map(|&(size, _)| size)
            .max()
    };
    let (largest_final, largest_any) = (largest(&finals), largest(&all));
    let vouched = |set: &HashSet<(u64, Hash)>, largest: Option<u64>, key: (u64, Hash)| {
        set.contains(&key) || largest.is_some_and(|l| l > key.0)
    };
    for (verdict, state) in verdicts.iter_mut().zip(states) {
        if *verdict != CheckpointVerdict::Ok {
            continue;
        }
        let Some(cp) = state.signed.as_ref() else {
            continue;
        };
        let key = (cp.tree_size, cp.root);
        if vouched(&finals, largest_final, key) {
            continue;
        }
        *verdict = if vouched(&all, largest_any, key) {
            CheckpointVerdict::Unconfirmed
        } else {
            CheckpointVerdict::NotAnchored
        };
    }
}
