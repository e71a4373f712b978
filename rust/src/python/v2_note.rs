//! Bindings of the protocol v2 signed objects (`crate::v2`): C2SP key names and ids,
//! signed-note checkpoints, witness cosignatures, receipts. The GIL is released for note
//! work (a note can be 1 MiB). Errors through `errors.rs`.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::buffers::{array, Bytes};
use super::errors::IntoPyResult;
use crate::error::{Error, Result};
use crate::v2::note::{self, Checkpoint, Note};
use crate::v2::{cosignature, entry, keys, receipt};

/// Adds the v2 note, cosignature and receipt constants and functions to `hashcore._core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("V2_RECEIPT_CONTEXT", crate::v2::RECEIPT_CONTEXT)?;
    m.add("NOTE_MAX_LEN", note::MAX_NOTE_LEN)?;
    m.add("NOTE_MAX_SIGNATURE_LINES", note::MAX_SIGNATURE_LINES)?;
    m.add("COSIGNATURE_MAX_TIME", cosignature::MAX_TIME)?;
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
    m.add_function(wrap_pyfunction!(receipt_sign_consecutive, m)?)?;
    m.add_function(wrap_pyfunction!(receipt_verify, m)?)?;
    Ok(())
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

/// receipt_sign_consecutive(log_seed, first_index, entries) -> bytes: the receipt_sigs
/// (n×64 bytes) of the n×41-byte entries at log positions first_index, first_index+1, ...
/// One key derivation for all of them, on the core pool, without the GIL.
#[pyfunction]
pub fn receipt_sign_consecutive<'py>(
    py: Python<'py>,
    log_seed: &Bound<'py, PyAny>,
    first_index: u64,
    entries: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let seed = array::<32>(log_seed, "log_seed")?;
    let buf = Bytes::get(entries, "entries")?;
    let data = buf.as_slice();
    if data.len() % entry::ENTRY_LEN != 0 {
        return Err(Error::InvalidArgument(format!(
            "entries must be a multiple of {} bytes, got {}",
            entry::ENTRY_LEN,
            data.len()
        )))
        .py();
    }
    let items: Vec<[u8; entry::ENTRY_LEN]> = data
        .chunks_exact(entry::ENTRY_LEN)
        .map(|c| c.try_into().expect("chunks_exact gives ENTRY_LEN bytes"))
        .collect();
    let pool = crate::pool::pool(None).py()?;
    let sigs = py
        .detach(|| pool.install(|| receipt::sign_consecutive(&seed, first_index, &items)))
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "log positions from {first_index} for {} entries exceed 2^64 - 1",
                items.len()
            ))
        })
        .py()?;
    Ok(PyBytes::new(py, &sigs.concat()))
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
