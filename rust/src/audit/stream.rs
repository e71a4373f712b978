//! The streamed audit: the verdicts of [`super::verify`], record for record, for a bundle
//! too large to hold in memory. The caller feeds the records batch by batch (in any
//! order of rows, as the bundle stores them) and then drives the passes:
//!
//! 1. [`StreamAuditor::add_batch`]: the per-row checks of `rows.rs` (sizes, link, commit,
//!    keys), the log position of every row (a link and a "held / held more than once /
//!    can't be rebuilt" state per position below the row count) and a spill of what the
//!    chain pass needs (no payload or salt, except the key of a genesis or rotation) into
//!    one of `partitions` hash partitions by `chain_id`, so that each chain lands whole in
//!    one partition;
//! 2. [`StreamAuditor::check_log`]: DUPLICATE_LOG_INDEX, the Merkle tree rebuilt from the
//!    positions, the checkpoints and the missing positions (the code of `log.rs`);
//! 3. [`StreamAuditor::check_partition`], once per partition: the chain pass of
//!    `chains.rs` over the partition's rows, then their final verdicts, failures and
//!    per-chain summaries;
//! 4. [`StreamAuditor::finish`]: the report.
//!
//! Memory: 12 bytes per row (state and log position) throughout, 33 bytes per log
//! position until the tree is rebuilt (and as much again for its levels, in pass 2), then
//! one partition at a time: its spill records (102 bytes a row, 166 with signatures) and
//! the chain pass's sort keys. The spill itself goes to files when `spill_dir` is given.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;
use rayon::ThreadPool;

use super::chains::{self, ChainRows};
use super::log::{self, CheckpointRow, LogOutcome};
use super::rows::{self, RowState};
use super::{apply_anchor_states, is_clean, AnchorState, Options, Report};
use crate::columns::RecordColumns;
use crate::error::{Error, Result};
use crate::merkle;
use crate::pool;
use crate::protocol::Kind;
use crate::verdict::Verdict;

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
    /// The row's position in the input (the order of `add_batch`).
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

#[derive(Debug, Clone, Default)]
pub struct StreamReport {
    pub report: Report,
    /// Every failing row, by (log_index, row).
    pub failures: Vec<FailureRow>,
    /// Every chain, by chain_id.
    pub chains: Vec<ChainSummary>,
}

// Position states (pass 1).
const HELD: u8 = 1;
const HELD_TWICE: u8 = 2;
/// A row there has no 32-byte link, or its rows' links differ: the tree can't be rebuilt
/// through this position.
const UNREBUILDABLE: u8 = 4;

// Spill record, fixed size: row u32 | log_index u64 | seq u64 | chain_id [16] | kind u8 |
// bits u8 | prev [32] | link [32] | signature [64] (only when signatures are checked).
// Integers little-endian. The keys of genesis and rotation rows go to a side list of
// (row u32, key [32]) records.
const HAS_SEQ: u8 = 1;
const HAS_KIND: u8 = 2;
const HAS_PREV: u8 = 4;
const HAS_LINK: u8 = 8;
const HAS_SIGNATURE: u8 = 16;
const AT_LOG_INDEX: usize = 4;
const AT_SEQ: usize = 12;
const AT_CHAIN: usize = 20;
const AT_KIND: usize = 36;
const AT_BITS: usize = 37;
const AT_PREV: usize = 38;
const AT_LINK: usize = 70;
const AT_SIGNATURE: usize = 102;
const BASE_LEN: usize = AT_SIGNATURE;
const KEY_LEN: usize = 4 + 32;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn array_at<const N: usize>(b: &[u8], at: usize) -> &[u8; N] {
    b[at..at + N].try_into().expect("N bytes")
}

/// A partition read back: its records, read in place.
struct Spilled {
    records: Vec<u8>,
    record_len: usize,
    keys: HashMap<u32, [u8; 32], FastHash>,
}

impl Spilled {
    fn len(&self) -> usize {
        self.records.len() / self.record_len
    }
    fn record(&self, i: usize) -> &[u8] {
        &self.records[i * self.record_len..(i + 1) * self.record_len]
    }
    fn row(&self, i: usize) -> u32 {
        u32_at(self.record(i), 0)
    }
    fn has(&self, i: usize, bit: u8) -> bool {
        self.record(i)[AT_BITS] & bit != 0
    }
}

