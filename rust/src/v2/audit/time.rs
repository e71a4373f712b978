//! SPEC 5.2's witness clocks and 5.3's time bounds: each record's window and findings.
//! Exact integers throughout (i128: 1000 × a cosignature time exceeds i64; decision 6).

use super::checkpoints::CheckpointState;
use super::verdict::TimeFinding;

/// The `q`-th value of `values` in the given order (`None` when fewer than `q`).
fn qth(mut values: Vec<u64>, q: usize, greatest: bool) -> Option<u64> {
    values.sort_unstable();
    if greatest {
        values.reverse();
    }
    values.get(q - 1).copied()
}

/// The witnesses' valid cosignature times on the attesting checkpoints, summarised so
/// that each record's `W_early` costs a binary search.
pub struct WitnessClocks {
    /// The attesting checkpoints' tree sizes, ascending.
    sizes: Vec<u64>,
    /// `early[k]`: `W_early` of a record that the attesting checkpoints k.. cover (by
    /// size; one extra `None` at the end): the q-th smallest of each witness's smallest
    /// time on them. Per checkpoint, so that a record's `W_early` is a binary search and
    /// a lookup (no per-record sort).
    early: Vec<Option<u64>>,
    late: Option<u64>,
}

impl WitnessClocks {
    pub fn new(attesting: &[&CheckpointState], witnesses: usize, quorum: usize) -> Self {
        let q = quorum.max(1);
        let mut by_size: Vec<(u64, &[Vec<u64>])> = attesting
            .iter()
            .filter_map(|s| Some((s.signed.as_ref()?.tree_size, &s.witness_times[..])))
            .collect();
        by_size.sort_by_key(|(size, _)| *size);
        // suffix_min[w][k]: witness w's smallest time on the attesting checkpoints k..
        let suffix_min: Vec<Vec<Option<u64>>> = (0..witnesses)
            .map(|w| {
                let mut out = vec![None; by_size.len() + 1];
                for k in (0..by_size.len()).rev() {
                    let here = by_size[k].1[w].iter().min().copied();
                    out[k] = match (here, out[k + 1]) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
                out
            })
            .collect();
        let greatest = (0..witnesses).filter_map(|w| {
            by_size
                .iter()
                .filter_map(|(_, times)| times[w].iter().max())
                .max()
                .copied()
        });
        let late = qth(greatest.collect(), q, true);
        let early = (0..=by_size.len())
            .map(|k| {
                let per_witness = suffix_min.iter().filter_map(|m| m[k]);
                qth(per_witness.collect(), q, false)
            })
            .collect();
        WitnessClocks {
            sizes: by_size.iter().map(|(size, _)| *size).collect(),
            early,
            late,
        }
    }

    /// `W_late`: the q-th greatest of each witness's greatest time on any attesting one.
    pub fn late(&self) -> Option<u64> {
        self.late
    }

    /// `W_early` of the record at `log_index`: the q-th smallest of each witness's smallest
    /// time on an attesting checkpoint that covers it.
    pub fn early(&self, log_index: u64) -> Option<u64> {
        self.early[self.sizes.partition_point(|&size| size <= log_index)]
    }
}

/// The window SPEC 5.3 gives a record whose beacon was found right (or is 0), stored as
/// given (one per record: i128 fields would double its size); read it exactly, in ms,
/// through its methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// `received_ms` of log entry `beacon_size - 1`.
    pub lower_ms: Option<i64>,
    /// The record's own `received_ms`.
    pub upper_ms: i64,
    /// `W_early` in seconds (1000 × it can exceed i64).
    pub witnessed_s: Option<u64>,
}

impl Window {
    pub fn lower(&self) -> Option<i128> {
        self.lower_ms.map(i128::from)
    }

    pub fn upper(&self) -> i128 {
        i128::from(self.upper_ms)
    }

    /// `upper_witnessed` = 1000 × `W_early`.
    pub fn upper_witnessed(&self) -> Option<i128> {
        self.witnessed_s.map(|t| 1000 * i128::from(t))
    }
}

/// The first finding of SPEC 5.3 that applies to a record of `time_ms` and `beacon_size`
/// with a window. `beacon_before` is the smallest beacon_size of the non-MALFORMED rows at
/// its seq - 1 in its chain (decision 6: forked, all must be larger; missing, no finding).
pub fn finding(
    time_ms: i64,
    beacon_size: u64,
    w: &Window,
    beacon_before: Option<u64>,
    skew_ms: u64,
) -> Option<TimeFinding> {
    let skew = i128::from(skew_ms);
    let t = i128::from(time_ms);
    if w.lower().is_some_and(|lower| t < lower - skew) {
        return Some(TimeFinding::TimeBeforeBeacon);
    }
    if t > w.upper() + skew {
        return Some(TimeFinding::TimeAfterReceipt);
    }
    if w.upper_witnessed().is_some_and(|u| t > u + skew) {
        return Some(TimeFinding::TimeAfterWitness);
    }
    beacon_before
        .is_some_and(|b| beacon_size < b)
        .then_some(TimeFinding::BeaconRegressed)
}
