//! SPEC 2.4: the receipt, the relay's signed promise that an entry is at a log position.

use super::entry::ENTRY_LEN;
use super::keys::verify_under_usable_key;
use super::{Hash, RECEIPT_CONTEXT};
use crate::ed25519;
use crate::protocol::kdf;

/// `KDF("hashcore 2026-12-01 receipt v2", log_key || u64be(log_index) || entry)`.
pub fn digest(log_key: &[u8; 32], log_index: u64, entry: &[u8; ENTRY_LEN]) -> Hash {
    kdf(RECEIPT_CONTEXT, &[log_key, &log_index.to_be_bytes(), entry])
}

/// `receipt_sig = Ed25519-Sign(log secret key, receipt_digest)`.
pub fn sign(log_seed: &[u8; 32], log_index: u64, entry: &[u8; ENTRY_LEN]) -> [u8; 64] {
    let log_key = ed25519::public_key_from_seed(log_seed);
    ed25519::sign(log_seed, &digest(&log_key, log_index, entry))
}

/// Whether `receipt_sig` verifies under the (usable) `log_key` for this position and entry.
pub fn verify(
    log_key: &[u8; 32],
    log_index: u64,
    entry: &[u8; ENTRY_LEN],
    receipt_sig: &[u8; 64],
) -> bool {
    verify_under_usable_key(log_key, &digest(log_key, log_index, entry), receipt_sig)
}
