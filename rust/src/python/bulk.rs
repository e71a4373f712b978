//! `verify_columns`: the bulk verifier over Arrow buffers. Python (hashcore/verify.py)
//! normalises the table and hands over each column's raw buffers; this converts them to
//! borrowed views once, then releases the GIL for the whole job.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::buffers::{array, Bytes};
use super::errors::{internal_error, IntoPyResult};
use super::report::{full_report_dict, report_dict};
use crate::audit::{self, AnchorState, AuditReport, CheckpointRow, Options};
use crate::columns::{BinaryColumn, IntColumn, RecordColumns, Validity, Values};
use crate::error::Error;

/// One column's buffers as Python handed them over, kept exported while we use them.
pub(super) struct ColumnBuffers {
    layout: String,
    width: usize,
    data: Bytes,
    offsets: Option<Bytes>,
    validity: Option<Bytes>,
    offset: usize,
    len: usize,
}

impl ColumnBuffers {
    /// (layout, width, data, offsets|None, validity|None, offset, length)
    pub(super) fn extract(spec: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        let t = spec.cast::<PyTuple>().map_err(|_| {
            PyTypeError::new_err(format!("column '{name}': expected a buffer spec tuple"))
        })?;
        let opt = |i: usize| -> PyResult<Option<Bytes>> {
            let item = t.get_item(i)?;
            if item.is_none() {
                Ok(None)
            } else {
                Bytes::get(&item, name).map(Some)
            }
        };
        Ok(ColumnBuffers {
            layout: t.get_item(0)?.extract()?,
            width: t.get_item(1)?.extract()?,
            data: Bytes::get(&t.get_item(2)?, name)?,
            offsets: opt(3)?,
            validity: opt(4)?,
            offset: t.get_item(5)?.extract()?,
            len: t.get_item(6)?.extract()?,
        })
    }

    fn validity(&self) -> Option<Validity<'_>> {
        self.validity
            .as_ref()
            .map(|v| Validity { bits: v.as_slice() })
    }

    pub(super) fn int<const W: usize>(&self, name: &str) -> Result<IntColumn<'_, W>, Error> {
        if self.layout != "int" || self.width != W {
            return Err(Error::Column {
                column: name.into(),
                message: format!(
                    "expected a {W}-byte integer column, got layout {} width {}",
                    self.layout, self.width
                ),
            });
        }
        Ok(IntColumn {
            data: self.data.as_slice(),
            validity: self.validity(),
            offset: self.offset,
            len: self.len,
        })
    }

    pub(super) fn binary(&self, name: &str) -> Result<BinaryColumn<'_>, Error> {
        let offsets = || {
            self.offsets
                .as_ref()
                .map(|o| o.as_slice())
                .ok_or_else(|| Error::Column {
                    column: name.into(),
                    message: "variable-width column without offsets".into(),
                })
        };
        let values = match self.layout.as_str() {
            "fixed" if self.width > 0 => Values::Fixed {
                data: self.data.as_slice(),
                width: self.width,
            },
            "var32" => Values::Var32 {
                offsets: offsets()?,
                data: self.data.as_slice(),
            },
            "var64" => Values::Var64 {
                offsets: offsets()?,
                data: self.data.as_slice(),
            },
            other => {
                return Err(Error::Column {
                    column: name.into(),
                    message: format!("unsupported binary layout '{other}'"),
                })
            }
        };
        Ok(BinaryColumn {
            values,
            validity: self.validity(),
            offset: self.offset,
            len: self.len,
        })
    }
}

const COLUMNS: [&str; 11] = [
    "log_index",
    "chain_id",
    "seq",
    "time_ms",
    "kind",
    "prev",
    "commit",
    "link",
    "signature",
    "salt",
    "payload",
];

fn anchor_state(s: Option<&str>) -> PyResult<Option<AnchorState>> {
    match s {
        None => Ok(None),
        Some("final") => Ok(Some(AnchorState::Final)),
        Some("pending") => Ok(Some(AnchorState::Pending)),
        Some("missing") => Ok(Some(AnchorState::Missing)),
        Some(other) => Err(Error::InvalidArgument(format!(
            "anchor state must be final, pending or missing, got '{other}'"
        )))
        .py(),
    }
}

pub(super) type PyCheckpoint<'py> = (
    Option<u64>,
    Option<Bound<'py, PyAny>>,
    Option<Bound<'py, PyAny>>,
    Option<Bound<'py, PyAny>>,
);

/// Every record column's buffers, kept exported while the engine reads them.
pub(super) fn hold_columns(columns: &Bound<'_, PyDict>) -> PyResult<Vec<ColumnBuffers>> {
    let mut held = Vec::with_capacity(COLUMNS.len());
    for name in COLUMNS {
        let spec = columns
            .get_item(name)?
            .ok_or_else(|| to_col_err(name, "is missing"))?;
        held.push(ColumnBuffers::extract(&spec, name)?);
    }
    Ok(held)
}

