//! The per-record rules of SPEC 1 that the auditor (`audit/rows.rs`) and the relay and
//! device (`ingest.rs`) both apply: one function per rule, so that the two can't drift.

use crate::ed25519::{self, KeyCheck};
use crate::protocol::{self, ChainId, Kind, KEY_LEN, SALT_LEN};

/// A stored kind byte as a [`Kind`], `None` when the SPEC knows no such kind.
pub fn kind(raw: u8) -> Option<Kind> {
    Kind::from_u8(raw)
}

/// SPEC 1.1: a salt, when present, is 16 bytes.
pub fn salt_size_ok(salt: Option<&[u8]>) -> bool {
    salt.is_none_or(|s| s.len() == SALT_LEN)
}

/// SPEC 1.1: salt and payload are erased together (both present or both null).
pub fn salt_and_payload_agree(salt: Option<&[u8]>, payload: Option<&[u8]>) -> bool {
    salt.is_some() == payload.is_some()
}

/// Why the payload of a genesis or rotation is not a usable key (SPEC 1.3, 1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFault {
    /// Erased: a key-setting record can't be.
    Missing,
    /// Not 32 bytes.
    Size(usize),
    NotAPoint,
    SmallOrder,
}

/// The key a genesis or rotation payload sets, or why it sets none.
pub fn key_payload(payload: Option<&[u8]>) -> Result<&[u8; KEY_LEN], KeyFault> {
    let payload = payload.ok_or(KeyFault::Missing)?;
    let key = <&[u8; KEY_LEN]>::try_from(payload).map_err(|_| KeyFault::Size(payload.len()))?;
    match ed25519::check_public_key(key) {
        KeyCheck::Valid => Ok(key),
        KeyCheck::NotAPoint => Err(KeyFault::NotAPoint),
        KeyCheck::SmallOrder => Err(KeyFault::SmallOrder),
    }
}

/// Why a genesis is out of place or names another chain (SPEC 1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenesisFault {
    NotAtSeqZero,
    ChainIdNotDerived,
}

/// A genesis sits at seq 0 and its chain_id is derived from its key.
pub fn genesis_placed(
    chain_id: &ChainId,
    seq: u64,
    key: &[u8; KEY_LEN],
) -> Result<(), GenesisFault> {
    if seq != 0 {
        return Err(GenesisFault::NotAtSeqZero);
    }
    if *chain_id != protocol::chain_id_for_key(key) {
        return Err(GenesisFault::ChainIdNotDerived);
    }
    Ok(())
}
