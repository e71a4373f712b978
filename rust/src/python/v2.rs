//! Bindings of the protocol v2 primitives (`crate::v2`): record header and link v2, log
//! entries, the SHA-256 tree and its proofs, signed-note checkpoints, cosignatures, receipts.
//! Buffers in, bytes out; errors through `errors.rs`; the GIL is released for tree and note
//! work (a note can be 1 MiB, a tree millions of leaves).

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::buffers::{array, Bytes};
use super::errors::IntoPyResult;
use crate::error::{Error, Result};
use crate::v2::note::{self, Checkpoint, Note};
use crate::v2::record::{self, Header};
use crate::v2::{cosignature, entry, keys, receipt, tree, Hash};

/// Adds the v2 constants and functions to `hashcore._core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("V2_VERSION", crate::v2::VERSION)?;
    m.add("V2_HEADER_LEN", record::HEADER_LEN)?;
    m.add("V2_ENTRY_LEN", entry::ENTRY_LEN)?;
    m.add("V2_LINK_CONTEXT", crate::v2::LINK_CONTEXT)?;
    m.add("V2_RECEIPT_CONTEXT", crate::v2::RECEIPT_CONTEXT)?;
    m.add("NOTE_MAX_LEN", note::MAX_NOTE_LEN)?;
    m.add("NOTE_MAX_SIGNATURE_LINES", note::MAX_SIGNATURE_LINES)?;
    m.add("COSIGNATURE_MAX_TIME", cosignature::MAX_TIME)?;
    m.add_function(wrap_pyfunction!(v2_record_header, m)?)?;
    m.add_function(wrap_pyfunction!(v2_link_of_header, m)?)?;
    m.add_function(wrap_pyfunction!(v2_link, m)?)?;
    m.add_function(wrap_pyfunction!(log_entry, m)?)?;
    m.add_function(wrap_pyfunction!(sha256_leaf_hash, m)?)?;
    m.add_function(wrap_pyfunction!(sha256_node_hash, m)?)?;
    m.add_function(wrap_pyfunction!(sha256_tree_root, m)?)?;
    m.add_function(wrap_pyfunction!(sha256_inclusion_proof, m)?)?;
    m.add_function(wrap_pyfunction!(sha256_verify_inclusion, m)?)?;
    m.add_function(wrap_pyfunction!(sha256_consistency_proof, m)?)?;
    m.add_function(wrap_pyfunction!(sha256_verify_consistency, m)?)?;
    m.add_function(wrap_pyfunction!(is_key_name, m)?)?;
    m.add_function(wrap_pyfunction!(log_key_id, m)?)?;
    m.add_function(wrap_pyfunction!(witness_key_id, m)?)?;
    m.add_function(wrap_pyfunction!(note_verifier_key, m)?)?;
    m.add_function(wrap_pyfunction!(checkpoint_body, m)?)?;
    m.add_function(wrap_pyfunction!(checkpoint_parse_body, m)?)?;
    m.add_function(wrap_pyfunction!(note_parse, m)?)?;
    m.add_function(wrap_pyfunction!(note_verify, m)?)?;
    m.add_function(wrap_pyfunction!(note_sign, m)?)?;
    m.add_function(wrap_pyfunction!(note_cosign, m)?)?;
    m.add_function(wrap_pyfunction!(note_witness_times, m)?)?;
    m.add_function(wrap_pyfunction!(cosignature_sign, m)?)?;
    m.add_function(wrap_pyfunction!(cosignature_verify, m)?)?;
    m.add_function(wrap_pyfunction!(receipt_digest, m)?)?;
    m.add_function(wrap_pyfunction!(receipt_sign, m)?)?;
    m.add_function(wrap_pyfunction!(receipt_verify, m)?)?;
    Ok(())
}

fn kind_byte(kind: u64) -> PyResult<u8> {
    u8::try_from(kind)
        .map_err(|_| {
            Error::InvalidArgument(format!("kind must fit in one byte (0..=255), got {kind}"))
        })
        .py()
}

