//! The bulk verifier: gives every record exactly one SPEC section 4 verdict and every
//! checkpoint its verdict.
//!
//! It runs in three passes, each parallel over the private rayon pool:
//! 1. `rows`: per-record checks that need nothing but the row (sizes, kind, link, commit,
//!    genesis/rotation keys);
//! 2. `chains`: per-chain checks over rows sorted by (chain_id, seq, log_index): genesis,
//!    forks, gaps, links to seq-1, the key schedule, and batched signature verification;
//! 3. `log`: duplicates, the Merkle tree rebuilt from the stored links, checkpoints.
//!
//! Every link is recomputed from its header; nothing trusts a stored `link` or `prev`.

mod chains;
mod log;
mod rows;
pub mod stream;

use rayon::prelude::*;

use crate::columns::RecordColumns;
use crate::error::Result;
use crate::pool;
use crate::verdict::{CheckpointVerdict, Verdict};

pub use chains::{batch_size, ChainRows};
pub use log::CheckpointRow;

/// What the chain says of a checkpoint's anchor, when the caller checked it (SPEC 2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnchorState {
    Final,
    Pending,
    Missing,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub threads: Option<usize>,
    pub check_signatures: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: None,
            check_signatures: true,
        }
    }
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

/// Verifies `records` (and `checkpoints` against `log_id`, when given).
pub fn verify(
    records: &RecordColumns<'_>,
    checkpoints: Option<(&[CheckpointRow], &[u8; 32])>,
    options: &Options,
) -> Result<Report> {
    let n = records.validate()?;
    let pool = pool::pool(options.threads)?;
    Ok(pool.install(|| run(records, n, checkpoints, options)))
}

fn run(
    records: &RecordColumns<'_>,
    n: usize,
    checkpoints: Option<(&[CheckpointRow], &[u8; 32])>,
    options: &Options,
) -> Report {
    let trace = std::env::var_os("HASHCORE_TRACE").is_some();
    let t0 = std::time::Instant::now();
    let mut states = rows::check_rows(records, n);
    let t1 = t0.elapsed();
    let log_order = log::sort_by_log_index(records, n);
    log::mark_duplicates(&log_order, &mut states);
    let t2 = t0.elapsed();
    let chain_outcome = chains::check_chains(records, &mut states, options.check_signatures);
    let t3 = t0.elapsed();
    if trace {
        eprintln!("rows {t1:?} log-sort {:?} chains {:?}", t2 - t1, t3 - t2);
    }

    let mut report = Report {
        log_checked: checkpoints.is_some(),
        signatures_checked: options.check_signatures,
        signatures_verified: chain_outcome.signatures_verified,
        reasons: states.par_iter().map(|s| s.reason as u8).collect(),
        ..Report::default()
    };
    if let Some((cps, log_id)) = checkpoints {
        let outcome = log::check_log(records, &log_order, cps, log_id);
        report.checkpoint_verdicts = outcome.verdicts.iter().map(|v| *v as u8).collect();
        report.missing_log_positions = outcome.missing;
        report.largest_signed_tree_size = outcome.largest_signed;
        report.attested_size = outcome.attested_size;
    }
    if trace {
        eprintln!("log {:?}", t0.elapsed() - t3);
    }
    let attested = report.attested_size;
    let log_checked = report.log_checked;
    report.verdicts = states
        .par_iter()
        .enumerate()
        .map(|(i, s)| {
            let logged =
                !log_checked || records.log_index.get_u64(i).is_some_and(|li| li < attested);
            s.verdict(logged) as u8
        })
        .collect();
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
