//! The complete check of submitted records against their chains' heads: shape (sizes,
//! version, kind, limits), sequencing (seq = head + 1, prev = the head's link, a genesis
//! only to start a chain), the key schedule (a rotation's key signs from the next record
//! on), the claimed link, the commitment, the keys and the signatures. The relay's ledger
//! and the device use it; the rules shared with the auditor are in `crate::rules`.
//!
//! Faults are reported in the ledger's order of precedence: within a segment (one
//! chain's records after its head), the first record with a shape fault, else (a new
//! chain) a genesis that does not set a key or name its chain, else the first record of
//! another chain or out of sequence, else the first claimed link that is wrong, else the
//! first `prev` that does not link, else the first commitment, key or signature that
//! fails.

use std::fmt;

use super::{check, Reject, Submission};
use crate::protocol::{ChainId, Hash, Kind, CHAIN_ID_LEN, KEY_LEN, SALT_LEN, SIGNATURE_LEN};
use crate::protocol::{COMMIT_LEN, LINK_LEN};
use crate::rules::{self, KeyFault};
use crate::v2::VERSION;

/// A submitted record's fields as received: nothing checked yet.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub version: u32,
    pub chain_id: &'a [u8],
    pub seq: u64,
    pub time_ms: i64,
    pub kind: u32,
    pub prev: &'a [u8],
    pub commit: &'a [u8],
    /// The beacon of SPEC v2 1.5, as received.
    pub beacon_size: u64,
    pub beacon_root: &'a [u8],
    /// `None` (with `payload`) once erased.
    pub salt: Option<&'a [u8]>,
    pub payload: Option<&'a [u8]>,
    pub signature: &'a [u8],
    /// The link the sender claims; empty when it claims none.
    pub link: &'a [u8],
}

/// What the caller accepts beyond the SPEC's sizes (the relay's request limits).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_payload_bytes: usize,
    /// The largest seq the caller can store.
    pub max_seq: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload_bytes: usize::MAX,
            max_seq: u64::MAX,
        }
    }
}

/// A chain's last accepted record: what the next one must continue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    /// `None` when the caller does not know it yet (a head staged by a batch that is
    /// being checked too): the first record's `prev` is then the caller's to check.
    pub link: Option<Hash>,
    /// The key in force for the next record.
    pub key: [u8; KEY_LEN],
}

/// Why a record is refused. `reason()` is a short stable label; `Display` says what is
/// wrong (without naming the record: the caller knows how to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Version(u32),
    Size {
        field: &'static str,
        expected: usize,
        got: usize,
    },
    LinkSize(usize),
    /// `beacon_size = 0` with a non-zero `beacon_root` (SPEC v2 5.1 MALFORMED).
    BeaconRootNotZero,
    SaltPayloadMismatch,
    PayloadTooLarge {
        got: usize,
        limit: usize,
    },
    SeqOutOfRange(u64),
    /// A chain's first record is not a kind-0 record at seq 0.
    NotAGenesis,
    /// A genesis that does not start its chain.
    GenesisAfterStart,
    UnknownKind(u32),
    /// Not the chain_id of the segment's first record.
    OtherChain {
        expected: ChainId,
        got: Vec<u8>,
    },
    /// The segment's first seq does not continue the head.
    Gap {
        after: u64,
        got: u64,
    },
    /// A seq that an earlier record of the segment has.
    Repeated,
    /// A seq that does not follow the record before it in the segment.
    OutOfOrder {
        after: u64,
    },
    GenesisKeySize(usize),
    GenesisKeyInvalid,
    KeyErased,
    ChainIdNotDerived,
    GenesisPrevNotZero,
    /// The claimed link is not the link of the record's header.
    LinkMismatch,
    /// `prev` is not the link of the record at seq - 1.
    BrokenChain {
        seq: u64,
    },
    Rejected(Reject),
}

