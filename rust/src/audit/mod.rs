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
mod report;
mod rows;
pub mod stream;

use crate::columns::RecordColumns;
use crate::error::Result;
use crate::pool;

pub use chains::{batch_size, ChainRows};
pub use log::CheckpointRow;
pub use report::{
    apply_anchor_states, complete, AnchorState, AuditReport, ChainIdValue, ChainSummary,
    FailureRow, Report,
};

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

/// [`verify`], with the failing rows and the per-chain summaries (those a streamed audit
/// gives), and the anchor states (as [`apply_anchor_states`]) applied.
pub fn verify_full(
    records: &RecordColumns<'_>,
    checkpoints: Option<(&[CheckpointRow], &[u8; 32])>,
    anchors: Option<&[Option<AnchorState>]>,
    options: &Options,
) -> Result<AuditReport> {
    let n = records.validate()?;
    let pool = pool::pool(options.threads)?;
    Ok(pool.install(|| {
        let mut report = run(records, n, checkpoints, options);
        if let Some(a) = anchors {
            apply_anchor_states(&mut report, a);
        }
        report::summarise(records, report)
    }))
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
    let log = checkpoints.map(|(cps, log_id)| log::check_log(records, &log_order, cps, log_id));
    if trace {
        eprintln!("log {:?}", t0.elapsed() - t3);
    }
    report::assemble(
        &states,
        |i| records.log_index.get_u64(i).expect("validated"),
        log,
        options.check_signatures,
        chain_outcome.signatures_verified,
    )
}
