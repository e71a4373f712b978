//! RFC 9162 Merkle functions (v1, BLAKE3) and the incremental `MerkleLog` the v1 sample uses.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::buffers::{array, Bytes};
use super::errors::IntoPyResult;
use crate::error::Error;
use crate::merkle::{self, Frontier};
use crate::protocol::Hash;

/// Leaf hashes of `links`: either one bytes-like of n*32 bytes (e.g. a pyarrow
/// fixed_size_binary(32) data buffer), or an iterable of 32-byte bytes-likes.
fn leaf_hashes(py: Python<'_>, links: &Bound<'_, PyAny>) -> PyResult<Vec<Hash>> {
    if let Ok(buf) = Bytes::get(links, "links") {
        let data = buf.as_slice();
        if data.len() % 32 != 0 {
            return Err(Error::InvalidArgument(format!(
                "links buffer must be a multiple of 32 bytes, got {}",
                data.len()
            )))
            .py();
        }
        return Ok(py.detach(|| data.chunks_exact(32).map(merkle::leaf_hash).collect()));
    }
    let mut out = Vec::new();
    for (i, item) in links.try_iter()?.enumerate() {
        let link = array::<32>(&item?, "link").map_err(|e| {
            let msg = format!("links[{i}]: {}", e.value(py));
            PyErr::from_type(e.get_type(py), msg)
        })?;
        out.push(merkle::leaf_hash(&link));
    }
    Ok(out)
}

fn hashes<'py>(py: Python<'py>, items: &[Hash]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, items.iter().map(|h| PyBytes::new(py, h)))
}

fn path_arg(path: &Bound<'_, PyAny>) -> PyResult<Vec<Hash>> {
    path.try_iter()?
        .map(|p| array::<32>(&p?, "path element"))
        .collect()
}

/// merkle_leaf_hash(link) -> bytes: H(0x00 || link).
#[pyfunction]
pub fn merkle_leaf_hash<'py>(
    py: Python<'py>,
    link: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let link = Bytes::get(link, "link")?;
    Ok(PyBytes::new(py, &merkle::leaf_hash(link.as_slice())))
}

/// merkle_root(links) -> bytes: MTH over the links as leaves.
#[pyfunction]
pub fn merkle_root<'py>(
    py: Python<'py>,
    links: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let leaves = leaf_hashes(py, links)?;
    let root = py.detach(|| merkle::root(&leaves));
    Ok(PyBytes::new(py, &root))
}

/// inclusion_proof(links, index) -> list[bytes]: RFC 9162 PATH(index, D[len(links)]).
#[pyfunction]
pub fn inclusion_proof<'py>(
    py: Python<'py>,
    links: &Bound<'py, PyAny>,
    index: u64,
) -> PyResult<Bound<'py, PyList>> {
    let leaves = leaf_hashes(py, links)?;
    let n = leaves.len();
    let path = py
        .detach(|| merkle::inclusion_proof(&leaves, index))
        .ok_or_else(|| {
            Error::InvalidArgument(format!("index {index} is not below the tree size {n}"))
        })
        .py()?;
    hashes(py, &path)
}

/// verify_inclusion(leaf_hash, index, tree_size, path, root) -> bool (RFC 9162 2.1.3.2).
#[pyfunction]
pub fn verify_inclusion(
    leaf_hash: &Bound<'_, PyAny>,
    index: u64,
    tree_size: u64,
    path: &Bound<'_, PyAny>,
    root: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    Ok(merkle::verify_inclusion(
        &array::<32>(leaf_hash, "leaf_hash")?,
        index,
        tree_size,
        &path_arg(path)?,
        &array::<32>(root, "root")?,
    ))
}

/// consistency_proof(links, first) -> list[bytes]: RFC 9162 PROOF(first, D[len(links)]).
#[pyfunction]
pub fn consistency_proof<'py>(
    py: Python<'py>,
    links: &Bound<'py, PyAny>,
    first: u64,
) -> PyResult<Bound<'py, PyList>> {
    let leaves = leaf_hashes(py, links)?;
    let n = leaves.len();
    let proof = py
        .detach(|| merkle::consistency_proof(&leaves, first))
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "first size {first} is larger than the tree size {n}"
            ))
        })
        .py()?;
    hashes(py, &proof)
}

/// verify_consistency(first, second, first_root, second_root, path) -> bool.
#[pyfunction]
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Bound<'_, PyAny>,
    second_root: &Bound<'_, PyAny>,
    path: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    Ok(merkle::verify_consistency(
        first,
        second,
        &array::<32>(first_root, "first_root")?,
        &array::<32>(second_root, "second_root")?,
        &path_arg(path)?,
    ))
}

/// An append-only Merkle log kept as its frontier: O(log n) state, O(1) amortised append.
#[pyclass(module = "hashcore._core")]
pub struct MerkleLog {
    frontier: Frontier,
}

#[pymethods]
impl MerkleLog {
    #[new]
    fn new() -> Self {
        MerkleLog {
            frontier: Frontier::new(),
        }
    }

    /// MerkleLog.from_state(size, subtree_roots): restores a persisted frontier.
    #[staticmethod]
    fn from_state(size: u64, subtree_roots: &Bound<'_, PyAny>) -> PyResult<Self> {
        let roots = path_arg(subtree_roots)?;
        let frontier = Frontier::from_parts(size, &roots)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "a log of size {size} has {} subtree roots, not {}",
                    size.count_ones(),
                    roots.len()
                ))
            })
            .py()?;
        Ok(MerkleLog { frontier })
    }

    /// Appends one link; returns its log index.
    fn append(&mut self, link: &Bound<'_, PyAny>) -> PyResult<u64> {
        let link = Bytes::get(link, "link")?;
        let index = self.frontier.size();
        self.frontier.push(merkle::leaf_hash(link.as_slice()));
        Ok(index)
    }

    /// Appends every link (see `merkle_root` for the accepted shapes); returns the first index.
    fn extend(&mut self, py: Python<'_>, links: &Bound<'_, PyAny>) -> PyResult<u64> {
        let first = self.frontier.size();
        for leaf in leaf_hashes(py, links)? {
            self.frontier.push(leaf);
        }
        Ok(first)
    }

    #[getter]
    fn size(&self) -> u64 {
        self.frontier.size()
    }

    fn root<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.frontier.root())
    }

    fn subtree_roots<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        hashes(py, &self.frontier.subtree_roots())
    }

    fn __len__(&self) -> usize {
        self.frontier.size() as usize
    }

    fn __repr__(&self) -> String {
        format!(
            "MerkleLog(size={}, root={})",
            self.frontier.size(),
            hex_str(&self.frontier.root())
        )
    }
}

fn hex_str(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