/// Views over the buffers of `hold_columns`.
pub(super) fn record_columns(held: &[ColumnBuffers]) -> PyResult<RecordColumns<'_>> {
    Ok(RecordColumns {
        log_index: held[0].int::<8>("log_index").py()?,
        chain_id: held[1].binary("chain_id").py()?,
        seq: held[2].int::<8>("seq").py()?,
        time_ms: held[3].int::<8>("time_ms").py()?,
        kind: held[4].int::<1>("kind").py()?,
        prev: held[5].binary("prev").py()?,
        commit: held[6].binary("commit").py()?,
        link: held[7].binary("link").py()?,
        signature: held[8].binary("signature").py()?,
        salt: held[9].binary("salt").py()?,
        payload: held[10].binary("payload").py()?,
    })
}

/// Checkpoint rows and the log_id they are checked against.
pub(super) type CheckpointArgs = (Option<Vec<CheckpointRow>>, Option<[u8; 32]>);

/// The checkpoint rows and the log_id they are checked against (both or neither).
pub(super) fn checkpoint_args<'py>(
    checkpoints: Option<Vec<PyCheckpoint<'py>>>,
    log_id: Option<Bound<'py, PyAny>>,
) -> PyResult<CheckpointArgs> {
    let cps: Option<Vec<CheckpointRow>> = checkpoints
        .map(|rows| {
            rows.into_iter()
                .map(
                    |(tree_size, root, sig, tx_hash)| -> PyResult<CheckpointRow> {
                        let bytes = |o: Option<Bound<'py, PyAny>>, what: &str| {
                            o.map(|b| Bytes::get(&b, what).map(|b| b.as_slice().to_vec()))
                                .transpose()
                        };
                        Ok(CheckpointRow {
                            tree_size,
                            root: bytes(root, "checkpoint root")?,
                            signature: bytes(sig, "checkpoint signature")?,
                            tx_hash: bytes(tx_hash, "checkpoint tx_hash")?,
                        })
                    },
                )
                .collect()
        })
        .transpose()?;
    let log_id: Option<[u8; 32]> = log_id.map(|l| array::<32>(&l, "log_id")).transpose()?;
    if cps.is_some() && log_id.is_none() {
        return Err(Error::InvalidArgument(
            "checkpoints need the relay's log_id to be verified".into(),
        ))
        .py();
    }
    Ok((cps, log_id))
}

/// The anchor states, one per checkpoint row when both are given.
pub(super) fn anchor_args(
    anchors: Option<Vec<Option<String>>>,
    checkpoints: Option<usize>,
) -> PyResult<Option<Vec<Option<AnchorState>>>> {
    let anchors: Option<Vec<Option<AnchorState>>> = anchors
        .map(|a| a.iter().map(|s| anchor_state(s.as_deref())).collect())
        .transpose()?;
    if let (Some(a), Some(c)) = (&anchors, checkpoints) {
        if a.len() != c {
            return Err(Error::InvalidArgument(format!(
                "{} anchor states for {} checkpoints",
                a.len(),
                c
            )))
            .py();
        }
    }
    Ok(anchors)
}

/// verify_columns(columns, checkpoints=None, log_id=None, anchors=None, threads=None,
/// check_signatures=True, summaries=False) -> dict
///
/// With `summaries`, the dict also has the `failures` and `chains` of
/// `StreamAudit.finish`, computed by the same code.
#[pyfunction]
#[pyo3(signature = (columns, checkpoints=None, log_id=None, anchors=None, threads=None, check_signatures=true, summaries=false))]
#[allow(clippy::too_many_arguments)]
pub fn verify_columns<'py>(
    py: Python<'py>,
    columns: &Bound<'py, PyDict>,
    checkpoints: Option<Vec<PyCheckpoint<'py>>>,
    log_id: Option<Bound<'py, PyAny>>,
    anchors: Option<Vec<Option<String>>>,
    threads: Option<usize>,
    check_signatures: bool,
    summaries: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let held = hold_columns(columns)?;
    let cols = record_columns(&held)?;
    let (cps, log_id) = checkpoint_args(checkpoints, log_id)?;
    let anchors = anchor_args(anchors, cps.as_ref().map(Vec::len))?;
    let options = Options {
        threads,
        check_signatures,
    };

    let outcome = py.detach(|| {
        catch_unwind(AssertUnwindSafe(|| {
            let cp_arg = cps.as_deref().zip(log_id.as_ref());
            if summaries {
                return audit::verify_full(&cols, cp_arg, anchors.as_deref(), &options);
            }
            let mut report = audit::verify(&cols, cp_arg, &options)?;
            if let Some(a) = &anchors {
                audit::apply_anchor_states(&mut report, a);
            }
            Ok::<_, Error>(AuditReport {
                report,
                ..AuditReport::default()
            })
        }))
    });
    let full = outcome
        .map_err(|_| internal_error("verify_columns"))?
        .py()?;
    if summaries {
        full_report_dict(py, &full, "verify_columns")
    } else {
        report_dict(py, &full.report)
    }
}

fn to_col_err(name: &str, msg: &str) -> PyErr {
    super::errors::to_pyerr(Error::Column {
        column: name.into(),
        message: msg.into(),
    })
}
