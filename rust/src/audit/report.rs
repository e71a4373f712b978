//! The one report assembly of the audit, in-memory ([`super::verify`]) and streamed
//! ([`super::stream`]) alike: the final verdicts from the row states and the log outcome,
//! the clean flag, the anchor states, and the failures and per-chain summaries.

use std::collections::HashMap;

use rayon::prelude::*;

use super::log::LogOutcome;
use super::rows::RowState;
use crate::columns::RecordColumns;
use crate::verdict::{CheckpointVerdict, Verdict};

/// What the chain says of a checkpoint's anchor, when the caller checked it (SPEC 2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnchorState {
    Final,
    Pending,
    Missing,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    /// One `Verdict` code per input row, in input order.
    pub verdicts: Vec<u8>,
    /// One `MalformedReason` code per input row (0 unless MALFORMED).
    pub reasons: Vec<u8>,
    /// One `CheckpointVerdict` code per checkpoint row, in input order.
    pub checkpoint_verdicts: Vec<u8>,
    /// Half-open ranges of positions below `largest_signed_tree_size` that no row holds.
    pub missing_log_positions: Vec<(u64, u64)>,
    /// `T`: the largest tree size of a validly signed checkpoint.
    pub largest_signed_tree_size: Option<u64>,
    /// Records below this log position are vouched for by an attesting checkpoint.
    pub attested_size: u64,
    /// Whether checkpoints were given (otherwise NOT_LOGGED is not assessed).
    pub log_checked: bool,
    pub signatures_checked: bool,
    /// Signatures verified (in batches or singly) during the run.
    pub signatures_verified: u64,
    pub clean: bool,
}

/// The `chain_id` of a failing row as stored: 16 bytes, or (MALFORMED rows only) a value
/// of another size or null.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainIdValue {
    Id([u8; 16]),
    Raw(Option<Box<[u8]>>),
}

impl ChainIdValue {
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            ChainIdValue::Id(id) => Some(id),
            ChainIdValue::Raw(raw) => raw.as_deref(),
        }
    }
}

/// A record whose verdict is neither OK nor OK_REDACTED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureRow {
    /// The row's position in the input.
    pub row: u32,
    pub log_index: u64,
    pub chain_id: ChainIdValue,
    pub seq: Option<u64>,
    pub verdict: Verdict,
}

/// One chain (the rows with one 16-byte `chain_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSummary {
    pub chain_id: [u8; 16],
    pub records: u64,
    /// The largest `seq` (None when every row's seq is null).
    pub max_seq: Option<u64>,
    /// Rows whose verdict is OK or OK_REDACTED.
    pub ok: u64,
    /// Seqs 0..=max_seq are each present exactly once, every row is OK or OK_REDACTED
    /// and every row is covered by an attesting checkpoint.
    pub complete: bool,
}

/// The report with every failing row and every chain's summary.
#[derive(Debug, Clone, Default)]
pub struct AuditReport {
    pub report: Report,
    /// Every failing row, by (log_index, row).
    pub failures: Vec<FailureRow>,
    /// Every chain, by chain_id.
    pub chains: Vec<ChainSummary>,
}

/// The verdicts, reasons, log fields and clean flag of a run, from each row's state, its
/// log position and the log outcome (`None`: no checkpoints given). Call it on the pool.
pub(super) fn assemble(
    states: &[RowState],
    log_index: impl Fn(usize) -> u64 + Sync,
    log: Option<LogOutcome>,
    signatures_checked: bool,
    signatures_verified: u64,
) -> Report {
    let log_checked = log.is_some();
    let attested = log.as_ref().map_or(0, |l| l.attested_size);
    let mut report = Report {
        verdicts: states
            .par_iter()
            .enumerate()
            .map(|(i, s)| s.verdict(!log_checked || log_index(i) < attested) as u8)
            .collect(),
        reasons: states.par_iter().map(|s| s.reason as u8).collect(),
        log_checked,
        signatures_checked,
        signatures_verified,
        ..Report::default()
    };
    if let Some(l) = log {
        report.checkpoint_verdicts = l.verdicts.iter().map(|v| *v as u8).collect();
        report.missing_log_positions = l.missing;
        report.largest_signed_tree_size = l.largest_signed;
        report.attested_size = l.attested_size;
    }
    report.clean = is_clean(&report);
    report
}