impl ChainRows for Spilled {
    fn chain_id(&self, i: usize) -> Option<&[u8; 16]> {
        Some(array_at(self.record(i), AT_CHAIN))
    }
    fn seq(&self, i: usize) -> Option<u64> {
        self.has(i, HAS_SEQ).then(|| u64_at(self.record(i), AT_SEQ))
    }
    fn log_index(&self, i: usize) -> Option<u64> {
        Some(u64_at(self.record(i), AT_LOG_INDEX))
    }
    fn kind(&self, i: usize) -> Option<u8> {
        self.has(i, HAS_KIND).then(|| self.record(i)[AT_KIND])
    }
    fn prev(&self, i: usize) -> Option<&[u8; 32]> {
        self.has(i, HAS_PREV)
            .then(|| array_at(self.record(i), AT_PREV))
    }
    fn link(&self, i: usize) -> Option<&[u8; 32]> {
        self.has(i, HAS_LINK)
            .then(|| array_at(self.record(i), AT_LINK))
    }
    fn signature(&self, i: usize) -> Option<&[u8; 64]> {
        self.has(i, HAS_SIGNATURE)
            .then(|| array_at(self.record(i), AT_SIGNATURE))
    }
    fn key(&self, i: usize) -> Option<&[u8; 32]> {
        self.keys.get(&self.row(i))
    }
}

/// A quick hasher for keys that are hash outputs already (chain ids) or row numbers.
#[derive(Default, Clone, Copy)]
struct FastHasher(u64);

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

type FastHash = std::hash::BuildHasherDefault<FastHasher>;

/// Where a partition's spilled rows are.
enum Store {
    Memory {
        records: Vec<u8>,
        keys: Vec<u8>,
    },
    File {
        records: PathBuf,
        keys: PathBuf,
    },
    /// Checked (pass 2 is done with it).
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Rows,
    Partitions,
    Finished,
}

fn io_error(what: &str, path: &std::path::Path, err: std::io::Error) -> Error {
    Error::Io(format!("cannot {what} {}: {err}", path.display()))
}

