//! `StreamAudit`: the streamed audit of `audit::stream` for Python, which reads the bundle
//! part by part and hands each batch's Arrow buffers over. Every call releases the GIL
//! and turns a panic into a `HashcoreError`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::bulk::{anchor_args, checkpoint_args, hold_columns, record_columns, PyCheckpoint};
use super::errors::{internal_error, IntoPyResult};
use super::report::full_report_dict;
use crate::audit::stream::{StreamAuditor, StreamOptions};
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
        full_report_dict(py, &report, "StreamAudit.finish")
    }
}
