//! The streamed audit against the in-memory one: the same verdicts, reasons, checkpoint
//! verdicts, missing positions and clean flag on every chain.json bundle, whatever the
//! batch size, the number of partitions and where the partitions are kept; and failures
//! and chain summaries as a naive reading of the in-memory report says.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::{arr, checkpoint_rows, load, Owned};
use hashcore::audit::stream::{
    ChainIdValue, ChainSummary, FailureRow, StreamAuditor, StreamOptions, StreamReport,
};
use hashcore::audit::{self, AnchorState, CheckpointRow, Options, Report};
use hashcore::columns::RecordColumns;
use hashcore::verdict::Verdict;
use serde_json::Value;

fn stream(
    rows: &[Value],
    batch: usize,
    cps: Option<(&[CheckpointRow], &[u8; 32])>,
    stream: StreamOptions,
    anchors: Option<&[Option<AnchorState>]>,
) -> StreamReport {
    let mut auditor = StreamAuditor::new(rows.len(), stream).unwrap();
    for chunk in rows.chunks(batch.max(1)) {
        let owned = Owned::new(chunk);
        assert_eq!(auditor.add_batch(&owned.columns()).unwrap(), chunk.len());
    }
    auditor.check_log(cps).unwrap();
    let mut seen = 0;
    for p in 0..auditor.partitions() {
        seen += auditor.check_partition(p).unwrap();
    }
    assert!(seen <= rows.len());
    auditor.finish(anchors).unwrap()
}

/// Failures and chain summaries straight from the in-memory report and the columns.
fn naive(cols: &RecordColumns<'_>, report: &Report) -> (Vec<FailureRow>, Vec<ChainSummary>) {
    let n = report.verdicts.len();
    let mut failures: Vec<FailureRow> = (0..n)
        .filter(|&i| report.verdicts[i] >= Verdict::Malformed as u8)
        .map(|i| FailureRow {
            row: i as u32,
            log_index: cols.log_index.get_u64(i).unwrap(),
            chain_id: match cols.chain_id.get_array::<16>(i) {
                Some(id) => ChainIdValue::Id(*id),
                None => ChainIdValue::Raw(cols.chain_id.get(i).map(Box::from)),
            },
            seq: cols.seq.get_u64(i),
            verdict: Verdict::ALL[report.verdicts[i] as usize],
        })
        .collect();
    failures.sort_by_key(|f| (f.log_index, f.row));
    let mut chains: BTreeMap<[u8; 16], Vec<usize>> = BTreeMap::new();
    for i in 0..n {
        if let Some(id) = cols.chain_id.get_array::<16>(i) {
            chains.entry(*id).or_default().push(i);
        }
    }
    let summaries = chains
        .into_iter()
        .map(|(chain_id, rows)| {
            let seqs: Vec<u64> = rows.iter().filter_map(|&i| cols.seq.get_u64(i)).collect();
            let max_seq = seqs.iter().copied().max();
            let ok = rows
                .iter()
                .filter(|&&i| report.verdicts[i] <= Verdict::OkRedacted as u8)
                .count() as u64;
            let mut sorted = seqs.clone();
            sorted.sort_unstable();
            let complete = ok == rows.len() as u64
                && sorted == (0..rows.len() as u64).collect::<Vec<_>>()
                && report.log_checked
                && rows
                    .iter()
                    .all(|&i| cols.log_index.get_u64(i).unwrap() < report.attested_size);
            ChainSummary {
                chain_id,
                records: rows.len() as u64,
                max_seq,
                ok,
                complete,
            }
        })
        .collect();
    (failures, summaries)
}

fn assert_same(case: &str, got: &Report, want: &Report) {
    assert_eq!(got.verdicts, want.verdicts, "{case}: verdicts");
    assert_eq!(got.reasons, want.reasons, "{case}: reasons");
    assert_eq!(
        got.checkpoint_verdicts, want.checkpoint_verdicts,
        "{case}: checkpoints"
    );
    assert_eq!(
        got.missing_log_positions, want.missing_log_positions,
        "{case}: missing"
    );
    assert_eq!(
        got.largest_signed_tree_size, want.largest_signed_tree_size,
        "{case}"
    );
    assert_eq!(got.attested_size, want.attested_size, "{case}");
    assert_eq!(got.log_checked, want.log_checked, "{case}");
    assert_eq!(
        got.signatures_verified, want.signatures_verified,
        "{case}: signatures verified"
    );
    assert_eq!(got.clean, want.clean, "{case}: clean");
}

