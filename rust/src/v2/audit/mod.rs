//! The v2 audit engine (SPEC 5): every record, checkpoint, evidence note and receipt gets
//! its verdict, every record with a judged beacon its time window, and the audit is clean
//! or not (5.4). Pure Rust; readers fill `input`'s rows.
//!
//! The stages run in the order their inputs exist: rows alone and chains (`records`), the
//! log and its prefix roots (`log`), checkpoints (`checkpoints`), then beacons and
//! NOT_LOGGED, evidence (`evidence`) and time (`time`). Each stage reads slices and small
//! summaries of the earlier ones (the roots at requested sizes, the attesting sizes), so
//! the partitioned audit feeds the same stages partition by partition (`partial`,
//! `partial_judge`); `audit` runs them over the whole bundle as one partition.

pub mod anchors;
pub mod checkpoints;
pub mod columns;
pub mod evidence;
pub mod input;
pub mod log;
pub mod partial;
pub mod partial_judge;
pub mod records;
pub mod row_checks;
pub mod signatures;
pub mod time;
pub mod trace;
pub mod verdict;

use std::collections::BTreeSet;

use rayon::prelude::*;

use input::{Bundle, IdentitySource, Options, Trust};
use log::Log;
use partial_judge::{judge_rows, Judged, Signed};
use records::RowState;
use time::Window;
use verdict::{
    AnchorVerdict, CheckpointVerdict, NoteVerdict, ReceiptVerdict, RecordVerdict, TimeFinding,
};

use crate::v2::Hash;

/// A time finding of one record (SPEC 5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeFindingRow {
    pub row: usize,
    pub code: TimeFinding,
    pub time_ms: i64,
    pub window: Window,
}

/// Everything an audit concludes, in the input's row order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub records: Vec<RecordVerdict>,
    /// Why each MALFORMED record is (None for the others).
    pub malformed_reasons: Vec<Option<&'static str>>,
    pub checkpoints: Vec<CheckpointVerdict>,
    /// Per evidence note: its body's tree size where it parses, and its verdict.
    pub notes: Vec<(Option<u64>, NoteVerdict)>,
    pub receipts: Vec<ReceiptVerdict>,
    /// Per anchor of the input, its verdict; `None` where anchors were not checked.
    pub anchors: Option<Vec<AnchorVerdict>>,
    pub time_windows: Vec<Option<Window>>,
    pub time_findings: Vec<TimeFindingRow>,
    /// `[start, end)` ranges of positions below `T` that no row holds.
    pub missing_log_positions: Vec<(u64, u64)>,
    /// `T` (SPEC 5.4).
    pub covered_size: u64,
    pub deadline_clock_ms: Option<i64>,
    pub incomplete: bool,
    pub manifest_origin_matches: bool,
    pub manifest_log_key_matches: bool,
    pub log_identity_source: IdentitySource,
    pub clean: bool,
    pub clean_with_strict_time: bool,
}

/// How a record's beacon was judged (SPEC 5.1 BAD_BEACON, decision 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Beacon {
    Zero,
    Right,
    Bad,
    /// Not judged (no attesting checkpoint reaches it), or excused: the relay signed it.
    NotJudged,
}

pub(crate) fn judge_beacon(
    size: u64,
    root: &[u8],
    log_index: u64,
    attested: u64,
    log: &Log,
    signed: &[(u64, Hash)],
) -> Beacon {
    if size == 0 {
        return Beacon::Zero;
    }
    let wrong = if size > log_index {
        true
    } else if attested >= size {
        log.root(size).as_ref().map(|r| &r[..]) != Some(root)
    } else {
        return Beacon::NotJudged;
    };
    if !wrong {
        return Beacon::Right;
    }
    let excused = Hash::try_from(root).is_ok_and(|r| signed.binary_search(&(size, r)).is_ok());
    if excused {
        Beacon::NotJudged
    } else {
        Beacon::Bad
    }
}

