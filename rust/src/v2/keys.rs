//! C2SP key names and key IDs (SPEC 2.2, 2.3), and Ed25519 verification under a key that
//! may be used at all (SPEC 1.3: a small-order key or a non-point is never valid, as a log
//! key nor as a witness key). Verification itself is the crate's ZIP-215 code.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::ed25519::{self, KeyCheck};

/// C2SP signed-note signature type of a plain Ed25519 key (a relay's log key).
pub const ALG_ED25519: u8 = 0x01;
/// C2SP signed-note signature type of a tlog-cosignature/v1 witness key.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

pub type KeyId = [u8; 4];

/// A C2SP key name (origins, witness names): non-empty, no Unicode space, no `+`, no
/// control character (vectors README decision 10).
pub fn is_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+')
}

/// `first 4 bytes of SHA256(name || "\n" || alg || key)`.
pub fn key_id(name: &str, alg: u8, key: &[u8; 32]) -> KeyId {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([alg]);
    h.update(key);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The key ID of a relay's line: type 0x01 under its origin.
pub fn log_key_id(origin: &str, log_key: &[u8; 32]) -> KeyId {
    key_id(origin, ALG_ED25519, log_key)
}

/// The key ID of a witness's cosignature line: type 0x04 under its name.
pub fn witness_key_id(name: &str, witness_key: &[u8; 32]) -> KeyId {
    key_id(name, ALG_COSIGNATURE_V1, witness_key)
}

/// The C2SP verifier key text `name+hex(key_id)+b64(alg || key)`.
pub fn verifier_key(name: &str, alg: u8, key: &[u8; 32]) -> String {
    let mut typed = Vec::with_capacity(33);
    typed.push(alg);
    typed.extend_from_slice(key);
    format!(
        "{name}+{}+{}",
        hex_lower(&key_id(name, alg, key)),
        STANDARD.encode(typed)
    )
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// ZIP-215 verification that is false under a small-order key or a non-point, whatever the
/// signature (ZIP-215 alone accepts some signatures under small-order keys).
pub fn verify_under_usable_key(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    ed25519::check_public_key(key) == KeyCheck::Valid && ed25519::verify(key, message, signature)
}
