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

/// SPEC 1.4: a genesis's `prev` is 32 zero bytes (there is no record before it).
pub fn genesis_prev_ok(prev: &[u8]) -> bool {
    prev == [0u8; protocol::LINK_LEN]
}

/// SPEC 1.4: a rotation's key signs from the record after it, never the rotation itself,
/// which the key in force before it signs. `Some(new key)` when `kind` is a rotation
/// whose payload is a usable key.
pub fn rotated_key(kind: Option<Kind>, payload: Option<&[u8]>) -> Option<&[u8; KEY_LEN]> {
    (kind == Some(Kind::Rotation))
        .then(|| key_payload(payload).ok())
        .flatten()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_says_yes_and_no() {
        let key = ed25519::public_key_from_seed(&[3; 32]);
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(key_payload(Some(&key)), Ok(&key));
        assert_eq!(key_payload(None), Err(KeyFault::Missing));
        assert_eq!(key_payload(Some(&key[..31])), Err(KeyFault::Size(31)));
        assert_eq!(key_payload(Some(&identity)), Err(KeyFault::SmallOrder));
        assert_eq!(rotated_key(Some(Kind::Rotation), Some(&key)), Some(&key));
        assert_eq!(rotated_key(Some(Kind::Data), Some(&key)), None);
        assert_eq!(rotated_key(Some(Kind::Rotation), Some(&identity)), None);
        assert!(genesis_prev_ok(&[0; 32]) && !genesis_prev_ok(&[0; 31]));
        assert!(!genesis_prev_ok(&[1; 32]));
        let id = protocol::chain_id_for_key(&key);
        assert_eq!(genesis_placed(&id, 0, &key), Ok(()));
        assert_eq!(
            genesis_placed(&id, 1, &key),
            Err(GenesisFault::NotAtSeqZero)
        );
        assert_eq!(
            genesis_placed(&[0; 16], 0, &key),
            Err(GenesisFault::ChainIdNotDerived)
        );
        assert!(
            salt_size_ok(None) && salt_size_ok(Some(&[0; 16])) && !salt_size_ok(Some(&[0; 15]))
        );
        assert!(salt_and_payload_agree(None, None) && !salt_and_payload_agree(Some(&[]), None));
        assert_eq!(kind(2), Some(Kind::Rotation));
        assert_eq!(kind(3), None);
    }
}
