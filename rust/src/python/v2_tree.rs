//! Bindings of the protocol v2 SHA-256 tree (`crate::v2::tree`, RFC 9162): leaf and node
//! hashes, roots, inclusion and consistency proofs. The GIL is released for tree work (a
//! tree can hold millions of leaves). Errors through `errors.rs`.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::buffers::{array, Bytes};
use super::errors::IntoPyResult;
use crate::error::Error;
use crate::v2::{tree, Hash};

/// Adds the v2 tree functions to `hashcore._core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sha256_leaf_hash, m)?)?;
    m.add_function(wrap_pyfunction!(sha256_node_hash, m)?)?;
    m.add_function(wrap_pyfunction!(sha256_tree_root, m)?)?;
    m.add_function(wrap_pyfunction!(sha256_inclusion_proof, m)?)?;
    m.add_function(wrap_pyfunction!(sha256_verify_inclusion, m)?)?;
    m.add_function(wrap_pyfunction!(sha256_consistency_proof, m)?)?;
    m.add_function(wrap_pyfunction!(sha256_verify_consistency, m)?)?;
    Ok(())
}

/// sha256_leaf_hash(entry) -> bytes: SHA256(0x00 || entry).
#[pyfunction]
pub fn sha256_leaf_hash<'py>(
    py: Python<'py>,
    entry: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let entry = Bytes::get(entry, "entry")?;
    Ok(PyBytes::new(py, &tree::leaf_hash(entry.as_slice())))
}

/// sha256_node_hash(left, right) -> bytes: SHA256(0x01 || left || right).
#[pyfunction]
pub fn sha256_node_hash<'py>(
    py: Python<'py>,
    left: &Bound<'py, PyAny>,
    right: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let (l, r) = (array::<32>(left, "left")?, array::<32>(right, "right")?);
    Ok(PyBytes::new(py, &tree::node_hash(&l, &r)))
}

/// Leaf hashes given as one bytes-like of n*32 bytes, or an iterable of 32-byte ones.
fn leaf_hashes(py: Python<'_>, leaves: &Bound<'_, PyAny>) -> PyResult<Vec<Hash>> {
    if let Ok(buf) = Bytes::get(leaves, "leaf_hashes") {
        let data = buf.as_slice();
        if data.len() % 32 != 0 {
            return Err(Error::InvalidArgument(format!(
                "leaf_hashes buffer must be a multiple of 32 bytes, got {}",
                data.len()
            )))
            .py();
        }
        return Ok(py.detach(|| {
            data.chunks_exact(32)
                .map(|c| Hash::try_from(c).unwrap_or_default())
                .collect()
        }));
    }
    let mut out = Vec::new();
    for (i, item) in leaves.try_iter()?.enumerate() {
        let leaf = array::<32>(&item?, "leaf hash").map_err(|e| {
            let msg = format!("leaf_hashes[{i}]: {}", e.value(py));
            PyErr::from_type(e.get_type(py), msg)
        })?;
        out.push(leaf);
    }
    Ok(out)
}

fn hash_list<'py>(py: Python<'py>, items: &[Hash]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, items.iter().map(|h| PyBytes::new(py, h)))
}

fn path_arg(path: &Bound<'_, PyAny>) -> PyResult<Vec<Hash>> {
    path.try_iter()?
        .map(|p| array::<32>(&p?, "path element"))
        .collect()
}

/// sha256_tree_root(leaf_hashes) -> bytes: MTH over the leaf hashes (SHA256("") for none).
#[pyfunction]
pub fn sha256_tree_root<'py>(
    py: Python<'py>,
    leaf_hashes: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let leaves = self::leaf_hashes(py, leaf_hashes)?;
    Ok(PyBytes::new(py, &py.detach(|| tree::root(&leaves))))
}

/// sha256_inclusion_proof(leaf_hashes, index) -> list[bytes]: RFC 9162 PATH, leaf upward.
#[pyfunction]
pub fn sha256_inclusion_proof<'py>(
    py: Python<'py>,
    leaf_hashes: &Bound<'py, PyAny>,
    index: u64,
) -> PyResult<Bound<'py, PyList>> {
    let leaves = self::leaf_hashes(py, leaf_hashes)?;
    let n = leaves.len();
    let path = py
        .detach(|| tree::inclusion_proof(&leaves, index))
        .ok_or_else(|| {
            Error::InvalidArgument(format!("index {index} is not below the tree size {n}"))
        })
        .py()?;
    hash_list(py, &path)
}

/// sha256_verify_inclusion(leaf_hash, index, tree_size, path, root) -> bool (RFC 9162).
#[pyfunction]
pub fn sha256_verify_inclusion(
    leaf_hash: &Bound<'_, PyAny>,
    index: u64,
    tree_size: u64,
    path: &Bound<'_, PyAny>,
    root: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let leaf = array::<32>(leaf_hash, "leaf_hash")?;
    let root = array::<32>(root, "root")?;
    Ok(tree::verify_inclusion(
        &leaf,
        index,
        tree_size,
        &path_arg(path)?,
        &root,
    ))
}

/// sha256_consistency_proof(leaf_hashes, first) -> list[bytes]: RFC 9162 PROOF(first, D[n]),
/// empty for first = 0 and first = n (SPEC 2.1).
#[pyfunction]
pub fn sha256_consistency_proof<'py>(
    py: Python<'py>,
    leaf_hashes: &Bound<'py, PyAny>,
    first: u64,
) -> PyResult<Bound<'py, PyList>> {
    let leaves = self::leaf_hashes(py, leaf_hashes)?;
    let n = leaves.len();
    let proof = py
        .detach(|| tree::consistency_proof(&leaves, first))
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "first size {first} is larger than the tree size {n}"
            ))
        })
        .py()?;
    hash_list(py, &proof)
}

/// sha256_verify_consistency(first, second, first_root, second_root, path) -> bool, with
/// SPEC 2.1's conventions for first = second and first = 0.
#[pyfunction]
pub fn sha256_verify_consistency(
    first: u64,
    second: u64,
    first_root: &Bound<'_, PyAny>,
    second_root: &Bound<'_, PyAny>,
    path: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let fr = array::<32>(first_root, "first_root")?;
    let sr = array::<32>(second_root, "second_root")?;
    Ok(tree::verify_consistency(
        first,
        second,
        &fr,
        &sr,
        &path_arg(path)?,
    ))
}
