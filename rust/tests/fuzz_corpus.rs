//! Replays every committed fuzz input (`rust/fuzz/corpus/<target>/`, and the crashes once
//! found, `rust/fuzz/regressions/<target>/`) through the same harnesses the fuzzers run, so
//! what a fuzzer found stays a test on stable Rust without libFuzzer.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut count = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        let mut files: Vec<_> = entries.map(|e| e.expect("readable entry").path()).collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).expect("readable corpus file");
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{target}: {} fails", file.display());
            count += 1;
        }
    }
    assert!(
        count > 0,
        "{target}: no committed corpus under rust/fuzz/corpus/{target}"
    );
}

#[test]
fn note_corpus() {
    replay("note", harness::note);
}

#[test]
fn checkpoint_body_corpus() {
    replay("checkpoint_body", harness::checkpoint_body);
}

#[test]
fn tree_corpus() {
    replay("tree", harness::tree);
}

#[test]
fn audit_corpus() {
    replay("audit", harness::audit);
}

#[test]
fn columns_corpus() {
    replay("columns", harness::columns);
}

#[test]
fn cosignature_corpus() {
    replay("cosignature", harness::cosignature);
}

#[test]
fn ingest_corpus() {
    replay("ingest", harness::ingest);
}
