//! The v2 audit's verdicts, for both engines: the combine step (checkpoints, notes,
//! receipts, anchors and the bundle's summary) and the rows' judgement (every row of a
//! set of chains: FORK, GAP, BROKEN_CHAIN, keys and signatures, then beacons, NOT_LOGGED
//! and time). The in-memory `audit` (mod.rs) runs them once over the whole bundle and its
//! `Log`; the partitioned audit (hashcore/audit/plan.py) runs `combine` on the driver over
//! the parts' summaries and `judge_bucket` once per chain bucket.
//!
//! Both stand on `Judged`, what the checkpoints and notes say once the log's roots are
//! known: small, rebuilt from the same inputs in each task, so every task judges alike.

use std::collections::BTreeSet;

use rayon::prelude::*;

use super::checkpoints::{self, CheckpointState};
use super::evidence::{self, EvidenceNote, ReceiptCheck, ReceiptDeadline};
use super::input::{AnchorRow, CheckpointRow, RecordRow, Trust};
use super::log::Log;
use super::records::{self, RowState, DUPLICATE};
use super::row_checks::malformed_reason;
use super::signatures;
use super::time::{self, Window, WitnessClocks};
use super::verdict::RecordVerdict;
use super::verdict::{AnchorVerdict, CheckpointVerdict, NoteVerdict, ReceiptVerdict};
use super::{anchors, judge_beacon, record_verdict, Beacon, TimeFindingRow};
use crate::v2::Hash;

/// What the checkpoints and evidence notes say before the log is known: their states,
/// and every relay-signed `(size, root)` among them (the sizes roots are asked at).
pub struct Signed {
    pub cps: Vec<CheckpointState>,
    pub notes: Vec<EvidenceNote>,
    pub signed: Vec<(u64, Hash)>,
}

impl Signed {
    pub fn new(checkpoints: &[CheckpointRow], notes: &[Vec<u8>], trust: &Trust) -> Self {
        // Each checkpoint and note costs two or more Ed25519 verifications (relay line,
        // cosignatures): a bundle with a checkpoint every 1,000 entries has thousands, so
        // they are verified in batches (the 1M-record benchmark's 1,000 checkpoints:
        // ~110 ms of CPU one by one, ~22 ms batched).
        let (cps, notes) = signatures::states(checkpoints, notes, trust);
        let signed: Vec<(u64, Hash)> = cps
            .iter()
            .filter_map(|c| c.signed.as_ref())
            .chain(notes.iter().filter_map(|n| n.signed_body()))
            .map(|cp| (cp.tree_size, cp.root))
            .collect();
        Signed { cps, notes, signed }
    }
}

/// What the checkpoints and evidence notes say, judged against the log (the whole one,
/// or the sparse one the partitioned audit combines).
pub struct Judged<'r> {
    pub log: Log<'r>,
    pub cps: Vec<CheckpointState>,
    pub notes: Vec<EvidenceNote>,
    pub signed: Vec<(u64, Hash)>,
    /// `signed`, sorted and deduplicated (read by binary search).
    pub signed_set: Vec<(u64, Hash)>,
    pub attested: u64,
    pub covered: u64,
    pub clocks: WitnessClocks,
    attesting_any: bool,
}

/// The sizes the audit asks roots at, before the records' beacon sizes are known: every
/// relay-signed checkpoint and evidence note, and every anchor.
pub fn asked_sizes(
    checkpoints: &[CheckpointRow],
    notes: &[Vec<u8>],
    anchors: Option<&[AnchorRow]>,
    trust: &Trust,
) -> BTreeSet<u64> {
    let mut sizes: BTreeSet<u64> = Signed::new(checkpoints, notes, trust)
        .signed
        .iter()
        .map(|&(size, _)| size)
        .collect();
    sizes.extend(anchors.into_iter().flatten().map(|a| a.tree_size));
    sizes
}

impl<'r> Judged<'r> {
    pub fn new(
        checkpoints: &[CheckpointRow],
        notes: &[Vec<u8>],
        trust: &Trust,
        log: Log<'r>,
    ) -> Self {
        Self::of(Signed::new(checkpoints, notes, trust), trust, log)
    }

    /// `signed` judged against `log`, whose roots at `signed`'s sizes are computed.
    pub fn of(signed: Signed, trust: &Trust, log: Log<'r>) -> Self {
        let Signed { cps, notes, signed } = signed;
        let mut signed_set = signed.clone();
        signed_set.sort_unstable();
        signed_set.dedup();
        let attesting: Vec<&CheckpointState> = cps.iter().filter(|c| c.attests(&log)).collect();
        let attested = attesting
            .iter()
            .filter_map(|c| c.signed.as_ref().map(|cp| cp.tree_size))
            .max()
            .unwrap_or(0);
        let covered = checkpoints::covered_size(&cps);
        let clocks = WitnessClocks::new(&attesting, trust.witnesses.len(), trust.witness_quorum);
        let attesting_any = !attesting.is_empty();
        Judged {
            log,
            cps,
            notes,
            signed,
            signed_set,
            attested,
            covered,
            clocks,
            attesting_any,
        }
    }
}

