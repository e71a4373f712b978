//! SPEC section 1: payload commitment, record header, link and chain id.
//!
//! Every function here is a byte-exact transcription of the SPEC; the conformance vectors in
//! `tests/vectors/` pin them.

/// BLAKE3 derive-key contexts. The date in them is part of the protocol, not a timestamp.
pub const CHAIN_ID_CONTEXT: &str = "hashcore 2026-11-23 chain id v1";
pub const COMMIT_CONTEXT: &str = "hashcore 2026-11-23 payload commitment v1";
pub const LINK_CONTEXT: &str = "hashcore 2026-11-23 record link v1";
pub const CHECKPOINT_CONTEXT: &str = "hashcore 2026-11-23 checkpoint v1";

pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 98;
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

/// The 98-byte record header of SPEC 1.2. `kind` is taken as a raw byte so that the
/// auditor can recompute the link of a row with an unknown kind exactly as stored.
pub fn header(
    chain_id: &ChainId,
    seq: u64,
    time_ms: i64,
    kind: u8,
    prev: &Hash,
    commit: &Hash,
) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0] = VERSION;
    h[1..17].copy_from_slice(chain_id);
    h[17..25].copy_from_slice(&seq.to_be_bytes());
    h[25..33].copy_from_slice(&time_ms.to_be_bytes());
    h[33] = kind;
    h[34..66].copy_from_slice(prev);
    h[66..98].copy_from_slice(commit);
    h
}

/// `link = KDF(link ctx, header)`.
pub fn link_of_header(header: &[u8]) -> Hash {
    kdf(LINK_CONTEXT, &[header])
}

/// Header and link in one step.
pub fn link(
    chain_id: &ChainId,
    seq: u64,
    time_ms: i64,
    kind: u8,
    prev: &Hash,
    commit: &Hash,
) -> Hash {
    link_of_header(&header(chain_id, seq, time_ms, kind, prev, commit))
}
