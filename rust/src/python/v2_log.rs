//! `Sha256LogTree`: the relay's v2 log (SPEC v2 2.1) with every perfect subtree kept, so
//! roots, inclusion and consistency proofs for any size up to the current one cost
//! O(log² n). It takes the 41-byte entries `0x02 || link || i64be(received_ms)` and hashes
//! each leaf itself, so the relay can't put a wrong leaf hash in its log.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::buffers::Bytes;
use super::errors::{to_pyerr, IntoPyResult};
use crate::error::Error;
use crate::log_tree::LogTree;
use crate::v2::entry::ENTRY_LEN;
use crate::v2::{tree, Hash};

/// Adds `Sha256LogTree` to `hashcore._core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Sha256LogTree>()
}

fn hashes<'py>(py: Python<'py>, items: &[Hash]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, items.iter().map(|h| PyBytes::new(py, h)))
}

#[pyclass(module = "hashcore._core")]
pub struct Sha256LogTree {
    tree: LogTree,
}

impl Sha256LogTree {
    fn too_big(&self, what: &str, size: u64) -> PyErr {
        to_pyerr(Error::InvalidArgument(format!(
            "{what} {size} is larger than the log ({} entries)",
            self.tree.size()
        )))
    }
}

#[pymethods]
impl Sha256LogTree {
    #[new]
    fn new() -> Self {
        Sha256LogTree {
            tree: LogTree::sha256(),
        }
    }

    /// Appends entries (one buffer of n×41 bytes, each `0x02 || link || i64be(ms)`);
    /// returns the log index of the first.
    fn extend(&mut self, py: Python<'_>, entries: &Bound<'_, PyAny>) -> PyResult<u64> {
        let buf = Bytes::get(entries, "entries")?;
        let data = buf.as_slice();
        if data.len() % ENTRY_LEN != 0 {
            return Err(Error::InvalidArgument(format!(
                "entries must be a multiple of {ENTRY_LEN} bytes, got {}",
                data.len()
            )))
            .py();
        }
        let first = self.tree.size();
        let tree = &mut self.tree;
        py.detach(|| {
            data.chunks_exact(ENTRY_LEN)
                .for_each(|e| tree.push(tree::leaf_hash(e)))
        });
        Ok(first)
    }

    #[getter]
    fn size(&self) -> u64 {
        self.tree.size()
    }

    fn __len__(&self) -> usize {
        self.tree.size() as usize
    }

    /// MTH of the first `size` entries (default: all of them).
    #[pyo3(signature = (size=None))]
    fn root<'py>(&self, py: Python<'py>, size: Option<u64>) -> PyResult<Bound<'py, PyBytes>> {
        let size = size.unwrap_or(self.tree.size());
        let root = self
            .tree
            .root(size)
            .ok_or_else(|| self.too_big("size", size))?;
        Ok(PyBytes::new(py, &root))
    }

    /// The leaf hash SHA256(0x00 || entry) at `index`.
    fn leaf_hash<'py>(&self, py: Python<'py>, index: u64) -> PyResult<Bound<'py, PyBytes>> {
        let leaf = self
            .tree
            .leaf(index)
            .ok_or_else(|| self.too_big("index", index))?;
        Ok(PyBytes::new(py, &leaf))
    }

    /// RFC 9162 PATH(index, D[size]) (size default: the whole log).
    #[pyo3(signature = (index, size=None))]
    fn inclusion_proof<'py>(
        &self,
        py: Python<'py>,
        index: u64,
        size: Option<u64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let size = size.unwrap_or(self.tree.size());
        let path = self.tree.inclusion_proof(index, size).ok_or_else(|| {
            if size > self.tree.size() {
                self.too_big("size", size)
            } else {
                to_pyerr(Error::InvalidArgument(format!(
                    "index {index} is not below the tree size {size}"
                )))
            }
        })?;
        hashes(py, &path)
    }

    /// RFC 9162 PROOF(first, D[second]) (second default: the whole log).
    #[pyo3(signature = (first, second=None))]
    fn consistency_proof<'py>(
        &self,
        py: Python<'py>,
        first: u64,
        second: Option<u64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let second = second.unwrap_or(self.tree.size());
        let proof = self.tree.consistency_proof(first, second).ok_or_else(|| {
            if second > self.tree.size() {
                self.too_big("size", second)
            } else {
                to_pyerr(Error::InvalidArgument(format!(
                    "first size {first} is larger than the second size {second}"
                )))
            }
        })?;
        hashes(py, &proof)
    }

    fn __repr__(&self) -> String {
        let root = self.tree.root(self.tree.size()).unwrap_or_default();
        let hex: String = root.iter().map(|b| format!("{b:02x}")).collect();
        format!("Sha256LogTree(size={}, root={hex})", self.tree.size())
    }
}
