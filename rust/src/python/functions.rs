//! Thin wrappers over the protocol and Ed25519 functions, and the bench's raw ceilings.
//! They convert and check arguments; the work happens in the domain modules.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::buffers::{array, Bytes};
use super::errors::IntoPyResult;
use crate::ed25519::{self, BatchItem, KeyCheck};
use crate::protocol;

/// chain_id_for_key(public_key) -> bytes: the 16-byte chain id a genesis key names.
#[pyfunction]
pub fn chain_id_for_key<'py>(
    py: Python<'py>,
    public_key: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let key = array::<32>(public_key, "public_key")?;
    Ok(PyBytes::new(py, &protocol::chain_id_for_key(&key)))
}

/// commitment(salt, payload) -> bytes: KDF(commit ctx, salt || payload).
#[pyfunction]
pub fn commitment<'py>(
    py: Python<'py>,
    salt: &Bound<'py, PyAny>,
    payload: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let salt = array::<16>(salt, "salt")?;
    let payload = Bytes::get(payload, "payload")?;
    let out = py.detach(|| protocol::commitment(&salt, payload.as_slice()));
    Ok(PyBytes::new(py, &out))
}

/// check_public_key(public_key) -> "valid" | "not_a_point" | "small_order".
#[pyfunction]
pub fn check_public_key(public_key: &Bound<'_, PyAny>) -> PyResult<&'static str> {
    let key = array::<32>(public_key, "public_key")?;
    Ok(match ed25519::check_public_key(&key) {
        KeyCheck::Valid => "valid",
        KeyCheck::NotAPoint => "not_a_point",
        KeyCheck::SmallOrder => "small_order",
    })
}

/// verify_signature(public_key, message, signature) -> bool (ZIP-215).
#[pyfunction]
pub fn verify_signature(
    public_key: &Bound<'_, PyAny>,
    message: &Bound<'_, PyAny>,
    signature: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let key = array::<32>(public_key, "public_key")?;
    let sig = array::<64>(signature, "signature")?;
    let msg = Bytes::get(message, "message")?;
    Ok(ed25519::verify(&key, msg.as_slice(), &sig))
}

/// verify_signatures(items) -> list[bool]: batch verification (ZIP-215) of
/// (public_key, message, signature) triples, naming each result. Agrees with
/// `verify_signature` on every input.
#[pyfunction]
pub fn verify_signatures(
    py: Python<'_>,
    items: Vec<(Bound<'_, PyAny>, Bound<'_, PyAny>, Bound<'_, PyAny>)>,
) -> PyResult<Vec<bool>> {
    let mut owned = Vec::with_capacity(items.len());
    for (i, (k, m, s)) in items.iter().enumerate() {
        let key = array::<32>(k, "public_key").map_err(|e| annotate(py, e, i))?;
        let sig = array::<64>(s, "signature").map_err(|e| annotate(py, e, i))?;
        owned.push((key, Bytes::get(m, "message")?, sig));
    }
    Ok(py.detach(|| {
        let batch: Vec<BatchItem<'_>> = owned
            .iter()
            .map(|(key, msg, sig)| BatchItem {
                key,
                message: msg.as_slice(),
                signature: sig,
            })
            .collect();
        ed25519::verify_batch_each(&batch)
    }))
}

fn annotate(py: Python<'_>, err: PyErr, index: usize) -> PyErr {
    let msg = format!("item {index}: {}", err.value(py));
    PyErr::from_type(err.get_type(py), msg)
}

/// public_key_from_seed(seed) -> bytes: RFC 8032 public key of a 32-byte secret seed.
#[pyfunction]
pub fn public_key_from_seed<'py>(
    py: Python<'py>,
    seed: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let seed = array::<32>(seed, "seed")?;
    Ok(PyBytes::new(py, &ed25519::public_key_from_seed(&seed)))
}

/// sign(seed, message) -> bytes: RFC 8032 Ed25519 signature.
#[pyfunction]
pub fn sign<'py>(
    py: Python<'py>,
    seed: &Bound<'py, PyAny>,
    message: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let seed = array::<32>(seed, "seed")?;
    let msg = Bytes::get(message, "message")?;
    Ok(PyBytes::new(py, &ed25519::sign(&seed, msg.as_slice())))
}

/// _raw_batch_verify(keys, messages, signatures, threads=None) -> int: benchmark ceiling,
/// the Ed25519 library's batch verification alone; returns the number of failed batches.
#[pyfunction]
#[pyo3(signature = (keys, messages, signatures, threads=None))]
pub fn _raw_batch_verify(
    py: Python<'_>,
    keys: &Bound<'_, PyAny>,
    messages: &Bound<'_, PyAny>,
    signatures: &Bound<'_, PyAny>,
    threads: Option<usize>,
) -> PyResult<usize> {
    let (k, m, s) = (
        Bytes::get(keys, "keys")?,
        Bytes::get(messages, "messages")?,
        Bytes::get(signatures, "signatures")?,
    );
    py.detach(|| crate::ceiling::batch_verify(k.as_slice(), m.as_slice(), s.as_slice(), threads))
        .py()
}

/// _raw_blake3(headers, header_len, payloads, offsets, threads=None) -> bytes: benchmark
/// ceiling, BLAKE3 alone over every header and payload.
#[pyfunction]
#[pyo3(signature = (headers, header_len, payloads, offsets, threads=None))]
pub fn _raw_blake3<'py>(
    py: Python<'py>,
    headers: &Bound<'py, PyAny>,
    header_len: usize,
    payloads: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyBytes>> {
    let (h, p, o) = (
        Bytes::get(headers, "headers")?,
        Bytes::get(payloads, "payloads")?,
        Bytes::get(offsets, "offsets")?,
    );
    let out = py
        .detach(|| {
            crate::ceiling::blake3_records(
                h.as_slice(),
                header_len,
                p.as_slice(),
                o.as_slice(),
                threads,
            )
        })
        .py()?;
    Ok(PyBytes::new(py, &out))
}
