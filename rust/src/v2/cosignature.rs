//! SPEC 2.3: witness cosignatures (C2SP tlog-cosignature/v1): the signed message, the
//! 72-byte line value `u64be(t) || sig`, and the times a witness vouches for in a note.

use super::keys::{is_key_name, verify_under_usable_key, witness_key_id, KeyId};
use super::note::{Note, SignatureLine};
use crate::ed25519;
use crate::error::{Error, Result};

/// SPEC 2.3 (and C2SP): a cosignature time is at most 2^63 - 1 seconds.
pub const MAX_TIME: u64 = i64::MAX as u64;
pub const VALUE_LEN: usize = 72;

/// `"cosignature/v1\ntime " || dec(t) || "\n" || body`.
pub fn message(t: u64, body: &[u8]) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {t}\n").into_bytes();
    m.extend_from_slice(body);
    m
}

/// The line value `u64be(t) || Ed25519-Sign(witness key, message(t, body))`.
pub fn sign(witness_seed: &[u8; 32], t: u64, body: &[u8]) -> Result<[u8; VALUE_LEN]> {
    if t > MAX_TIME {
        return Err(Error::InvalidArgument(format!(
            "cosignature time must be at most 2^63 - 1, got {t}"
        )));
    }
    let mut value = [0u8; VALUE_LEN];
    value[..8].copy_from_slice(&t.to_be_bytes());
    value[8..].copy_from_slice(&ed25519::sign(witness_seed, &message(t, body)));
    Ok(value)
}

/// The witness's note line carrying a cosignature value.
pub fn line(name: &str, witness_key: &[u8; 32], value: &[u8; VALUE_LEN]) -> Result<SignatureLine> {
    if !is_key_name(name) {
        return Err(Error::InvalidArgument(format!(
            "witness name {name:?} is not a C2SP key name"
        )));
    }
    Ok(SignatureLine {
        name: name.to_owned(),
        key_id: witness_key_id(name, witness_key),
        signature: value.to_vec(),
    })
}

/// The time `t` of a cosignature value that verifies over `body` under `witness_key`
/// (a usable key), or `None`: wrong length, `t` over 2^63 - 1, or a failing signature.
pub fn verify(witness_key: &[u8; 32], body: &[u8], value: &[u8]) -> Option<u64> {
    let (t, sig) = candidate(value)?;
    verify_under_usable_key(witness_key, &message(t, body), sig).then_some(t)
}

/// `verify` but the signature: a value's time `t` (at most 2^63 - 1) and its signature,
/// which then must verify over `message(t, body)`; `None` for a value that can't.
pub fn candidate(value: &[u8]) -> Option<(u64, &[u8; 64])> {
    let value: &[u8; VALUE_LEN] = value.try_into().ok()?;
    let t = u64::from_be_bytes(value[..8].try_into().ok()?);
    let sig: &[u8; 64] = value[8..].try_into().ok()?;
    (t <= MAX_TIME).then_some((t, sig))
}

/// Every time a witness `(name, key)` validly cosigned in the note, in line order. Lines
/// that fail only don't count (SPEC 2.2); an empty list means the witness didn't cosign.
pub fn witness_times(note: &Note, name: &str, witness_key: &[u8; 32]) -> Vec<u64> {
    candidates(note, name, &witness_key_id(name, witness_key))
        .filter(|&(t, sig)| {
            verify_under_usable_key(witness_key, &message(t, note.text.as_bytes()), sig)
        })
        .map(|(t, _)| t)
        .collect()
}

/// `witness_times` but the signatures: each line of the witness `name` with key ID `id`
/// whose value has a time and a signature (`candidate`), in line order.
pub fn candidates<'a>(
    note: &'a Note,
    name: &'a str,
    id: &'a KeyId,
) -> impl Iterator<Item = (u64, &'a [u8; 64])> + 'a {
    note.lines
        .iter()
        .filter(move |l| l.name == name && l.key_id == *id)
        .filter_map(|l| candidate(&l.signature))
}