#[allow(clippy::too_many_arguments)]
fn header(
    chain_id: &Bound<'_, PyAny>,
    seq: u64,
    time_ms: i64,
    kind: u64,
    prev: &Bound<'_, PyAny>,
    commit: &Bound<'_, PyAny>,
    beacon_size: u64,
    beacon_root: &Bound<'_, PyAny>,
) -> PyResult<Header> {
    Ok(Header {
        chain_id: array::<16>(chain_id, "chain_id")?,
        seq,
        time_ms,
        kind: kind_byte(kind)?,
        prev: array::<32>(prev, "prev")?,
        commit: array::<32>(commit, "commit")?,
        beacon_size,
        beacon_root: array::<32>(beacon_root, "beacon_root")?,
    })
}

/// v2_record_header(chain_id, seq, time_ms, kind, prev, commit, beacon_size, beacon_root)
/// -> bytes: the 138-byte header of SPEC 1.2.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn v2_record_header<'py>(
    py: Python<'py>,
    chain_id: &Bound<'py, PyAny>,
    seq: u64,
    time_ms: i64,
    kind: u64,
    prev: &Bound<'py, PyAny>,
    commit: &Bound<'py, PyAny>,
    beacon_size: u64,
    beacon_root: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let h = header(
        chain_id,
        seq,
        time_ms,
        kind,
        prev,
        commit,
        beacon_size,
        beacon_root,
    )?;
    Ok(PyBytes::new(py, &h.encode()))
}

/// v2_link_of_header(header) -> bytes: KDF(link v2 ctx, header) of a 138-byte header.
#[pyfunction]
pub fn v2_link_of_header<'py>(
    py: Python<'py>,
    header: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let header = array::<{ record::HEADER_LEN }>(header, "header")?;
    Ok(PyBytes::new(py, &record::link_of_header(&header)))
}

/// v2_link(chain_id, seq, time_ms, kind, prev, commit, beacon_size, beacon_root) -> bytes.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn v2_link<'py>(
    py: Python<'py>,
    chain_id: &Bound<'py, PyAny>,
    seq: u64,
    time_ms: i64,
    kind: u64,
    prev: &Bound<'py, PyAny>,
    commit: &Bound<'py, PyAny>,
    beacon_size: u64,
    beacon_root: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let h = header(
        chain_id,
        seq,
        time_ms,
        kind,
        prev,
        commit,
        beacon_size,
        beacon_root,
    )?;
    Ok(PyBytes::new(py, &h.link()))
}

/// log_entry(link, received_ms) -> bytes: `0x02 || link || i64be(received_ms)`.
#[pyfunction]
pub fn log_entry<'py>(
    py: Python<'py>,
    link: &Bound<'py, PyAny>,
    received_ms: i64,
) -> PyResult<Bound<'py, PyBytes>> {
    let link = array::<32>(link, "link")?;
    Ok(PyBytes::new(py, &entry::entry(&link, received_ms)))
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

/// is_key_name(name) -> bool: a C2SP key name (non-empty, no space, `+` or control).
#[pyfunction]
pub fn is_key_name(name: &str) -> bool {
    keys::is_key_name(name)
}

/// log_key_id(origin, log_key) -> bytes: SHA256(origin || "\n" || 0x01 || key)[:4].
#[pyfunction]
pub fn log_key_id<'py>(
    py: Python<'py>,
    origin: &str,
    log_key: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let key = array::<32>(log_key, "log_key")?;
    Ok(PyBytes::new(py, &keys::log_key_id(origin, &key)))
}

/// witness_key_id(name, witness_key) -> bytes: SHA256(name || "\n" || 0x04 || key)[:4].
#[pyfunction]
pub fn witness_key_id<'py>(
    py: Python<'py>,
    name: &str,
    witness_key: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let key = array::<32>(witness_key, "witness_key")?;
    Ok(PyBytes::new(py, &keys::witness_key_id(name, &key)))
}

/// note_verifier_key(name, alg, key) -> str: the C2SP verifier key `name+id+b64(alg||key)`.
#[pyfunction]
pub fn note_verifier_key(name: &str, alg: u8, key: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(keys::verifier_key(name, alg, &array::<32>(key, "key")?))
}

