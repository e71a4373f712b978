//! What a v2 audit reads (SPEC 4) and whom it trusts (SPEC 3), as plain rows: a reader
//! (Parquet, JSON vectors, a streamed batch) fills these. A byte field of the wrong size is
//! kept (`chain_id`, salt, payload) or read as `None` (the fixed-size ones), so that it is a
//! verdict, not a read error.

use crate::ed25519::{self, KeyCheck};
use crate::v2::Hash;

/// Bytes of a record row, borrowed from the buffers a reader holds (the Arrow columns of a
/// Parquet file; a test's decoded vectors). A row owns nothing: a million of them need no
/// drop pass. (Owned `Cow`s made each row 272 bytes, and building, reading and dropping
/// them were a fifth of a 1M-record audit.)
pub type RowBytes<'a> = &'a [u8];

/// A fixed-size field of a record row: `None` where the value is null or not of its size
/// (SPEC 5.1: MALFORMED, with the same reason either way). 8 bytes, where a slice is 16.
pub type Fixed<'a, const N: usize> = Option<&'a [u8; N]>;

/// One row of `records.parquet`. (`chain_id` keeps its bytes whatever their length: the
/// partitioned audit buckets rows by them.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow<'a> {
    pub log_index: u64,
    pub chain_id: RowBytes<'a>,
    pub seq: Option<u64>,
    pub time_ms: Option<i64>,
    pub kind: Option<u8>,
    pub prev: Fixed<'a, 32>,
    pub commit: Fixed<'a, 32>,
    pub beacon_size: Option<u64>,
    pub beacon_root: Fixed<'a, 32>,
    pub link: Fixed<'a, 32>,
    pub signature: Fixed<'a, 64>,
    pub salt: Option<RowBytes<'a>>,
    pub payload: Option<RowBytes<'a>>,
    pub received_ms: Option<i64>,
}

impl RecordRow<'_> {
    pub fn link32(&self) -> Option<&[u8; 32]> {
        self.link
    }

    pub fn chain_id16(&self) -> Option<&[u8; 16]> {
        self.chain_id.as_ref().try_into().ok()
    }

    pub fn prev32(&self) -> Option<&[u8; 32]> {
        self.prev
    }
}

/// One row of `checkpoints.parquet` (tx_hash and block_number are informational).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    pub tree_size: Option<u64>,
    pub root: Option<Vec<u8>>,
    pub note: Option<Vec<u8>>,
}

/// One receipt (SPEC 4 `receipts.parquet`), from the bundle or handed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRow {
    pub chain_id: Vec<u8>,
    pub seq: Option<u64>,
    pub link: Vec<u8>,
    pub log_index: Option<u64>,
    pub received_ms: Option<i64>,
    pub receipt_sig: Vec<u8>,
}

/// One `Anchored` event sent by the policy's `anchorer` (SPEC 2.5), as the auditor read it
/// from the chain (never from the bundle): its `(tree_size, root)` and whether it is final
/// (`head - block_number + 1 >= confirmations`). The reader has already left out every
/// event of another sender, contract or logId.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnchorRow {
    pub tree_size: u64,
    pub root: Hash,
    pub is_final: bool,
}

/// What a bundle holds, evidence included (notes: one signed note a row), and the anchors
/// read from the chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bundle<'a> {
    pub manifest_origin: String,
    pub manifest_log_key: [u8; 32],
    pub records: Vec<RecordRow<'a>>,
    pub checkpoints: Vec<CheckpointRow>,
    pub receipts: Vec<ReceiptRow>,
    pub notes: Vec<Vec<u8>>,
    /// `None`: anchors are not checked (the policy has no `evm`, or there is no policy);
    /// `Some`: the policy has `evm` and these are the anchorer's anchors (maybe none).
    pub anchors: Option<Vec<AnchorRow>>,
}

/// Where the audited log's identity came from (SPEC 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentitySource {
    Policy,
    Bundle,
}

impl IdentitySource {
    pub fn code(self) -> &'static str {
        match self {
            IdentitySource::Policy => "policy",
            IdentitySource::Bundle => "bundle",
        }
    }
}

/// The auditor's trust: a policy's, or the manifest's identity with SPEC 3's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    pub origin: String,
    pub log_key: [u8; 32],
    /// Distinct policy witnesses `(name, key)`.
    pub witnesses: Vec<(String, [u8; 32])>,
    pub witness_quorum: usize,
    pub max_merge_delay_ms: u64,
    pub max_clock_skew_ms: u64,
    pub source: IdentitySource,
}

impl Trust {
    pub const DEFAULT_MAX_MERGE_DELAY_MS: u64 = 86_400_000;
    pub const DEFAULT_MAX_CLOCK_SKEW_MS: u64 = 300_000;

    /// SPEC 3: an audit without a policy trusts the manifest, quorum 0, default delays.
    pub fn from_manifest(bundle: &Bundle<'_>) -> Self {
        Trust {
            origin: bundle.manifest_origin.clone(),
            log_key: bundle.manifest_log_key,
            witnesses: Vec::new(),
            witness_quorum: 0,
            max_merge_delay_ms: Self::DEFAULT_MAX_MERGE_DELAY_MS,
            max_clock_skew_ms: Self::DEFAULT_MAX_CLOCK_SKEW_MS,
            source: IdentitySource::Bundle,
        }
    }

    /// Decision 11: a log key that is small order or no point verifies nothing.
    pub fn log_key_usable(&self) -> bool {
        ed25519::check_public_key(&self.log_key) == KeyCheck::Valid
    }
}

/// How the audit is asked to read the bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// `--as-of N`: the tree size the bundle is meant to cover (decision 5).
    pub as_of: Option<u64>,
    /// False: no Ed25519 signature is verified (genesis and rotations taken as signed;
    /// a faster, weaker audit, as v1's `--no-signatures`; the report must say so).
    pub check_signatures: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            as_of: None,
            check_signatures: true,
        }
    }
}
