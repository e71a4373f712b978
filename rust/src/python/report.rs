//! The audit report as Python gets it: a dict of plain values and byte buffers, the
//! failures and chain summaries as Arrow buffers (`hashcore/stream.py` wraps them with
//! `pa.Array.from_buffers`). One shape for `verify_columns` and `StreamAudit.finish`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::errors::internal_error;
use crate::audit::{AuditReport, Report};

/// The report as the dict `verify_columns` returns (without `summaries`).
pub(super) fn report_dict<'py>(py: Python<'py>, report: &Report) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("verdicts", PyBytes::new(py, &report.verdicts))?;
    out.set_item("reasons", PyBytes::new(py, &report.reasons))?;
    out.set_item(
        "checkpoint_verdicts",
        PyBytes::new(py, &report.checkpoint_verdicts),
    )?;
    out.set_item("missing_log_positions", &report.missing_log_positions)?;
    out.set_item("largest_signed_tree_size", report.largest_signed_tree_size)?;
    out.set_item("attested_size", report.attested_size)?;
    out.set_item("log_checked", report.log_checked)?;
    out.set_item("signatures_checked", report.signatures_checked)?;
    out.set_item("signatures_verified", report.signatures_verified)?;
    out.set_item("clean", report.clean)?;
    Ok(out)
}

/// The report dict with `failures` and `chains` (dicts of Arrow buffers and a `count`).
pub(super) fn full_report_dict<'py>(
    py: Python<'py>,
    report: &AuditReport,
    what: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let out = report_dict(py, &report.report)?;
    let (failures, chains) = py
        .detach(|| {
            catch_unwind(AssertUnwindSafe(|| {
                (failure_buffers(report), chain_buffers(report))
            }))
        })
        .map_err(|_| internal_error(what))?;
    let failures_dict = PyDict::new(py);
    for (name, bytes) in failures {
        failures_dict.set_item(name, PyBytes::new(py, &bytes))?;
    }
    failures_dict.set_item("count", report.failures.len())?;
    out.set_item("failures", failures_dict)?;
    let chains_dict = PyDict::new(py);
    for (name, bytes) in chains {
        chains_dict.set_item(name, PyBytes::new(py, &bytes))?;
    }
    chains_dict.set_item("count", report.chains.len())?;
    out.set_item("chains", chains_dict)?;
    Ok(out)
}

/// An Arrow validity bitmap (bit set = valid).
fn bitmap(valid: impl Iterator<Item = bool>) -> Vec<u8> {
    let mut bits = Vec::new();
    for (i, v) in valid.enumerate() {
        if i % 8 == 0 {
            bits.push(0u8);
        }
        if v {
            *bits.last_mut().expect("pushed") |= 1 << (i % 8);
        }
    }
    bits
}

fn u64s(values: impl Iterator<Item = u64>) -> Vec<u8> {
    values.flat_map(u64::to_le_bytes).collect()
}

/// Failures as Arrow buffers: row, log_index, verdict (uint8), seq (uint64 + validity),
/// chain_id (large_binary: offsets, data, validity).
fn failure_buffers(report: &AuditReport) -> Vec<(&'static str, Vec<u8>)> {
    let f = &report.failures;
    let mut offsets = 0i64.to_le_bytes().to_vec();
    let mut data = Vec::with_capacity(f.len() * 16);
    for row in f {
        if let Some(id) = row.chain_id.as_bytes() {
            data.extend_from_slice(id);
        }
        offsets.extend_from_slice(&(data.len() as i64).to_le_bytes());
    }
    vec![
        ("row", u64s(f.iter().map(|r| u64::from(r.row)))),
        ("log_index", u64s(f.iter().map(|r| r.log_index))),
        ("verdict", f.iter().map(|r| r.verdict as u8).collect()),
        ("seq", u64s(f.iter().map(|r| r.seq.unwrap_or(0)))),
        ("seq_validity", bitmap(f.iter().map(|r| r.seq.is_some()))),
        ("chain_id_offsets", offsets),
        ("chain_id_data", data),
        (
            "chain_id_validity",
            bitmap(f.iter().map(|r| r.chain_id.as_bytes().is_some())),
        ),
    ]
}

/// Chain summaries as Arrow buffers: chain_id (fixed 16), records, max_seq (+ validity),
/// ok (uint64), complete (one byte each).
fn chain_buffers(report: &AuditReport) -> Vec<(&'static str, Vec<u8>)> {
    let c = &report.chains;
    vec![
        ("chain_id", c.iter().flat_map(|s| s.chain_id).collect()),
        ("records", u64s(c.iter().map(|s| s.records))),
        ("max_seq", u64s(c.iter().map(|s| s.max_seq.unwrap_or(0)))),
        (
            "max_seq_validity",
            bitmap(c.iter().map(|s| s.max_seq.is_some())),
        ),
        ("ok", u64s(c.iter().map(|s| s.ok))),
        ("complete", c.iter().map(|s| u8::from(s.complete)).collect()),
    ]
}