/// SPEC 4: every record OK or OK_REDACTED, every checkpoint OK, no position below `T`
/// missing.
fn is_clean(report: &Report) -> bool {
    report
        .verdicts
        .par_iter()
        .all(|&v| v <= Verdict::OkRedacted as u8)
        && report
            .checkpoint_verdicts
            .iter()
            .all(|&v| v == CheckpointVerdict::Ok as u8)
        && report.missing_log_positions.is_empty()
}

/// Applies the anchor states the caller read from the chain to checkpoints that are
/// otherwise `OK` (anchoring comes after signature, root and consistency in SPEC 4).
pub fn apply_anchor_states(report: &mut Report, anchors: &[Option<AnchorState>]) {
    for (v, anchor) in report.checkpoint_verdicts.iter_mut().zip(anchors) {
        if *v != CheckpointVerdict::Ok as u8 {
            continue;
        }
        *v = match anchor {
            None | Some(AnchorState::Final) => CheckpointVerdict::Ok,
            Some(AnchorState::Pending) => CheckpointVerdict::Unconfirmed,
            Some(AnchorState::Missing) => CheckpointVerdict::NotAnchored,
        } as u8;
    }
    report.clean = report.clean
        && report
            .checkpoint_verdicts
            .iter()
            .all(|&v| v == CheckpointVerdict::Ok as u8);
}

/// A quick hasher for keys that are hash outputs already (chain ids) or row numbers.
#[derive(Default, Clone, Copy)]
pub(super) struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(23) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
}

pub(super) type FastHash = std::hash::BuildHasherDefault<FastHasher>;

/// The failing rows and per-chain counts of some rows (a whole table, a partition, or a
/// slice of either), merged into the report's lists by [`Summaries::finish`].
#[derive(Default)]
pub(super) struct Summaries {
    failures: Vec<FailureRow>,
    /// Per chain: its summary so far and its largest log_index.
    chains: HashMap<[u8; 16], (ChainSummary, u64), FastHash>,
}

impl Summaries {
    /// A failing row that belongs to no chain (no 16-byte chain_id: MALFORMED).
    pub(super) fn add_chainless(&mut self, failure: FailureRow) {
        self.failures.push(failure);
    }

    /// A row of chain `chain_id` with its final verdict.
    pub(super) fn add(
        &mut self,
        row: u32,
        chain_id: [u8; 16],
        seq: Option<u64>,
        log_index: u64,
        verdict: Verdict,
    ) {
        let ok = verdict.is_ok();
        if !ok {
            self.failures.push(FailureRow {
                row,
                log_index,
                chain_id: ChainIdValue::Id(chain_id),
                seq,
                verdict,
            });
        }
        let (summary, max_li) = self.chains.entry(chain_id).or_insert_with(|| {
            (
                ChainSummary {
                    chain_id,
                    records: 0,
                    max_seq: None,
                    ok: 0,
                    complete: false,
                },
                0,
            )
        });
        summary.records += 1;
        summary.max_seq = summary.max_seq.max(seq);
        summary.ok += u64::from(ok);
        *max_li = (*max_li).max(log_index);
    }

    /// Both sets of rows (of disjoint rows; a chain may be in both).
    pub(super) fn merge(mut self, other: Summaries) -> Summaries {
        self.failures.extend(other.failures);
        for (id, (theirs, their_li)) in other.chains {
            match self.chains.entry(id) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert((theirs, their_li));
                }
                std::collections::hash_map::Entry::Occupied(mut o) => {
                    let (ours, our_li) = o.get_mut();
                    ours.records += theirs.records;
                    ours.max_seq = ours.max_seq.max(theirs.max_seq);
                    ours.ok += theirs.ok;
                    *our_li = (*our_li).max(their_li);
                }
            }
        }
        self
    }

    /// Adds these rows' failures and (whole) chains to the lists of `report`.
    pub(super) fn finish(self, out: &mut AuditReport) {
        out.failures.extend(self.failures);
        let (log_checked, attested) = (out.report.log_checked, out.report.attested_size);
        out.chains
            .extend(self.chains.into_values().map(|(mut summary, max_li)| {
                summary.complete = complete(&summary, log_checked, max_li, attested);
                summary
            }));
    }
}

