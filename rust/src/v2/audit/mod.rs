//! The v2 audit engine (SPEC 5): every record, checkpoint, evidence note and receipt gets
//! its verdict, every record with a judged beacon its time window, and the audit is clean
//! or not (5.4). Pure Rust; readers fill `input`'s rows.
//!
//! The stages run in the order their inputs exist: rows alone and chains (`records`), the
//! log and its prefix roots (`log`), checkpoints (`checkpoints`), then beacons and
//! NOT_LOGGED, evidence (`evidence`) and time (`time`). Each stage reads slices and small
//! summaries of the earlier ones (the roots at requested sizes, the attesting sizes), so a
//! streamed audit can feed the same stages partition by partition.

pub mod anchors;
pub mod checkpoints;
pub mod columns;
pub mod evidence;
pub mod input;
pub mod log;
pub mod partial;
pub mod partial_judge;
pub mod records;
pub mod time;
pub mod trace;
pub mod verdict;

use std::collections::BTreeSet;

use rayon::prelude::*;

use checkpoints::CheckpointState;
use evidence::{EvidenceNote, ReceiptContext};
use input::{Bundle, IdentitySource, Options, Trust};
use log::Log;
use records::RowState;
use time::{Timed, Window, WitnessClocks};
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
    if state.malformed.is_some() {
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

/// Audits a bundle under the given trust (a policy's, or `Trust::from_manifest`).
pub fn audit(bundle: &Bundle, trust: &Trust, options: &Options) -> Report {
    let mut trace = trace::Trace::new();
    let rows = &bundle.records;
    let mut log = Log::build(rows);
    trace.mark("log build");
    // Rows alone are independent: their links and commits are hashed in parallel.
    let mut states: Vec<RowState> = rows
        .par_iter()
        .map(|r| records::check_row(r, log.is_duplicate(r.log_index)))
        .collect();
    trace.mark("rows");
    let beacon_before = records::check_chains(rows, &mut states, options.check_signatures);
    trace.mark("chains");

    // Each checkpoint and note costs two or more Ed25519 verifications (relay line,
    // cosignatures): a bundle with a checkpoint every 1,000 entries has thousands, which on
    // one thread were ~90 ms of a 1M-record audit whatever the thread count. In parallel.
    let cps: Vec<CheckpointState> = bundle
        .checkpoints
        .par_iter()
        .map(|c| CheckpointState::new(c, trust))
        .collect();
    let notes: Vec<EvidenceNote> = bundle
        .notes
        .par_iter()
        .map(|n| EvidenceNote::new(n, trust))
        .collect();
    let signed: Vec<(u64, Hash)> = cps
        .iter()
        .filter_map(|c| c.signed.as_ref())
        .chain(notes.iter().filter_map(|n| n.signed_body()))
        .map(|cp| (cp.tree_size, cp.root))
        .collect();
    // Sorted: read by binary search for the few records whose beacon is wrong.
    let mut signed_set = signed.clone();
    signed_set.sort_unstable();
    signed_set.dedup();
    trace.mark("checkpoints");

    let mut sizes: BTreeSet<u64> = signed.iter().map(|&(s, _)| s).collect();
    sizes.extend(beacon_sizes(rows));
    sizes.extend(bundle.anchors.iter().flatten().map(|a| a.tree_size));
    trace.mark("sizes");
    log.compute_roots(&sizes);
    trace.mark("roots");

    let mut checkpoint_verdicts = checkpoints::verdicts(&cps, &log, trust);
    if let Some(chain_anchors) = &bundle.anchors {
        anchors::apply_to_checkpoints(&mut checkpoint_verdicts, &cps, chain_anchors, &log);
    }
    let attesting: Vec<&CheckpointState> = cps.iter().filter(|c| c.attests(&log)).collect();
    let attested = attesting
        .iter()
        .filter_map(|c| c.signed.as_ref().map(|cp| cp.tree_size))
        .max()
        .unwrap_or(0);
    let covered = checkpoints::covered_size(&cps);
    let clocks = WitnessClocks::new(&attesting, trust.witnesses.len(), trust.witness_quorum);

    // Per-row stages below are independent across rows: parallel.
    let beacons: Vec<Beacon> = rows
        .par_iter()
        .zip(&states)
        .map(|(r, s)| match (s.malformed, r.beacon_size) {
            (None, Some(size)) => judge_beacon(
                size,
                &r.beacon_root,
                r.log_index,
                attested,
                &log,
                &signed_set,
            ),
            _ => Beacon::NotJudged,
        })
        .collect();
    let record_verdicts: Vec<RecordVerdict> = states
        .par_iter()
        .zip(&beacons)
        .zip(rows)
        .map(|((s, &b), r)| record_verdict(s, b, r.log_index < attested))
        .collect();
    trace.mark("verdicts");

    let note_verdicts = evidence::note_verdicts(&notes, &signed, &log, covered);
    let deadline_ms = (!attesting.is_empty()).then(|| {
        let entries = log.max_received_below(attested).map(i128::from);
        let witnessed = clocks.late().map(|t| 1000 * i128::from(t));
        let clock = entries.max(witnessed).unwrap_or(i128::MIN);
        i64::try_from(clock).unwrap_or(if clock < 0 { i64::MIN } else { i64::MAX })
    });
    let receipt_ctx = ReceiptContext {
        log: &log,
        trust,
        attested,
        deadline_ms,
    };
    let receipt_verdicts = evidence::receipt_verdicts(&bundle.receipts, &receipt_ctx);
    trace.mark("evidence");

    // Time (SPEC 5.3, decision 6).
    let windows: Vec<Option<Window>> = rows
        .par_iter()
        .zip(&beacons)
        .map(|(r, b)| {
            let lower = match b {
                Beacon::Zero => None,
                Beacon::Right => Some(log.entry(r.beacon_size? - 1)?.1),
                _ => return None,
            };
            Some(Window {
                lower_ms: lower,
                upper_ms: r.received_ms?,
                witnessed_s: clocks.early(r.log_index),
            })
        })
        .collect();
    let timed = |i: usize| {
        let r = &rows[i];
        Some(Timed {
            chain_id: *r.chain_id16()?,
            seq: r.seq?,
            time_ms: r.time_ms?,
            beacon_size: r.beacon_size?,
            window: windows[i],
        })
    };
    let time_findings: Vec<TimeFindingRow> =
        time::findings(rows.len(), timed, &beacon_before, trust.max_clock_skew_ms)
            .into_iter()
            .enumerate()
            .filter_map(|(row, f)| {
                Some(TimeFindingRow {
                    row,
                    code: f?,
                    time_ms: rows[row].time_ms?,
                    window: windows[row]?,
                })
            })
            .collect();
    trace.mark("time");

    let anchor_verdicts = bundle
        .anchors
        .as_ref()
        .map(|a| anchors::verdicts(a, &log, covered));
    let missing = log.missing_below(covered);
    // Decision 5: as of N, only a bundle covering less than N is incomplete (anchors too).
    let incomplete = match options.as_of {
        Some(n) => covered < n,
        None => {
            note_verdicts.contains(&NoteVerdict::Incomplete)
                || bundle
                    .anchors
                    .as_ref()
                    .is_some_and(|a| anchors::beyond_bundle(a, covered))
        }
    };
    let origin_matches = bundle.manifest_origin == trust.origin;
    let key_matches = bundle.manifest_log_key == trust.log_key;
    let clean = record_verdicts.iter().all(|v| v.is_ok())
        && checkpoint_verdicts
            .iter()
            .all(|&v| v == CheckpointVerdict::Ok)
        && missing.is_empty()
        && !receipt_verdicts.iter().any(|v| v.against_relay())
        && !note_verdicts.contains(&NoteVerdict::Equivocation)
        && !anchor_verdicts
            .iter()
            .flatten()
            .any(|&v| v == AnchorVerdict::Contradicted)
        && origin_matches
        && key_matches
        && !incomplete;
    trace.mark("summary");
    Report {
        records: record_verdicts,
        malformed_reasons: states.iter().map(|s| s.malformed).collect(),
        checkpoints: checkpoint_verdicts,
        notes: notes
            .iter()
            .zip(note_verdicts)
            .map(|(n, v)| (n.body.as_ref().map(|b| b.tree_size), v))
            .collect(),
        receipts: receipt_verdicts,
        anchors: anchor_verdicts,
        time_windows: windows,
        clean_with_strict_time: clean && time_findings.is_empty(),
        time_findings,
        missing_log_positions: missing,
        covered_size: covered,
        deadline_clock_ms: deadline_ms,
        incomplete,
        manifest_origin_matches: origin_matches,
        manifest_log_key_matches: key_matches,
        log_identity_source: trust.source,
        clean,
    }
}
