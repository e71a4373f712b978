//! `v2_audit`: the v2 audit engine (`crate::v2::audit`) over Arrow buffers. Python
//! (hashcore/audit/v2_columns.py) hands over each column's raw buffers as `verify_columns`
//! takes them; this holds them exported, releases the GIL for the whole audit (rows built
//! from the views, then every verdict) and returns compact results: one byte per verdict,
//! findings and failures as short lists.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::buffers::{array, Bytes};
use super::column_buffers::ColumnBuffers;
use super::errors::{internal_error, to_pyerr, IntoPyResult};
use crate::error::Error;
use crate::v2::audit::columns::{binary_rows, ReceiptColumns, RecordColumns};
use crate::v2::audit::input::{AnchorRow, Bundle, CheckpointRow, IdentitySource, Options, Trust};
use crate::v2::audit::trace::Trace;
use crate::v2::audit::verdict::{
    AnchorVerdict, CheckpointVerdict, NoteVerdict, ReceiptVerdict, RecordVerdict, TimeFinding,
};
use crate::v2::audit::{audit, Report};

/// Adds the v2 audit's codes and `v2_audit` to `hashcore._core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add(
        "V2_RECORD_VERDICT_CODES",
        codes(RecordVerdict::ALL, |v| v.code()),
    )?;
    m.add(
        "V2_CHECKPOINT_VERDICT_CODES",
        codes(CheckpointVerdict::ALL, |v| v.code()),
    )?;
    m.add(
        "V2_NOTE_VERDICT_CODES",
        codes(NoteVerdict::ALL, |v| v.code()),
    )?;
    m.add(
        "V2_RECEIPT_VERDICT_CODES",
        codes(ReceiptVerdict::ALL, |v| v.code()),
    )?;
    m.add(
        "V2_ANCHOR_VERDICT_CODES",
        codes(AnchorVerdict::ALL, |v| v.code()),
    )?;
    m.add(
        "V2_TIME_FINDING_CODES",
        codes(TimeFinding::ALL, |v| v.code()),
    )?;
    m.add(
        "V2_DEFAULT_MAX_MERGE_DELAY_MS",
        Trust::DEFAULT_MAX_MERGE_DELAY_MS,
    )?;
    m.add(
        "V2_DEFAULT_MAX_CLOCK_SKEW_MS",
        Trust::DEFAULT_MAX_CLOCK_SKEW_MS,
    )?;
    m.add_function(wrap_pyfunction!(v2_audit, m)?)?;
    Ok(())
}

fn codes<T: Copy>(all: &[T], code: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|&v| code(v)).collect()
}

/// A verdict's index in its enum's `ALL` (the order of the `V2_*_CODES` lists).
pub(super) fn index_of<T: PartialEq>(all: &[T], v: &T) -> u8 {
    all.iter()
        .position(|x| x == v)
        .expect("every verdict is in ALL") as u8
}

pub(super) const RECORD_COLUMNS: [&str; 14] = [
    "log_index",
    "chain_id",
    "seq",
    "time_ms",
    "kind",
    "prev",
    "commit",
    "beacon_size",
    "beacon_root",
    "link",
    "signature",
    "salt",
    "payload",
    "received_ms",
];

pub(super) const RECEIPT_COLUMNS: [&str; 6] = [
    "chain_id",
    "seq",
    "link",
    "log_index",
    "received_ms",
    "receipt_sig",
];

fn column_error(column: &str, message: &str) -> PyErr {
    to_pyerr(Error::Column {
        column: column.into(),
        message: message.into(),
    })
}

pub(super) fn hold(
    columns: &Bound<'_, PyDict>,
    names: &[&str],
    what: &str,
) -> PyResult<Vec<ColumnBuffers>> {
    names
        .iter()
        .map(|&name| {
            let spec = columns
                .get_item(name)?
                .ok_or_else(|| column_error(name, &format!("is missing from the {what}")))?;
            ColumnBuffers::extract(&spec, name)
        })
        .collect()
}

pub(super) fn record_columns(h: &[ColumnBuffers]) -> Result<RecordColumns<'_>, Error> {
    Ok(RecordColumns {
        log_index: h[0].int::<8>("log_index")?,
        chain_id: h[1].binary("chain_id")?,
        seq: h[2].int::<8>("seq")?,
        time_ms: h[3].int::<8>("time_ms")?,
        kind: h[4].int::<1>("kind")?,
        prev: h[5].binary("prev")?,
        commit: h[6].binary("commit")?,
        beacon_size: h[7].int::<8>("beacon_size")?,
        beacon_root: h[8].binary("beacon_root")?,
        link: h[9].binary("link")?,
        signature: h[10].binary("signature")?,
        salt: h[11].binary("salt")?,
        payload: h[12].binary("payload")?,
        received_ms: h[13].int::<8>("received_ms")?,
    })
}

