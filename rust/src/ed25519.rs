//! Ed25519 with ZIP-215 verification (SPEC 1.3) on top of `ed25519-zebra`, which
//! implements ZIP-215 so that batch and single verification agree on every input.

use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_zebra::{batch, Signature, SigningKey, VerificationKey, VerificationKeyBytes};
use rand_core::{CryptoRng, OsRng, RngCore};

use crate::protocol::{KEY_LEN, SIGNATURE_LEN};

/// What a candidate public key decodes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    /// A point of large order: usable as a genesis key, rotation key or `log_id`.
    Valid,
    /// The bytes are not the encoding of a curve point.
    NotAPoint,
    /// A point of small order (in the 8-torsion); never valid in hashcore.
    SmallOrder,
}

/// Decodes the key the way curve25519-dalek does (non-canonical `y` reduced mod p, `x = 0`
/// with the sign bit accepted) and refuses small-order points.
pub fn check_public_key(key: &[u8; KEY_LEN]) -> KeyCheck {
    match CompressedEdwardsY(*key).decompress() {
        None => KeyCheck::NotAPoint,
        Some(point) if point.is_small_order() => KeyCheck::SmallOrder,
        Some(_) => KeyCheck::Valid,
    }
}

/// ZIP-215 single verification. Never panics; any malformed input is simply invalid.
pub fn verify(key: &[u8; KEY_LEN], message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
    let Ok(vk) = VerificationKey::try_from(*key) else {
        return false;
    };
    vk.verify(&Signature::from_bytes(signature), message)
        .is_ok()
}

/// One item of a batch: a key, a message (a record's or receipt's 32-byte digest, a
/// checkpoint note's text, a cosignature's message) and a signature.
#[derive(Debug, Clone, Copy)]
pub struct BatchItem<'a> {
    pub key: &'a [u8; KEY_LEN],
    pub message: &'a [u8],
    pub signature: &'a [u8; SIGNATURE_LEN],
}

/// ZIP-215 batch verification: true iff every item verifies. ed25519-zebra coalesces the
/// items that share a key, so a device's records cost roughly one point each.
pub fn verify_batch(items: &[BatchItem<'_>]) -> bool {
    match items {
        [] => true,
        [one] => verify(one.key, one.message, one.signature),
        _ => {
            let mut verifier = batch::Verifier::new();
            for item in items {
                verifier.queue((
                    VerificationKeyBytes::from(*item.key),
                    Signature::from_bytes(item.signature),
                    item.message,
                ));
            }
            verifier.verify(BatchRng::new()).is_ok()
        }
    }
}

/// The random coefficients of one batch equation (a 128-bit `z_i` per signature) from a
/// single 32-byte `OsRng` seed, expanded by BLAKE3's keyed XOF. ed25519-zebra draws each
/// `z_i` from the RNG it is given, and `OsRng` is a `getrandom` system call per draw: one
/// per record on the relay's hot path. The coefficients only need to be unpredictable to
/// whoever made the signatures, which a fresh secret key for BLAKE3 gives.
struct BatchRng(blake3::OutputReader);

impl BatchRng {
    fn new() -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        BatchRng(blake3::Hasher::new_keyed(&key).finalize_xof())
    }
}

impl RngCore for BatchRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.0.fill(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.0.fill(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

impl CryptoRng for BatchRng {}

/// Verifies a batch and names the items that fail: the whole batch first, and on failure
/// halves recursively so that a few bad signatures among many cost few extra checks.
/// Returns one bool per item.
pub fn verify_batch_each(items: &[BatchItem<'_>]) -> Vec<bool> {
    let mut out = vec![true; items.len()];
    bisect(items, &mut out);
    out
}

fn bisect(items: &[BatchItem<'_>], out: &mut [bool]) {
    if verify_batch(items) {
        return;
    }
    if items.len() <= 4 {
        for (item, ok) in items.iter().zip(out.iter_mut()) {
            *ok = verify(item.key, item.message, item.signature);
        }
        return;
    }
    let mid = items.len() / 2;
    let (left_out, right_out) = out.split_at_mut(mid);
    bisect(&items[..mid], left_out);
    bisect(&items[mid..], right_out);
}

/// RFC 8032 public key of a 32-byte secret seed.
pub fn public_key_from_seed(seed: &[u8; 32]) -> [u8; KEY_LEN] {
    let sk = SigningKey::from(*seed);
    VerificationKeyBytes::from(&sk).into()
}

/// RFC 8032 signature (deterministic) with a 32-byte secret seed.
pub fn sign(seed: &[u8; 32], message: &[u8]) -> [u8; SIGNATURE_LEN] {
    SigningKey::from(*seed).sign(message).to_bytes()
}

/// A secret seed expanded once (its SHA-512 halves and its public key, a base-point
/// multiplication as dear as a signature) for many signatures: what [`sign`] redoes on
/// every call. Signatures are the same bytes as [`sign`]'s.
pub struct Signer(SigningKey);

impl Signer {
    pub fn new(seed: &[u8; 32]) -> Self {
        Signer(SigningKey::from(*seed))
    }

    pub fn public_key(&self) -> [u8; KEY_LEN] {
        VerificationKeyBytes::from(&self.0).into()
    }

    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.0.sign(message).to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_coefficients_are_fresh_for_every_batch() {
        let (mut a, mut b) = (BatchRng::new(), BatchRng::new());
        let draws: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        assert_ne!(draws[0], draws[1]);
        assert_ne!(
            draws[..],
            (0..4).map(|_| b.next_u64()).collect::<Vec<_>>()[..]
        );
    }
}
