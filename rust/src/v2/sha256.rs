//! SHA-256 of the tree's two short fixed-size inputs, straight onto the compression
//! function (`sha2::compress256`, SHA-NI where the CPU has it, detected at run time):
//! a leaf `0x00 || entry` (42 bytes: one padded block) and a node `0x01 || left || right`
//! (65 bytes: two). An audit makes about three of these per record; through `Sha256`'s
//! streaming buffer each cost as much again in copying and bookkeeping as the compression.
//! Byte for byte `Sha256::digest` (the tests check every length used against it).

use sha2::compress256;
use sha2::digest::generic_array::GenericArray;

use super::Hash;

const IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

fn digest_of(state: [u32; 8]) -> Hash {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Writes FIPS 180-4 padding of a `len`-byte message into its final block, whose first
/// `len % 64` bytes are the message's tail.
fn pad(block: &mut [u8; 64], len: usize) {
    block[len % 64] = 0x80;
    block[56..].copy_from_slice(&(8 * len as u64).to_be_bytes());
}

/// `SHA256(prefix || data)` for `1 + data.len() <= 55` (one block).
pub fn one_block(prefix: u8, data: &[u8]) -> Hash {
    debug_assert!(data.len() < 55);
    let mut block = [0u8; 64];
    block[0] = prefix;
    block[1..=data.len()].copy_from_slice(data);
    pad(&mut block, 1 + data.len());
    let mut state = IV;
    compress256(&mut state, &[GenericArray::from(block)]);
    digest_of(state)
}

/// `SHA256(0x01 || left || right)` (RFC 6962 interior node; two blocks).
pub fn node(left: &Hash, right: &Hash) -> Hash {
    let mut first = [0u8; 64];
    first[0] = 1;
    first[1..33].copy_from_slice(left);
    first[33..].copy_from_slice(&right[..31]);
    let mut second = [0u8; 64];
    second[0] = right[31];
    pad(&mut second, 65);
    let mut state = IV;
    compress256(
        &mut state,
        &[GenericArray::from(first), GenericArray::from(second)],
    );
    digest_of(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn reference(parts: &[&[u8]]) -> Hash {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    }

    #[test]
    fn same_digests_as_sha2() {
        for len in 0..55usize {
            let data: Vec<u8> = (0..len).map(|i| (i * 13 + 5) as u8).collect();
            for prefix in [0u8, 1, 2, 0xff] {
                assert_eq!(one_block(prefix, &data), reference(&[&[prefix], &data]));
            }
        }
        let (l, r) = ([7u8; 32], [0xa5u8; 32]);
        let mut r2 = r;
        r2[31] = 0x01;
        for (a, b) in [(l, r), (r, l), (l, r2), ([0; 32], [0xff; 32])] {
            assert_eq!(node(&a, &b), reference(&[&[1], &a, &b]));
        }
    }
}