pub(super) fn receipt_columns(h: &[ColumnBuffers]) -> Result<ReceiptColumns<'_>, Error> {
    Ok(ReceiptColumns {
        chain_id: h[0].binary("chain_id")?,
        seq: h[1].int::<8>("seq")?,
        link: h[2].binary("link")?,
        log_index: h[3].int::<8>("log_index")?,
        received_ms: h[4].int::<8>("received_ms")?,
        receipt_sig: h[5].binary("receipt_sig")?,
    })
}

/// A policy as `v2_audit` takes it: (origin, log_key, [(name, key)], witness_quorum,
/// max_merge_delay_ms, max_clock_skew_ms). hashcore/policy.py has checked it (SPEC 3).
pub(super) type PyPolicy<'py> = (
    String,
    Bound<'py, PyAny>,
    Vec<(String, Bound<'py, PyAny>)>,
    usize,
    u64,
    u64,
);

pub(super) fn policy_trust(policy: PyPolicy<'_>) -> PyResult<Trust> {
    let (origin, log_key, witnesses, witness_quorum, max_merge_delay_ms, max_clock_skew_ms) =
        policy;
    let witnesses = witnesses
        .into_iter()
        .map(|(name, key)| Ok((name, array::<32>(&key, "witness key")?)))
        .collect::<PyResult<Vec<_>>>()?;
    if witness_quorum > witnesses.len() {
        return Err(Error::InvalidArgument(format!(
            "witness_quorum {witness_quorum} is more than the {} witnesses",
            witnesses.len()
        )))
        .py();
    }
    Ok(Trust {
        origin,
        log_key: array::<32>(&log_key, "log_key")?,
        witnesses,
        witness_quorum,
        max_merge_delay_ms,
        max_clock_skew_ms,
        source: IdentitySource::Policy,
    })
}

pub(super) type PyCheckpoint<'py> = (
    Option<u64>,
    Option<Bound<'py, PyAny>>,
    Option<Bound<'py, PyAny>>,
);

pub(super) fn checkpoint_rows(rows: Vec<PyCheckpoint<'_>>) -> PyResult<Vec<CheckpointRow>> {
    let bytes = |o: Option<Bound<'_, PyAny>>, what: &str| {
        o.map(|b| Bytes::get(&b, what).map(|b| b.as_slice().to_vec()))
            .transpose()
    };
    rows.into_iter()
        .map(|(tree_size, root, note)| {
            Ok(CheckpointRow {
                tree_size,
                root: bytes(root, "checkpoint root")?,
                note: bytes(note, "checkpoint note")?,
            })
        })
        .collect()
}

/// An anchor as `v2_audit` takes it: (tree_size, root, final).
pub(super) type PyAnchor<'py> = (u64, Bound<'py, PyAny>, bool);

pub(super) fn anchor_rows(anchors: Vec<PyAnchor<'_>>) -> PyResult<Vec<AnchorRow>> {
    anchors
        .into_iter()
        .map(|(tree_size, root, is_final)| {
            Ok(AnchorRow {
                tree_size,
                root: array::<32>(&root, "anchor root")?,
                is_final,
            })
        })
        .collect()
}

/// A time finding as returned: (row, code, time_ms, lower, upper, upper_witnessed), exact
/// integers (i128: 1000 × a cosignature time exceeds i64).
pub(super) type PyFinding = (usize, u8, i64, Option<i128>, i128, Option<i128>);

