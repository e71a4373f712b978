//! The streamed audit: the verdicts of [`super::verify`], record for record, for a bundle
//! too large to hold in memory. The caller feeds the records batch by batch (in any
//! order of rows, as the bundle stores them) and then drives the passes:
//!
//! 1. [`StreamAuditor::add_batch`]: the per-row checks of `rows.rs` (sizes, link, commit,
//!    keys), the log position of every row (`positions.rs`) and a spill of what the chain
//!    pass needs (`spill.rs`) into one of `partitions` hash partitions by `chain_id`
//!    (`store.rs`), so that each chain lands whole in one partition;
//! 2. [`StreamAuditor::check_log`]: DUPLICATE_LOG_INDEX, the Merkle tree rebuilt from the
//!    positions, the checkpoints and the missing positions;
//! 3. [`StreamAuditor::check_partition`], once per partition: the chain pass of
//!    `chains.rs` over the partition's rows, then their final verdicts, failures and
//!    per-chain summaries;
//! 4. [`StreamAuditor::finish`]: the report, assembled as the in-memory one (`report.rs`).
//!
//! Memory: 12 bytes per row (state and log position) throughout, 33 bytes per log
//! position until the tree is rebuilt (and as much again for its levels, in pass 2), then
//! one partition at a time: its spill records (102 bytes a row, 166 with signatures) and
//! the chain pass's sort keys. The spill itself goes to files when `spill_dir` is given.

mod positions;
mod spill;
mod store;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;
use rayon::ThreadPool;

use super::chains::{self, ChainRows};
use super::log::{CheckpointRow, LogOutcome};
use super::report::{self, Summaries};
use super::rows::{self, RowState};
use super::{apply_anchor_states, AnchorState, Options};
use crate::columns::RecordColumns;
use crate::error::{reserve, Error, Result};
use crate::pool;
use crate::protocol::Kind;
use crate::verdict::Verdict;
use positions::Positions;
use spill::Spilled;
use store::Stores;

pub use super::complete;
pub use super::report::{AuditReport as StreamReport, ChainIdValue, ChainSummary, FailureRow};

/// Where a streamed audit keeps its partitions between the passes.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    pub options: Options,
    /// Number of hash partitions of the chains (at least 1).
    pub partitions: usize,
    /// A directory for the spill files (`partition-NNNNN.spill`, removed once read); in
    /// memory when `None`.
    pub spill_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Rows,
    Partitions,
    Finished,
}

pub struct StreamAuditor {
    options: Options,
    pool: Arc<ThreadPool>,
    partitions: usize,
    /// Rows announced.
    total: usize,
    states: Vec<RowState>,
    log_index: Vec<u64>,
    positions: Positions,
    stores: Stores,
    /// Rows spilled into each partition (checked against what is read back).
    spilled: Vec<usize>,
    /// Per partition, reused from batch to batch: its rows of the batch, their spill
    /// records, their keys.
    batch_rows: Vec<Vec<u32>>,
    batch_records: Vec<Vec<u8>>,
    batch_keys: Vec<Vec<u8>>,
    /// Failures and chain summaries of the rows whose verdicts are final.
    out: StreamReport,
    log: Option<LogOutcome>,
    log_checked: bool,
    signatures_verified: u64,
    phase: Phase,
}

impl StreamAuditor {
    /// An auditor for `total` rows (the caller knows the count up front, e.g. from the
    /// Parquet metadata).
    pub fn new(total: usize, stream: StreamOptions) -> Result<Self> {
        if stream.partitions == 0 {
            return Err(Error::InvalidArgument(
                "partitions must be at least 1".into(),
            ));
        }
        if total > u32::MAX as usize {
            return Err(Error::InvalidArgument(format!(
                "{total} records: at most {} can be audited at once",
                u32::MAX
            )));
        }
        let pool = pool::pool(stream.options.threads)?;
        let partitions = stream.partitions;
        let what = || format!("audit {total} records");
        Ok(StreamAuditor {
            options: stream.options,
            pool,
            partitions,
            total,
            states: reserve(total, what)?,
            log_index: reserve(total, what)?,
            positions: Positions::new(total)?,
            stores: Stores::new(partitions, stream.spill_dir.as_deref()),
            spilled: vec![0; partitions],
            batch_rows: vec![Vec::new(); partitions],
            batch_records: vec![Vec::new(); partitions],
            batch_keys: vec![Vec::new(); partitions],
            out: StreamReport::default(),
            log: None,
            log_checked: false,
            signatures_verified: 0,
            phase: Phase::Rows,
        })
    }

