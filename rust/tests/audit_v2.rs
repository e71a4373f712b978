//! SPEC v2 section 5 conformance: every bundle of tests/vectors/chain.json through the
//! Rust audit engine, comparing every verdict, finding, window, missing position and
//! `clean` / `clean_with_strict_time`.

mod v2_common;

use hashcore::v2::audit::input::{Bundle, Options};
use hashcore::v2::audit::verdict::{CheckpointVerdict, NoteVerdict, ReceiptVerdict};
use hashcore::v2::audit::{audit, Report};
use serde_json::{json, Value};
use v2_common::{bundle, load, text, trust};

fn int(v: Option<i128>) -> Value {
    v.map_or(Value::Null, |x| json!(x))
}

/// The report in the vectors' shape, key by key.
fn as_expected(b: &Bundle, r: &Report) -> Vec<(&'static str, Value)> {
    let recs = &b.records;
    vec![
        (
            "record_verdicts",
            Value::Array(
                recs.iter()
                    .zip(&r.records)
                    .map(|(row, v)| {
                        json!({"log_index": row.log_index, "chain_id": hex::encode(row.chain_id),
                               "seq": row.seq, "verdict": v.code()})
                    })
                    .collect(),
            ),
        ),
        (
            "checkpoint_verdicts",
            Value::Array(
                b.checkpoints
                    .iter()
                    .zip(&r.checkpoints)
                    .map(|(c, v)| {
                        json!({"tree_size": c.tree_size, "root": c.root.as_ref().map(hex::encode),
                               "verdict": v.code()})
                    })
                    .collect(),
            ),
        ),
        (
            "receipt_verdicts",
            Value::Array(
                b.receipts
                    .iter()
                    .zip(&r.receipts)
                    .map(|(c, v)| json!({"log_index": c.log_index, "verdict": v.code()}))
                    .collect(),
            ),
        ),
        (
            "note_verdicts",
            Value::Array(
                r.notes
                    .iter()
                    .map(|(size, v)| json!({"tree_size": size, "verdict": v.code()}))
                    .collect(),
            ),
        ),
        ("incomplete", json!(r.incomplete)),
        ("deadline_clock_ms", json!(r.deadline_clock_ms)),
        (
            "time_findings",
            Value::Array(
                r.time_findings
                    .iter()
                    .map(|f| {
                        json!({"log_index": recs[f.row].log_index, "code": f.code.code(),
                               "time_ms": f.time_ms, "lower": int(f.window.lower()),
                               "upper": int(Some(f.window.upper())),
                               "upper_witnessed": int(f.window.upper_witnessed())})
                    })
                    .collect(),
            ),
        ),
        (
            "time_windows",
            Value::Array(
                r.time_windows
                    .iter()
                    .map(|w| match w {
                        None => Value::Null,
                        Some(w) => {
                            json!([
                                int(w.lower()),
                                int(Some(w.upper())),
                                int(w.upper_witnessed())
                            ])
                        }
                    })
                    .collect(),
            ),
        ),
        (
            "missing_log_positions",
            json!(r
                .missing_log_positions
                .iter()
                .map(|&(a, b)| [a, b])
                .collect::<Vec<_>>()),
        ),
        ("failure_list", failure_list(b, r)),
        ("clean", json!(r.clean)),
        ("clean_with_strict_time", json!(r.clean_with_strict_time)),
        ("manifest_origin_matches", json!(r.manifest_origin_matches)),
        (
            "manifest_log_key_matches",
            json!(r.manifest_log_key_matches),
        ),
        ("log_id_source", json!(r.log_identity_source.code())),
    ]
}

/// Every failure as one flat list, in the vectors' order: records, time findings,
/// checkpoints, missing positions, receipts, evidence notes, manifest mismatches.
fn failure_list(b: &Bundle, r: &Report) -> Value {
    let mut out = Vec::new();
    for (row, v) in b.records.iter().zip(&r.records) {
        if !v.is_ok() {
            out.push(json!({"log_index": row.log_index, "code": v.code()}));
        }
    }
    for f in &r.time_findings {
        out.push(json!({"time_log_index": b.records[f.row].log_index, "code": f.code.code()}));
    }
    for (c, v) in b.checkpoints.iter().zip(&r.checkpoints) {
        if *v != CheckpointVerdict::Ok {
            out.push(json!({"tree_size": c.tree_size, "code": v.code()}));
        }
    }
    for &(start, end) in &r.missing_log_positions {
        out.extend((start..end).map(|p| json!({"missing_log_index": p})));
    }
    for (c, v) in b.receipts.iter().zip(&r.receipts) {
        if *v != ReceiptVerdict::Ok {
            out.push(json!({"receipt_log_index": c.log_index, "code": v.code()}));
        }
    }
    for (size, v) in &r.notes {
        if *v != NoteVerdict::Ok {
            // The vectors' failure list gives a rejected note no size, though their
            // note_verdicts give it its body's size where the body parses.
            let size = size.filter(|_| *v != NoteVerdict::NoteRejected);
            out.push(json!({"note_tree_size": size, "code": v.code()}));
        }
    }
    for (matches, what) in [
        (r.manifest_origin_matches, "origin"),
        (r.manifest_log_key_matches, "log_key"),
    ] {
        if !matches {
            out.push(json!({"manifest": what, "code": "MANIFEST_MISMATCH"}));
        }
    }
    Value::Array(out)
}

#[test]
fn every_chain_bundle_audits_as_expected() {
    let d = load("chain.json");
    let bundles = d["bundles"].as_array().unwrap();
    assert_eq!(bundles.len(), 59);
    let mut failures = Vec::new();
    for b in bundles {
        let case = text(&b["case"]);
        let input = bundle(b);
        let report = audit(&input, &trust(b, &input), &Options::default());
        for (key, got) in as_expected(&input, &report) {
            let want = &b["expected"][key];
            if &got != want {
                failures.push(format!("{case}: {key}\n  got  {got}\n  want {want}"));
            }
        }
    }
    let failed_cases: std::collections::BTreeSet<&str> = failures
        .iter()
        .map(|f| f.split(':').next().unwrap())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of 59 bundles differ: {failed_cases:?}\n{}",
        failed_cases.len(),
        failures.join("\n")
    );
}
