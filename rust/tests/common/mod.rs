//! Helpers shared by the integration tests: the JSON vectors as Arrow-layout columns.

#![allow(dead_code)]

use std::path::PathBuf;

use hashcore::audit::CheckpointRow;
use hashcore::columns::{BinaryColumn, IntColumn, RecordColumns, Validity, Values};
use serde_json::Value;

pub fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/vectors")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("vector file")).expect("json")
}

pub fn hx(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

pub fn arr<const N: usize>(v: &Value) -> [u8; N] {
    hx(v).try_into().expect("size")
}

/// The checkpoint rows of a chain.json bundle.
pub fn checkpoint_rows(bundle: &Value) -> Vec<CheckpointRow> {
    bundle["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| CheckpointRow {
            tree_size: c["tree_size"].as_u64(),
            root: (!c["root"].is_null()).then(|| hx(&c["root"])),
            signature: (!c["signature"].is_null()).then(|| hx(&c["signature"])),
            tx_hash: (!c["tx_hash"].is_null()).then(|| hx(&c["tx_hash"])),
        })
        .collect()
}

/// Owns Arrow-layout buffers for a bundle given as JSON rows.
pub struct Owned {
    pub n: usize,
    ints: [Vec<u8>; 4],
    int_validity: [Vec<u8>; 4],
    bins: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>,
}

const BIN: [&str; 7] = [
    "chain_id",
    "prev",
    "commit",
    "link",
    "signature",
    "salt",
    "payload",
];

impl Owned {
    pub fn new(rows: &[Value]) -> Self {
        let n = rows.len();
        let mut ints: [Vec<u8>; 4] = Default::default();
        let mut int_validity: [Vec<u8>; 4] = std::array::from_fn(|_| vec![0u8; n.div_ceil(8)]);
        for (i, r) in rows.iter().enumerate() {
            for (k, name) in ["log_index", "seq", "time_ms"].iter().enumerate() {
                let v = &r[*name];
                if !v.is_null() {
                    int_validity[k][i / 8] |= 1 << (i % 8);
                }
                let bytes = if *name == "time_ms" {
                    v.as_i64().unwrap_or(0).to_le_bytes()
                } else {
                    v.as_u64().unwrap_or(0).to_le_bytes()
                };
                ints[k].extend_from_slice(&bytes);
            }
            if !r["kind"].is_null() {
                int_validity[3][i / 8] |= 1 << (i % 8);
            }
            ints[3].push(r["kind"].as_u64().unwrap_or(0) as u8);
        }
        let bins = BIN
            .iter()
            .map(|name| {
                let mut offsets = 0i64.to_le_bytes().to_vec();
                let (mut data, mut validity) = (Vec::new(), vec![0u8; n.div_ceil(8)]);
                for (i, r) in rows.iter().enumerate() {
                    if !r[*name].is_null() {
                        validity[i / 8] |= 1 << (i % 8);
                        data.extend(hx(&r[*name]));
                    }
                    offsets.extend_from_slice(&(data.len() as i64).to_le_bytes());
                }
                (offsets, data, validity)
            })
            .collect();
        Owned {
            n,
            ints,
            int_validity,
            bins,
        }
    }

    pub fn columns(&self) -> RecordColumns<'_> {
        let int = |k: usize| IntColumn {
            data: &self.ints[k],
            validity: Some(Validity {
                bits: &self.int_validity[k],
            }),
            offset: 0,
            len: self.n,
        };
        let int8 = |k: usize| IntColumn::<8> {
            data: &self.ints[k],
            validity: Some(Validity {
                bits: &self.int_validity[k],
            }),
            offset: 0,
            len: self.n,
        };
        let bin = |k: usize| BinaryColumn {
            values: Values::Var64 {
                offsets: &self.bins[k].0,
                data: &self.bins[k].1,
            },
            validity: Some(Validity {
                bits: &self.bins[k].2,
            }),
            offset: 0,
            len: self.n,
        };
        RecordColumns {
            log_index: int8(0),
            seq: int8(1),
            time_ms: int8(2),
            kind: int(3),
            chain_id: bin(0),
            prev: bin(1),
            commit: bin(2),
            link: bin(3),
            signature: bin(4),
            salt: bin(5),
            payload: bin(6),
        }
    }
}
