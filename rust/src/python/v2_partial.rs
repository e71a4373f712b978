//! The partitioned v2 audit's tasks (`crate::v2::audit::partial`, `partial_judge`) for
//! hashcore/audit/plan.py: each takes Arrow buffers and small lists, releases the GIL for
//! its work, and answers compactly (bytes of per-row flags or verdicts, short lists).

use std::collections::{BTreeSet, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::buffers::{array, Bytes};
use super::column_buffers::ColumnBuffers;
use super::errors::{internal_error, IntoPyResult};
use super::v2_audit::{
    anchor_rows, checkpoint_rows, hold, index_of, policy_trust, receipt_columns, record_columns,
    PyAnchor, PyCheckpoint, PyFinding, PyPolicy, RECEIPT_COLUMNS, RECORD_COLUMNS,
};
use crate::error::Error;
use crate::v2::audit::columns::binary_rows;
use crate::v2::audit::evidence::ReceiptCheck;
use crate::v2::audit::input::{Bundle, ReceiptRow, Trust};
use crate::v2::audit::log::Log;
use crate::v2::audit::partial::{self, Block, LogRequest, PartPositions, PartSlot};
use crate::v2::audit::partial_judge::{self, Judged, LogSummary};
use crate::v2::audit::verdict::{
    AnchorVerdict, CheckpointVerdict, NoteVerdict, ReceiptVerdict, RecordVerdict, TimeFinding,
};
use crate::v2::Hash;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(v2_part_scan, m)?)?;
    m.add_function(wrap_pyfunction!(v2_part_log, m)?)?;
    m.add_function(wrap_pyfunction!(v2_asked_sizes, m)?)?;
    m.add_function(wrap_pyfunction!(v2_combine, m)?)?;
    m.add_function(wrap_pyfunction!(v2_judge_bucket, m)?)?;
    Ok(())
}

/// Runs `f` on hashcore's pool with the GIL released; a panic is an internal error.
fn detached<T: Send>(
    py: Python<'_>,
    threads: Option<usize>,
    what: &str,
    f: impl FnOnce() -> Result<T, Error> + Send,
) -> PyResult<T> {
    let pool = crate::pool::pool(threads).py()?;
    let outcome = py.detach(|| catch_unwind(AssertUnwindSafe(|| pool.install(f))));
    outcome.map_err(|_| internal_error(what))?.py()
}

/// The manifest's identity, or the policy's (SPEC 3).
fn trust_of(policy: Option<PyPolicy<'_>>, origin: &str, log_key: [u8; 32]) -> PyResult<Trust> {
    match policy {
        Some(p) => policy_trust(p),
        None => Ok(Trust::from_manifest(&Bundle {
            manifest_origin: origin.to_owned(),
            manifest_log_key: log_key,
            ..Bundle::default()
        })),
    }
}

fn note_rows(notes: &Bound<'_, PyAny>) -> PyResult<Vec<Vec<u8>>> {
    let held = ColumnBuffers::extract(notes, "note")?;
    let col = held.binary("note").py()?;
    binary_rows(&col, "note").py()
}

/// v2_part_scan(records, buckets, sizes, threads=None) -> dict: one part's pass 1 flags
/// (u16 little-endian a row), chain buckets (u32 LE a row), runs, duplicates,
/// unrebuildable, beacon_sizes and max_received (one per size).
#[pyfunction]
#[pyo3(signature = (records, buckets, sizes, threads=None))]
pub fn v2_part_scan<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyDict>,
    buckets: u32,
    sizes: Vec<u64>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let held = hold(records, &RECORD_COLUMNS, "records")?;
    let cols = record_columns(&held).py()?;
    let scan = detached(py, threads, "v2_part_scan", || {
        Ok(partial::scan_part(&cols.rows()?, buckets, &sizes))
    })?;
    let out = PyDict::new(py);
    let flags: Vec<u8> = scan.flags.iter().flat_map(|f| f.to_le_bytes()).collect();
    let bucket_bytes: Vec<u8> = scan.buckets.iter().flat_map(|b| b.to_le_bytes()).collect();
    out.set_item("flags", PyBytes::new(py, &flags))?;
    out.set_item("buckets", PyBytes::new(py, &bucket_bytes))?;
    out.set_item("runs", scan.runs)?;
    out.set_item("duplicates", scan.duplicates)?;
    out.set_item("unrebuildable", scan.unrebuildable)?;
    out.set_item("beacon_sizes", scan.beacon_sizes)?;
    out.set_item("max_received", scan.max_received)?;
    Ok(out)
}

