//! `IngestGroup` / `IngestBlock`: the relay's hot path (see `crate::ingest::group`) for a
//! group of raw `SubmitRequest` bytes. Decoding, checks, receipts and the store's COPY
//! buffer and the acks' bytes all run with the GIL released; Python only looks up the
//! heads of the chains the group names and keeps the orchestration.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use super::buffers::{array, Bytes};
use super::errors::IntoPyResult;
use crate::error::Error;
use crate::ingest::group::{accept_leading, Block, Context, Head, Limits};
use crate::ingest::wire::{decode_request, SubmitRequest};
use crate::protocol::{ChainId, Hash, KEY_LEN};

/// Adds `IngestGroup` and `IngestBlock` to `hashcore._core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<IngestGroup>()?;
    m.add_class::<IngestBlock>()
}

fn fixed<const N: usize>(v: &[u8], what: &str) -> PyResult<[u8; N]> {
    v.try_into()
        .map_err(|_| Error::InvalidArgument(format!("{what} must be {N} bytes, got {}", v.len())))
        .py()
}

/// The raw SubmitRequests of one group, decoded (a request that is not one stays for the
/// Python checker to refuse in its words).
#[pyclass(module = "hashcore._core", frozen)]
pub struct IngestGroup {
    requests: Mutex<Vec<Option<SubmitRequest>>>,
}

#[pymethods]
impl IngestGroup {
    #[new]
    fn new(py: Python<'_>, raws: Vec<Bound<'_, PyAny>>) -> PyResult<Self> {
        let bufs: Vec<Bytes> = raws
            .iter()
            .map(|r| Bytes::get(r, "request"))
            .collect::<PyResult<_>>()?;
        // Decoded on both cores: a group of 64 requests is ~16k records to copy out.
        let pool = crate::pool::pool(None).py()?;
        let requests = py.detach(|| {
            use rayon::prelude::*;
            pool.install(|| {
                bufs.par_iter()
                    .map(|b| decode_request(b.as_slice()))
                    .collect()
            })
        });
        Ok(IngestGroup {
            requests: Mutex::new(requests),
        })
    }

    /// The distinct 16-byte chain ids the decoded requests name, in first appearance.
    fn chain_ids<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let requests = self.requests.lock().expect("not poisoned");
        let mut seen: std::collections::HashSet<&[u8]> = Default::default();
        let mut out = Vec::new();
        for r in requests.iter().flatten().flat_map(|q| &q.records) {
            if r.chain_id.len() == 16 && seen.insert(&r.chain_id) {
                out.push(PyBytes::new(py, &r.chain_id));
            }
        }
        PyList::new(py, out)
    }

    /// The distinct non-zero beacon sizes the decoded requests name.
    fn beacon_sizes(&self) -> Vec<u64> {
        let requests = self.requests.lock().expect("not poisoned");
        let mut sizes: Vec<u64> = requests
            .iter()
            .flatten()
            .flat_map(|q| &q.records)
            .map(|r| r.beacon_size)
            .filter(|&s| s != 0)
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
        sizes
    }

    /// accept(heads, signed, first_index, received_ms, low_ms, high_ms,
    /// max_records_per_batch, max_payload_bytes, log_seed) -> IngestBlock: the leading
    /// requests that pass every check (their records are taken out of the group).
    /// `heads`: chain_id -> (seq, link, key) for the chains named; `signed`: tree_size ->
    /// root of the checkpoints the relay signed that the beacons name.
    #[allow(clippy::too_many_arguments)]
    fn accept(
        &self,
        py: Python<'_>,
        heads: HashMap<Vec<u8>, (u64, Vec<u8>, Vec<u8>)>,
        signed: HashMap<u64, Vec<u8>>,
        first_index: u64,
        received_ms: i64,
        low_ms: i64,
        high_ms: i64,
        max_records_per_batch: usize,
        max_payload_bytes: usize,
        log_seed: &Bound<'_, PyAny>,
    ) -> PyResult<IngestBlock> {
        let seed = array::<32>(log_seed, "log_seed")?;
        let mut table: HashMap<ChainId, Head> = HashMap::with_capacity(heads.len());
        for (id, (seq, link, key)) in heads {
            let head = Head {
                seq,
                link: fixed::<32>(&link, "head link")?,
                key: fixed::<KEY_LEN>(&key, "head key")?,
            };
            table.insert(fixed::<16>(&id, "chain_id")?, head);
        }
        let signed: HashMap<u64, Hash> = signed
            .into_iter()
            .map(|(size, root)| Ok((size, fixed::<32>(&root, "checkpoint root")?)))
            .collect::<PyResult<_>>()?;
        let pool = crate::pool::pool(None).py()?;
        let mut requests = std::mem::take(&mut *self.requests.lock().expect("not poisoned"));
        let block = py.detach(|| {
            let ctx = Context {
                heads: &table,
                signed: &signed,
                limits: Limits {
                    max_records_per_batch,
                    max_payload_bytes,
                    low_ms,
                    high_ms,
                },
                first_index,
                received_ms,
                log_seed: &seed,
            };
            pool.install(|| accept_leading(&mut requests, &ctx))
        });
        Ok(IngestBlock {
            block,
            held: OnceLock::new(),
        })
    }
}