fn spill_dir(tag: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("hashcore-stream-test-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn chain_bundles_stream_like_the_in_memory_audit() {
    let d = load("chain.json");
    let bundles = d["bundles"].as_array().unwrap();
    let dir = spill_dir("chain");
    for b in bundles {
        let case = b["case"].as_str().unwrap();
        let rows = b["records"].as_array().unwrap();
        let owned = Owned::new(rows);
        let cols = owned.columns();
        let cps = checkpoint_rows(b);
        let log_id: [u8; 32] = arr(&b["log_id"]);
        for check_signatures in [true, false] {
            for with_log in [true, false] {
                let options = Options {
                    threads: Some(2),
                    check_signatures,
                };
                let cp_arg = with_log.then_some((cps.as_slice(), &log_id));
                let want = audit::verify(&cols, cp_arg, &options).unwrap();
                let (want_failures, want_chains) = naive(&cols, &want);
                for (batch, partitions, spill) in [
                    (usize::MAX, 1, false),
                    (1, 3, true),
                    (2, 2, false),
                    (3, 5, true),
                ] {
                    let opts = StreamOptions {
                        options: options.clone(),
                        partitions,
                        spill_dir: spill.then(|| dir.clone()),
                    };
                    let got = stream(rows, batch, cp_arg, opts, None);
                    let tag = format!("{case} sig={check_signatures} log={with_log} batch={batch} partitions={partitions}");
                    assert_same(&tag, &got.report, &want);
                    assert_eq!(got.failures, want_failures, "{tag}: failures");
                    assert_eq!(got.chains, want_chains, "{tag}: chains");
                }
            }
        }
    }
    // Every spill file was removed once read.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir(&dir).unwrap();
}

#[test]
fn anchors_apply_as_in_memory() {
    let d = load("chain.json");
    let b = d["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["checkpoints"].as_array().unwrap().len() >= 2)
        .expect("a bundle with two checkpoints");
    let rows = b["records"].as_array().unwrap();
    let owned = Owned::new(rows);
    let cps = checkpoint_rows(b);
    let log_id: [u8; 32] = arr(&b["log_id"]);
    let anchors: Vec<Option<AnchorState>> = (0..cps.len())
        .map(|i| [Some(AnchorState::Pending), Some(AnchorState::Missing), None][i % 3])
        .collect();
    let options = Options::default();
    let mut want = audit::verify(&owned.columns(), Some((&cps, &log_id)), &options).unwrap();
    audit::apply_anchor_states(&mut want, &anchors);
    let opts = StreamOptions {
        options,
        partitions: 2,
        spill_dir: None,
    };
    let got = stream(rows, 2, Some((&cps, &log_id)), opts, Some(&anchors));
    assert_same("anchors", &got.report, &want);
}

#[test]
fn misuse_is_an_error_not_a_panic() {
    let d = load("chain.json");
    let rows = d["bundles"][0]["records"].as_array().unwrap();
    let owned = Owned::new(rows);
    let opts = |partitions| StreamOptions {
        options: Options::default(),
        partitions,
        spill_dir: None,
    };
    assert!(StreamAuditor::new(1, opts(0)).is_err());
    let mut a = StreamAuditor::new(rows.len() - 1, opts(1)).unwrap();
    assert!(
        a.add_batch(&owned.columns()).is_err(),
        "more rows than announced"
    );
    let mut a = StreamAuditor::new(rows.len() + 1, opts(1)).unwrap();
    a.add_batch(&owned.columns()).unwrap();
    assert!(a.check_log(None).is_err(), "fewer rows than announced");
    let mut a = StreamAuditor::new(rows.len(), opts(2)).unwrap();
    assert!(a.check_partition(0).is_err(), "before check_log");
    a.add_batch(&owned.columns()).unwrap();
    a.check_log(None).unwrap();
    assert!(a.add_batch(&owned.columns()).is_err(), "after check_log");
    assert!(a.check_partition(2).is_err(), "no such partition");
    a.check_partition(0).unwrap();
    assert!(a.check_partition(0).is_err(), "twice");
    assert!(a.finish(None).is_err(), "partition 1 not checked");
    a.check_partition(1).unwrap();
    assert_eq!(a.finish(None).unwrap().report.verdicts.len(), rows.len());
}

#[test]
fn a_corrupt_spill_file_is_an_io_error() {
    let d = load("chain.json");
    let rows = d["bundles"][0]["records"].as_array().unwrap();
    let owned = Owned::new(rows);
    let dir = spill_dir("corrupt");
    let mut a = StreamAuditor::new(
        rows.len(),
        StreamOptions {
            options: Options::default(),
            partitions: 1,
            spill_dir: Some(dir.clone()),
        },
    )
    .unwrap();
    a.add_batch(&owned.columns()).unwrap();
    a.check_log(None).unwrap();
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 3]).unwrap();
    let err = a.check_partition(0).unwrap_err();
    assert!(matches!(err, hashcore::Error::Io(_)), "{err:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn in_memory_failures_and_chains_are_the_streamed_ones() {
    let d = load("chain.json");
    for b in d["bundles"].as_array().unwrap() {
        let case = b["case"].as_str().unwrap();
        let rows = b["records"].as_array().unwrap();
        let owned = Owned::new(rows);
        let cols = owned.columns();
        let cps = checkpoint_rows(b);
        let log_id: [u8; 32] = arr(&b["log_id"]);
        for with_log in [true, false] {
            let options = Options {
                threads: Some(2),
                check_signatures: true,
            };
            let cp_arg = with_log.then_some((cps.as_slice(), &log_id));
            let want = audit::verify(&cols, cp_arg, &options).unwrap();
            let (want_failures, want_chains) = naive(&cols, &want);
            let full = audit::verify_full(&cols, cp_arg, None, &options).unwrap();
            assert_same(case, &full.report, &want);
            assert_eq!(
                full.failures, want_failures,
                "{case} log={with_log}: failures"
            );
            assert_eq!(full.chains, want_chains, "{case} log={with_log}: chains");
            let opts = StreamOptions {
                options,
                partitions: 3,
                spill_dir: None,
            };
            let streamed = stream(rows, 2, cp_arg, opts, None);
            assert_eq!(
                streamed.failures, full.failures,
                "{case}: streamed failures"
            );
            assert_eq!(streamed.chains, full.chains, "{case}: streamed chains");
        }
    }
}
