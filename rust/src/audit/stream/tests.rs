//! The streamed auditor's log positions against the in-memory engine's.

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
            let held = a.positions.held();
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