/// The accepted leading batches of a group: what the tree, the store and the acks need.
#[pyclass(module = "hashcore._core", frozen)]
pub struct IngestBlock {
    block: Block,
    /// (chain_id, seq) -> position in the block, made on the first `held` lookup.
    held: OnceLock<HashMap<(ChainId, u64), usize>>,
}

#[pymethods]
impl IngestBlock {
    /// How many leading batches were accepted.
    #[getter]
    fn accepted(&self) -> usize {
        self.block.accepted()
    }

    #[getter]
    fn first_index(&self) -> u64 {
        self.block.first_index
    }

    #[getter]
    fn next_index(&self) -> u64 {
        self.block.next_index()
    }

    #[getter]
    fn received_ms(&self) -> i64 {
        self.block.received_ms
    }

    fn __len__(&self) -> usize {
        self.block.records.len()
    }

    /// Records in accepted batch `batch`.
    fn batch_len(&self, batch: usize) -> PyResult<usize> {
        let (start, end) = self.range(batch)?;
        Ok(end - start)
    }

    /// The SPEC v2 2.1 entries (n×41 bytes) for the log tree.
    fn entries<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.block.entries())
    }

    /// Each chain's head after the block: [(chain_id, seq, link, key)].
    fn heads<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items: Vec<Bound<'py, PyTuple>> = self
            .block
            .heads
            .iter()
            .map(|(id, h)| {
                (
                    PyBytes::new(py, id),
                    h.seq,
                    PyBytes::new(py, &h.link),
                    PyBytes::new(py, &h.key),
                )
                    .into_pyobject(py)
            })
            .collect::<PyResult<_>>()?;
        PyList::new(py, items)
    }

    /// (link, log_index, received_ms) of the block's record at (chain_id, seq), or None.
    fn held<'py>(&self, py: Python<'py>, chain_id: &[u8], seq: u64) -> Option<Bound<'py, PyTuple>> {
        let map = self.held.get_or_init(|| {
            self.block
                .records
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    (
                        (r.chain_id.as_slice().try_into().expect("checked"), r.seq),
                        i,
                    )
                })
                .collect()
        });
        let id: ChainId = chain_id.try_into().ok()?;
        let &i = map.get(&(id, seq))?;
        let index = self.block.first_index + i as u64;
        let link = PyBytes::new(py, &self.block.links[i]);
        (link, index, self.block.received_ms).into_pyobject(py).ok()
    }

    /// The block's key rotations of one chain: [(seq, new key)].
    fn rotations<'py>(&self, py: Python<'py>, chain_id: &[u8]) -> Vec<(u64, Bound<'py, PyBytes>)> {
        self.block
            .records
            .iter()
            .filter(|r| r.kind == 2 && r.chain_id == chain_id)
            .map(|r| (r.seq, PyBytes::new(py, &r.payload)))
            .collect()
    }

    /// The store's rows, in StoredRecord field order: [(log_index, chain_id, seq, time_ms,
    /// kind, prev, commit, beacon_size, beacon_root, link, signature, salt, payload,
    /// received_ms)].
    fn rows<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let b = &self.block;
        let rows: Vec<Bound<'py, PyTuple>> = b
            .records
            .iter()
            .zip(&b.links)
            .enumerate()
            .map(|(i, (r, link))| {
                let cells: [Bound<'py, PyAny>; 14] = [
                    (b.first_index + i as u64).into_pyobject(py)?.into_any(),
                    PyBytes::new(py, &r.chain_id).into_any(),
                    r.seq.into_pyobject(py)?.into_any(),
                    r.time_ms.into_pyobject(py)?.into_any(),
                    r.kind.into_pyobject(py)?.into_any(),
                    PyBytes::new(py, &r.prev).into_any(),
                    PyBytes::new(py, &r.commit).into_any(),
                    r.beacon_size.into_pyobject(py)?.into_any(),
                    PyBytes::new(py, &r.beacon_root).into_any(),
                    PyBytes::new(py, link).into_any(),
                    PyBytes::new(py, &r.signature).into_any(),
                    PyBytes::new(py, &r.salt).into_any(),
                    PyBytes::new(py, &r.payload).into_any(),
                    b.received_ms.into_pyobject(py)?.into_any(),
                ];
                PyTuple::new(py, cells)
            })
            .collect::<PyResult<_>>()?;
        PyList::new(py, rows)
    }

    /// The records as one PostgreSQL binary COPY stream (made without the GIL).
    fn pg_copy<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let data = py.detach(|| self.block.pg_copy());
        PyBytes::new(py, &data)
    }

    /// The serialized SubmitResponse of accepted batch `batch` at log size `tree_size`.
    fn response<'py>(
        &self,
        py: Python<'py>,
        batch: usize,
        tree_size: u64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.range(batch)?;
        let data = py.detach(|| {
            self.block
                .response(batch, tree_size)
                .expect("range checked")
        });
        Ok(PyBytes::new(py, &data))
    }
}

impl IngestBlock {
    fn range(&self, batch: usize) -> PyResult<(usize, usize)> {
        self.block
            .batch_range(batch)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "batch {batch} is not one of the block's {} batches",
                    self.block.accepted()
                ))
            })
            .py()
    }
}