pub(crate) fn record_verdict(state: &RowState, beacon: Beacon, logged: bool) -> RecordVerdict {
    use records::*;
    use RecordVerdict as V;
    let order = [
        (state.has(DUPLICATE), V::DuplicateLogIndex),
        (!state.has(LINK_OK), V::BadLink),
        (!state.has(COMMIT_OK), V::BadCommit),
        (state.has(NO_GENESIS), V::NoGenesis),
        (state.has(FORK), V::Fork),
        (state.has(GAP), V::Gap),
        (state.has(BROKEN), V::BrokenChain),
        (state.has(BAD_SIGNATURE), V::BadSignature),
        (beacon == Beacon::Bad, V::BadBeacon),
        (!logged, V::NotLogged),
        (state.has(REDACTED), V::OkRedacted),
    ];
    if state.malformed() {
        return V::Malformed;
    }
    order
        .iter()
        .find(|(applies, _)| *applies)
        .map_or(V::Ok, |&(_, v)| v)
}

/// The distinct beacon sizes the records name. A million rows name a few hundred sizes,
/// neighbours mostly the same one: each chunk skips repeats and keeps its own set, and the
/// sets are joined (one set insert per row on one thread was a serial ~20 ms at 1M rows).
fn beacon_sizes(rows: &[input::RecordRow]) -> BTreeSet<u64> {
    rows.par_chunks(4096)
        .map(|chunk| {
            let mut set = BTreeSet::new();
            let mut last = None;
            for size in chunk.iter().filter_map(|r| r.beacon_size) {
                if last != Some(size) {
                    set.insert(size);
                    last = Some(size);
                }
            }
            set
        })
        .reduce(BTreeSet::new, |mut a, mut b| {
            if a.len() < b.len() {
                std::mem::swap(&mut a, &mut b);
            }
            a.extend(b);
            a
        })
}

/// Audits a bundle under the given trust (a policy's, or `Trust::from_manifest`): the
/// partitioned audit's steps (`partial_judge`) over the whole bundle at once, its rows one
/// bucket and its `Log` the log they stand on.
pub fn audit(bundle: &Bundle, trust: &Trust, options: &Options) -> Report {
    let mut trace = trace::Trace::new();
    let rows = &bundle.records;
    let mut log = Log::build(rows);
    trace.mark("log build");
    // Rows alone are independent: their links and commits are hashed in parallel.
    let states = row_checks::check_all_rows(rows, |r| log.is_duplicate(r.log_index));
    trace.mark("rows");
    let signed = Signed::new(&bundle.checkpoints, &bundle.notes, trust);
    trace.mark("checkpoints");
    let mut sizes: BTreeSet<u64> = signed.signed.iter().map(|&(s, _)| s).collect();
    sizes.extend(beacon_sizes(rows));
    sizes.extend(bundle.anchors.iter().flatten().map(|a| a.tree_size));
    trace.mark("sizes");
    log.compute_roots(&sizes);
    trace.mark("roots");
    let judged = Judged::of(signed, trust, log);
    let judged_rows = judge_rows(rows, states, &judged, trust, options.check_signatures);
    trace.mark("chains, beacons, verdicts, time");
    let receipts =
        evidence::receipt_checks(&bundle.receipts, &trust.log_key, |i| judged.log.entry(i));
    trace.mark("receipts");
    let c = partial_judge::combine(
        &judged,
        &judged.log,
        &receipts,
        bundle.anchors.as_deref(),
        trust,
        (&bundle.manifest_origin, &bundle.manifest_log_key),
        options.as_of,
    );
    let clean = c.clean_but_records && judged_rows.records.iter().all(|v| v.is_ok());
    trace.mark("summary");
    Report {
        records: judged_rows.records,
        malformed_reasons: judged_rows.malformed_reasons,
        checkpoints: c.checkpoints,
        notes: c.notes,
        receipts: c.receipts,
        anchors: c.anchors,
        time_windows: judged_rows.time_windows,
        clean_with_strict_time: clean && judged_rows.time_findings.is_empty(),
        time_findings: judged_rows.time_findings,
        missing_log_positions: c.missing_log_positions,
        covered_size: c.covered_size,
        deadline_clock_ms: c.deadline_clock_ms,
        incomplete: c.incomplete,
        manifest_origin_matches: c.manifest_origin_matches,
        manifest_log_key_matches: c.manifest_log_key_matches,
        log_identity_source: trust.source,
        clean,
    }
}
