//! `check_chains` and `check_shapes`: the complete shape and sequencing check of
//! submitted records (`crate::ingest::sequence`), over record columns as Python lists.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::buffers::{array, Bytes};
use super::errors::IntoPyResult;
use crate::error::Error;
use crate::ingest::sequence::{self, Fault, Head, Limits, Received, Segment};
use crate::protocol::KEY_LEN;

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

/// The record columns as Python hands them over (lists of equal length).
pub struct PyRecords<'py> {
    pub versions: Vec<u32>,
    pub chain_ids: Vec<Bound<'py, PyAny>>,
    pub seqs: Vec<u64>,
    pub times_ms: Vec<i64>,
    pub kinds: Vec<u32>,
    pub prevs: Vec<Bound<'py, PyAny>>,
    pub commits: Vec<Bound<'py, PyAny>>,
    pub beacon_sizes: Vec<u64>,
    pub beacon_roots: Vec<Bound<'py, PyAny>>,
    pub salts: Vec<Option<Bound<'py, PyAny>>>,
    pub payloads: Vec<Option<Bound<'py, PyAny>>>,
    pub signatures: Vec<Bound<'py, PyAny>>,
    pub links: Vec<Bound<'py, PyAny>>,
}

/// The same columns, copied out and checked for length.
struct Records {
    versions: Vec<u32>,
    chain_ids: Vec<Vec<u8>>,
    seqs: Vec<u64>,
    times_ms: Vec<i64>,
    kinds: Vec<u32>,
    prevs: Vec<Vec<u8>>,
    commits: Vec<Vec<u8>>,
    beacon_sizes: Vec<u64>,
    beacon_roots: Vec<Vec<u8>>,
    salts: Vec<Option<Vec<u8>>>,
    payloads: Vec<Option<Vec<u8>>>,
    signatures: Vec<Vec<u8>>,
    links: Vec<Vec<u8>>,
}

impl Records {
    fn from_py(r: PyRecords<'_>) -> PyResult<Self> {
        let n = r.versions.len();
        let lengths = [
            r.chain_ids.len(),
            r.seqs.len(),
            r.times_ms.len(),
            r.kinds.len(),
            r.prevs.len(),
            r.commits.len(),
            r.beacon_sizes.len(),
            r.beacon_roots.len(),
            r.salts.len(),
            r.payloads.len(),
            r.signatures.len(),
            r.links.len(),
        ];
        if lengths.iter().any(|&l| l != n) {
            return Err(Error::InvalidArgument(format!(
                "every record column must have the {n} items of versions, got {lengths:?}"
            )))
            .py();
        }
        Ok(Records {
            chain_ids: owned_all(&r.chain_ids, "chain_id")?,
            prevs: owned_all(&r.prevs, "prev")?,
            commits: owned_all(&r.commits, "commit")?,
            beacon_roots: owned_all(&r.beacon_roots, "beacon_root")?,
            beacon_sizes: r.beacon_sizes,
            salts: owned_optional(&r.salts, "salt")?,
            payloads: owned_optional(&r.payloads, "payload")?,
            signatures: owned_all(&r.signatures, "signature")?,
            links: owned_all(&r.links, "link")?,
            versions: r.versions,
            seqs: r.seqs,
            times_ms: r.times_ms,
            kinds: r.kinds,
        })
    }

    fn len(&self) -> usize {
        self.versions.len()
    }

    fn received(&self) -> Vec<Received<'_>> {
        (0..self.len())
            .map(|i| Received {
                version: self.versions[i],
                chain_id: &self.chain_ids[i],
                seq: self.seqs[i],
                time_ms: self.times_ms[i],
                kind: self.kinds[i],
                prev: &self.prevs[i],
                commit: &self.commits[i],
                beacon_size: self.beacon_sizes[i],
                beacon_root: &self.beacon_roots[i],
                salt: self.salts[i].as_deref(),
                payload: self.payloads[i].as_deref(),
                signature: &self.signatures[i],
                link: &self.links[i],
            })
            .collect()
    }
}

fn limits(max_payload_bytes: Option<usize>, max_seq: Option<u64>) -> Limits {
    Limits {
        max_payload_bytes: max_payload_bytes.unwrap_or(usize::MAX),
        max_seq: max_seq.unwrap_or(u64::MAX),
    }
}

/// A fault as Python gets it: (index, reason, code, message).
type PyFault = (usize, &'static str, &'static str, String);

fn py_fault(i: usize, fault: &Fault) -> PyFault {
    (i, fault.reason(), fault.code(), fault.to_string())
}

/// A chain head from Python: (seq, link or b"" when not known yet, key in force).
pub type PyHead<'py> = (u64, Bound<'py, PyAny>, Bound<'py, PyAny>);

/// Per segment: (links, new head or None, the first fault or None).
type SegmentResult<'py> = (
    Bound<'py, PyBytes>,
    Option<(u64, Bound<'py, PyBytes>, Bound<'py, PyBytes>)>,
    Option<PyFault>,
);

