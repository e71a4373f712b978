//! `StreamAudit`: the streamed audit of `audit::stream` for Python, which reads the bundle
//! part by part and hands each batch's Arrow buffers over. Every call releases the GIL
//! and turns a panic into a `HashcoreError`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::bulk::{
    anchor_args, checkpoint_args, hold_columns, record_columns, report_dict, PyCheckpoint,
};
use super::errors::{internal_error, IntoPyResult};
use crate::audit::stream::{StreamAuditor, StreamOptions, StreamReport};
use crate::audit::Options;
use crate::error::Result;

/// StreamAudit(total, partitions=1, spill_dir=None, threads=None, check_signatures=True)
#[pyclass(module = "hashcore._core")]
pub struct StreamAudit {
    inner: StreamAuditor,
    checkpoints: Option<usize>,
}

fn guarded<T: Send>(
    py: Python<'_>,
    what: &str,
    f: impl FnOnce() -> Result<T> + Send,
) -> PyResult<T> {
    py.detach(|| catch_unwind(AssertUnwindSafe(f)))
        .map_err(|_| internal_error(what))?
        .py()
}

#[pymethods]
impl StreamAudit {
    #[new]
    #[pyo3(signature = (total, partitions=1, spill_dir=None, threads=None, check_signatures=true))]
    fn new(
        total: usize,
        partitions: usize,
        spill_dir: Option<PathBuf>,
        threads: Option<usize>,
        check_signatures: bool,
    ) -> PyResult<Self> {
        let stream = StreamOptions {
            options: Options {
                threads,
                check_signatures,
            },
            partitions,
            spill_dir,
        };
        let inner = catch_unwind(AssertUnwindSafe(|| StreamAuditor::new(total, stream)))
            .map_err(|_| internal_error("StreamAudit"))?
            .py()?;
        Ok(StreamAudit {
            inner,
            checkpoints: None,
        })
    }

    /// Number of partitions (call `check_partition` for each).
    #[getter]
    fn partitions(&self) -> usize {
        self.inner.partitions()
    }

    /// Rows added so far.
    #[getter]
    fn rows(&self) -> usize {
        self.inner.rows()
    }

    /// Pass 1 over the next batch of rows (a dict of column buffer specs, as for
    /// `verify_columns`); returns its row count.
    fn add_batch(&mut self, py: Python<'_>, columns: &Bound<'_, PyDict>) -> PyResult<usize> {
        let held = hold_columns(columns)?;
        let cols = record_columns(&held)?;
        let inner = &mut self.inner;
        guarded(py, "StreamAudit.add_batch", || inner.add_batch(&cols))
    }

    /// After the last batch: duplicates, the log and the checkpoints (with `log_id`).
    #[pyo3(signature = (checkpoints=None, log_id=None))]
    fn check_log<'py>(
        &mut self,
        py: Python<'py>,
        checkpoints: Option<Vec<PyCheckpoint<'py>>>,
        log_id: Option<Bound<'py, PyAny>>,
    ) -> PyResult<()> {
        let (cps, log_id) = checkpoint_args(checkpoints, log_id)?;
        self.checkpoints = cps.as_ref().map(Vec::len);
        let inner = &mut self.inner;
        guarded(py, "StreamAudit.check_log", || {
            inner.check_log(cps.as_deref().zip(log_id.as_ref()))
        })
    }

    /// The chain pass over one partition; returns its row count.
    fn check_partition(&mut self, py: Python<'_>, index: usize) -> PyResult<usize> {
        let inner = &mut self.inner;
        guarded(py, "StreamAudit.check_partition", || {
            inner.check_partition(index)
        })
    }

    /// The report: the keys of `verify_columns`, plus `failures` and `chains` (Arrow
    /// buffers, see `hashcore/stream.py`).
    #[pyo3(signature = (anchors=None))]
    fn finish<'py>(
        &mut self,
        py: Python<'py>,
        anchors: Option<Vec<Option<String>>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let anchors = anchor_args(anchors, self.checkpoints)?;
        let inner = &mut self.inner;
        let report = guarded(py, "StreamAudit.finish", || {
            inner.finish(anchors.as_deref())
        })?;
        let out = report_dict(py, &report.report)?;
        let (failures, chains) = py
            .detach(|| {
                catch_unwind(AssertUnwindSafe(|| {
                    (failure_buffers(&report), chain_buffers(&report))
                }))
            })
            .map_err(|_| internal_error("StreamAudit.finish"))?;
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
fn failure_buffers(report: &StreamReport) -> Vec<(&'static str, Vec<u8>)> {
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
fn chain_buffers(report: &StreamReport) -> Vec<(&'static str, Vec<u8>)> {
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