/// The lists of `out` in report order (call it on the pool, once every row is in).
pub(super) fn order(out: &mut AuditReport) {
    out.failures
        .par_sort_unstable_by_key(|f| (f.log_index, f.row));
    out.chains.par_sort_unstable_by_key(|c| c.chain_id);
}

/// The failures and chain summaries of an in-memory run, from its columns and verdicts.
pub(super) fn summarise(records: &RecordColumns<'_>, report: Report) -> AuditReport {
    let verdicts = &report.verdicts;
    let summaries = (0..verdicts.len())
        .into_par_iter()
        .fold(Summaries::default, |mut acc, i| {
            let verdict = Verdict::ALL[verdicts[i] as usize];
            let row = i as u32;
            let log_index = records.log_index.get_u64(i).expect("validated");
            let seq = records.seq.get_u64(i);
            match records.chain_id.get_array::<16>(i) {
                Some(id) => acc.add(row, *id, seq, log_index, verdict),
                None => acc.add_chainless(FailureRow {
                    row,
                    log_index,
                    chain_id: ChainIdValue::Raw(records.chain_id.get(i).map(Box::from)),
                    seq,
                    verdict,
                }),
            }
            acc
        })
        .reduce(Summaries::default, Summaries::merge);
    let mut out = AuditReport {
        report,
        ..AuditReport::default()
    };
    summaries.finish(&mut out);
    order(&mut out);
    out
}

/// Whether a chain is complete (see [`ChainSummary::complete`]). Every row OK means no
/// fork and no gap below a valid genesis, so seqs 0..=max_seq are there exactly once when
/// there are max_seq + 1 rows.
pub fn complete(
    summary: &ChainSummary,
    log_checked: bool,
    max_log_index: u64,
    attested: u64,
) -> bool {
    summary.ok == summary.records
        && summary
            .max_seq
            .is_some_and(|m| m.checked_add(1) == Some(summary.records))
        && log_checked
        && max_log_index < attested
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_needs_every_seq_ok_and_attested() {
        let s = |records, max_seq, ok| ChainSummary {
            chain_id: [0; 16],
            records,
            max_seq,
            ok,
            complete: false,
        };
        assert!(complete(&s(3, Some(2), 3), true, 9, 10));
        assert!(!complete(&s(3, Some(2), 3), true, 10, 10), "not attested");
        assert!(
            !complete(&s(3, Some(2), 3), false, 0, 10),
            "log not checked"
        );
        assert!(!complete(&s(3, Some(2), 2), true, 0, 10), "a failure");
        assert!(!complete(&s(3, Some(3), 3), true, 0, 10), "a seq missing");
        assert!(!complete(&s(1, None, 1), true, 0, 10));
        assert!(!complete(&s(1, Some(u64::MAX), 1), true, 0, 10));
    }

    #[test]
    fn merged_summaries_are_those_of_all_the_rows() {
        let id = [7u8; 16];
        let mut a = Summaries::default();
        a.add(0, id, Some(0), 0, Verdict::Ok);
        a.add(1, id, Some(1), 5, Verdict::Gap);
        let mut b = Summaries::default();
        b.add(2, id, Some(2), 2, Verdict::Ok);
        b.add(3, [8; 16], None, 3, Verdict::Ok);
        let mut out = AuditReport::default();
        out.report.log_checked = true;
        out.report.attested_size = 10;
        a.merge(b).finish(&mut out);
        order(&mut out);
        assert_eq!(out.failures.len(), 1);
        assert_eq!(out.failures[0].row, 1);
        let chain = &out.chains[0];
        assert_eq!(
            (chain.records, chain.max_seq, chain.ok, chain.complete),
            (3, Some(2), 2, false)
        );
        assert_eq!((out.chains[1].records, out.chains[1].max_seq), (1, None));
    }
}