fn checkpoint(origin: &str, tree_size: u64, root: &Bound<'_, PyAny>) -> PyResult<Checkpoint> {
    if !keys::is_key_name(origin) {
        return Err(Error::InvalidArgument(format!(
            "origin {origin:?} is not a C2SP key name"
        )))
        .py();
    }
    Ok(Checkpoint {
        origin: origin.to_owned(),
        tree_size,
        root: array::<32>(root, "root")?,
    })
}

/// checkpoint_body(origin, tree_size, root) -> bytes: `origin\n dec(n)\n b64(root)\n`.
#[pyfunction]
pub fn checkpoint_body<'py>(
    py: Python<'py>,
    origin: &str,
    tree_size: u64,
    root: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let cp = checkpoint(origin, tree_size, root)?;
    Ok(PyBytes::new(py, cp.body().as_bytes()))
}

/// checkpoint_parse_body(text) -> (origin, tree_size, root); no extension lines.
#[pyfunction]
pub fn checkpoint_parse_body<'py>(
    py: Python<'py>,
    text: &Bound<'py, PyAny>,
) -> PyResult<(String, u64, Bound<'py, PyBytes>)> {
    let text = Bytes::get(text, "text")?;
    let text = std::str::from_utf8(text.as_slice())
        .map_err(|_| Error::InvalidArgument("checkpoint body: not UTF-8".into()))
        .py()?;
    let cp = Checkpoint::parse_body(text).map_err(Error::from).py()?;
    Ok((cp.origin, cp.tree_size, PyBytes::new(py, &cp.root)))
}

type PyLine<'py> = (String, Bound<'py, PyBytes>, Bound<'py, PyBytes>);

/// note_parse(note) -> (text, [(name, key_id, signature), ...]): a C2SP signed note split
/// into its text and signature lines; any format error raises, naming the rule.
#[pyfunction]
pub fn note_parse<'py>(
    py: Python<'py>,
    note: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyBytes>, Vec<PyLine<'py>>)> {
    let bytes = Bytes::get(note, "note")?;
    let parsed = py
        .detach(|| Note::parse(bytes.as_slice()))
        .map_err(Error::from)
        .py()?;
    let lines = parsed
        .lines
        .into_iter()
        .map(|l| {
            (
                l.name,
                PyBytes::new(py, &l.key_id),
                PyBytes::new(py, &l.signature),
            )
        })
        .collect();
    Ok((PyBytes::new(py, parsed.text.as_bytes()), lines))
}

/// note_verify(note, origin, log_key) -> (tree_size, root): the note is a checkpoint of
/// `origin` valid for the log (SPEC 2.2); otherwise raises, naming the rule broken.
#[pyfunction]
pub fn note_verify<'py>(
    py: Python<'py>,
    note: &Bound<'py, PyAny>,
    origin: &str,
    log_key: &Bound<'py, PyAny>,
) -> PyResult<(u64, Bound<'py, PyBytes>)> {
    let key = array::<32>(log_key, "log_key")?;
    let bytes = Bytes::get(note, "note")?;
    let (_, cp) = py
        .detach(|| note::verify_checkpoint(bytes.as_slice(), origin, &key))
        .map_err(Error::from)
        .py()?;
    Ok((cp.tree_size, PyBytes::new(py, &cp.root)))
}

/// note_sign(log_seed, origin, tree_size, root) -> bytes: the relay's signed checkpoint.
#[pyfunction]
pub fn note_sign<'py>(
    py: Python<'py>,
    log_seed: &Bound<'py, PyAny>,
    origin: &str,
    tree_size: u64,
    root: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let seed = array::<32>(log_seed, "log_seed")?;
    let cp = checkpoint(origin, tree_size, root)?;
    let signed = note::sign_checkpoint(&seed, &cp)
        .map_err(Error::from)
        .py()?;
    Ok(PyBytes::new(py, &signed))
}