    pub fn partitions(&self) -> usize {
        self.partitions
    }

    /// Rows added so far.
    pub fn rows(&self) -> usize {
        self.states.len()
    }

    fn spill_len(&self) -> usize {
        spill::record_len(self.options.check_signatures)
    }

    /// Pass 1 over the next `n` rows of the input.
    pub fn add_batch(&mut self, cols: &RecordColumns<'_>) -> Result<usize> {
        if self.phase != Phase::Rows {
            return Err(Error::InvalidArgument(
                "add_batch after check_log: the rows are closed".into(),
            ));
        }
        let first = self.states.len();
        let n = cols.validate_at(first)?;
        if first + n > self.total {
            return Err(Error::InvalidArgument(format!(
                "more rows than the {} announced",
                self.total
            )));
        }
        let trace = std::env::var_os("HASHCORE_TRACE").is_some();
        let t0 = std::time::Instant::now();
        let states = self.pool.install(|| rows::check_rows(cols, n));
        let t1 = t0.elapsed();
        self.states.extend_from_slice(&states);

        for (rows, keys) in self.batch_rows.iter_mut().zip(&mut self.batch_keys) {
            rows.clear();
            keys.clear();
        }
        let mut chainless = Summaries::default();
        for i in 0..n {
            let row = (first + i) as u32;
            let li = cols.log_index.get_u64(i).expect("validated");
            self.log_index.push(li);
            self.positions.hold(li, row, cols.link.get_array::<32>(i));
            let Some(chain_id) = cols.chain_id.get_array::<16>(i) else {
                // No 16-byte chain_id: MALFORMED, in no chain and not spilled.
                chainless.add_chainless(FailureRow {
                    row,
                    log_index: li,
                    chain_id: ChainIdValue::Raw(cols.chain_id.get(i).map(Box::from)),
                    seq: cols.seq.get_u64(i),
                    verdict: Verdict::Malformed,
                });
                continue;
            };
            let p = spill::partition_of(chain_id, self.partitions);
            self.batch_rows[p].push(i as u32);
            let kind = cols.kind.get_u8(i);
            if kind == Some(Kind::Genesis as u8) || kind == Some(Kind::Rotation as u8) {
                if let Some(key) = cols.payload.get_array::<32>(i) {
                    spill::encode_key(&mut self.batch_keys[p], row, key);
                }
            }
        }
        chainless.finish(&mut self.out);
        let t2 = t0.elapsed();

        let record_len = self.spill_len();
        let check_signatures = self.options.check_signatures;
        // Encode and store each partition's rows of the batch, the partitions in parallel
        // (the writes too: each is a copy into the page cache).
        let pool = &self.pool;
        let work = self
            .batch_records
            .par_iter_mut()
            .zip(&self.batch_rows)
            .zip(&self.batch_keys)
            .zip(&mut self.stores.stores);
        pool.install(|| {
            work.try_for_each(|(((buf, rows), keys), store)| {
                if rows.is_empty() {
                    return Ok(());
                }
                buf.clear();
                buf.resize(rows.len() * record_len, 0);
                for (slot, &i) in buf.chunks_exact_mut(record_len).zip(rows) {
                    spill::encode(slot, cols, first, i as usize, check_signatures);
                }
                store.append(buf, keys)
            })
        })?;
        for (spilled, rows) in self.spilled.iter_mut().zip(&self.batch_rows) {
            *spilled += rows.len();
        }
        let t3 = t0.elapsed();
        if trace {
            eprintln!(
                "batch {n}: rows {t1:?} hold {:?} encode+write {:?}",
                t2 - t1,
                t3 - t2,
            );
        }
        Ok(n)
    }