impl Fault {
    /// A stable name of the fault (finer than [`Fault::reason`]), for callers that word
    /// their own messages.
    pub fn code(&self) -> &'static str {
        match self {
            Fault::Version(_) => "version",
            Fault::Size { .. } => "size",
            Fault::LinkSize(_) => "link_size",
            Fault::BeaconRootNotZero => "beacon_root_not_zero",
            Fault::SaltPayloadMismatch => "salt_payload_mismatch",
            Fault::PayloadTooLarge { .. } => "payload_too_large",
            Fault::SeqOutOfRange(_) => "seq_out_of_range",
            Fault::NotAGenesis => "not_a_genesis",
            Fault::GenesisAfterStart => "genesis_after_start",
            Fault::UnknownKind(_) => "unknown_kind",
            Fault::OtherChain { .. } => "other_chain",
            Fault::Gap { .. } => "gap",
            Fault::Repeated => "repeated",
            Fault::OutOfOrder { .. } => "out_of_order",
            Fault::GenesisKeySize(_) => "genesis_key_size",
            Fault::GenesisKeyInvalid => "genesis_key_invalid",
            Fault::KeyErased => "key_erased",
            Fault::ChainIdNotDerived => "chain_id_not_derived",
            Fault::GenesisPrevNotZero => "genesis_prev_not_zero",
            Fault::LinkMismatch => "link_mismatch",
            Fault::BrokenChain { .. } => "broken_chain",
            Fault::Rejected(r) => r.reason(),
        }
    }

    /// The label of the relay's rejected-records metric.
    pub fn reason(&self) -> &'static str {
        match self {
            Fault::PayloadTooLarge { .. } => "too_large",
            Fault::Gap { .. } | Fault::OutOfOrder { .. } => "gap",
            Fault::BrokenChain { .. } => "broken_chain",
            Fault::LinkMismatch => "link_mismatch",
            Fault::GenesisKeySize(_) | Fault::GenesisKeyInvalid => "bad_key",
            Fault::Rejected(r) => r.reason(),
            _ => "malformed",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Version(v) => write!(f, "unknown version {v} (expected {VERSION})"),
            Fault::Size {
                field,
                expected,
                got,
            } => write!(f, "{field} must be {expected} bytes, got {got}"),
            Fault::LinkSize(got) => write!(f, "link must be empty or 32 bytes, got {got}"),
            Fault::BeaconRootNotZero => write!(
                f,
                "beacon_size is 0 but beacon_root is not 32 zero bytes (SPEC 1.5: no beacon)"
            ),
            Fault::SaltPayloadMismatch => write!(f, "salt and payload are erased together"),
            Fault::PayloadTooLarge { got, limit } => {
                write!(f, "payload of {got} bytes exceeds the limit of {limit}")
            }
            Fault::SeqOutOfRange(seq) => write!(f, "seq {seq} is out of range"),
            Fault::NotAGenesis => write!(f, "enrollment needs the kind-0 record at seq 0"),
            Fault::GenesisAfterStart => {
                write!(f, "a genesis (kind 0) is only accepted through Enroll")
            }
            Fault::UnknownKind(k) => write!(f, "unknown kind {k}"),
            Fault::OtherChain { expected, got } => write!(
                f,
                "chain_id {} is not {}",
                hex(got),
                hex(expected.as_slice())
            ),
            Fault::Gap { after, got } => write!(
                f,
                "seq jumps from {after} to {got} (send seq {} first)",
                after + 1
            ),
            Fault::Repeated => write!(f, "appears twice in the batch"),
            Fault::OutOfOrder { after } => write!(
                f,
                "follows seq {after} of its chain in the batch (a chain's records must come \
                 in seq order, without gaps)"
            ),
            Fault::GenesisKeySize(got) => {
                write!(f, "genesis payload must be a 32-byte public key, got {got}")
            }
            Fault::GenesisKeyInvalid => {
                write!(f, "genesis payload is not a valid (large-order) public key")
            }
            Fault::KeyErased => write!(f, "a genesis or rotation record cannot be erased"),
            Fault::ChainIdNotDerived => {
                write!(f, "genesis chain_id is not derived from its public key")
            }
            Fault::GenesisPrevNotZero => write!(f, "genesis prev must be 32 zero bytes"),
            Fault::LinkMismatch => write!(f, "link is not the link of the record's header"),
            Fault::BrokenChain { seq } => {
                write!(f, "prev is not the link of seq {}", seq.saturating_sub(1))
            }
            Fault::Rejected(r) => write!(f, "{}", r.text()),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn size(field: &'static str, expected: usize, got: &[u8]) -> Result<(), Fault> {
    if got.len() == expected {
        Ok(())
    } else {
        Err(Fault::Size {
            field,
            expected,
            got: got.len(),
        })
    }
}

/// Sizes, version, kind and limits: what can be refused without looking at any chain.
/// `starts_chain`: the record must be the genesis of a new chain (kind 0 at seq 0);
/// otherwise a genesis is refused.
pub fn check_shape(rec: &Received<'_>, limits: &Limits, starts_chain: bool) -> Result<(), Fault> {
    if rec.version != u32::from(VERSION) {
        return Err(Fault::Version(rec.version));
    }
    size("chain_id", CHAIN_ID_LEN, rec.chain_id)?;
    size("prev", LINK_LEN, rec.prev)?;
    size("commit", COMMIT_LEN, rec.commit)?;
    if let Some(salt) = rec.salt {
        size("salt", SALT_LEN, salt)?;
    }
    size("signature", SIGNATURE_LEN, rec.signature)?;
    size("beacon_root", LINK_LEN, rec.beacon_root)?;
    if rec.beacon_size == 0 && rec.beacon_root.iter().any(|&b| b != 0) {
        return Err(Fault::BeaconRootNotZero);
    }
    if !rec.link.is_empty() && rec.link.len() != LINK_LEN {
        return Err(Fault::LinkSize(rec.link.len()));
    }
    if !rules::salt_and_payload_agree(rec.salt, rec.payload) {
        return Err(Fault::SaltPayloadMismatch);
    }
    let payload_len = rec.payload.map_or(0, <[u8]>::len);
    if payload_len > limits.max_payload_bytes {
        return Err(Fault::PayloadTooLarge {
            got: payload_len,
            limit: limits.max_payload_bytes,
        });
    }
    if rec.seq > limits.max_seq {
        return Err(Fault::SeqOutOfRange(rec.seq));
    }
    let kind = u8::try_from(rec.kind).ok().and_then(rules::kind);
    if starts_chain {
        if kind != Some(Kind::Genesis) || rec.seq != 0 {
            return Err(Fault::NotAGenesis);
        }
        return Ok(());
    }
    match kind {
        Some(Kind::Genesis) => Err(Fault::GenesisAfterStart),
        Some(Kind::Data | Kind::Rotation) => Ok(()),
        None => Err(Fault::UnknownKind(rec.kind)),
    }
}

/// One chain's records, in seq order, after its head (`None`: a new chain, whose first
/// record must be its genesis).
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub head: Option<Head>,
    pub records: &'a [Received<'a>],
}

