//! `derive`'s KDF over many inputs at once, for the audit's pass over every row: byte for
//! byte `derive::link` and `derive::commitment`, a SIMD lane per input.
//!
//! BLAKE3 is fast on long inputs because it compresses many chunks side by side (16 at a
//! time with AVX-512), but a record's header (138 bytes) and payload (~200) are each one
//! chunk of three or four blocks, hashed one block after the other: a million records were
//! 7 M single compressions, half the audit's time without signatures. The blake3 crate has
//! no public API for many independent inputs yet (BLAKE3-team/BLAKE3#478, PR #575); its
//! `platform::Platform::hash_many`, which compresses block-aligned inputs one per lane, is
//! public but hidden and unstable, so the crate is pinned (`=1.8.7`) and the tests below
//! compare every length from 0 to past one chunk with the crate's own `Hasher`.
//! (binius64 drives the same kernel the same way for its Merkle leaves.)
//!
//! An input of one chunk (at most 1024 bytes) is its whole blocks but the last, hashed in
//! lanes from the context key with CHUNK_START on the first, then the last block (1 to 64
//! bytes, or an empty one) compressed alone with CHUNK_END and ROOT: BLAKE3's own chunk
//! chaining for a one-chunk input, only interleaved. Longer inputs take `Hasher`.

use std::sync::OnceLock;

use blake3::hazmat::{ContextKey, HasherExt};
use blake3::platform::{le_bytes_from_words_32, words_from_le_bytes_32, Platform};
use blake3::IncrementCounter;

use super::derive::{commit_key, link_key};
use super::Hash;

/// BLAKE3's domain flags (the flag table of its specification).
const CHUNK_START: u8 = 1 << 0;
const CHUNK_END: u8 = 1 << 1;
const ROOT: u8 = 1 << 3;
const DERIVE_KEY_MATERIAL: u8 = 1 << 6;

const BLOCK_LEN: usize = 64;
const CHUNK_LEN: usize = 1024;

fn platform() -> Platform {
    static PLATFORM: OnceLock<Platform> = OnceLock::new();
    *PLATFORM.get_or_init(Platform::detect)
}

/// `derive::link` of each header, into `out` (one digest per header).
pub fn links(headers: &[&[u8]], out: &mut [Hash]) {
    kdf_many(link_key(), headers, out);
}

/// `derive::commitment(salt, payload)` of each input given as `salt || payload`.
pub fn commitments(salted_payloads: &[&[u8]], out: &mut [Hash]) {
    kdf_many(commit_key(), salted_payloads, out);
}

/// Whole blocks before an input's last block (an empty input has one, empty, block).
fn lead_blocks(len: usize) -> usize {
    len.saturating_sub(1) / BLOCK_LEN
}

/// `KDF` under `key` of each input, into `out`.
fn kdf_many(key: &ContextKey, inputs: &[&[u8]], out: &mut [Hash]) {
    assert_eq!(inputs.len(), out.len(), "one digest per input");
    let key_words = words_from_le_bytes_32(key);
    let platform = platform();
    // The inputs of each lead-block count go through the lanes together (a batch of
    // records' headers is one group; their payloads a few).
    let mut groups = 0u16;
    for (input, digest) in inputs.iter().zip(out.iter_mut()) {
        if input.len() > CHUNK_LEN {
            let mut hasher = blake3::Hasher::new_from_context_key(key);
            *digest = *hasher.update(input).finalize().as_bytes();
        } else {
            groups |= 1 << lead_blocks(input.len());
        }
    }
    let mut lanes: Vec<&[u8]> = Vec::with_capacity(inputs.len());
    let mut at: Vec<usize> = Vec::with_capacity(inputs.len());
    let mut cvs: Vec<u8> = Vec::new();
    for lead in (0..CHUNK_LEN / BLOCK_LEN).filter(|b| groups & (1 << b) != 0) {
        lanes.clear();
        at.clear();
        for (i, input) in inputs.iter().enumerate() {
            if input.len() <= CHUNK_LEN && lead_blocks(input.len()) == lead {
                lanes.push(input);
                at.push(i);
            }
        }
        cvs.clear();
        cvs.resize(lanes.len() * 32, 0);
        if lead == 0 {
            cvs.chunks_exact_mut(32)
                .for_each(|cv| cv.copy_from_slice(key));
        } else {
            lead_cvs(platform, lead, &lanes, &key_words, &mut cvs);
        }
        for ((input, &i), cv) in lanes.iter().zip(&at).zip(cvs.chunks_exact(32)) {
            let mut words = words_from_le_bytes_32(cv.try_into().expect("32 bytes"));
            let tail = &input[lead * BLOCK_LEN..];
            let mut block = [0u8; BLOCK_LEN];
            block[..tail.len()].copy_from_slice(tail);
            let start = if lead == 0 { CHUNK_START } else { 0 };
            let flags = DERIVE_KEY_MATERIAL | start | CHUNK_END | ROOT;
            platform.compress_in_place(&mut words, &block, tail.len() as u8, 0, flags);
            out[i] = le_bytes_from_words_32(&words);
        }
    }
}

/// The chaining values after the first `lead` blocks of each input, a lane each.
fn lead_cvs(platform: Platform, lead: usize, inputs: &[&[u8]], key: &[u32; 8], out: &mut [u8]) {
    macro_rules! lanes {
        ($($blocks:literal)*) => {
            match lead {
                $($blocks => {
                    const N: usize = $blocks * BLOCK_LEN;
                    let arrays: Vec<&[u8; N]> = inputs
                        .iter()
                        .map(|input| input[..N].try_into().expect("lead blocks"))
                        .collect();
                    platform.hash_many(
                        &arrays,
                        key,
                        0,
                        IncrementCounter::No,
                        DERIVE_KEY_MATERIAL,
                        CHUNK_START,
                        0,
                        out,
                    );
                })*
                _ => unreachable!("an input of one chunk has at most 15 lead blocks"),
            }
        };
    }
    lanes!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v2::derive;

    fn data(len: usize, seed: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + seed * 7 + 3) as u8).collect()
    }

    #[test]
    fn every_length_as_the_one_by_one_kdf() {
        // Every length up to past one chunk, in one call, so that the groups mix.
        let owned: Vec<Vec<u8>> = (0..=CHUNK_LEN + 70).map(|len| data(len, len)).collect();
        let inputs: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        let mut got = vec![[0u8; 32]; inputs.len()];
        links(&inputs, &mut got);
        for (input, digest) in inputs.iter().zip(&got) {
            assert_eq!(digest, &derive::link(input), "link, len={}", input.len());
        }
        commitments(&inputs, &mut got);
        for (input, digest) in inputs.iter().zip(&got) {
            let (salt, payload) = input.split_at(input.len().min(16));
            assert_eq!(
                digest,
                &derive::commitment(salt, payload),
                "commitment, len={}",
                input.len()
            );
        }
    }

    #[test]
    fn many_of_one_length_fill_every_lane() {
        // 37 headers: two full AVX-512 passes and a partial one.
        let owned: Vec<Vec<u8>> = (0..37).map(|i| data(138, i)).collect();
        let inputs: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        let mut got = vec![[0u8; 32]; inputs.len()];
        links(&inputs, &mut got);
        for (input, digest) in inputs.iter().zip(&got) {
            assert_eq!(digest, &derive::link(input));
        }
        links(&[], &mut []);
    }
}