    /// Pass 2 (after the last batch): duplicates, the rebuilt tree, the checkpoints (when
    /// given, against `log_id`) and the missing positions.
    pub fn check_log(&mut self, checkpoints: Option<(&[CheckpointRow], &[u8; 32])>) -> Result<()> {
        if self.phase != Phase::Rows {
            return Err(Error::InvalidArgument("check_log called twice".into()));
        }
        if self.states.len() != self.total {
            return Err(Error::InvalidArgument(format!(
                "{} rows were announced, {} added",
                self.total,
                self.states.len()
            )));
        }
        self.phase = Phase::Partitions;
        let t0 = std::time::Instant::now();
        let positions = std::mem::take(&mut self.positions);
        let (states, log_index) = (&mut self.states, &self.log_index);
        let outcome = self
            .pool
            .install(|| positions.check(states, log_index, checkpoints));
        if std::env::var_os("HASHCORE_TRACE").is_some() {
            eprintln!("check_log {:?}", t0.elapsed());
        }
        self.log_checked = outcome.is_some();
        self.log = outcome;
        Ok(())
    }

    fn logged(&self, li: u64) -> bool {
        !self.log_checked || li < self.log.as_ref().map_or(0, |l| l.attested_size)
    }

    /// Pass 3 over partition `index`: the chain checks, then the final verdicts, failures
    /// and chain summaries of its rows. Returns the number of rows it held.
    pub fn check_partition(&mut self, index: usize) -> Result<usize> {
        if self.phase != Phase::Partitions {
            return Err(Error::InvalidArgument(
                "check_partition needs check_log first".into(),
            ));
        }
        let (records, keys) = self.stores.take(index)?;
        let t0 = std::time::Instant::now();
        let part = Spilled::new(records, &keys, self.spill_len(), self.spilled[index])?;
        let mut local = Vec::with_capacity(part.len());
        for i in 0..part.len() {
            let row = part.row(i) as usize;
            if row >= self.total {
                return Err(Error::Io("a spill file of the audit is corrupt".into()));
            }
            local.push(self.states[row]);
        }
        let check_signatures = self.options.check_signatures;
        let outcome = self
            .pool
            .install(|| chains::check_chains(&part, &mut local, check_signatures));
        self.signatures_verified += outcome.signatures_verified;
        let t2 = t0.elapsed();

        let mut summaries = Summaries::default();
        for (i, state) in local.iter().enumerate() {
            let row = part.row(i);
            self.states[row as usize] = *state;
            let log_index = part.log_index(i).expect("always stored");
            let chain_id = *part.chain_id(i).expect("always stored");
            let verdict = state.verdict(self.logged(log_index));
            summaries.add(row, chain_id, part.seq(i), log_index, verdict);
        }
        // The chain summaries need the log's attested size, known since pass 2.
        self.out.report.log_checked = self.log_checked;
        self.out.report.attested_size = self.log.as_ref().map_or(0, |l| l.attested_size);
        summaries.finish(&mut self.out);
        if std::env::var_os("HASHCORE_TRACE").is_some() {
            eprintln!(
                "partition {index}: {} rows, chains {t2:?} verdicts {:?}",
                part.len(),
                t0.elapsed() - t2
            );
        }
        let rows = part.len();
        self.stores.give_back(part.records);
        Ok(rows)
    }

    /// The report (after every partition was checked); `anchors` as in
    /// [`apply_anchor_states`].
    pub fn finish(&mut self, anchors: Option<&[Option<AnchorState>]>) -> Result<StreamReport> {
        if self.phase != Phase::Partitions {
            return Err(Error::InvalidArgument(
                "finish needs check_log first".into(),
            ));
        }
        if let Some(p) = self.stores.first_unchecked() {
            return Err(Error::InvalidArgument(format!(
                "partition {p} was not checked"
            )));
        }
        if let (Some(a), Some(l)) = (anchors, &self.log) {
            if a.len() != l.verdicts.len() {
                return Err(Error::InvalidArgument(format!(
                    "{} anchor states for {} checkpoints",
                    a.len(),
                    l.verdicts.len()
                )));
            }
        }
        self.phase = Phase::Finished;
        let log = self.log.take();
        let states = std::mem::take(&mut self.states);
        let log_index = std::mem::take(&mut self.log_index);
        let mut out = std::mem::take(&mut self.out);
        let (check_signatures, verified) =
            (self.options.check_signatures, self.signatures_verified);
        self.pool.install(|| {
            out.report =
                report::assemble(&states, |i| log_index[i], log, check_signatures, verified);
            report::order(&mut out);
        });
        if let Some(a) = anchors {
            apply_anchor_states(&mut out.report, a);
        }
        Ok(out)
    }
}
