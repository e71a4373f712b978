//! The log positions of a streamed audit's rows, noted batch by batch: per position below
//! the row count, a link and whether it is held, held more than once, or can't be rebuilt
//! through; positions at or past the row count are listed apart (they are never part of
//! the rebuilt tree). Pass 2 reads them for DUPLICATE_LOG_INDEX, the Merkle tree, the
//! checkpoints and the missing positions (the code of `log.rs`).

use rayon::prelude::*;

use super::super::log::{self, CheckpointRow, LogOutcome};
use super::super::rows::{self, RowState};
use crate::error::{zeroed, Result};
use crate::merkle;

const HELD: u8 = 1;
const HELD_TWICE: u8 = 2;
/// A row there has no 32-byte link, or its rows' links differ: the tree can't be rebuilt
/// through this position.
const UNREBUILDABLE: u8 = 4;

#[derive(Default)]
pub(super) struct Positions {
    total: usize,
    state: Vec<u8>,
    link: Vec<[u8; 32]>,
    /// (log_index, row) of the rows at positions >= `total`.
    far: Vec<(u64, u32)>,
}

impl Positions {
    /// Room for the positions of `total` rows (33 bytes each).
    pub(super) fn new(total: usize) -> Result<Self> {
        let what = || format!("audit {total} records");
        Ok(Positions {
            total,
            state: zeroed(total, what)?,
            link: zeroed(total, what)?,
            far: Vec::new(),
        })
    }

    /// Notes that `row` claims log position `li`.
    pub(super) fn hold(&mut self, li: u64, row: u32, link: Option<&[u8; 32]>) {
        if li >= self.total as u64 {
            self.far.push((li, row));
            return;
        }
        let p = li as usize;
        let state = self.state[p];
        if state == 0 {
            match link {
                Some(l) => {
                    self.state[p] = HELD;
                    self.link[p] = *l;
                }
                None => self.state[p] = HELD | UNREBUILDABLE,
            }
        } else {
            let mut next = HELD | HELD_TWICE | (state & UNREBUILDABLE);
            if link != Some(&self.link[p]) {
                next |= UNREBUILDABLE;
            }
            self.state[p] = next;
        }
    }

    /// Every position held, sorted, once each.
    #[cfg(test)]
    pub(super) fn held(&self) -> Vec<u64> {
        let mut held: Vec<u64> = (0..self.total as u64)
            .filter(|&p| self.state[p as usize] != 0)
            .chain(self.far.iter().map(|f| f.0))
            .collect();
        held.sort_unstable();
        held.dedup();
        held
    }

    /// Pass 2 (on the pool): flags the rows at positions claimed more than once, and with
    /// checkpoints (checked against `log_id`) rebuilds the tree and checks them.
    pub(super) fn check(
        self,
        states: &mut [RowState],
        log_index: &[u64],
        checkpoints: Option<(&[CheckpointRow], &[u8; 32])>,
    ) -> Option<LogOutcome> {
        let t0 = std::time::Instant::now();
        let Positions {
            total,
            state,
            link: mut leaves,
            mut far,
        } = self;
        let total = total as u64;
        // Every row at a position claimed by more than one row (identical or not).
        far.par_sort_unstable();
        states
            .par_iter_mut()
            .zip(log_index.par_iter())
            .for_each(|(s, &li)| {
                if li < total && state[li as usize] & HELD_TWICE != 0 {
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
            let rebuilt = state
                .iter()
                .position(|&s| s != HELD && s != HELD | HELD_TWICE)
                .unwrap_or(state.len());
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
                .filter(|&p| state[p as usize] != 0)
                .chain(far.iter().map(|&(li, _)| li));
            outcome.missing = log::missing_positions(held, outcome.largest_signed.unwrap_or(0));
            outcome
        })
    }
}
