//! Helpers of the v2 integration tests: the JSON vectors of `tests/vectors/`.

#![allow(dead_code)]

use std::path::PathBuf;

use hashcore::v2::audit::input::{
    Bundle, CheckpointRow, IdentitySource, ReceiptRow, RecordRow, Trust,
};
use serde_json::Value;

pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

pub fn load(name: &str) -> Value {
    let path = vectors_dir().join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("vector file")).expect("json")
}

pub fn hx(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

pub fn arr<const N: usize>(v: &Value) -> [u8; N] {
    hx(v).try_into().expect("size")
}

pub fn text(v: &Value) -> &str {
    v.as_str().expect("text")
}

pub fn cases<'a>(d: &'a Value, key: &str) -> &'a [Value] {
    d[key].as_array().expect("case list")
}

pub fn bytes(v: &Value) -> Vec<u8> {
    hx(v)
}

pub fn opt_bytes(v: &Value) -> Option<Vec<u8>> {
    (!v.is_null()).then(|| hx(v))
}

/// Bytes a row can borrow for the rest of the test (rows own nothing: `RowBytes`).
fn leaked(v: Vec<u8>) -> &'static [u8] {
    Box::leak(v.into_boxed_slice())
}

pub fn record(r: &Value) -> RecordRow<'static> {
    RecordRow {
        log_index: r["log_index"].as_u64().unwrap(),
        chain_id: leaked(bytes(&r["chain_id"])),
        seq: r["seq"].as_u64(),
        time_ms: r["time_ms"].as_i64(),
        kind: r["kind"].as_u64().map(|k| u8::try_from(k).unwrap()),
        prev: leaked(bytes(&r["prev"])).try_into().ok(),
        commit: leaked(bytes(&r["commit"])).try_into().ok(),
        beacon_size: r["beacon_size"].as_u64(),
        beacon_root: leaked(bytes(&r["beacon_root"])).try_into().ok(),
        link: leaked(bytes(&r["link"])).try_into().ok(),
        signature: leaked(bytes(&r["signature"])).try_into().ok(),
        salt: opt_bytes(&r["salt"]).map(leaked),
        payload: opt_bytes(&r["payload"]).map(leaked),
        received_ms: r["received_ms"].as_i64(),
    }
}

/// A chain.json bundle as the audit's input.
pub fn bundle(b: &Value) -> Bundle<'static> {
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
        anchors: None,
    }
}

/// The bundle's policy as trust, or the manifest's identity without one.
pub fn trust(b: &Value, bundle: &Bundle) -> Trust {
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