/// note_cosign(note, witness_seed, name, t) -> bytes: the note with the witness's
/// cosignature/v1 line over its text appended (the note must parse; nothing else checked).
#[pyfunction]
pub fn note_cosign<'py>(
    py: Python<'py>,
    note: &Bound<'py, PyAny>,
    witness_seed: &Bound<'py, PyAny>,
    name: &str,
    t: u64,
) -> PyResult<Bound<'py, PyBytes>> {
    let seed = array::<32>(witness_seed, "witness_seed")?;
    let bytes = Bytes::get(note, "note")?;
    let cosigned = py
        .detach(|| -> Result<Vec<u8>> {
            let mut parsed = Note::parse(bytes.as_slice())?;
            let key = crate::ed25519::public_key_from_seed(&seed);
            let value = cosignature::sign(&seed, t, parsed.text.as_bytes())?;
            parsed.lines.push(cosignature::line(name, &key, &value)?);
            Ok(parsed.encode())
        })
        .py()?;
    Ok(PyBytes::new(py, &cosigned))
}

/// note_witness_times(note, name, witness_key) -> list[int]: the times of the witness's
/// valid cosignature lines (failing lines don't count; the note must parse).
#[pyfunction]
pub fn note_witness_times(
    py: Python<'_>,
    note: &Bound<'_, PyAny>,
    name: &str,
    witness_key: &Bound<'_, PyAny>,
) -> PyResult<Vec<u64>> {
    let key = array::<32>(witness_key, "witness_key")?;
    let bytes = Bytes::get(note, "note")?;
    py.detach(|| -> Result<Vec<u64>> {
        let parsed = Note::parse(bytes.as_slice())?;
        Ok(cosignature::witness_times(&parsed, name, &key))
    })
    .py()
}

/// cosignature_sign(witness_seed, t, body) -> bytes: the 72-byte `u64be(t) || sig`.
#[pyfunction]
pub fn cosignature_sign<'py>(
    py: Python<'py>,
    witness_seed: &Bound<'py, PyAny>,
    t: u64,
    body: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let seed = array::<32>(witness_seed, "witness_seed")?;
    let body = Bytes::get(body, "body")?;
    let value = cosignature::sign(&seed, t, body.as_slice()).py()?;
    Ok(PyBytes::new(py, &value))
}

/// cosignature_verify(witness_key, body, value) -> int | None: the cosigned time, or None.
#[pyfunction]
pub fn cosignature_verify(
    witness_key: &Bound<'_, PyAny>,
    body: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
) -> PyResult<Option<u64>> {
    let key = array::<32>(witness_key, "witness_key")?;
    let (body, value) = (Bytes::get(body, "body")?, Bytes::get(value, "value")?);
    Ok(cosignature::verify(&key, body.as_slice(), value.as_slice()))
}

fn entry_arg(entry: &Bound<'_, PyAny>) -> PyResult<[u8; entry::ENTRY_LEN]> {
    array::<{ entry::ENTRY_LEN }>(entry, "entry")
}

/// receipt_digest(log_key, log_index, entry) -> bytes (SPEC 2.4).
#[pyfunction]
pub fn receipt_digest<'py>(
    py: Python<'py>,
    log_key: &Bound<'py, PyAny>,
    log_index: u64,
    entry: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let key = array::<32>(log_key, "log_key")?;
    let d = receipt::digest(&key, log_index, &entry_arg(entry)?);
    Ok(PyBytes::new(py, &d))
}

/// receipt_sign(log_seed, log_index, entry) -> bytes: the 64-byte receipt_sig.
#[pyfunction]
pub fn receipt_sign<'py>(
    py: Python<'py>,
    log_seed: &Bound<'py, PyAny>,
    log_index: u64,
    entry: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let seed = array::<32>(log_seed, "log_seed")?;
    let sig = receipt::sign(&seed, log_index, &entry_arg(entry)?);
    Ok(PyBytes::new(py, &sig))
}

/// receipt_verify(log_key, log_index, entry, receipt_sig) -> bool (false under a
/// small-order or non-point key).
#[pyfunction]
pub fn receipt_verify(
    log_key: &Bound<'_, PyAny>,
    log_index: u64,
    entry: &Bound<'_, PyAny>,
    receipt_sig: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let key = array::<32>(log_key, "log_key")?;
    let sig = array::<64>(receipt_sig, "receipt_sig")?;
    Ok(receipt::verify(&key, log_index, &entry_arg(entry)?, &sig))
}
