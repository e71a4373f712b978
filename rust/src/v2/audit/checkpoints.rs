//! SPEC 5.2's checkpoint verdicts, which checkpoints attest, `T`, and the witnesses'
//! valid cosignature times on each checkpoint.

use super::input::{CheckpointRow, Trust};
use super::log::Log;
use super::verdict::CheckpointVerdict;
use crate::v2::cosignature::witness_times;
use crate::v2::note::{verify_checkpoint, Checkpoint, Note};

/// A note with "a valid relay line" (decision 2): valid for the trusted log, and a
/// checkpoint body naming the trusted origin. `None` otherwise.
pub fn relay_signed(note: &[u8], trust: &Trust) -> Option<(Note, Checkpoint)> {
    if !trust.log_key_usable() {
        return None;
    }
    verify_checkpoint(note, &trust.origin, &trust.log_key).ok()
}

/// What the audit learns of one bundle checkpoint.
#[derive(Debug, Clone)]
pub struct CheckpointState {
    /// Its note's body, where the note has a valid relay line.
    pub signed: Option<Checkpoint>,
    /// Whether the row agrees with that body (its tree_size and a 32-byte root equal).
    pub row_matches: bool,
    /// Per policy witness (in the policy's order): its valid cosignature times.
    pub witness_times: Vec<Vec<u64>>,
}

impl CheckpointState {
    /// The state of one checkpoint, its signatures verified one by one. The audit takes
    /// them all at once, batched (`signatures::states`), to the same states.
    pub fn new(row: &CheckpointRow, trust: &Trust) -> Self {
        let signed = row.note.as_deref().and_then(|n| relay_signed(n, trust));
        let witness_times = match &signed {
            Some((note, _)) => trust
                .witnesses
                .iter()
                .map(|(name, key)| witness_times(note, name, key))
                .collect(),
            None => vec![Vec::new(); trust.witnesses.len()],
        };
        Self::of(row, signed.map(|(_, cp)| cp), witness_times)
    }

    /// The state of a checkpoint row whose note's relay-signed body is `signed` (where its
    /// relay line verified) and whose witnesses validly cosigned at `witness_times`.
    pub fn of(
        row: &CheckpointRow,
        signed: Option<Checkpoint>,
        witness_times: Vec<Vec<u64>>,
    ) -> Self {
        let row_matches = signed.as_ref().is_some_and(|cp| {
            row.tree_size == Some(cp.tree_size) && row.root.as_deref() == Some(&cp.root[..])
        });
        CheckpointState {
            signed,
            row_matches,
            witness_times,
        }
    }

    /// SPEC 5.1: it attests when its relay line verifies and the log rebuilds its root
    /// (judged by its body, what the relay signed: decision 2).
    pub fn attests(&self, log: &Log) -> bool {
        self.signed
            .as_ref()
            .is_some_and(|cp| log.root(cp.tree_size) == Some(cp.root))
    }

    fn witnesses_with_a_line(&self) -> usize {
        self.witness_times.iter().filter(|t| !t.is_empty()).count()
    }
}

/// `T`: the largest tree size of a bundle checkpoint with a valid relay line (0: none).
pub fn covered_size(states: &[CheckpointState]) -> u64 {
    states
        .iter()
        .filter_map(|s| s.signed.as_ref().map(|cp| cp.tree_size))
        .max()
        .unwrap_or(0)
}

/// Each checkpoint's verdict, the first that applies (anchors not checked: decision 15).
pub fn verdicts(states: &[CheckpointState], log: &Log, trust: &Trust) -> Vec<CheckpointVerdict> {
    // A checkpoint whose root rebuilds is consistent with another signed one of size m <= n
    // iff that one's root is the log's MTH(m) (the proof is built from the same log). So
    // it is INCONSISTENT iff some signed checkpoint that does not rebuild is no larger.
    let smallest_unrebuilt = states
        .iter()
        .filter(|s| s.signed.is_some() && !s.attests(log))
        .filter_map(|s| s.signed.as_ref().map(|cp| cp.tree_size))
        .min();
    states
        .iter()
        .map(|state| {
            let Some(cp) = state.signed.as_ref().filter(|_| state.row_matches) else {
                return CheckpointVerdict::BadCheckpointSig;
            };
            if !state.attests(log) {
                return CheckpointVerdict::RootMismatch;
            }
            if smallest_unrebuilt.is_some_and(|m| m <= cp.tree_size) {
                return CheckpointVerdict::Inconsistent;
            }
            if state.witnesses_with_a_line() < trust.witness_quorum {
                return CheckpointVerdict::Unwitnessed;
            }
            CheckpointVerdict::Ok
        })
        .collect()
}
