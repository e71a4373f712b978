//! SPEC 2.1: the 41-byte log entry that binds a record's link to the relay's receive time,
//! and its RFC 6962 leaf hash.

use super::tree::leaf_hash;
use super::{Hash, VERSION};

pub const ENTRY_LEN: usize = 41;

/// `0x02 || link || i64be(received_ms)`.
pub fn entry(link: &Hash, received_ms: i64) -> [u8; ENTRY_LEN] {
    let mut e = [0u8; ENTRY_LEN];
    e[0] = VERSION;
    e[1..33].copy_from_slice(link);
    e[33..].copy_from_slice(&received_ms.to_be_bytes());
    e
}

/// `SHA256(0x00 || entry)` of the entry of `link` received at `received_ms`.
pub fn entry_leaf_hash(link: &Hash, received_ms: i64) -> Hash {
    leaf_hash(&entry(link, received_ms))
}