fn report_dict<'py>(py: Python<'py>, r: &Report) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    let bytes_of = |v: Vec<u8>| PyBytes::new(py, &v);
    out.set_item(
        "records",
        bytes_of(
            r.records
                .iter()
                .map(|v| index_of(RecordVerdict::ALL, v))
                .collect(),
        ),
    )?;
    let malformed: Vec<(usize, &str)> = r
        .malformed_reasons
        .iter()
        .enumerate()
        .filter_map(|(i, m)| Some((i, (*m)?)))
        .collect();
    out.set_item("malformed_reasons", malformed)?;
    out.set_item(
        "checkpoints",
        bytes_of(
            r.checkpoints
                .iter()
                .map(|v| index_of(CheckpointVerdict::ALL, v))
                .collect(),
        ),
    )?;
    out.set_item(
        "note_sizes",
        r.notes.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
    )?;
    out.set_item(
        "notes",
        bytes_of(
            r.notes
                .iter()
                .map(|(_, v)| index_of(NoteVerdict::ALL, v))
                .collect(),
        ),
    )?;
    out.set_item(
        "receipts",
        bytes_of(
            r.receipts
                .iter()
                .map(|v| index_of(ReceiptVerdict::ALL, v))
                .collect(),
        ),
    )?;
    let findings: Vec<PyFinding> = r
        .time_findings
        .iter()
        .map(|f| {
            (
                f.row,
                index_of(TimeFinding::ALL, &f.code),
                f.time_ms,
                f.window.lower(),
                f.window.upper(),
                f.window.upper_witnessed(),
            )
        })
        .collect();
    out.set_item("time_findings", findings)?;
    out.set_item("anchors_checked", r.anchors.is_some())?;
    out.set_item(
        "anchors",
        bytes_of(
            r.anchors
                .iter()
                .flatten()
                .map(|v| index_of(AnchorVerdict::ALL, v))
                .collect(),
        ),
    )?;
    out.set_item("missing_log_positions", &r.missing_log_positions)?;
    out.set_item("covered_size", r.covered_size)?;
    out.set_item("deadline_clock_ms", r.deadline_clock_ms)?;
    out.set_item("incomplete", r.incomplete)?;
    out.set_item("manifest_origin_matches", r.manifest_origin_matches)?;
    out.set_item("manifest_log_key_matches", r.manifest_log_key_matches)?;
    out.set_item("log_identity_source", r.log_identity_source.code())?;
    out.set_item("clean", r.clean)?;
    out.set_item("clean_with_strict_time", r.clean_with_strict_time)?;
    Ok(out)
}

/// v2_audit(records, checkpoints, receipts, notes, manifest_origin, manifest_log_key,
/// policy=None, as_of=None, anchors=None, threads=None, check_signatures=True) -> dict
///
/// `anchors`: None where the policy has no `evm`; else the anchorer's anchors read from
/// the chain, `(tree_size, root, final)` each (a policy is then required). `threads`:
/// hashcore's worker pool (default: all cores, at most 256).
#[pyfunction]
#[pyo3(signature = (records, checkpoints, receipts, notes, manifest_origin, manifest_log_key, policy=None, as_of=None, anchors=None, threads=None, check_signatures=true))]
#[allow(clippy::too_many_arguments)]
pub fn v2_audit<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyDict>,
    checkpoints: Vec<PyCheckpoint<'py>>,
    receipts: &Bound<'py, PyDict>,
    notes: &Bound<'py, PyAny>,
    manifest_origin: String,
    manifest_log_key: &Bound<'py, PyAny>,
    policy: Option<PyPolicy<'py>>,
    as_of: Option<u64>,
    anchors: Option<Vec<PyAnchor<'py>>>,
    threads: Option<usize>,
    check_signatures: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let mut trace = Trace::new();
    let pool = crate::pool::pool(threads).py()?;
    if anchors.is_some() && policy.is_none() {
        return Err(Error::InvalidArgument(
            "anchors are checked only under a policy with evm (SPEC 3)".into(),
        ))
        .py();
    }
    let held_records = hold(records, &RECORD_COLUMNS, "records")?;
    let held_receipts = hold(receipts, &RECEIPT_COLUMNS, "receipts")?;
    let held_notes = ColumnBuffers::extract(notes, "note")?;
    let record_cols = record_columns(&held_records).py()?;
    let receipt_cols = receipt_columns(&held_receipts).py()?;
    let note_col = held_notes.binary("note").py()?;
    let mut bundle = Bundle {
        manifest_origin,
        manifest_log_key: array::<32>(manifest_log_key, "manifest log_key")?,
        checkpoints: checkpoint_rows(checkpoints)?,
        anchors: anchors.map(anchor_rows).transpose()?,
        ..Bundle::default()
    };
    let trust = policy.map(policy_trust).transpose()?;
    let options = Options {
        as_of,
        check_signatures,
    };

    trace.mark("arguments");

    let outcome = py.detach(|| {
        catch_unwind(AssertUnwindSafe(|| {
            pool.install(|| {
                bundle.records = record_cols.rows()?;
                bundle.receipts = receipt_cols.rows()?;
                bundle.notes = binary_rows(&note_col, "note")?;
                trace.mark("row structs");
                let trust = trust.unwrap_or_else(|| Trust::from_manifest(&bundle));
                let report = audit(&bundle, &trust, &options);
                trace.mark("audit");
                Ok::<_, Error>(report)
            })
        }))
    });
    let report = outcome.map_err(|_| internal_error("v2_audit"))?.py()?;
    let out = report_dict(py, &report);
    trace.mark("report dict");
    drop(report);
    drop(bundle);
    trace.mark("drop");
    out
}
