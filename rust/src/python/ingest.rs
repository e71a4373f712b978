//! `check_submissions`: the relay's per-batch record check (see `crate::ingest`).

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::buffers::Bytes;
use super::errors::IntoPyResult;
use crate::error::Error;
use crate::ingest::{self, Submission};
use crate::protocol::{ChainId, Hash, KEY_LEN, SALT_LEN, SIGNATURE_LEN};

/// A buffer of `n` fixed-size items, checked and copied.
fn fixed_items<const N: usize>(
    obj: &Bound<'_, PyAny>,
    what: &'static str,
    n: usize,
) -> PyResult<Vec<[u8; N]>> {
    let buf = Bytes::get(obj, what)?;
    let data = buf.as_slice();
    if data.len() != n * N {
        return Err(Error::InvalidArgument(format!(
            "{what} must hold {n} items of {N} bytes ({} bytes), got {} bytes",
            n * N,
            data.len()
        )))
        .py();
    }
    Ok(data
        .chunks_exact(N)
        .map(|c| c.try_into().expect("chunks_exact gives N bytes"))
        .collect())
}

/// check_submissions(chain_ids, seqs, times_ms, kinds, prevs, commits, beacon_sizes,
/// beacon_roots, salts, payloads, signatures, keys) -> (links, rejects)
///
/// Links are SPEC v2 1.2's (the 138-byte header with its beacon). Fixed-size fields come
/// concatenated (n×16 chain ids, n×32 prevs/commits/beacon roots/keys, n×16
/// salts, n×64 signatures, n kind bytes); `seqs`, `times_ms` and `payloads` are
/// sequences of n. Returns the n×32 bytes of computed links and n reject codes (0 ok,
/// 1 bad commit, 2 bad key in a genesis/rotation, 3 bad signature). The work runs with
/// the GIL released.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn check_submissions<'py>(
    py: Python<'py>,
    chain_ids: &Bound<'py, PyAny>,
    seqs: Vec<u64>,
    times_ms: Vec<i64>,
    kinds: &Bound<'py, PyAny>,
    prevs: &Bound<'py, PyAny>,
    commits: &Bound<'py, PyAny>,
    beacon_sizes: Vec<u64>,
    beacon_roots: &Bound<'py, PyAny>,
    salts: &Bound<'py, PyAny>,
    payloads: Vec<Bound<'py, PyAny>>,
    signatures: &Bound<'py, PyAny>,
    keys: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let n = seqs.len();
    if times_ms.len() != n || payloads.len() != n || beacon_sizes.len() != n {
        return Err(Error::InvalidArgument(format!(
            "seqs, times_ms, beacon_sizes and payloads must have the same length, got {n}, \
             {}, {}, {}",
            times_ms.len(),
            beacon_sizes.len(),
            payloads.len()
        )))
        .py();
    }
    // Copied out (≈200 bytes each) so the check below can run without the GIL.
    let payloads: Vec<Vec<u8>> = payloads
        .iter()
        .map(|p| Bytes::get(p, "payload").map(|b| b.as_slice().to_vec()))
        .collect::<PyResult<_>>()?;
    let chain_ids = fixed_items::<16>(chain_ids, "chain_ids", n)?;
    let kinds = fixed_items::<1>(kinds, "kinds", n)?;
    let prevs = fixed_items::<32>(prevs, "prevs", n)?;
    let commits = fixed_items::<32>(commits, "commits", n)?;
    let beacon_roots = fixed_items::<32>(beacon_roots, "beacon_roots", n)?;
    let salts = fixed_items::<SALT_LEN>(salts, "salts", n)?;
    let signatures = fixed_items::<SIGNATURE_LEN>(signatures, "signatures", n)?;
    let keys = fixed_items::<KEY_LEN>(keys, "keys", n)?;

    let pool = crate::pool::pool(None).py()?;
    let (links, rejects) = py.detach(|| {
        let subs: Vec<Submission<'_>> = (0..n)
            .map(|i| Submission {
                chain_id: &chain_ids[i] as &ChainId,
                seq: seqs[i],
                time_ms: times_ms[i],
                kind: kinds[i][0],
                prev: &prevs[i] as &Hash,
                commit: &commits[i] as &Hash,
                beacon_size: beacon_sizes[i],
                beacon_root: &beacon_roots[i] as &Hash,
                salt: Some(&salts[i]),
                payload: Some(&payloads[i]),
                signature: &signatures[i],
                key: &keys[i],
            })
            .collect();
        let (links, rejects) = pool.install(|| ingest::check(&subs));
        let links: Vec<u8> = links.concat();
        let codes: Vec<u8> = rejects.iter().map(|r| r.map_or(0, |r| r.code())).collect();
        (links, codes)
    });
    Ok((PyBytes::new(py, &links), PyBytes::new(py, &rejects)))
}
