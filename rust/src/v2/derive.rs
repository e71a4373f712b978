//! The SPEC's `KDF` (BLAKE3 derive-key) for the two hashes an audit makes of every record:
//! link v2 (SPEC 1.2) and the payload commitment (SPEC 1.1, unchanged from v1). Byte for
//! byte `crate::protocol::kdf`; only faster: derive-key mode first hashes its context
//! string into a context key, one BLAKE3 compression as dear as hashing a short header, so
//! the two context keys are hashed once per process (`blake3::hazmat`) instead of per record.

use std::sync::OnceLock;

use blake3::hazmat::{hash_derive_key_context, ContextKey, HasherExt};

use super::{Hash, LINK_CONTEXT};
use crate::protocol::COMMIT_CONTEXT;

fn context_key(cell: &'static OnceLock<ContextKey>, context: &str) -> &'static ContextKey {
    cell.get_or_init(|| hash_derive_key_context(context))
}

fn kdf_keyed(key: &ContextKey, parts: &[&[u8]]) -> Hash {
    let mut hasher = blake3::Hasher::new_from_context_key(key);
    for part in parts {
        hasher.update(part);
    }
    *hasher.finalize().as_bytes()
}

/// The context key of link v2 (`derive_many` hashes under it too).
pub(crate) fn link_key() -> &'static ContextKey {
    static KEY: OnceLock<ContextKey> = OnceLock::new();
    context_key(&KEY, LINK_CONTEXT)
}

/// The context key of the payload commitment.
pub(crate) fn commit_key() -> &'static ContextKey {
    static KEY: OnceLock<ContextKey> = OnceLock::new();
    context_key(&KEY, COMMIT_CONTEXT)
}

/// `KDF("hashcore 2026-12-01 record link v2", header)`.
pub fn link(header: &[u8]) -> Hash {
    kdf_keyed(link_key(), &[header])
}

/// `commit = KDF("hashcore 2026-11-23 payload commitment v1", salt || payload)`.
pub fn commitment(salt: &[u8], payload: &[u8]) -> Hash {
    kdf_keyed(commit_key(), &[salt, payload])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol;

    #[test]
    fn same_bytes_as_the_plain_kdf() {
        for len in [0usize, 1, 63, 64, 65, 138, 216, 1024, 1025, 5000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            assert_eq!(
                link(&data),
                protocol::kdf(LINK_CONTEXT, &[&data]),
                "len={len}"
            );
            let (salt, payload) = data.split_at(len.min(16));
            assert_eq!(
                commitment(salt, payload),
                protocol::commitment(salt, payload),
                "len={len}"
            );
        }
    }
}
