//! What a relay checks on every submitted record before it stores it: the commitment,
//! the link it computes itself from the v2 header fields (SPEC v2 1.2, beacon included), a rotation's new key, and the
//! signature under the key the relay holds for that chain and seq.
//!
//! [`check`] does the hashing and the signature work, which is where the time goes, in
//! one call for a whole batch whose sequencing the caller decided; [`sequence`] adds the
//! shape and sequencing checks (seq = head + 1, prev = head link, the key schedule) for
//! callers that hand over the chains' heads instead.

pub mod block_out;
pub mod group;
pub mod sequence;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_sequencing;
#[cfg(test)]
mod tests_wire;
pub mod wire;

use crate::ed25519::{self, BatchItem};
use crate::protocol::{self, ChainId, Hash, Kind, KEY_LEN, SIGNATURE_LEN};
use crate::rules;
use crate::v2::record::Header;

/// One submitted record, with the key the caller expects it to be signed with.
#[derive(Debug, Clone, Copy)]
pub struct Submission<'a> {
    pub chain_id: &'a ChainId,
    pub seq: u64,
    pub time_ms: i64,
    pub kind: u8,
    pub prev: &'a Hash,
    pub commit: &'a Hash,
    /// The beacon of SPEC v2 1.5 (size 0 with 32 zero bytes: none).
    pub beacon_size: u64,
    pub beacon_root: &'a Hash,
    /// Salt and payload, or `None` both when erased (the commitment is then not checked).
    pub salt: Option<&'a [u8]>,
    pub payload: Option<&'a [u8]>,
    pub signature: &'a [u8; SIGNATURE_LEN],
    pub key: &'a [u8; KEY_LEN],
}

/// Why a submission is refused (the first that applies, in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// `commit` is not `KDF(salt || payload)`.
    BadCommit,
    /// A genesis or rotation payload that is not a large-order 32-byte point.
    BadKey,
    /// The signature over the link does not verify under the expected key.
    BadSignature,
}

impl Reject {
    pub const ALL: [Reject; 3] = [Reject::BadCommit, Reject::BadKey, Reject::BadSignature];

    /// The code `check_submissions` returns (0: accepted).
    pub fn code(self) -> u8 {
        match self {
            Reject::BadCommit => 1,
            Reject::BadKey => 2,
            Reject::BadSignature => 3,
        }
    }

    /// A short stable label (the relay's rejected-records metric uses it).
    pub fn reason(self) -> &'static str {
        match self {
            Reject::BadCommit => "bad_commit",
            Reject::BadKey => "bad_key",
            Reject::BadSignature => "bad_signature",
        }
    }

    /// What is wrong, in words.
    pub fn text(self) -> &'static str {
        match self {
            Reject::BadCommit => "commit is not KDF(salt || payload)",
            Reject::BadKey => "the payload is not a valid (large-order) Ed25519 public key",
            Reject::BadSignature => "the signature does not verify under the chain's key",
        }
    }
}

/// Records per parallel work item: big enough that batch verification still coalesces a
/// device's records, small enough that two cores share a 256-record batch.
const CHUNK: usize = 512;

/// Links of every submission and, per submission, why it is refused (`None`: accepted).
/// Chunks run on the caller's rayon pool (call it inside `pool.install`).
pub fn check(subs: &[Submission<'_>]) -> (Vec<Hash>, Vec<Option<Reject>>) {
    use rayon::prelude::*;
    let parts: Vec<(Vec<Hash>, Vec<Option<Reject>>)> =
        subs.par_chunks(CHUNK).map(check_chunk).collect();
    let mut links = Vec::with_capacity(subs.len());
    let mut rejects = Vec::with_capacity(subs.len());
    for (l, r) in parts {
        links.extend(l);
        rejects.extend(r);
    }
    (links, rejects)
}

fn check_chunk(subs: &[Submission<'_>]) -> (Vec<Hash>, Vec<Option<Reject>>) {
    let links: Vec<Hash> = subs
        .iter()
        .map(|s| {
            Header {
                chain_id: *s.chain_id,
                seq: s.seq,
                time_ms: s.time_ms,
                kind: s.kind,
                prev: *s.prev,
                commit: *s.commit,
                beacon_size: s.beacon_size,
                beacon_root: *s.beacon_root,
            }
            .link()
        })
        .collect();
    let mut rejects: Vec<Option<Reject>> = subs.iter().map(content_check).collect();

    // Signatures of the records that passed so far, in one batch (with bisection to name
    // the bad ones): a device's records share a key, which batch verification exploits.
    let pending: Vec<usize> = (0..subs.len()).filter(|&i| rejects[i].is_none()).collect();
    let items: Vec<BatchItem<'_>> = pending
        .iter()
        .map(|&i| BatchItem {
            key: subs[i].key,
            message: &links[i],
            signature: subs[i].signature,
        })
        .collect();
    for (&i, ok) in pending.iter().zip(ed25519::verify_batch_each(&items)) {
        if !ok {
            rejects[i] = Some(Reject::BadSignature);
        }
    }
    (links, rejects)
}

fn content_check(s: &Submission<'_>) -> Option<Reject> {
    if let (Some(salt), Some(payload)) = (s.salt, s.payload) {
        if protocol::commitment(salt, payload) != *s.commit {
            return Some(Reject::BadCommit);
        }
    }
    let carries_key = matches!(rules::kind(s.kind), Some(Kind::Genesis | Kind::Rotation));
    if carries_key && rules::key_payload(s.payload).is_err() {
        return Some(Reject::BadKey);
    }
    None
}
