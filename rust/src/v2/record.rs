//! SPEC 1.2: the 138-byte record header (v1's fields plus the beacon of 1.5) and its link.
//! Commitment and chain id are unchanged from v1 and stay in `crate::protocol`.

use super::{Hash, VERSION};
use crate::protocol::ChainId;

pub const HEADER_LEN: usize = 138;

/// A record's header fields as the SPEC lists them. `kind` is a raw byte so that an auditor
/// can recompute the link of a row with an unknown kind exactly as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub chain_id: ChainId,
    pub seq: u64,
    pub time_ms: i64,
    pub kind: u8,
    pub prev: Hash,
    pub commit: Hash,
    /// Tree size of the newest checkpoint the device had verified (0: none).
    pub beacon_size: u64,
    /// That checkpoint's root (32 zero bytes with `beacon_size = 0`).
    pub beacon_root: Hash,
}

impl Header {
    /// `0x02 || chain_id || u64be(seq) || i64be(time_ms) || kind || prev || commit ||
    /// u64be(beacon_size) || beacon_root`.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0] = VERSION;
        h[1..17].copy_from_slice(&self.chain_id);
        h[17..25].copy_from_slice(&self.seq.to_be_bytes());
        h[25..33].copy_from_slice(&self.time_ms.to_be_bytes());
        h[33] = self.kind;
        h[34..66].copy_from_slice(&self.prev);
        h[66..98].copy_from_slice(&self.commit);
        h[98..106].copy_from_slice(&self.beacon_size.to_be_bytes());
        h[106..138].copy_from_slice(&self.beacon_root);
        h
    }

    /// `link = KDF("hashcore 2026-12-01 record link v2", header)`.
    pub fn link(&self) -> Hash {
        link_of_header(&self.encode())
    }
}

/// `KDF(link v2 ctx, header)` of an encoded header.
pub fn link_of_header(header: &[u8; HEADER_LEN]) -> Hash {
    super::derive::link(header)
}
