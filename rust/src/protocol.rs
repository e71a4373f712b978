//! SPEC section 1 (unchanged in v2): payload commitment, chain id, field sizes and kinds.
//! The v2 header, link and beacon are in `crate::v2::record`.
//!
//! Every function here is a byte-exact transcription of the SPEC; the conformance vectors in
//! `tests/vectors/` pin them.

/// BLAKE3 derive-key contexts SPEC v2 keeps from v1 (so their names still end in "v1"). The
/// date in them is part of the protocol, not a timestamp.
pub const CHAIN_ID_CONTEXT: &str = "hashcore 2026-11-23 chain id v1";
pub const COMMIT_CONTEXT: &str = "hashcore 2026-11-23 payload commitment v1";

pub const CHAIN_ID_LEN: usize = 16;
pub const SALT_LEN: usize = 16;
pub const HASH_LEN: usize = 32;
pub const KEY_LEN: usize = 32;
pub const SIGNATURE_LEN: usize = 64;
/// A link (and so `prev`) and a payload commitment are hash outputs.
pub const LINK_LEN: usize = HASH_LEN;
pub const COMMIT_LEN: usize = HASH_LEN;

pub type Hash = [u8; HASH_LEN];
pub type ChainId = [u8; CHAIN_ID_LEN];

/// Record kinds (SPEC 1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    Genesis = 0,
    Data = 1,
    Rotation = 2,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Genesis, Kind::Data, Kind::Rotation];

    /// The SPEC's name of the kind.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Genesis => "GENESIS",
            Kind::Data => "DATA",
            Kind::Rotation => "ROTATION",
        }
    }

    pub fn from_u8(v: u8) -> Option<Kind> {
        match v {
            0 => Some(Kind::Genesis),
            1 => Some(Kind::Data),
            2 => Some(Kind::Rotation),
            _ => None,
        }
    }
}

/// `H(x)`: BLAKE3-256 in plain hash mode.
pub fn hash(data: &[u8]) -> Hash {
    *blake3::hash(data).as_bytes()
}

/// `KDF(ctx, parts...)`: BLAKE3 derive-key mode over the concatenation of `parts`,
/// streamed so that `salt || payload` is never copied into one buffer.
pub fn kdf(context: &str, parts: &[&[u8]]) -> Hash {
    let mut hasher = blake3::Hasher::new_derive_key(context);
    for part in parts {
        hasher.update(part);
    }
    *hasher.finalize().as_bytes()
}

/// `chain_id = first 16 bytes of KDF(chain id ctx, genesis_public_key)`, over the 32 key
/// bytes as written: no point decoding, so two encodings of one point give two chain ids.
pub fn chain_id_for_key(public_key: &[u8; KEY_LEN]) -> ChainId {
    let full = kdf(CHAIN_ID_CONTEXT, &[public_key]);
    let mut id = [0u8; CHAIN_ID_LEN];
    id.copy_from_slice(&full[..CHAIN_ID_LEN]);
    id
}

/// `commit = KDF(commit ctx, salt || payload)`.
pub fn commitment(salt: &[u8], payload: &[u8]) -> Hash {
    kdf(COMMIT_CONTEXT, &[salt, payload])
}