/// Everything the combine step concludes but the records' verdicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Combined {
    pub checkpoints: Vec<CheckpointVerdict>,
    pub notes: Vec<(Option<u64>, NoteVerdict)>,
    pub receipts: Vec<ReceiptVerdict>,
    pub anchors: Option<Vec<AnchorVerdict>>,
    pub missing_log_positions: Vec<(u64, u64)>,
    pub covered_size: u64,
    pub deadline_clock_ms: Option<i64>,
    pub incomplete: bool,
    pub manifest_origin_matches: bool,
    pub manifest_log_key_matches: bool,
    /// Clean as far as all but the records go (`audit`'s `clean` needs them all OK too).
    pub clean_but_records: bool,
    pub attested: u64,
}

/// What the parts' scans say of the whole log.
pub struct LogSummary {
    /// The union of the positions held, as sorted disjoint runs.
    pub runs: Vec<(u64, u64)>,
    /// Per checkpoint tree size: the greatest received_ms of the entries below it.
    pub max_received: Vec<(u64, Option<i64>)>,
}

/// What the combine step asks of the log beyond its roots and entries: the whole `Log`
/// answers itself, the partitioned audit from its parts' `LogSummary`.
pub trait LogFacts {
    /// Ranges `[start, end)` of positions below `size` that no row holds.
    fn missing_below(&self, size: u64) -> Vec<(u64, u64)>;
    /// The greatest `received_ms` of the entries below `size` (a size the audit asked).
    fn max_received_below(&self, size: u64) -> Option<i64>;
}

impl LogFacts for Log<'_> {
    fn missing_below(&self, size: u64) -> Vec<(u64, u64)> {
        Log::missing_below(self, size)
    }

    fn max_received_below(&self, size: u64) -> Option<i64> {
        Log::max_received_below(self, size)
    }
}

impl LogFacts for LogSummary {
    fn missing_below(&self, size: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut expected = 0u64;
        for &(start, end) in self.runs.iter().take_while(|r| r.0 < size) {
            if start > expected {
                out.push((expected, start));
            }
            expected = end.min(size);
        }
        if expected < size {
            out.push((expected, size));
        }
        out
    }

    fn max_received_below(&self, size: u64) -> Option<i64> {
        self.max_received
            .iter()
            .filter(|&&(s, _)| s == size)
            .filter_map(|&(_, ms)| ms)
            .max()
    }
}

/// The combine step. `receipts`: each receipt's checks (`evidence::receipt_checks`; in
/// the partitioned audit the log tasks settle them where the receipts meet the parts
/// holding their positions, `partial.rs`).
#[allow(clippy::too_many_arguments)]
pub fn combine(
    judged: &Judged,
    summary: &impl LogFacts,
    receipts: &[ReceiptCheck],
    chain_anchors: Option<&[AnchorRow]>,
    trust: &Trust,
    manifest: (&str, &[u8; 32]),
    as_of: Option<u64>,
) -> Combined {
    let log = &judged.log;
    let mut checkpoint_verdicts = checkpoints::verdicts(&judged.cps, log, trust);
    if let Some(a) = chain_anchors {
        anchors::apply_to_checkpoints(&mut checkpoint_verdicts, &judged.cps, a, log);
    }
    let covered = judged.covered;
    let note_verdicts = evidence::note_verdicts(&judged.notes, &judged.signed, log, covered);
    let deadline_ms = judged.attesting_any.then(|| {
        let entries = summary.max_received_below(judged.attested).map(i128::from);
        let witnessed = judged.clocks.late().map(|t| 1000 * i128::from(t));
        let clock = entries.max(witnessed).unwrap_or(i128::MIN);
        i64::try_from(clock).unwrap_or(if clock < 0 { i64::MIN } else { i64::MAX })
    });
    let deadline = ReceiptDeadline {
        attested: judged.attested,
        deadline_ms,
        max_merge_delay_ms: trust.max_merge_delay_ms,
    };
    let receipt_verdicts: Vec<ReceiptVerdict> =
        receipts.iter().map(|c| c.verdict(&deadline)).collect();
    let anchor_verdicts = chain_anchors.map(|a| anchors::verdicts(a, log, covered));
    let missing = summary.missing_below(covered);
    let incomplete = match as_of {
        Some(n) => covered < n,
        None => {
            note_verdicts.contains(&NoteVerdict::Incomplete)
                || chain_anchors.is_some_and(|a| anchors::beyond_bundle(a, covered))
        }
    };
    let origin_matches = manifest.0 == trust.origin;
    let key_matches = *manifest.1 == trust.log_key;
    let clean_but_records = checkpoint_verdicts
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
    Combined {
        checkpoints: checkpoint_verdicts,
        notes: judged
            .notes
            .iter()
            .zip(note_verdicts)
            .map(|(n, v)| (n.body.as_ref().map(|b| b.tree_size), v))
            .collect(),
        receipts: receipt_verdicts,
        anchors: anchor_verdicts,
        missing_log_positions: missing,
        covered_size: covered,
        deadline_clock_ms: deadline_ms,
        incomplete,
        manifest_origin_matches: origin_matches,
        manifest_log_key_matches: key_matches,
        clean_but_records,
        attested: judged.attested,
    }
}