/// A slot as returned: (position, link or None, received_ms or None).
type PySlot<'py> = (u64, Option<Bound<'py, PyBytes>>, Option<i64>);

fn py_slot<'py>(py: Python<'py>, (index, slot): (u64, PartSlot)) -> PySlot<'py> {
    match slot {
        Some((link, ms)) => (index, Some(PyBytes::new(py, &link)), Some(ms)),
        None => (index, None, None),
    }
}

/// v2_part_log(records, cuts, limit, skip, lookups, receipts=None, log_key=None,
/// threads=None) -> (blocks, slots, receipt_checks): `records` holds the part's
/// log_index, link and received_ms columns; blocks are (start, height, root), slots
/// (position, link, received_ms) at the lookups it holds; `receipts` (with the trusted
/// `log_key`, SPEC 3) are the receipts of positions the driver sent to this part, and
/// `receipt_checks` their checks, a byte each (`ReceiptCheck::code`; empty without).
#[pyfunction]
#[pyo3(signature = (records, cuts, limit, skip, lookups, receipts=None, log_key=None, threads=None))]
#[allow(clippy::type_complexity, clippy::too_many_arguments)]
pub fn v2_part_log<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyDict>,
    cuts: Vec<u64>,
    limit: u64,
    mut skip: Vec<u64>,
    lookups: Vec<u64>,
    receipts: Option<&Bound<'py, PyDict>>,
    log_key: Option<&Bound<'py, PyAny>>,
    threads: Option<usize>,
) -> PyResult<(
    Vec<(u64, u32, Bound<'py, PyBytes>)>,
    Vec<PySlot<'py>>,
    Bound<'py, PyBytes>,
)> {
    let held = hold(records, &["log_index", "link", "received_ms"], "records")?;
    let receipts = match (receipts, log_key) {
        (None, _) => None,
        (Some(r), Some(key)) => Some((
            hold(r, &RECEIPT_COLUMNS, "receipts")?,
            array::<32>(key, "log_key")?,
        )),
        (Some(_), None) => {
            return Err(Error::InvalidArgument(
                "receipts are checked under the trusted log_key: give it".into(),
            ))
            .py()
        }
    };
    skip.sort_unstable();
    let request = LogRequest {
        cuts,
        limit,
        skip,
        lookups,
    };
    let (blocks, slots, checks) = detached(py, threads, "v2_part_log", || {
        let index = held[0].int::<8>("log_index")?;
        let link = held[1].binary("link")?;
        let received = held[2].int::<8>("received_ms")?;
        index.validate("log_index")?;
        link.validate("link")?;
        received.validate("received_ms")?;
        let slots = (0..index.len)
            .map(|i| {
                let at = index.get_u64(i).ok_or_else(|| Error::Column {
                    column: "log_index".into(),
                    message: format!("row {i} is null; every record needs its log position"),
                })?;
                let slot = link
                    .get_array::<32>(i)
                    .zip(received.get_i64(i))
                    .map(|(l, ms)| (*l, ms));
                Ok((at, slot))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let positions = PartPositions::new(&slots);
        let (blocks, slots) = positions.blocks(&request);
        let checks: Vec<u8> = match &receipts {
            Some((held, key)) => {
                let rows: Vec<ReceiptRow> = receipt_columns(held)?.rows()?;
                positions
                    .receipt_checks(&rows, key)
                    .into_iter()
                    .map(ReceiptCheck::code)
                    .collect()
            }
            None => Vec::new(),
        };
        Ok((blocks, slots, checks))
    })?;
    let blocks = blocks
        .into_iter()
        .map(|b| (b.start, b.height, PyBytes::new(py, &b.root)))
        .collect();
    Ok((
        blocks,
        slots.into_iter().map(|s| py_slot(py, s)).collect(),
        PyBytes::new(py, &checks),
    ))
}

/// v2_asked_sizes(checkpoints, notes, manifest_origin, manifest_log_key, policy=None,
/// anchors=None) -> list: the sizes roots are asked at before the beacons are known.
#[pyfunction]
#[pyo3(signature = (checkpoints, notes, manifest_origin, manifest_log_key, policy=None, anchors=None))]
pub fn v2_asked_sizes<'py>(
    checkpoints: Vec<PyCheckpoint<'py>>,
    notes: &Bound<'py, PyAny>,
    manifest_origin: String,
    manifest_log_key: &Bound<'py, PyAny>,
    policy: Option<PyPolicy<'py>>,
    anchors: Option<Vec<PyAnchor<'py>>>,
) -> PyResult<Vec<u64>> {
    let key = array::<32>(manifest_log_key, "manifest log_key")?;
    let trust = trust_of(policy, &manifest_origin, key)?;
    let anchors = anchors.map(anchor_rows).transpose()?;
    let sizes = partial_judge::asked_sizes(
        &checkpoint_rows(checkpoints)?,
        &note_rows(notes)?,
        anchors.as_deref(),
        &trust,
    );
    Ok(sizes.into_iter().collect())
}

fn entries_of(entries: Vec<(u64, Bound<'_, PyAny>, i64)>) -> PyResult<Vec<(u64, Hash, i64)>> {
    entries
        .into_iter()
        .map(|(i, link, ms)| Ok((i, array::<32>(&link, "entry link")?, ms)))
        .collect()
}

fn roots_of(roots: Vec<(u64, Bound<'_, PyAny>)>) -> PyResult<HashMap<u64, Hash>> {
    roots
        .into_iter()
        .map(|(s, r)| Ok((s, array::<32>(&r, "root")?)))
        .collect()
}

/// v2_combine(checkpoints, receipts, receipt_checks, notes, manifest_origin,
/// manifest_log_key, blocks, limit, sizes, entries, runs, max_received, policy=None,
/// as_of=None, anchors=None) -> dict: the driver's combine step. `receipts` holds the
/// receipts' log_index and received_ms columns, `receipt_checks` the log tasks' byte a
/// receipt (`v2_part_log`); `blocks` (start, height, root) from every part tile
/// `[0, limit)`; `entries` (position, link, received_ms) are the log's entries the
/// beacons need; `runs` the positions held; `max_received` (size, ms).
#[pyfunction]
#[pyo3(signature = (checkpoints, receipts, receipt_checks, notes, manifest_origin, manifest_log_key, blocks, limit, sizes, entries, runs, max_received, policy=None, as_of=None, anchors=None))]
#[allow(clippy::too_many_arguments)]
pub fn v2_combine<'py>(
    py: Python<'py>,
    checkpoints: Vec<PyCheckpoint<'py>>,
    receipts: &Bound<'py, PyDict>,
    receipt_checks: &Bound<'py, PyAny>,
    notes: &Bound<'py, PyAny>,
    manifest_origin: String,
    manifest_log_key: &Bound<'py, PyAny>,
    blocks: Vec<(u64, u32, Bound<'py, PyAny>)>,
    limit: u64,
    sizes: Vec<u64>,
    entries: Vec<(u64, Bound<'py, PyAny>, i64)>,
    runs: Vec<(u64, u64)>,
    max_received: Vec<(u64, Option<i64>)>,
    policy: Option<PyPolicy<'py>>,
    as_of: Option<u64>,
    anchors: Option<Vec<PyAnchor<'py>>>,
) -> PyResult<Bound<'py, PyDict>> {
    if anchors.is_some() && policy.is_none() {
        return Err(Error::InvalidArgument(
            "anchors are checked only under a policy with evm (SPEC 3)".into(),
        ))
        .py();
    }
    let key = array::<32>(manifest_log_key, "manifest log_key")?;
    let trust = trust_of(policy, &manifest_origin, key)?;
    let anchors = anchors.map(anchor_rows).transpose()?;
    let blocks = blocks
        .into_iter()
        .map(|(start, height, root)| {
            Ok(Block {
                start,
                height,
                root: array::<32>(&root, "block root")?,
            })
        })
        .collect::<PyResult<Vec<_>>>()?;
    let checkpoints = checkpoint_rows(checkpoints)?;
    let notes = note_rows(notes)?;
    let entries = entries_of(entries)?;
    let held_receipts = hold(receipts, &["log_index", "received_ms"], "receipts")?;
    let checks = Bytes::get(receipt_checks, "receipt_checks")?
        .as_slice()
        .to_vec();
    let summary = LogSummary { runs, max_received };
    let sizes: BTreeSet<u64> = sizes.into_iter().collect();
    let (roots, combined) = detached(py, None, "v2_combine", || {
        let roots = partial::fold_blocks(blocks, limit, &sizes);
        let log = Log::sparse(entries, roots.clone());
        let judged = Judged::new(&checkpoints, &notes, &trust, log);
        let receipts = checks_of(&held_receipts, &checks)?;
        let combined = partial_judge::combine(
            &judged,
            &summary,
            &receipts,
            anchors.as_deref(),
            &trust,
            (&manifest_origin, &key),
            as_of,
        );
        Ok((roots, combined))
    })?;
    let out = PyDict::new(py);
    let bytes_of = |v: Vec<u8>| PyBytes::new(py, &v);
    let mut roots: Vec<(u64, Hash)> = roots.into_iter().collect();
    roots.sort_unstable();
    let roots: Vec<(u64, Bound<'_, PyBytes>)> = roots
        .into_iter()
        .map(|(s, r)| (s, PyBytes::new(py, &r)))
        .collect();
    out.set_item("roots", roots)?;
    let c = combined;
    out.set_item(
        "checkpoints",
        bytes_of(
            c.checkpoints
                .iter()
                .map(|v| index_of(CheckpointVerdict::ALL, v))
                .collect(),
        ),
    )?;
    out.set_item(
        "note_sizes",
        c.notes.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
    )?;
    out.set_item(
        "notes",
        bytes_of(
            c.notes
                .iter()
                .map(|(_, v)| index_of(NoteVerdict::ALL, v))
                .collect(),
        ),
    )?;
    out.set_item(
        "receipts",
        bytes_of(
            c.receipts
                .iter()
                .map(|v| index_of(ReceiptVerdict::ALL, v))
                .collect(),
        ),
    )?;
    out.set_item("anchors_checked", c.anchors.is_some())?;
    out.set_item(
        "anchors",
        bytes_of(
            c.anchors
                .iter()
                .flatten()
                .map(|v| index_of(AnchorVerdict::ALL, v))
                .collect(),
        ),
    )?;
    out.set_item("missing_log_positions", c.missing_log_positions)?;
    out.set_item("covered_size", c.covered_size)?;
    out.set_item("deadline_clock_ms", c.deadline_clock_ms)?;
    out.set_item("incomplete", c.incomplete)?;
    out.set_item("manifest_origin_matches", c.manifest_origin_matches)?;
    out.set_item("manifest_log_key_matches", c.manifest_log_key_matches)?;
    out.set_item("log_identity_source", trust.source.code())?;
    out.set_item("clean_but_records", c.clean_but_records)?;
    out.set_item("attested", c.attested)?;
    Ok(out)
}

/// The receipts' checks from their codes and their rows' log_index and received_ms.
fn checks_of(held: &[ColumnBuffers], codes: &[u8]) -> Result<Vec<ReceiptCheck>, Error> {
    let index = held[0].int::<8>("log_index")?;
    let received = held[1].int::<8>("received_ms")?;
    index.validate("log_index")?;
    received.validate("received_ms")?;
    if codes.len() != index.len || received.len != index.len {
        return Err(Error::InvalidArgument(format!(
            "{} receipt checks for {} receipts ({} received_ms)",
            codes.len(),
            index.len,
            received.len
        )));
    }
    codes
        .iter()
        .enumerate()
        .map(|(i, &code)| {
            ReceiptCheck::from_code(code, index.get_u64(i), received.get_i64(i)).ok_or_else(|| {
                Error::InvalidArgument(format!("receipt {i}: {code} is not its check"))
            })
        })
        .collect()
}

/// v2_judge_bucket(records, flags, duplicates, checkpoints, notes, manifest_origin,
/// manifest_log_key, roots, entries, policy=None, check_signatures=True, threads=None) ->
/// dict: a chain bucket's verdicts (a byte a row), malformed reasons and time findings.
#[pyfunction]
#[pyo3(signature = (records, flags, duplicates, checkpoints, notes, manifest_origin, manifest_log_key, roots, entries, policy=None, check_signatures=true, threads=None))]
#[allow(clippy::too_many_arguments)]
pub fn v2_judge_bucket<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyDict>,
    flags: &Bound<'py, PyAny>,
    duplicates: Vec<u64>,
    checkpoints: Vec<PyCheckpoint<'py>>,
    notes: &Bound<'py, PyAny>,
    manifest_origin: String,
    manifest_log_key: &Bound<'py, PyAny>,
    roots: Vec<(u64, Bound<'py, PyAny>)>,
    entries: Vec<(u64, Bound<'py, PyAny>, i64)>,
    policy: Option<PyPolicy<'py>>,
    check_signatures: bool,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let key = array::<32>(manifest_log_key, "manifest log_key")?;
    let trust = trust_of(policy, &manifest_origin, key)?;
    let held = hold(records, &RECORD_COLUMNS, "records")?;
    let cols = record_columns(&held).py()?;
    let flags = Bytes::get(flags, "flags")?;
    let checkpoints = checkpoint_rows(checkpoints)?;
    let notes = note_rows(notes)?;
    let log = Log::sparse(entries_of(entries)?, roots_of(roots)?);
    let mut duplicates = duplicates;
    duplicates.sort_unstable();
    let flags: Vec<u16> = flags
        .as_slice()
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let judged = detached(py, threads, "v2_judge_bucket", || {
        let rows = cols.rows()?;
        if flags.len() != rows.len() {
            return Err(Error::InvalidArgument(format!(
                "{} flags for {} rows",
                flags.len(),
                rows.len()
            )));
        }
        let judged = Judged::new(&checkpoints, &notes, &trust, log);
        Ok(partial_judge::judge_bucket(
            &rows,
            &flags,
            &duplicates,
            &judged,
            &trust,
            check_signatures,
        ))
    })?;
    let out = PyDict::new(py);
    let verdicts: Vec<u8> = judged
        .records
        .iter()
        .map(|v| index_of(RecordVerdict::ALL, v))
        .collect();
    out.set_item("records", PyBytes::new(py, &verdicts))?;
    let malformed: Vec<(usize, &str)> = judged
        .malformed_reasons
        .iter()
        .enumerate()
        .filter_map(|(i, m)| Some((i, (*m)?)))
        .collect();
    out.set_item("malformed_reasons", malformed)?;
    let findings: Vec<PyFinding> = judged
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
    Ok(out)
}
