//! Pass 1: the checks that need nothing but the row itself.

use std::cell::RefCell;

use rayon::prelude::*;

use crate::columns::RecordColumns;
use crate::protocol::{self, Kind, COMMIT_CONTEXT, LINK_CONTEXT};
use crate::rules::{self, GenesisFault, KeyFault};
use crate::verdict::{MalformedReason, Verdict};

pub const PARTICIPATES: u16 = 1 << 0;
pub const DUPLICATE: u16 = 1 << 1;
pub const LINK_OK: u16 = 1 << 2;
pub const COMMIT_OK: u16 = 1 << 3;
pub const REDACTED: u16 = 1 << 4;
pub const NO_GENESIS: u16 = 1 << 5;
pub const FORK: u16 = 1 << 6;
pub const GAP: u16 = 1 << 7;
pub const BROKEN: u16 = 1 << 8;
pub const BAD_SIGNATURE: u16 = 1 << 9;

/// Everything learnt about one row; the verdict is the first flag that applies.
#[derive(Debug, Clone, Copy)]
pub struct RowState {
    pub flags: u16,
    pub reason: MalformedReason,
}

impl RowState {
    pub fn malformed(&self) -> bool {
        self.reason != MalformedReason::None
    }

    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    /// True when nothing before BAD_SIGNATURE in SPEC 4's order applies, i.e. the row's
    /// verdict depends on its signature.
    pub fn awaits_signature(&self) -> bool {
        !self.malformed()
            && self.flags & (DUPLICATE | NO_GENESIS | FORK | GAP | BROKEN) == 0
            && self.has(LINK_OK)
            && self.has(COMMIT_OK)
    }

    pub fn verdict(&self, logged: bool) -> Verdict {
        if self.malformed() {
            Verdict::Malformed
        } else if self.has(DUPLICATE) {
            Verdict::DuplicateLogIndex
        } else if !self.has(LINK_OK) {
            Verdict::BadLink
        } else if !self.has(COMMIT_OK) {
            Verdict::BadCommit
        } else if self.has(NO_GENESIS) {
            Verdict::NoGenesis
        } else if self.has(FORK) {
            Verdict::Fork
        } else if self.has(GAP) {
            Verdict::Gap
        } else if self.has(BROKEN) {
            Verdict::BrokenChain
        } else if self.has(BAD_SIGNATURE) {
            Verdict::BadSignature
        } else if !logged {
            Verdict::NotLogged
        } else if self.has(REDACTED) {
            Verdict::OkRedacted
        } else {
            Verdict::Ok
        }
    }
}

thread_local! {
    // Derive-key hashers are prepared once per thread and reset after use: deriving the
    // context key costs a compression, as much as hashing a short header.
    static LINK_HASHER: RefCell<blake3::Hasher> = RefCell::new(blake3::Hasher::new_derive_key(LINK_CONTEXT));
    static COMMIT_HASHER: RefCell<blake3::Hasher> = RefCell::new(blake3::Hasher::new_derive_key(COMMIT_CONTEXT));
}

fn kdf_with(
    hasher: &'static std::thread::LocalKey<RefCell<blake3::Hasher>>,
    parts: &[&[u8]],
) -> [u8; 32] {
    hasher.with(|h| {
        let mut h = h.borrow_mut();
        for p in parts {
            h.update(p);
        }
        let out = *h.finalize().as_bytes();
        h.reset();
        out
    })
}

pub fn check_rows(cols: &RecordColumns<'_>, n: usize) -> Vec<RowState> {
    (0..n).into_par_iter().map(|i| check_row(cols, i)).collect()
}

fn check_row(cols: &RecordColumns<'_>, i: usize) -> RowState {
    let chain_id = cols.chain_id.get_array::<16>(i);
    let prev = cols.prev.get_array::<32>(i);
    let commit = cols.commit.get_array::<32>(i);
    let link = cols.link.get_array::<32>(i);
    let seq = cols.seq.get_u64(i);
    let time_ms = cols.time_ms.get_i64(i);
    let kind = cols.kind.get_u8(i);
    let salt = cols.salt.get(i);
    let payload = cols.payload.get(i);

    let mut flags = 0u16;
    if chain_id.is_some() && seq.is_some() && prev.is_some() && link.is_some() {
        flags |= PARTICIPATES;
    }
    let reason = malformed_reason(cols, i, chain_id, seq, kind, salt, payload);

    if let (Some(c), Some(s), Some(t), Some(k), Some(p), Some(cm), Some(l)) =
        (chain_id, seq, time_ms, kind, prev, commit, link)
    {
        let header = protocol::header(c, s, t, k, p, cm);
        if &kdf_with(&LINK_HASHER, &[&header]) == l {
            flags |= LINK_OK;
        }
        match (salt, payload) {
            (Some(salt), Some(payload)) => {
                if &kdf_with(&COMMIT_HASHER, &[salt, payload]) == cm {
                    flags |= COMMIT_OK;
                }
            }
            // Erased (SPEC 1.1): the commitment stays and can't be checked; both null is
            // the only erased shape, exactly one null is MALFORMED.
            _ => flags |= COMMIT_OK | REDACTED,
        }
    }
    RowState { flags, reason }
}

fn malformed_reason(
    cols: &RecordColumns<'_>,
    i: usize,
    chain_id: Option<&[u8; 16]>,
    seq: Option<u64>,
    kind: Option<u8>,
    salt: Option<&[u8]>,
    payload: Option<&[u8]>,
) -> MalformedReason {
    use MalformedReason as R;
    if chain_id.is_none() {
        return R::ChainIdSize;
    }
    if cols.prev.get_array::<32>(i).is_none() {
        return R::PrevSize;
    }
    if cols.commit.get_array::<32>(i).is_none() {
        return R::CommitSize;
    }
    if cols.link.get_array::<32>(i).is_none() {
        return R::LinkSize;
    }
    if cols.signature.get_array::<64>(i).is_none() {
        return R::SignatureSize;
    }
    let (Some(seq), Some(kind), Some(_)) = (seq, kind, cols.time_ms.get_i64(i)) else {
        return R::NullInteger;
    };
    let Some(kind) = rules::kind(kind) else {
        return R::UnknownKind;
    };
    if !rules::salt_size_ok(salt) {
        return R::SaltSize;
    }
    if !rules::salt_and_payload_agree(salt, payload) {
        return R::SaltPayloadMismatch;
    }
    if kind == Kind::Data {
        return R::None;
    }
    let key = match rules::key_payload(payload) {
        Ok(key) => key,
        Err(KeyFault::Missing) => return R::KeyPayloadMissing,
        Err(KeyFault::Size(_)) => return R::KeyPayloadSize,
        Err(KeyFault::NotAPoint) => return R::KeyNotAPoint,
        Err(KeyFault::SmallOrder) => return R::KeySmallOrder,
    };
    if kind == Kind::Genesis {
        let chain_id = chain_id.expect("checked first");
        match rules::genesis_placed(chain_id, seq, key) {
            Ok(()) => {}
            Err(GenesisFault::NotAtSeqZero) => return R::GenesisNotAtSeqZero,
            Err(GenesisFault::ChainIdNotDerived) => return R::ChainIdNotDerived,
        }
    }
    R::None
}
