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

/// The receipts of consecutive log positions from `first_index`, one per entry: the log
/// key is expanded once, not per signature (the relay signs a receipt for every record
/// it acknowledges, and the expansion cost as much as the signature).
pub fn sign_consecutive(
    log_seed: &[u8; 32],
    first_index: u64,
    entries: &[[u8; ENTRY_LEN]],
) -> Option<Vec<[u8; 64]>> {
    use rayon::prelude::*;
    let signer = ed25519::Signer::new(log_seed);
    let log_key = signer.public_key();
    first_index.checked_add(entries.len() as u64)?;
    Some(
        entries
            .par_iter()
            .enumerate()
            .map(|(i, e)| signer.sign(&digest(&log_key, first_index + i as u64, e)))
            .collect(),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_receipts_are_the_single_ones() {
        let seed = [7u8; 32];
        let entries: Vec<[u8; ENTRY_LEN]> = (0..5u8).map(|i| [i; ENTRY_LEN]).collect();
        let sigs = sign_consecutive(&seed, 40, &entries).expect("in range");
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(sigs[i], sign(&seed, 40 + i as u64, e));
        }
        assert_eq!(sign_consecutive(&seed, u64::MAX - 2, &entries), None);
        assert_eq!(sign_consecutive(&seed, 0, &[]), Some(Vec::new()));
    }
}