/// What [`check_segments`] found for one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The link of every record (computed from its header), up to the first fault's
    /// phase; empty when a shape or sequencing fault stopped the check before hashing.
    pub links: Vec<Hash>,
    /// The first fault (index within the segment), or the chain's new head.
    pub outcome: Result<Option<Head>, (usize, Fault)>,
}

/// The shape and sequencing phases of one segment; on success the key each record must
/// be signed with.
fn sequence(segment: &Segment<'_>, limits: &Limits) -> Result<Vec<[u8; KEY_LEN]>, (usize, Fault)> {
    let records = segment.records;
    for (i, rec) in records.iter().enumerate() {
        check_shape(rec, limits, segment.head.is_none() && i == 0).map_err(|f| (i, f))?;
    }
    let Some(first) = records.first() else {
        return Ok(Vec::new());
    };
    let chain_id: &ChainId = first.chain_id.try_into().expect("shape checked");
    // A new chain's genesis names the chain: checked before the records are held to it.
    let mut key = match segment.head {
        Some(head) => head.key,
        None => *genesis_key(first, chain_id).map_err(|f| (0, f))?,
    };
    for (i, rec) in records.iter().enumerate() {
        if rec.chain_id != chain_id.as_slice() {
            return Err((
                i,
                Fault::OtherChain {
                    expected: *chain_id,
                    got: rec.chain_id.to_vec(),
                },
            ));
        }
    }
    // seq: the head's + 1 (a new chain starts at 0: shape checked), then one more each.
    if let Some(head) = segment.head {
        if head.seq.checked_add(1) != Some(first.seq) {
            return Err((
                0,
                Fault::Gap {
                    after: head.seq,
                    got: first.seq,
                },
            ));
        }
    }
    for i in 1..records.len() {
        let (before, seq) = (records[i - 1].seq, records[i].seq);
        if records[..i].iter().any(|r| r.seq == seq) {
            return Err((i, Fault::Repeated));
        }
        if before.checked_add(1) != Some(seq) {
            return Err((i, Fault::OutOfOrder { after: before }));
        }
    }
    let mut keys = Vec::with_capacity(records.len());
    for rec in records {
        keys.push(key);
        // A bad key is refused (BAD_KEY) with the rotation, in the content phase; the
        // records after it are still judged under the key before.
        if let Some(next) = rules::rotated_key(kind_of(rec), rec.payload) {
            key = *next;
        }
    }
    Ok(keys)
}

fn kind_of(rec: &Received<'_>) -> Option<Kind> {
    u8::try_from(rec.kind).ok().and_then(rules::kind)
}

