//! Bindings of the protocol v2 record primitives (`crate::v2`): record header and link v2,
//! log entries. The tree and its proofs are in `v2_tree.rs`; signed notes, cosignatures and
//! receipts in `v2_note.rs`. Buffers in, bytes out; errors through `errors.rs`.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::buffers::array;
use super::errors::IntoPyResult;
use crate::error::Error;
use crate::v2::entry;
use crate::v2::record::{self, Header};

/// Adds the v2 record constants and functions to `hashcore._core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("V2_VERSION", crate::v2::VERSION)?;
    m.add("V2_HEADER_LEN", record::HEADER_LEN)?;
    m.add("V2_ENTRY_LEN", entry::ENTRY_LEN)?;
    m.add("V2_LINK_CONTEXT", crate::v2::LINK_CONTEXT)?;
    m.add_function(wrap_pyfunction!(v2_record_header, m)?)?;
    m.add_function(wrap_pyfunction!(v2_link_of_header, m)?)?;
    m.add_function(wrap_pyfunction!(v2_link, m)?)?;
    m.add_function(wrap_pyfunction!(log_entry, m)?)?;
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
