//! `check_submissions`: the relay's per-batch record check (see `crate::ingest`), and
//! `check_chains`: the complete shape and sequencing check (`crate::ingest::sequence`).

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::buffers::{array, Bytes};
use super::errors::IntoPyResult;
use crate::error::Error;
use crate::ingest::sequence::{self, Head, Limits, Received, Segment};
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

/// check_submissions(chain_ids, seqs, times_ms, kinds, prevs, commits, salts, payloads,
/// signatures, keys) -> (links, rejects)
///
/// Fixed-size fields come concatenated (n×16 chain ids, n×32 prevs/commits/keys, n×16
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
    salts: &Bound<'py, PyAny>,
    payloads: Vec<Bound<'py, PyAny>>,
    signatures: &Bound<'py, PyAny>,
    keys: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let n = seqs.len();
    if times_ms.len() != n || payloads.len() != n {
        return Err(Error::InvalidArgument(format!(
            "seqs, times_ms and payloads must have the same length, got {n}, {}, {}",
            times_ms.len(),
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

/// A bytes-like item copied out (so that the check can run without the GIL).
fn owned(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    Bytes::get(obj, what).map(|b| b.as_slice().to_vec())
}

fn owned_all(items: &[Bound<'_, PyAny>], what: &str) -> PyResult<Vec<Vec<u8>>> {
    items.iter().map(|o| owned(o, what)).collect()
}

fn owned_optional(
    items: &[Option<Bound<'_, PyAny>>],
    what: &str,
) -> PyResult<Vec<Option<Vec<u8>>>> {
    items
        .iter()
        .map(|o| o.as_ref().map(|o| owned(o, what)).transpose())
        .collect()
}

/// A chain head from Python: (seq, link, key in force).
pub type PyHead<'py> = (u64, Bound<'py, PyAny>, Bound<'py, PyAny>);

/// Per segment: (links, new head or None, (index, reason, code, message) of the first
/// fault or None).
type SegmentResult<'py> = (
    Bound<'py, PyBytes>,
    Option<(u64, Bound<'py, PyBytes>, Bound<'py, PyBytes>)>,
    Option<(usize, &'static str, &'static str, String)>,
);

/// check_chains(heads, counts, versions, chain_ids, seqs, times_ms, kinds, prevs, commits,
/// salts, payloads, signatures, links, max_payload_bytes=None, max_seq=None)
///
/// The complete check of `crate::ingest::sequence`: the records (columns of equal length,
/// salt and payload None when erased, link b"" when not claimed) come as consecutive
/// segments of `counts[i]` records of one chain each, continuing `heads[i]` ((seq, link,
/// key) or None for a new chain, which must start with its genesis). One result per
/// segment; the work runs with the GIL released.
#[pyfunction]
#[pyo3(signature = (heads, counts, versions, chain_ids, seqs, times_ms, kinds, prevs, commits, salts, payloads, signatures, links, max_payload_bytes=None, max_seq=None))]
#[allow(clippy::too_many_arguments)]
pub fn check_chains<'py>(
    py: Python<'py>,
    heads: Vec<Option<PyHead<'py>>>,
    counts: Vec<usize>,
    versions: Vec<u32>,
    chain_ids: Vec<Bound<'py, PyAny>>,
    seqs: Vec<u64>,
    times_ms: Vec<i64>,
    kinds: Vec<u32>,
    prevs: Vec<Bound<'py, PyAny>>,
    commits: Vec<Bound<'py, PyAny>>,
    salts: Vec<Option<Bound<'py, PyAny>>>,
    payloads: Vec<Option<Bound<'py, PyAny>>>,
    signatures: Vec<Bound<'py, PyAny>>,
    links: Vec<Bound<'py, PyAny>>,
    max_payload_bytes: Option<usize>,
    max_seq: Option<u64>,
) -> PyResult<Vec<SegmentResult<'py>>> {
    let n = versions.len();
    let lengths = [
        chain_ids.len(),
        seqs.len(),
        times_ms.len(),
        kinds.len(),
        prevs.len(),
        commits.len(),
        salts.len(),
        payloads.len(),
        signatures.len(),
        links.len(),
    ];
    if lengths.iter().any(|&l| l != n) {
        return Err(Error::InvalidArgument(format!(
            "every record column must have the {n} items of versions, got {lengths:?}"
        )))
        .py();
    }
    if heads.len() != counts.len() || counts.iter().sum::<usize>() != n {
        return Err(Error::InvalidArgument(format!(
            "{} heads and {} counts (summing to {}) for {n} records",
            heads.len(),
            counts.len(),
            counts.iter().sum::<usize>()
        )))
        .py();
    }
    let heads: Vec<Option<Head>> = heads
        .iter()
        .map(|h| {
            h.as_ref()
                .map(|(seq, link, key)| {
                    Ok::<_, PyErr>(Head {
                        seq: *seq,
                        link: array::<32>(link, "head link")?,
                        key: array::<KEY_LEN>(key, "head key")?,
                    })
                })
                .transpose()
        })
        .collect::<PyResult<_>>()?;
    let chain_ids = owned_all(&chain_ids, "chain_id")?;
    let prevs = owned_all(&prevs, "prev")?;
    let commits = owned_all(&commits, "commit")?;
    let salts = owned_optional(&salts, "salt")?;
    let payloads = owned_optional(&payloads, "payload")?;
    let signatures = owned_all(&signatures, "signature")?;
    let links = owned_all(&links, "link")?;
    let limits = Limits {
        max_payload_bytes: max_payload_bytes.unwrap_or(usize::MAX),
        max_seq: max_seq.unwrap_or(u64::MAX),
    };

    let pool = crate::pool::pool(None).py()?;
    let checked = py.detach(|| {
        let received: Vec<Received<'_>> = (0..n)
            .map(|i| Received {
                version: versions[i],
                chain_id: &chain_ids[i],
                seq: seqs[i],
                time_ms: times_ms[i],
                kind: kinds[i],
                prev: &prevs[i],
                commit: &commits[i],
                salt: salts[i].as_deref(),
                payload: payloads[i].as_deref(),
                signature: &signatures[i],
                link: &links[i],
            })
            .collect();
        let mut at = 0;
        let segments: Vec<Segment<'_>> = heads
            .iter()
            .zip(&counts)
            .map(|(head, &count)| {
                let records = &received[at..at + count];
                at += count;
                Segment {
                    head: *head,
                    records,
                }
            })
            .collect();
        pool.install(|| sequence::check_segments(&segments, &limits))
    });
    Ok(checked
        .into_iter()
        .map(|c| {
            let links = PyBytes::new(py, &c.links.concat());
            match c.outcome {
                Ok(head) => (
                    links,
                    head.map(|h| (h.seq, PyBytes::new(py, &h.link), PyBytes::new(py, &h.key))),
                    None,
                ),
                Err((i, fault)) => (
                    links,
                    None,
                    Some((i, fault.reason(), fault.code(), fault.to_string())),
                ),
            }
        })
        .collect())
}