/// The verdicts of a set of rows (a chain bucket, or the whole bundle), in their order.
pub struct BucketVerdicts {
    pub records: Vec<RecordVerdict>,
    pub malformed_reasons: Vec<Option<&'static str>>,
    /// Each row's time window (SPEC 5.3), where its beacon was judged.
    pub time_windows: Vec<Option<Window>>,
    pub time_findings: Vec<TimeFindingRow>,
}

/// Judges the rows of a chain bucket: every row of the chains it holds (and rows of no
/// chain), with pass 1's `flags` from the parts' scans and `duplicates` the sorted log
/// positions two or more rows of the bundle claim.
pub fn judge_bucket(
    rows: &[RecordRow],
    flags: &[u16],
    duplicates: &[u64],
    judged: &Judged,
    trust: &Trust,
    check_signatures: bool,
) -> BucketVerdicts {
    let states: Vec<RowState> = rows
        .par_iter()
        .zip(flags)
        .map(|(r, &f)| {
            let dup = duplicates.binary_search(&r.log_index).is_ok();
            RowState::new(f | if dup { DUPLICATE } else { 0 }, malformed_reason(r))
        })
        .collect();
    judge_rows(rows, states, judged, trust, check_signatures)
}

/// A record's time window (SPEC 5.3), where its beacon is 0 or was found right.
fn window_of(r: &RecordRow, beacon: Beacon, judged: &Judged) -> Option<Window> {
    let lower = match beacon {
        Beacon::Zero => None,
        Beacon::Right => Some(judged.log.entry(r.beacon_size? - 1)?.1),
        _ => return None,
    };
    Some(Window {
        lower_ms: lower,
        upper_ms: r.received_ms?,
        witnessed_s: judged.clocks.early(r.log_index),
    })
}

/// Judges `rows`, every row of the chains among them, from pass 1's `states` (rows alone,
/// `records::check_row`, DUPLICATE included): the chains, then beacons, NOT_LOGGED, time.
pub fn judge_rows(
    rows: &[RecordRow],
    mut states: Vec<RowState>,
    judged: &Judged,
    trust: &Trust,
    check_signatures: bool,
) -> BucketVerdicts {
    let beacon_before = records::check_chains(rows, &mut states, check_signatures);
    let (log, attested) = (&judged.log, judged.attested);
    // One pass per row for its beacon, verdict, window and time finding: as four passes
    // over a million rows they cost ~180 ms on one thread, most of it reading the rows.
    let judge = |(i, (r, s)): (usize, (&RecordRow, &RowState))| {
        let beacon = match (s.malformed(), r.beacon_size) {
            (false, Some(size)) => judge_beacon(
                size,
                r.beacon_root.map_or(&[][..], |root| &root[..]),
                r.log_index,
                attested,
                log,
                &judged.signed_set,
            ),
            _ => Beacon::NotJudged,
        };
        let verdict = record_verdict(s, beacon, r.log_index < attested);
        let window = window_of(r, beacon, judged);
        let finding = match (window, r.chain_id16(), r.seq, r.time_ms, r.beacon_size) {
            (Some(w), Some(_), Some(_), Some(time_ms), Some(size)) => {
                time::finding(time_ms, size, &w, beacon_before[i], trust.max_clock_skew_ms)
            }
            _ => None,
        };
        ((verdict, finding), window)
    };
    let (mut judged_rows, mut windows) = (Vec::new(), Vec::new());
    rows.par_iter()
        .zip(&states)
        .enumerate()
        .map(judge)
        .unzip_into_vecs(&mut judged_rows, &mut windows);
    let verdicts: Vec<RecordVerdict> = judged_rows.par_iter().map(|&(v, _)| v).collect();
    let time_findings = judged_rows
        .iter()
        .enumerate()
        .filter_map(|(row, &(_, f))| {
            Some(TimeFindingRow {
                row,
                code: f?,
                time_ms: rows[row].time_ms?,
                window: windows[row]?,
            })
        })
        .collect();
    BucketVerdicts {
        records: verdicts,
        malformed_reasons: states
            .par_iter()
            .zip(rows)
            .map(|(s, r)| s.malformed().then(|| malformed_reason(r)).flatten())
            .collect(),
        time_windows: windows,
        time_findings,
    }
}
