//! SPEC v2 section 5 conformance: every bundle of tests/vectors/v2/chain.json through the
//! Rust audit engine, comparing every verdict, finding, window, missing position and
//! `clean` / `clean_with_strict_time`.

mod v2_common;

use hashcore::v2::audit::input::{
    Bundle, CheckpointRow, IdentitySource, Options, ReceiptRow, RecordRow, Trust,
};
use hashcore::v2::audit::{audit, Report};
use serde_json::{json, Value};
use v2_common::{arr, hx, load, text};

fn bytes(v: &Value) -> Vec<u8> {
    hx(v)
}

fn opt_bytes(v: &Value) -> Option<Vec<u8>> {
    (!v.is_null()).then(|| hx(v))
}

fn record(r: &Value) -> RecordRow {
    RecordRow {
        log_index: r["log_index"].as_u64().unwrap(),
        chain_id: bytes(&r["chain_id"]),
        seq: r["seq"].as_u64(),
        time_ms: r["time_ms"].as_i64(),
        kind: r["kind"].as_u64().map(|k| u8::try_from(k).unwrap()),
        prev: bytes(&r["prev"]),
        commit: bytes(&r["commit"]),
        beacon_size: r["beacon_size"].as_u64(),
        beacon_root: bytes(&r["beacon_root"]),
        link: bytes(&r["link"]),
        signature: bytes(&r["signature"]),
        salt: opt_bytes(&r["salt"]),
        payload: opt_bytes(&r["payload"]),
        received_ms: r["received_ms"].as_i64(),
    }
}

fn bundle(b: &Value) -> Bundle {
    Bundle {
        manifest_origin: text(&b["manifest"]["origin"]).to_owned(),
        manifest_log_key: arr(&b["manifest"]["log_key"]),
        records: b["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(record)
            .collect(),
        checkpoints: b["checkpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| CheckpointRow {
                tree_size: c["tree_size"].as_u64(),
                root: opt_bytes(&c["root"]),
                note: c["note"].as_str().map(|n| n.as_bytes().to_vec()),
            })
            .collect(),
        receipts: b["receipts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| ReceiptRow {
                chain_id: bytes(&r["chain_id"]),
                seq: r["seq"].as_u64(),
                link: bytes(&r["link"]),
                log_index: r["log_index"].as_u64(),
                received_ms: r["received_ms"].as_i64(),
                receipt_sig: bytes(&r["receipt_sig"]),
            })
            .collect(),
        notes: b["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| text(n).as_bytes().to_vec())
            .collect(),
    }
}

fn trust(b: &Value, bundle: &Bundle) -> Trust {
    let p = &b["policy"];
    if p.is_null() {
        return Trust::from_manifest(bundle);
    }
    Trust {
        origin: text(&p["origin"]).to_owned(),
        log_key: arr(&p["log_key"]),
        witnesses: p["witnesses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| (text(&w["name"]).to_owned(), arr(&w["key"])))
            .collect(),
        witness_quorum: p["witness_quorum"].as_u64().unwrap() as usize,
        max_merge_delay_ms: p["max_merge_delay_ms"].as_u64().unwrap(),
        max_clock_skew_ms: p["max_clock_skew_ms"].as_u64().unwrap(),
        source: IdentitySource::Policy,
    }
}

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
                        json!({"log_index": row.log_index, "chain_id": hex::encode(&row.chain_id),
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
                               "time_ms": f.time_ms, "lower": int(f.window.lower),
                               "upper": int(Some(f.window.upper)),
                               "upper_witnessed": int(f.window.upper_witnessed)})
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
                            json!([int(w.lower), int(Some(w.upper)), int(w.upper_witnessed)])
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
