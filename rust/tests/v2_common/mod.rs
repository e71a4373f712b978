//! Helpers of the v2 integration tests: the JSON vectors of `tests/vectors/v2/`.

#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/v2")
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
