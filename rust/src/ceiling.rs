//! The raw ceilings the benchmarks compare the verifier with: the Ed25519 library's batch
//! verification alone and BLAKE3 alone over the same bytes, spread over the same pool.
//! Nothing in the verifier uses this module.

use rayon::prelude::*;

use crate::ed25519::{self, BatchItem};
use crate::error::{Error, Result};
use crate::pool;

/// The batch size the v2 verifier uses (`v2::audit::records`: 64 to 4096 signatures, at
/// least 4 batches per thread), so that the ceiling batches exactly as the audit does.
fn batch_size(items: usize, threads: usize) -> usize {
    (items / (threads.max(1) * 4)).clamp(64, 4096)
}

/// Batch-verifies `n` (key, 32-byte message, signature) triples given as packed buffers, in
/// batches of the verifier's size (callers sort them by key, as the verifier does). Returns
/// how many batches failed.
pub fn batch_verify(
    keys: &[u8],
    messages: &[u8],
    signatures: &[u8],
    threads: Option<usize>,
) -> Result<usize> {
    let n = keys.len() / 32;
    if keys.len() != n * 32 || messages.len() != n * 32 || signatures.len() != n * 64 {
        return Err(Error::InvalidArgument(
            "need n*32 key bytes, n*32 message bytes and n*64 signature bytes".into(),
        ));
    }
    let pool = pool::pool(threads)?;
    Ok(pool.install(|| {
        let batch = batch_size(n, rayon::current_num_threads());
        (0..n)
            .collect::<Vec<_>>()
            .par_chunks(batch)
            .filter(|chunk| {
                let items: Vec<BatchItem<'_>> = chunk
                    .iter()
                    .map(|&i| BatchItem {
                        key: keys[i * 32..i * 32 + 32].try_into().expect("32"),
                        message: &messages[i * 32..i * 32 + 32],
                        signature: signatures[i * 64..i * 64 + 64].try_into().expect("64"),
                    })
                    .collect();
                !ed25519::verify_batch(&items)
            })
            .count()
    }))
}

/// BLAKE3 (plain mode) of each `chunk_len`-byte header and of each variable-size payload
/// (little-endian i64 `offsets`, n+1 of them): the hashing a record needs, without the
/// protocol around it. Returns an XOR of the digests so the work can't be optimised away.
pub fn blake3_records(
    headers: &[u8],
    header_len: usize,
    payloads: &[u8],
    offsets: &[u8],
    threads: Option<usize>,
) -> Result<[u8; 32]> {
    if header_len == 0 || headers.len() % header_len != 0 {
        return Err(Error::InvalidArgument(
            "headers must be n * header_len bytes".into(),
        ));
    }
    let n = headers.len() / header_len;
    if offsets.len() != (n + 1) * 8 {
        return Err(Error::InvalidArgument(
            "need n+1 little-endian i64 offsets".into(),
        ));
    }
    let at =
        |i: usize| i64::from_le_bytes(offsets[i * 8..i * 8 + 8].try_into().expect("8")) as usize;
    if (0..n).any(|i| at(i) > at(i + 1) || at(i + 1) > payloads.len()) {
        return Err(Error::InvalidArgument("offsets out of range".into()));
    }
    let pool = pool::pool(threads)?;
    Ok(pool.install(|| {
        (0..n)
            .into_par_iter()
            .map(|i| {
                let a = blake3::hash(&headers[i * header_len..(i + 1) * header_len]);
                let b = blake3::hash(&payloads[at(i)..at(i + 1)]);
                let mut out = *a.as_bytes();
                for (o, x) in out.iter_mut().zip(b.as_bytes()) {
                    *o ^= x;
                }
                out
            })
            .reduce(
                || [0u8; 32],
                |mut x, y| {
                    for (o, v) in x.iter_mut().zip(y) {
                        *o ^= v;
                    }
                    x
                },
            )
    }))
}