/// The key a genesis sets, after the checks the ledger makes at enrollment.
fn genesis_key<'a>(genesis: &Received<'a>, chain_id: &ChainId) -> Result<&'a [u8; KEY_LEN], Fault> {
    let key = rules::key_payload(genesis.payload).map_err(|f| match f {
        KeyFault::Missing => Fault::KeyErased,
        KeyFault::Size(n) => Fault::GenesisKeySize(n),
        KeyFault::NotAPoint | KeyFault::SmallOrder => Fault::GenesisKeyInvalid,
    })?;
    if rules::genesis_placed(chain_id, genesis.seq, key).is_err() {
        return Err(Fault::ChainIdNotDerived);
    }
    if !rules::genesis_prev_ok(genesis.prev) {
        return Err(Fault::GenesisPrevNotZero);
    }
    Ok(key)
}

/// A shape-checked record as a submission signed with `key`.
fn submission<'a>(rec: &Received<'a>, key: &'a [u8; KEY_LEN]) -> Submission<'a> {
    Submission {
        chain_id: rec.chain_id.try_into().expect("shape checked"),
        seq: rec.seq,
        time_ms: rec.time_ms,
        kind: rec.kind as u8,
        prev: rec.prev.try_into().expect("shape checked"),
        commit: rec.commit.try_into().expect("shape checked"),
        beacon_size: rec.beacon_size,
        beacon_root: rec.beacon_root.try_into().expect("shape checked"),
        salt: rec.salt,
        payload: rec.payload,
        signature: rec.signature.try_into().expect("shape checked"),
        key,
    }
}

/// Checks each segment completely; the hashing and signatures of all of them run as one
/// parallel batch (call it inside `pool.install`).
pub fn check_segments(segments: &[Segment<'_>], limits: &Limits) -> Vec<Checked> {
    let sequenced: Vec<_> = segments.iter().map(|s| sequence(s, limits)).collect();
    let subs: Vec<Submission<'_>> = segments
        .iter()
        .zip(&sequenced)
        .filter_map(|(segment, keys)| Some((segment, keys.as_ref().ok()?)))
        .flat_map(|(segment, keys)| {
            segment
                .records
                .iter()
                .zip(keys)
                .map(|(rec, key)| submission(rec, key))
        })
        .collect();
    let (links, rejects) = check(&subs);
    let mut at = 0;
    segments
        .iter()
        .zip(&sequenced)
        .map(|(segment, keys)| {
            let keys = match keys {
                Err(fault) => {
                    return Checked {
                        links: Vec::new(),
                        outcome: Err(fault.clone()),
                    }
                }
                Ok(keys) => keys,
            };
            let n = keys.len();
            let (links, rejects) = (&links[at..at + n], &rejects[at..at + n]);
            at += n;
            Checked {
                links: links.to_vec(),
                outcome: content(segment, keys, links, rejects),
            }
        })
        .collect()
}

/// The phases after hashing, in order: claimed links, prev links, rejects.
fn content(
    segment: &Segment<'_>,
    keys: &[[u8; KEY_LEN]],
    links: &[Hash],
    rejects: &[Option<Reject>],
) -> Result<Option<Head>, (usize, Fault)> {
    let records = segment.records;
    let claimed_wrong = |i: &usize| !records[*i].link.is_empty() && records[*i].link != links[*i];
    if let Some(i) = (0..records.len()).find(claimed_wrong) {
        return Err((i, Fault::LinkMismatch));
    }
    for (i, rec) in records.iter().enumerate() {
        let expected: &Hash = match (i, segment.head.as_ref()) {
            (
                0,
                Some(Head {
                    link: Some(link), ..
                }),
            ) => link,
            (0, Some(Head { link: None, .. })) => continue, // the caller checks it
            (0, None) => continue, // the genesis: its prev was checked to be zero
            _ => &links[i - 1],
        };
        if rec.prev != expected.as_slice() {
            return Err((i, Fault::BrokenChain { seq: rec.seq }));
        }
    }
    if let Some(i) = rejects.iter().position(Option::is_some) {
        return Err((i, Fault::Rejected(rejects[i].expect("found"))));
    }
    Ok(records.last().map(|last| {
        let key = rules::rotated_key(kind_of(last), last.payload)
            .copied()
            .unwrap_or(*keys.last().expect("one key a record"));
        Head {
            seq: last.seq,
            link: Some(*links.last().expect("one link a record")),
            key,
        }
    }))
}