/// The partition of a chain: a mix of all 16 bytes (honest chain ids are hash outputs).
fn partition_of(chain_id: &[u8; 16], partitions: usize) -> usize {
    let lo = u64::from_le_bytes(chain_id[..8].try_into().expect("8 bytes"));
    let hi = u64::from_le_bytes(chain_id[8..].try_into().expect("8 bytes"));
    let mixed = (lo ^ hi.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((mixed >> 32) % partitions as u64) as usize
}

pub struct StreamAuditor {
    options: Options,
    pool: Arc<ThreadPool>,
    partitions: usize,
    /// Rows announced; log positions below it are tracked in `slot_*`.
    total: usize,
    states: Vec<RowState>,
    log_index: Vec<u64>,
    slot_state: Vec<u8>,
    slot_link: Vec<[u8; 32]>,
    /// (log_index, row) of the rows at positions >= `total` (never part of the tree).
    far: Vec<(u64, u32)>,
    stores: Vec<Store>,
    /// Rows spilled into each partition (checked against what is read back).
    spilled: Vec<usize>,
    /// Per partition, reused from batch to batch: its rows of the batch, their spill
    /// records, their keys.
    batch_rows: Vec<Vec<u32>>,
    batch_records: Vec<Vec<u8>>,
    batch_keys: Vec<Vec<u8>>,
    /// The buffer of the partition last checked, kept for the next ones.
    spare_buf: Vec<u8>,
    /// The next partition's files, being read.
    prefetched: Option<(usize, Prefetch)>,
    failures: Vec<FailureRow>,
    chains: Vec<ChainSummary>,
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
        let stores = (0..stream.partitions)
            .map(|p| match &stream.spill_dir {
                None => Store::Memory {
                    records: Vec::new(),
                    keys: Vec::new(),
                },
                Some(dir) => Store::File {
                    records: dir.join(format!("partition-{p:05}.spill")),
                    keys: dir.join(format!("partition-{p:05}.keys")),
                },
            })
            .collect();
        let partitions = stream.partitions;
        Ok(StreamAuditor {
            options: stream.options,
            pool,
            partitions: stream.partitions,
            total,
            states: reserve(total)?,
            log_index: reserve(total)?,
            slot_state: zeroed(total)?,
            slot_link: zeroed(total)?,
            far: Vec::new(),
            stores,
            spilled: vec![0; stream.partitions],
            batch_rows: vec![Vec::new(); partitions],
            batch_records: vec![Vec::new(); partitions],
            batch_keys: vec![Vec::new(); partitions],
            spare_buf: Vec::new(),
            prefetched: None,
            failures: Vec::new(),
            chains: Vec::new(),
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
        BASE_LEN + if self.options.check_signatures { 64 } else { 0 }
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
        for i in 0..n {
            let row = (first + i) as u32;
            let li = cols.log_index.get_u64(i).expect("validated");
            self.log_index.push(li);
            self.hold(li, row, cols.link.get_array::<32>(i));
            let Some(chain_id) = cols.chain_id.get_array::<16>(i) else {
                // No 16-byte chain_id: MALFORMED, in no chain and not spilled.
                self.failures.push(FailureRow {
                    row,
                    log_index: li,
                    chain_id: ChainIdValue::Raw(cols.chain_id.get(i).map(Box::from)),
                    seq: cols.seq.get_u64(i),
                    verdict: Verdict::Malformed,
                });
                continue;
            };
            let p = partition_of(chain_id, self.partitions);
            self.batch_rows[p].push(i as u32);
            let kind = cols.kind.get_u8(i);
            if kind == Some(Kind::Genesis as u8) || kind == Some(Kind::Rotation as u8) {
                if let Some(key) = cols.payload.get_array::<32>(i) {
                    self.batch_keys[p].extend_from_slice(&row.to_le_bytes());
                    self.batch_keys[p].extend_from_slice(key);
                }
            }
        }
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
            .zip(&mut self.stores);
        pool.install(|| {
            work.try_for_each(|(((buf, rows), keys), store)| {
                if rows.is_empty() {
                    return Ok(());
                }
                buf.clear();
                buf.resize(rows.len() * record_len, 0);
                for (slot, &i) in buf.chunks_exact_mut(record_len).zip(rows) {
                    encode(slot, cols, first, i as usize, check_signatures);
                }
                store_batch(store, buf, keys)
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

    /// Notes that `row` claims log position `li`.
    fn hold(&mut self, li: u64, row: u32, link: Option<&[u8; 32]>) {
        if li >= self.total as u64 {
            self.far.push((li, row));
            return;
        }
        let p = li as usize;
        let state = self.slot_state[p];
        if state == 0 {
            match link {
                Some(l) => {
                    self.slot_state[p] = HELD;
                    self.slot_link[p] = *l;
                }
                None => self.slot_state[p] = HELD | UNREBUILDABLE,
            }
        } else {
            let mut next = HELD | HELD_TWICE | (state & UNREBUILDABLE);
            if link != Some(&self.slot_link[p]) {
                next |= UNREBUILDABLE;
            }
            self.slot_state[p] = next;
        }
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
        let total = self.total as u64;
        let slot_state = std::mem::take(&mut self.slot_state);
        let mut leaves = std::mem::take(&mut self.slot_link);
        let far = &mut self.far;
        let states = &mut self.states;
        let log_index = &self.log_index;
        let outcome = self.pool.install(|| {
            // Every row at a position claimed by more than one row (identical or not).
            far.par_sort_unstable();
            states
                .par_iter_mut()
                .zip(log_index.par_iter())
                .for_each(|(s, &li)| {
                    if li < total && slot_state[li as usize] & HELD_TWICE != 0 {
                        s.flags |= rows::DUPLICATE;
                    }
                });
            for w in far.windows(2) {
                if w[0].0 == w[1].0 {
                    states[w[0].1 as usize].flags |= rows::DUPLICATE;
                    states[w[1].1 as usize].flags |= rows::DUPLICATE;
                }
            }
            checkpoints.map(|(cps, log_id)| {
                let rebuilt = slot_state
                    .iter()
                    .position(|&s| s != HELD && s != HELD | HELD_TWICE)
                    .unwrap_or(slot_state.len());
                leaves.truncate(rebuilt);
                leaves.shrink_to_fit();
                let ta = t0.elapsed();
                leaves
                    .par_iter_mut()
                    .for_each(|l| *l = merkle::leaf_hash(&l[..]));
                let tb = t0.elapsed();
                let mut outcome = log::check_checkpoints(leaves, cps, log_id);
                if std::env::var_os("HASHCORE_TRACE").is_some() {
                    eprintln!(
                        "  dups {ta:?} leaves {:?} checkpoints {:?}",
                        tb - ta,
                        t0.elapsed() - tb
                    );
                }
                let held = (0..total)
                    .filter(|&p| slot_state[p as usize] != 0)
                    .chain(far.iter().map(|&(li, _)| li));
                outcome.missing = log::missing_positions(held, outcome.largest_signed.unwrap_or(0));
                outcome
            })
        });
        if std::env::var_os("HASHCORE_TRACE").is_some() {
            eprintln!("check_log {:?}", t0.elapsed());
        }
        self.log_checked = outcome.is_some();
        self.log = outcome;
        self.far = Vec::new();
        Ok(())
    }

    fn attested(&self) -> u64 {
        self.log.as_ref().map_or(0, |l| l.attested_size)
    }

    fn logged(&self, li: u64) -> bool {
        !self.log_checked || li < self.attested()
    }

    /// Pass 3 over partition `index`: the chain checks, then the final verdicts, failures
    /// and chain summaries of its rows. Returns the number of rows it held.
    pub fn check_partition(&mut self, index: usize) -> Result<usize> {
        if self.phase != Phase::Partitions {
            return Err(Error::InvalidArgument(
                "check_partition needs check_log first".into(),
            ));
        }
        let store = self
            .stores
            .get_mut(index)
            .ok_or_else(|| Error::InvalidArgument(format!("no partition {index}")))?;
        let (records, keys) = match std::mem::replace(store, Store::Done) {
            Store::Memory { records, keys } => (records, keys),
            Store::File { records, keys } => match self.prefetched.take() {
                Some((i, handle)) if i == index => handle
                    .join()
                    .map_err(|_| Error::Io("reading a spill file failed".into()))??,
                other => {
                    // A read ahead of another partition (not the order asked): let it be.
                    drop(other);
                    read_partition(&records, &keys, std::mem::take(&mut self.spare_buf))?
                }
            },
            Store::Done => {
                return Err(Error::InvalidArgument(format!(
                    "partition {index} was already checked"
                )))
            }
        };
        // Read the next partition's file while this one is checked (the reads are copies
        // from the page cache, which would otherwise leave a core idle).
        if let Some(Store::File { records, keys }) = self.stores.get(index + 1) {
            let (records, keys) = (records.clone(), keys.clone());
            let buf = std::mem::take(&mut self.spare_buf);
            // Without a thread (none could be started), the next call reads it itself.
            self.prefetched = std::thread::Builder::new()
                .name("hashcore-spill-reader".into())
                .spawn(move || read_partition(&records, &keys, buf))
                .ok()
                .map(|handle| (index + 1, handle));
        }
        let t0 = std::time::Instant::now();
        let part = Spilled {
            records,
            record_len: self.spill_len(),
            keys: decode_keys(&keys)?,
        };
        if part.records.len() % part.record_len != 0 || part.len() != self.spilled[index] {
            return Err(Error::Io(format!(
                "a spill file of the audit is corrupt: it holds {} bytes for {} rows",
                part.records.len(),
                self.spilled[index]
            )));
        }
        let total = self.total;
        let mut local = Vec::with_capacity(part.len());
        for i in 0..part.len() {
            let row = part.row(i) as usize;
            if row >= total {
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

        let mut chains: HashMap<[u8; 16], (ChainSummary, u64), FastHash> = HashMap::default();
        for (i, state) in local.iter().enumerate() {
            let row = part.row(i);
            self.states[row as usize] = *state;
            let log_index = part.log_index(i).expect("always stored");
            let chain_id = *part.chain_id(i).expect("always stored");
            let verdict = state.verdict(self.logged(log_index));
            let seq = part.seq(i);
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
            let (summary, max_li) = chains.entry(chain_id).or_insert_with(|| {
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
        let attested = self.attested();
        let log_checked = self.log_checked;
        self.chains
            .extend(chains.into_values().map(|(mut summary, max_li)| {
                summary.complete = complete(&summary, log_checked, max_li, attested);
                summary
            }));
        if std::env::var_os("HASHCORE_TRACE").is_some() {
            eprintln!(
                "partition {index}: {} rows, chains {t2:?} verdicts {:?}",
                part.len(),
                t0.elapsed() - t2
            );
        }
        let rows = part.len();
        // The buffers are reused: no fresh pages to fault in for the next partitions.
        self.spare_buf = part.records;
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
        if let Some(p) = self.stores.iter().position(|s| !matches!(s, Store::Done)) {
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
        let log = self.log.take();
        self.phase = Phase::Finished;
        let log_checked = self.log_checked;
        let attested = log.as_ref().map_or(0, |l| l.attested_size);
        let states = std::mem::take(&mut self.states);
        let log_index = std::mem::take(&mut self.log_index);
        let mut failures = std::mem::take(&mut self.failures);
        let mut chains = std::mem::take(&mut self.chains);
        let mut report = self.pool.install(|| {
            let verdicts: Vec<u8> = states
                .par_iter()
                .zip(log_index.par_iter())
                .map(|(s, &li)| s.verdict(!log_checked || li < attested) as u8)
                .collect();
            failures.par_sort_unstable_by_key(|f| (f.log_index, f.row));
            chains.par_sort_unstable_by_key(|c| c.chain_id);
            Report {
                reasons: states.par_iter().map(|s| s.reason as u8).collect(),
                verdicts,
                ..Report::default()
            }
        });
        report.log_checked = log_checked;
        report.signatures_checked = self.options.check_signatures;
        report.signatures_verified = self.signatures_verified;
        if let Some(l) = log {
            report.checkpoint_verdicts = l.verdicts.iter().map(|v| *v as u8).collect();
            report.missing_log_positions = l.missing;
            report.largest_signed_tree_size = l.largest_signed;
            report.attested_size = l.attested_size;
        }
        report.clean = self.pool.install(|| is_clean(&report));
        if let Some(a) = anchors {
            apply_anchor_states(&mut report, a);
        }
        Ok(StreamReport {
            report,
            failures,
            chains,
        })
    }
}

/// An empty vector with room for `n` items, or an error (not an abort) when there is no
/// memory for them: `n` comes from the input's metadata.
fn reserve<T>(n: usize) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| Error::InvalidArgument(format!("not enough memory to audit {n} records")))?;
    Ok(v)
}

fn zeroed<T: Clone + Default>(n: usize) -> Result<Vec<T>> {
    let mut v = reserve(n)?;
    v.resize(n, T::default());
    Ok(v)
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

/// Writes the spill record of batch row `i` into `slot` (zeroed, `record_len` bytes).
fn encode(
    slot: &mut [u8],
    cols: &RecordColumns<'_>,
    first: usize,
    i: usize,
    check_signatures: bool,
) {
    let mut bits = 0u8;
    slot[..4].copy_from_slice(&((first + i) as u32).to_le_bytes());
    let li = cols.log_index.get_u64(i).expect("validated");
    slot[AT_LOG_INDEX..AT_LOG_INDEX + 8].copy_from_slice(&li.to_le_bytes());
    if let Some(seq) = cols.seq.get_u64(i) {
        slot[AT_SEQ..AT_SEQ + 8].copy_from_slice(&seq.to_le_bytes());
        bits |= HAS_SEQ;
    }
    let chain_id = cols.chain_id.get_array::<16>(i).expect("partitioned rows");
    slot[AT_CHAIN..AT_CHAIN + 16].copy_from_slice(chain_id);
    if let Some(kind) = cols.kind.get_u8(i) {
        slot[AT_KIND] = kind;
        bits |= HAS_KIND;
    }
    if let Some(prev) = cols.prev.get_array::<32>(i) {
        slot[AT_PREV..AT_PREV + 32].copy_from_slice(prev);
        bits |= HAS_PREV;
    }
    if let Some(link) = cols.link.get_array::<32>(i) {
        slot[AT_LINK..AT_LINK + 32].copy_from_slice(link);
        bits |= HAS_LINK;
    }
    if check_signatures {
        if let Some(sig) = cols.signature.get_array::<64>(i) {
            slot[AT_SIGNATURE..AT_SIGNATURE + 64].copy_from_slice(sig);
            bits |= HAS_SIGNATURE;
        }
    }
    slot[AT_BITS] = bits;
}

/// Appends one batch's spill records and keys to a partition's store.
fn store_batch(store: &mut Store, records: &[u8], keys: &[u8]) -> Result<()> {
    match store {
        Store::Memory {
            records: all,
            keys: all_keys,
        } => {
            all.extend_from_slice(records);
            all_keys.extend_from_slice(keys);
            Ok(())
        }
        Store::File {
            records: path,
            keys: keys_path,
        } => {
            append(path, records)?;
            if !keys.is_empty() {
                append(keys_path, keys)?;
            }
            Ok(())
        }
        Store::Done => Err(Error::InvalidArgument(
            "a partition was checked before the rows were closed".into(),
        )),
    }
}

fn append(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io_error("create", path, e))?;
    file.write_all(bytes)
        .map_err(|e| io_error("write", path, e))
}

type Prefetch = std::thread::JoinHandle<Result<(Vec<u8>, Vec<u8>)>>;

/// A partition's records (into `buf`) and keys, the files removed.
fn read_partition(
    records: &std::path::Path,
    keys: &std::path::Path,
    mut buf: Vec<u8>,
) -> Result<(Vec<u8>, Vec<u8>)> {
    take_file(records, &mut buf)?;
    let mut key_bytes = Vec::new();
    take_file(keys, &mut key_bytes)?;
    Ok((buf, key_bytes))
}

/// A spill file's bytes into `buf` (none if it was never written), and the file removed.
fn take_file(path: &std::path::Path, buf: &mut Vec<u8>) -> Result<()> {
    use std::io::Read;
    buf.clear();
    let mut file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error("open", path, e)),
    };
    file.read_to_end(buf)
        .map_err(|e| io_error("read", path, e))?;
    fs::remove_file(path).map_err(|e| io_error("remove", path, e))
}

fn decode_keys(bytes: &[u8]) -> Result<HashMap<u32, [u8; 32], FastHash>> {
    if bytes.len() % KEY_LEN != 0 {
        return Err(Error::Io(
            "a key spill file of the audit is truncated".into(),
        ));
    }
    Ok(bytes
        .chunks_exact(KEY_LEN)
        .map(|k| (u32_at(k, 0), *array_at::<32>(k, 4)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::verify;
    use crate::columns::{BinaryColumn, IntColumn, Values};

    /// Columns of `log_indexes.len()` rows: rows at the given log positions, chain ids
    /// from `chains`, links all different unless `same_link`; everything else zero
    /// (every row fails its link check: only the log matters here).
    struct Rows {
        log_index: Vec<u8>,
        seq: Vec<u8>,
        zeros8: Vec<u8>,
        kind: Vec<u8>,
        chain_id: Vec<u8>,
        zeros32: Vec<u8>,
        link: Vec<u8>,
        zeros64: Vec<u8>,
        offsets: Vec<u8>,
    }

    impl Rows {
        fn new(log_indexes: &[u64], chains: &[u8], same_link: &[bool]) -> Self {
            let n = log_indexes.len();
            let mut link = Vec::new();
            for (i, same) in same_link.iter().enumerate() {
                let mut l = [0u8; 32];
                if !same {
                    l[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
                }
                link.extend_from_slice(&l);
            }
            Rows {
                log_index: log_indexes.iter().flat_map(|v| v.to_le_bytes()).collect(),
                seq: (0..n as u64).flat_map(u64::to_le_bytes).collect(),
                zeros8: vec![0; 8 * n],
                kind: vec![1; n],
                chain_id: chains.iter().flat_map(|&c| [c; 16]).collect(),
                zeros32: vec![0; 32 * n],
                link,
                zeros64: vec![0; 64 * n],
                offsets: vec![0; 4 * (n + 1)],
            }
        }

        fn slice(&self, from: usize, to: usize) -> RecordColumns<'_> {
            fn int(data: &[u8], from: usize, len: usize) -> IntColumn<'_, 8> {
                IntColumn {
                    data,
                    validity: None,
                    offset: from,
                    len,
                }
            }
            fn fixed(data: &[u8], width: usize, from: usize, len: usize) -> BinaryColumn<'_> {
                BinaryColumn {
                    values: Values::Fixed { data, width },
                    validity: None,
                    offset: from,
                    len,
                }
            }
            let len = to - from;
            let empty = BinaryColumn {
                values: Values::Var32 {
                    offsets: &self.offsets,
                    data: &[],
                },
                validity: None,
                offset: from,
                len,
            };
            RecordColumns {
                log_index: int(&self.log_index, from, len),
                chain_id: fixed(&self.chain_id, 16, from, len),
                seq: int(&self.seq, from, len),
                time_ms: int(&self.zeros8, from, len),
                kind: IntColumn::<1> {
                    data: &self.kind,
                    validity: None,
                    offset: from,
                    len,
                },
                prev: fixed(&self.zeros32, 32, from, len),
                commit: fixed(&self.zeros32, 32, from, len),
                link: fixed(&self.link, 32, from, len),
                signature: fixed(&self.zeros64, 64, from, len),
                salt: empty,
                payload: empty,
            }
        }
    }

    const SEED: [u8; 32] = [1; 32];

    /// Validly signed, with a root no bundle here rebuilds: it sets `T`.
    fn checkpoint(tree_size: u64) -> CheckpointRow {
        CheckpointRow {
            tree_size: Some(tree_size),
            root: Some(vec![0; 32]),
            signature: Some(crate::checkpoint::sign(&SEED, tree_size, &[0; 32]).to_vec()),
            tx_hash: None,
        }
    }

    #[test]
    fn log_positions_duplicates_and_missing_ranges_match_the_in_memory_engine() {
        let cases: Vec<(Vec<u64>, Vec<bool>)> = vec![
            (vec![0, 1, 2, 3], vec![false; 4]),
            (vec![3, 2, 1, 0], vec![false; 4]),
            (vec![0, 0, 1, 2], vec![false, true, false, false]),
            (vec![0, 0, 1, 2], vec![true, true, false, false]),
            // Positions at and past the row count, duplicated there too.
            (vec![0, 4, 4, 9], vec![false; 4]),
            (vec![1, 2, 3, 4], vec![false; 4]),
            (vec![2, 3, 5, 6, 7], vec![false; 5]),
            (vec![u64::MAX, u64::MAX, 0], vec![false; 3]),
        ];
        for (positions, same) in cases {
            let n = positions.len();
            let chains: Vec<u8> = (0..n as u8).map(|i| i % 2).collect();
            let rows = Rows::new(&positions, &chains, &same);
            let cps = [checkpoint(3), checkpoint(9)];
            let log_id = crate::ed25519::public_key_from_seed(&SEED);
            let want = verify(
                &rows.slice(0, n),
                Some((&cps, &log_id)),
                &Options::default(),
            )
            .unwrap();
            assert_eq!(want.largest_signed_tree_size, Some(9));
            for batch in [1, 2, n] {
                let mut a = StreamAuditor::new(
                    n,
                    StreamOptions {
                        options: Options::default(),
                        partitions: 2,
                        spill_dir: None,
                    },
                )
                .unwrap();
                for from in (0..n).step_by(batch) {
                    a.add_batch(&rows.slice(from, (from + batch).min(n)))
                        .unwrap();
                }
                // The positions as the streamed auditor holds them, before check_log.
                let mut held: Vec<u64> = (0..n as u64)
                    .filter(|&p| a.slot_state[p as usize] != 0)
                    .chain(a.far.iter().map(|f| f.0))
                    .collect();
                held.sort_unstable();
                held.dedup();
                let mut sorted = positions.clone();
                sorted.sort_unstable();
                sorted.dedup();
                assert_eq!(held, sorted, "{positions:?}");
                a.check_log(Some((&cps, &log_id))).unwrap();
                for p in 0..2 {
                    a.check_partition(p).unwrap();
                }
                let got = a.finish(None).unwrap();
                assert_eq!(got.report.verdicts, want.verdicts, "{positions:?}");
                assert_eq!(got.report.checkpoint_verdicts, want.checkpoint_verdicts);
                assert_eq!(got.report.missing_log_positions, want.missing_log_positions);
            }
        }
    }

    #[test]
    fn partitions_cover_every_chain_once() {
        for partitions in [1, 2, 3, 7, 20] {
            let mut seen = vec![0; partitions];
            for c in 0..=255u8 {
                let id = [c; 16];
                let p = partition_of(&id, partitions);
                assert!(p < partitions);
                assert_eq!(p, partition_of(&id, partitions));
                seen[p] += 1;
            }
            assert!(seen.iter().all(|&s| s > 0), "{partitions}: {seen:?}");
        }
    }

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
    fn truncated_key_spill_is_an_error() {
        assert!(decode_keys(&[0; KEY_LEN * 2]).is_ok());
        assert!(matches!(decode_keys(&[0; KEY_LEN + 1]), Err(Error::Io(_))));
    }
}
