//! SPEC 5.2's witness clocks and 5.3's time bounds: each record's window and findings.
//! Exact integers throughout (i128: 1000 × a cosignature time exceeds i64; decision 6).

use std::collections::HashMap;

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

/// The witnesses' valid cosignature times on the attesting checkpoints.
pub struct WitnessClocks<'a> {
    /// `(tree_size, per-witness times)` of each attesting checkpoint.
    attesting: Vec<(u64, &'a [Vec<u64>])>,
    witnesses: usize,
    /// `q = max(1, witness_quorum)`.
    q: usize,
}

impl<'a> WitnessClocks<'a> {
    pub fn new(attesting: &[&'a CheckpointState], witnesses: usize, quorum: usize) -> Self {
        WitnessClocks {
            attesting: attesting
                .iter()
                .filter_map(|s| Some((s.signed.as_ref()?.tree_size, &s.witness_times[..])))
                .collect(),
            witnesses,
            q: quorum.max(1),
        }
    }

    /// `W_late`: the q-th greatest of each witness's greatest time on any attesting one.
    pub fn late(&self) -> Option<u64> {
        let per_witness = (0..self.witnesses).filter_map(|w| {
            self.attesting
                .iter()
                .filter_map(|(_, times)| times[w].iter().max())
                .max()
                .copied()
        });
        qth(per_witness.collect(), self.q, true)
    }

    /// `W_early` of the record at `log_index`: the q-th smallest of each witness's smallest
    /// time on an attesting checkpoint that covers it.
    pub fn early(&self, log_index: u64) -> Option<u64> {
        let per_witness = (0..self.witnesses).filter_map(|w| {
            self.attesting
                .iter()
                .filter(|(size, _)| *size > log_index)
                .filter_map(|(_, times)| times[w].iter().min())
                .min()
                .copied()
        });
        qth(per_witness.collect(), self.q, false)
    }
}

/// The window SPEC 5.3 gives a record whose beacon was found right (or is 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub lower: Option<i128>,
    pub upper: i128,
    pub upper_witnessed: Option<i128>,
}

/// What the time pass needs of one record.
pub struct Timed {
    pub chain_id: [u8; 16],
    pub seq: u64,
    pub time_ms: i64,
    pub beacon_size: u64,
    pub window: Option<Window>,
}

/// The first finding that applies to each record with a window, `None` elsewhere.
/// `previous_beacon[(chain, seq)]` is the smallest beacon_size of the non-MALFORMED rows
/// at that seq (decision 6: forked, all must be larger; missing, no finding).
pub fn findings(
    records: &[Option<Timed>],
    previous_beacon: &HashMap<([u8; 16], u64), u64>,
    skew_ms: u64,
) -> Vec<Option<TimeFinding>> {
    let skew = i128::from(skew_ms);
    records
        .iter()
        .map(|r| {
            let r = r.as_ref()?;
            let w = r.window?;
            let t = i128::from(r.time_ms);
            if w.lower.is_some_and(|lower| t < lower - skew) {
                return Some(TimeFinding::TimeBeforeBeacon);
            }
            if t > w.upper + skew {
                return Some(TimeFinding::TimeAfterReceipt);
            }
            if w.upper_witnessed.is_some_and(|u| t > u + skew) {
                return Some(TimeFinding::TimeAfterWitness);
            }
            let before = r
                .seq
                .checked_sub(1)
                .and_then(|s| previous_beacon.get(&(r.chain_id, s)));
            before
                .is_some_and(|&b| r.beacon_size < b)
                .then_some(TimeFinding::BeaconRegressed)
        })
        .collect()
}