fn head(h: &PyHead<'_>) -> PyResult<Head> {
    let (seq, link, key) = h;
    let link = if Bytes::get(link, "head link")?.as_slice().is_empty() {
        None
    } else {
        Some(array::<32>(link, "head link")?)
    };
    Ok(Head {
        seq: *seq,
        link,
        key: array::<KEY_LEN>(key, "head key")?,
    })
}

/// check_chains(heads, counts, versions, chain_ids, seqs, times_ms, kinds, prevs, commits,
/// beacon_sizes, beacon_roots, salts, payloads, signatures, links, max_payload_bytes=None,
/// max_seq=None)
///
/// The complete check of `crate::ingest::sequence`: the records (columns of equal length,
/// salt and payload None when erased, link b"" when not claimed) come as consecutive
/// segments of `counts[i]` records of one chain each, continuing `heads[i]` ((seq, link,
/// key) or None for a new chain, which must start with its genesis; a link of b"" leaves
/// the first record's prev to the caller). One result per segment; the work runs with the
/// GIL released.
#[pyfunction]
#[pyo3(signature = (heads, counts, versions, chain_ids, seqs, times_ms, kinds, prevs, commits, beacon_sizes, beacon_roots, salts, payloads, signatures, links, max_payload_bytes=None, max_seq=None))]
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
    beacon_sizes: Vec<u64>,
    beacon_roots: Vec<Bound<'py, PyAny>>,
    salts: Vec<Option<Bound<'py, PyAny>>>,
    payloads: Vec<Option<Bound<'py, PyAny>>>,
    signatures: Vec<Bound<'py, PyAny>>,
    links: Vec<Bound<'py, PyAny>>,
    max_payload_bytes: Option<usize>,
    max_seq: Option<u64>,
) -> PyResult<Vec<SegmentResult<'py>>> {
    let records = Records::from_py(PyRecords {
        versions,
        chain_ids,
        seqs,
        times_ms,
        kinds,
        prevs,
        commits,
        beacon_sizes,
        beacon_roots,
        salts,
        payloads,
        signatures,
        links,
    })?;
    let n = records.len();
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
        .map(|h| h.as_ref().map(head).transpose())
        .collect::<PyResult<_>>()?;
    let limits = limits(max_payload_bytes, max_seq);
    let pool = crate::pool::pool(None).py()?;
    let checked = py.detach(|| {
        let received = records.received();
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
                    head.map(|h| {
                        let link = h.link.expect("a checked segment's head has its link");
                        (h.seq, PyBytes::new(py, &link), PyBytes::new(py, &h.key))
                    }),
                    None,
                ),
                Err((i, fault)) => (links, None, Some(py_fault(i, &fault))),
            }
        })
        .collect())
}

/// check_shapes(versions, chain_ids, seqs, times_ms, kinds, prevs, commits, beacon_sizes,
/// beacon_roots, salts, payloads, signatures, links, max_payload_bytes=None, max_seq=None, starts_chain=False)
///
/// The shape check alone (sizes, version, kind, limits) of every record, in order: the
/// first fault as (index, reason, code, message), or None. `starts_chain`: each record
/// must be a genesis (enrollment); otherwise a genesis is refused.
#[pyfunction]
#[pyo3(signature = (versions, chain_ids, seqs, times_ms, kinds, prevs, commits, beacon_sizes, beacon_roots, salts, payloads, signatures, links, max_payload_bytes=None, max_seq=None, starts_chain=false))]
#[allow(clippy::too_many_arguments)]
pub fn check_shapes<'py>(
    versions: Vec<u32>,
    chain_ids: Vec<Bound<'py, PyAny>>,
    seqs: Vec<u64>,
    times_ms: Vec<i64>,
    kinds: Vec<u32>,
    prevs: Vec<Bound<'py, PyAny>>,
    commits: Vec<Bound<'py, PyAny>>,
    beacon_sizes: Vec<u64>,
    beacon_roots: Vec<Bound<'py, PyAny>>,
    salts: Vec<Option<Bound<'py, PyAny>>>,
    payloads: Vec<Option<Bound<'py, PyAny>>>,
    signatures: Vec<Bound<'py, PyAny>>,
    links: Vec<Bound<'py, PyAny>>,
    max_payload_bytes: Option<usize>,
    max_seq: Option<u64>,
    starts_chain: bool,
) -> PyResult<Option<PyFault>> {
    let records = Records::from_py(PyRecords {
        versions,
        chain_ids,
        seqs,
        times_ms,
        kinds,
        prevs,
        commits,
        beacon_sizes,
        beacon_roots,
        salts,
        payloads,
        signatures,
        links,
    })?;
    let limits = limits(max_payload_bytes, max_seq);
    Ok(records.received().iter().enumerate().find_map(|(i, rec)| {
        sequence::check_shape(rec, &limits, starts_chain)
            .err()
            .map(|f| py_fault(i, &f))
    }))
}
