//! Protocol v2 (`../shared/v2/SPEC.md`): the primitives and the audit.
//!
//! Each file has one job in the SPEC's vocabulary: `record` (the 138-byte header with its
//! beacon, link v2), `entry` (the 41-byte log entry and its leaf hash), `tree` (the RFC 6962
//! SHA-256 tree and its proofs), `keys` (C2SP key names, key IDs, Ed25519 under a usable key),
//! `note` (C2SP signed notes and checkpoint bodies), `cosignature` (tlog-cosignature/v1) and
//! `receipt` (the relay's signed promise of a log position).

pub mod audit;
pub mod cosignature;
pub mod derive;
pub mod derive_many;
pub mod entry;
pub mod keys;
pub mod note;
pub mod receipt;
pub mod record;
pub mod sha256;
pub mod tree;

/// BLAKE3 derive-key contexts new in v2. The date in them is part of the protocol.
pub const LINK_CONTEXT: &str = "hashcore 2026-12-01 record link v2";
pub const RECEIPT_CONTEXT: &str = "hashcore 2026-12-01 receipt v2";

/// The version byte of a v2 header and a v2 log entry.
pub const VERSION: u8 = 2;

/// A SHA-256 digest (tree hashes) or a BLAKE3 digest (links, commits): both 32 bytes.
pub type Hash = [u8; 32];
