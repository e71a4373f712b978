//! The fuzz harnesses, one function per target: each takes the fuzzer's bytes and panics only
//! when an invariant of the protocol code breaks (never on bad input, which must be a
//! `Result`). The same functions replay the committed corpora in `rust/tests/fuzz_corpus.rs`,
//! so every input a fuzzer once found stays a regression test under plain `cargo test`.
//!
//! Invariants checked beyond "no panic":
//! - `note`: a note that parses re-encodes to the same bytes (the parser is canonical, so two
//!   parties can't read one note differently), and verification never panics on it.
//! - `checkpoint_body`: a body that parses is re-written byte for byte by `Checkpoint::body`.
//! - `tree`: proofs made by the tree verify, and any proof built from fuzzer bytes that
//!   verifies proves the true root (no false proof for an honest tree).
//! - `audit`: on a bundle built honestly then mutated as the bytes say, the audit gives one
//!   verdict per row, per checkpoint, note and receipt; an unmutated bundle is clean; the
//!   verdicts do not depend on the order of the rows (SPEC 4: rows may come in any order).

#![allow(dead_code)] // each fuzz target uses one harness; the corpus test uses them all

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use hashcore::columns::{BinaryColumn, IntColumn, Validity, Values};
use hashcore::ed25519;
use hashcore::ingest::sequence::{check_segments, Limits, Received, Segment};
use hashcore::protocol::{chain_id_for_key, commitment};
use hashcore::v2::audit::input::{
    AnchorRow, Bundle, CheckpointRow, Options, ReceiptRow, RecordRow, Trust,
};
use hashcore::v2::audit::verdict::RecordVerdict;
use hashcore::v2::audit::{audit as run_audit, Report};
use hashcore::v2::cosignature;
use hashcore::v2::entry::entry;
use hashcore::v2::note::{check_log_line, sign_checkpoint, Checkpoint, Note};
use hashcore::v2::receipt;
use hashcore::v2::record::Header;
use hashcore::v2::tree::{
    consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency, verify_inclusion,
};
use hashcore::v2::Hash;

const ORIGIN: &str = "relay.fuzz.example/trial";
const LOG_SEED: [u8; 32] = [7u8; 32];
const WITNESS_SEED: [u8; 32] = [9u8; 32];
const WITNESS: &str = "witness.fuzz.example";

/// A cursor over the fuzzer's bytes that yields zeros once they run out, so every input
/// decodes to something.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        (0..8).fold(0u64, |acc, _| (acc << 8) | u64::from(self.u8()))
    }

    fn hash(&mut self) -> Hash {
        let mut h = [0u8; 32];
        for b in &mut h {
            *b = self.u8();
        }
        h
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub fn note(data: &[u8]) {
    let Ok(note) = Note::parse(data) else {
        return;
    };
    assert_eq!(
        note.encode(),
        data,
        "a parsed note must re-encode to its bytes"
    );
    let log_key = ed25519::public_key_from_seed(&LOG_SEED);
    let _ = check_log_line(&note, ORIGIN, &log_key);
    let witness_key = ed25519::public_key_from_seed(&WITNESS_SEED);
    let _ = cosignature::witness_times(&note, WITNESS, &witness_key);
    if let Ok(cp) = Checkpoint::parse_body(&note.text) {
        assert_eq!(
            cp.body(),
            note.text,
            "a parsed checkpoint body must re-encode"
        );
    }
}

pub fn checkpoint_body(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cp) = Checkpoint::parse_body(text) {
        assert_eq!(cp.body(), text, "a parsed checkpoint body must re-encode");
    }
}

pub fn tree(data: &[u8]) {
    let mut b = Bytes(data);
    let n = u64::from(b.u16() % 300);
    let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let full = root(&leaves);
    if n > 0 {
        let index = u64::from(b.u16()) % n;
        let path = inclusion_proof(&leaves, index).expect("index < n");
        assert!(verify_inclusion(
            &leaves[index as usize],
            index,
            n,
            &path,
            &full
        ));
    }
    let m = if n == 0 {
        0
    } else {
        u64::from(b.u16()) % (n + 1)
    };
    let first = root(&leaves[..m as usize]);
    let proof = consistency_proof(&leaves, m).expect("m <= n");
    assert!(verify_consistency(m, n, &first, &full, &proof));

    // A proof of the fuzzer's own making: hashes from the input, some from the real proof.
    let claimed_index = u64::from(b.u16());
    let claimed_size = u64::from(b.u16());
    let mut forged: Vec<Hash> = Vec::new();
    while !b.is_empty() && forged.len() < 64 {
        forged.push(if b.u8() % 2 == 0 && !proof.is_empty() {
            proof[forged.len() % proof.len()]
        } else {
            b.hash()
        });
    }
    if n > 0 && claimed_index < n && claimed_size == n {
        let leaf = leaves[claimed_index as usize];
        if verify_inclusion(&leaf, claimed_index, n, &forged, &full) {
            assert_eq!(
                inclusion_proof(&leaves, claimed_index).as_deref(),
                Some(&forged[..]),
                "an inclusion proof that verifies must be the true one"
            );
        }
    }
    if verify_consistency(m, n, &first, &full, &forged) {
        assert_eq!(
            forged, proof,
            "a consistency proof that verifies must be the true one"
        );
    }
    // Arbitrary sizes and roots never panic.
    let _ = verify_consistency(claimed_index, claimed_size, &first, &full, &forged);
    let _ = verify_inclusion(&full, claimed_index, claimed_size, &forged, &first);
}

/// A record row that owns its bytes, so that a mutation can change them; `view` lends them
/// to the audit's `RecordRow`, which owns nothing.
#[derive(Debug, Clone)]
struct OwnedRow {
    log_index: u64,
    chain_id: Vec<u8>,
    seq: Option<u64>,
    time_ms: Option<i64>,
    kind: Option<u8>,
    prev: Vec<u8>,
    commit: Vec<u8>,
    beacon_size: Option<u64>,
    beacon_root: Vec<u8>,
    link: Vec<u8>,
    signature: Vec<u8>,
    salt: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
    received_ms: Option<i64>,
}

impl OwnedRow {
    fn view(&self) -> RecordRow<'_> {
        RecordRow {
            log_index: self.log_index,
            chain_id: &self.chain_id,
            seq: self.seq,
            time_ms: self.time_ms,
            kind: self.kind,
            prev: self.prev.as_slice().try_into().ok(),
            commit: self.commit.as_slice().try_into().ok(),
            beacon_size: self.beacon_size,
            beacon_root: self.beacon_root.as_slice().try_into().ok(),
            link: self.link.as_slice().try_into().ok(),
            signature: self.signature.as_slice().try_into().ok(),
            salt: self.salt.as_deref(),
            payload: self.payload.as_deref(),
            received_ms: self.received_ms,
        }
    }
}

/// A bundle whose records are `OwnedRow`s (its `records` stay empty until `view`).
#[derive(Debug, Clone)]
struct Honest {
    bundle: Bundle<'static>,
    rows: Vec<OwnedRow>,
}

impl Honest {
    fn view(&self) -> Bundle<'_> {
        Bundle {
            records: self.rows.iter().map(OwnedRow::view).collect(),
            ..self.bundle.clone()
        }
    }
}

/// An honest bundle: `chains` devices with `per_chain` records each, interleaved into one
/// log, checkpoints every `every` entries (and one over the whole log), and each device's
/// receipts. Beacons name the newest checkpoint before the record.
fn honest(chains: usize, per_chain: usize, every: usize) -> Honest {
    let log_key = ed25519::public_key_from_seed(&LOG_SEED);
    let mut rows: Vec<OwnedRow> = Vec::new();
    let mut receipts = Vec::new();
    let mut leaves: Vec<Hash> = Vec::new();
    let mut checkpoints = Vec::new();
    let mut newest: (u64, Hash) = (0, [0u8; 32]);
    let mut heads: Vec<Hash> = vec![[0u8; 32]; chains];
    let seeds: Vec<[u8; 32]> = (0..chains).map(|c| [c as u8 + 1; 32]).collect();
    for seq in 0..per_chain as u64 {
        for (c, seed) in seeds.iter().enumerate() {
            let key = ed25519::public_key_from_seed(seed);
            let chain_id = chain_id_for_key(&key);
            let (kind, payload) = if seq == 0 {
                (0u8, key.to_vec())
            } else {
                (1u8, format!("{{\"c\":{c},\"s\":{seq}}}").into_bytes())
            };
            let salt = [seq as u8 ^ c as u8; 16];
            let log_index = rows.len() as u64;
            let header = Header {
                chain_id,
                seq,
                time_ms: 1_700_000_000_000 + log_index as i64 * 1000,
                kind,
                prev: heads[c],
                commit: commitment(&salt, &payload),
                beacon_size: newest.0,
                beacon_root: newest.1,
            };
            let link = header.link();
            heads[c] = link;
            let received_ms = header.time_ms + 5;
            let e = entry(&link, received_ms);
            leaves.push(leaf_hash(&e));
            receipts.push(ReceiptRow {
                chain_id: chain_id.to_vec(),
                seq: Some(seq),
                link: link.to_vec(),
                log_index: Some(log_index),
                received_ms: Some(received_ms),
                receipt_sig: receipt::sign(&LOG_SEED, log_index, &e).to_vec(),
            });
            rows.push(OwnedRow {
                log_index,
                chain_id: chain_id.to_vec(),
                seq: Some(seq),
                time_ms: Some(header.time_ms),
                kind: Some(kind),
                prev: header.prev.to_vec(),
                commit: header.commit.to_vec(),
                beacon_size: Some(header.beacon_size),
                beacon_root: header.beacon_root.to_vec(),
                link: link.to_vec(),
                signature: ed25519::sign(seed, &link).to_vec(),
                salt: Some(salt.to_vec()),
                payload: Some(payload),
                received_ms: Some(received_ms),
            });
            let size = leaves.len();
            if size % every == 0 || size == chains * per_chain {
                let cp = Checkpoint {
                    origin: ORIGIN.into(),
                    tree_size: size as u64,
                    root: root(&leaves),
                };
                let note = sign_checkpoint(&LOG_SEED, &cp).expect("valid origin");
                newest = (cp.tree_size, cp.root);
                checkpoints.push(CheckpointRow {
                    tree_size: Some(cp.tree_size),
                    root: Some(cp.root.to_vec()),
                    note: Some(note),
                });
            }
        }
    }
    let bundle = Bundle {
        manifest_origin: ORIGIN.into(),
        manifest_log_key: log_key,
        records: Vec::new(),
        checkpoints,
        receipts,
        notes: Vec::new(),
        anchors: None,
    };
    Honest { bundle, rows }
}

type Cache = HashMap<(usize, usize, usize), Honest>;

/// `honest` is deterministic and signs every record: keep each shape's bundle (there are
/// 60), so the fuzzer spends its time in the audit rather than in signing.
fn honest_cached(chains: usize, per_chain: usize, every: usize) -> Honest {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut map = cache.lock().unwrap_or_else(|e| e.into_inner());
    map.entry((chains, per_chain, every))
        .or_insert_with(|| honest(chains, per_chain, every))
        .clone()
}

fn flip(bytes: &mut Vec<u8>, at: u8) {
    if bytes.is_empty() {
        bytes.push(at);
    } else {
        let i = usize::from(at) % bytes.len();
        bytes[i] ^= 1 << (at % 8);
    }
}

/// Applies one mutation chosen by the bytes; returns false when it changed nothing.
fn mutate(honest: &mut Honest, b: &mut Bytes<'_>) -> bool {
    let op = b.u8() % 17;
    let (bundle, rows) = (&mut honest.bundle, &mut honest.rows);
    let n = rows.len();
    if n == 0 {
        return false;
    }
    let i = usize::from(b.u16()) % n.max(1);
    let at = b.u8();
    match op {
        0 => flip(&mut rows[i].link, at),
        1 => flip(&mut rows[i].prev, at),
        2 => flip(&mut rows[i].signature, at),
        3 => {
            if let Some(p) = rows[i].payload.as_mut() {
                flip(p, at);
            }
        }
        4 => {
            rows[i].salt = None;
            rows[i].payload = None;
        }
        5 => rows[i].received_ms = rows[i].received_ms.map(|t| t + i64::from(at) + 1),
        6 => rows[i].time_ms = rows[i].time_ms.map(|t| t - i64::from(at) * 86_400_000),
        7 => {
            rows.remove(i);
        }
        8 => {
            let copy = rows[i].clone();
            rows.push(copy);
        }
        9 => rows[i].log_index = u64::from(at) % (n as u64 + 2),
        10 => rows[i].beacon_size = Some(u64::from(at)),
        11 => {
            let j = usize::from(at) % n.max(1);
            rows[i].chain_id = rows[j].chain_id.clone();
        }
        12 => match b.u8() % 3 {
            0 => rows[i].chain_id.truncate(usize::from(at) % 16),
            1 => rows[i].kind = Some(at),
            _ => rows[i].seq = rows[i].seq.map(|s| s + u64::from(at % 3)),
        },
        13 => {
            let k = usize::from(at) % bundle.checkpoints.len().max(1);
            if let Some(cp) = bundle.checkpoints.get_mut(k) {
                let at = b.u8();
                if let Some(note) = cp.note.as_mut() {
                    flip(note, at);
                }
            }
        }
        14 => {
            let k = usize::from(at) % bundle.receipts.len().max(1);
            if let Some(r) = bundle.receipts.get_mut(k) {
                match b.u8() % 3 {
                    0 => flip(&mut r.receipt_sig, b.u8()),
                    1 => r.received_ms = r.received_ms.map(|t| t + 1),
                    _ => r.log_index = r.log_index.map(|x| x ^ 1),
                }
            }
        }
        15 => {
            // Anchors (as a policy's anchorer sent them): a checkpoint's, or another root.
            let k = usize::from(at) % bundle.checkpoints.len().max(1);
            let (size, root) = match bundle.checkpoints.get(k) {
                Some(CheckpointRow {
                    tree_size: Some(s),
                    root: Some(r),
                    ..
                }) if b.u8() % 2 == 0 => (*s, Hash::try_from(r.as_slice()).unwrap_or([0u8; 32])),
                _ => (b.u64() % (n as u64 + 3), b.hash()),
            };
            let is_final = b.u8() % 2 == 0;
            bundle.anchors.get_or_insert_with(Vec::new).push(AnchorRow {
                tree_size: size,
                root,
                is_final,
            });
        }
        _ => {
            // Evidence: a note of the fuzzer's own bytes, or a re-signed note of another root.
            let size = b.u64() % (n as u64 + 3);
            let cp = Checkpoint {
                origin: ORIGIN.into(),
                tree_size: size,
                root: b.hash(),
            };
            let note = sign_checkpoint(&LOG_SEED, &cp).expect("valid origin");
            bundle
                .notes
                .push(if at % 2 == 0 { note } else { b.0.to_vec() });
        }
    }
    true
}

fn same_verdicts_whatever_the_order(bundle: &Bundle<'_>, trust: &Trust, report: &Report) {
    let n = bundle.records.len();
    if n < 2 {
        return;
    }
    let mut reversed = bundle.clone();
    reversed.records.reverse();
    let again = run_audit(&reversed, trust, &Options::default());
    let back: Vec<RecordVerdict> = again.records.iter().rev().copied().collect();
    assert_eq!(
        back, report.records,
        "verdicts must not depend on row order"
    );
    assert_eq!(again.checkpoints, report.checkpoints);
    assert_eq!(again.receipts, report.receipts);
    assert_eq!(again.clean, report.clean);
}

pub fn audit(data: &[u8]) {
    let mut b = Bytes(data);
    let chains = 1 + usize::from(b.u8() % 3);
    let per_chain = 1 + usize::from(b.u8() % 4);
    let every = 1 + usize::from(b.u8() % 5);
    let mut honest = honest_cached(chains, per_chain, every);
    let trust = Trust::from_manifest(&honest.bundle);
    let mutations = b.u8() % 4;
    for _ in 0..mutations {
        mutate(&mut honest, &mut b);
    }
    let bundle = honest.view();
    let report = run_audit(&bundle, &trust, &Options::default());
    assert_eq!(report.records.len(), bundle.records.len());
    assert_eq!(report.checkpoints.len(), bundle.checkpoints.len());
    assert_eq!(report.receipts.len(), bundle.receipts.len());
    assert_eq!(report.notes.len(), bundle.notes.len());
    if let Some(anchors) = &bundle.anchors {
        assert_eq!(report.anchors.as_ref().map(Vec::len), Some(anchors.len()));
    }
    if mutations == 0 {
        assert!(
            report.clean,
            "an honest bundle must audit clean: {report:?}"
        );
    }
    same_verdicts_whatever_the_order(&bundle, &trust, &report);
}

/// Arrow-layout column views over arbitrary buffers, offsets and lengths (what the bindings
/// hand over from pyarrow): a column that validates can be read at every row without a
/// panic, and one that doesn't is an error, never an out-of-bounds read.
pub fn columns(data: &[u8]) {
    let mut b = Bytes(data);
    let shape = b.u8();
    // Mostly small positions, sometimes enormous ones (overflowing offset + len).
    let position = |b: &mut Bytes<'_>| {
        if b.u8() % 8 == 0 {
            b.u64() as usize
        } else {
            usize::from(b.u8() % 40)
        }
    };
    let offset = position(&mut b);
    let len = position(&mut b);
    let width = usize::from(b.u8() % 70);
    let split = usize::from(b.u8());
    let rest = b.0;
    let (first, second) = rest.split_at(split.min(rest.len()));
    let (bits, first) = first.split_at((first.len() / 4).min(first.len()));
    let validity = (shape & 0x10 != 0).then_some(Validity { bits });
    let values = match shape % 3 {
        0 => Values::Fixed {
            data: second,
            width,
        },
        1 => Values::Var32 {
            offsets: first,
            data: second,
        },
        _ => Values::Var64 {
            offsets: first,
            data: second,
        },
    };
    let col = BinaryColumn {
        values,
        validity,
        offset,
        len,
    };
    if col.validate("fuzz").is_ok() {
        for i in 0..len.min(4096) {
            let _ = col.get(i);
            let _ = col.get_array::<32>(i);
        }
    }
    let ints = IntColumn::<8> {
        data: second,
        validity,
        offset,
        len,
    };
    if ints.validate("fuzz").is_ok() {
        for i in 0..len.min(4096) {
            let _ = ints.get_u64(i);
        }
    }
    let bytes = IntColumn::<1> {
        data: first,
        validity,
        offset,
        len,
    };
    if bytes.validate("fuzz").is_ok() {
        for i in 0..len.min(4096) {
            let _ = bytes.get_u8(i);
        }
    }
}

/// SPEC 2.3 cosignature values and witness times on a parsed note of any bytes.
pub fn cosignature(data: &[u8]) {
    let mut b = Bytes(data);
    let t = b.u64();
    let split = usize::from(b.u8());
    let rest = b.0;
    let (value, body) = rest.split_at(split.min(rest.len()));
    let key = ed25519::public_key_from_seed(&WITNESS_SEED);
    if let Some(time) = cosignature::verify(&key, body, value) {
        assert!(
            time <= cosignature::MAX_TIME,
            "a verified cosignature time is at most 2^63-1"
        );
    }
    if t <= cosignature::MAX_TIME {
        let signed = cosignature::sign(&WITNESS_SEED, t, body).expect("time in range");
        assert_eq!(cosignature::verify(&key, body, &signed), Some(t));
    } else {
        assert!(cosignature::sign(&WITNESS_SEED, t, body).is_err());
    }
}

/// One field of a submitted record, owned, so the fuzzer can change sizes.
#[derive(Clone)]
struct Sent {
    version: u32,
    chain_id: Vec<u8>,
    seq: u64,
    time_ms: i64,
    kind: u32,
    prev: Vec<u8>,
    commit: Vec<u8>,
    beacon_size: u64,
    beacon_root: Vec<u8>,
    salt: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
    signature: Vec<u8>,
    link: Vec<u8>,
}

impl Sent {
    fn received(&self) -> Received<'_> {
        Received {
            version: self.version,
            chain_id: &self.chain_id,
            seq: self.seq,
            time_ms: self.time_ms,
            kind: self.kind,
            prev: &self.prev,
            commit: &self.commit,
            beacon_size: self.beacon_size,
            beacon_root: &self.beacon_root,
            salt: self.salt.as_deref(),
            payload: self.payload.as_deref(),
            signature: &self.signature,
            link: &self.link,
        }
    }
}

/// A device's honest submissions: genesis, data, one key rotation, data under the new key.
fn honest_chain(n: usize) -> Vec<Sent> {
    let mut seed = [3u8; 32];
    let genesis_key = ed25519::public_key_from_seed(&seed);
    let chain_id = chain_id_for_key(&genesis_key);
    let mut prev = [0u8; 32];
    let mut out = Vec::new();
    for seq in 0..n as u64 {
        let (kind, payload, next_seed) = match seq {
            0 => (0u8, genesis_key.to_vec(), None),
            2 => {
                let new = [4u8; 32];
                (2u8, ed25519::public_key_from_seed(&new).to_vec(), Some(new))
            }
            _ => (1u8, format!("{{\"day\":{seq}}}").into_bytes(), None),
        };
        let salt = [seq as u8; 16];
        let header = Header {
            chain_id,
            seq,
            time_ms: 1_700_000_000_000 + seq as i64,
            kind,
            prev,
            commit: commitment(&salt, &payload),
            beacon_size: 0,
            beacon_root: [0u8; 32],
        };
        let link = header.link();
        out.push(Sent {
            version: 2,
            chain_id: chain_id.to_vec(),
            seq,
            time_ms: header.time_ms,
            kind: u32::from(kind),
            prev: prev.to_vec(),
            commit: header.commit.to_vec(),
            beacon_size: 0,
            beacon_root: vec![0u8; 32],
            salt: Some(salt.to_vec()),
            payload: Some(payload),
            signature: ed25519::sign(&seed, &link).to_vec(),
            link: if seq % 2 == 0 {
                link.to_vec()
            } else {
                Vec::new()
            },
        });
        prev = link;
        if let Some(new) = next_seed {
            seed = new;
        }
    }
    out
}

/// The relay's ingest check (shapes, sequencing, links, commitments, keys, signatures) on
/// an honest chain mutated as the bytes say: never a panic; the honest chain is accepted
/// with its true links; a fault names a record of the segment.
pub fn ingest(data: &[u8]) {
    let mut b = Bytes(data);
    let n = 1 + usize::from(b.u8() % 6);
    let mut sent = honest_chain(n);
    let truth: Vec<Vec<u8>> = sent.iter().map(|s| s.link.clone()).collect();
    let mutations = b.u8() % 4;
    for _ in 0..mutations {
        let i = usize::from(b.u8()) % sent.len();
        let at = b.u8();
        let r = &mut sent[i];
        match b.u8() % 14 {
            0 => r.version = u32::from(at),
            1 => r.chain_id.truncate(usize::from(at) % 17),
            2 => r.seq = r.seq.wrapping_add(u64::from(at % 3)).wrapping_sub(1),
            3 => r.kind = u32::from(at % 5),
            4 => flip(&mut r.prev, at),
            5 => flip(&mut r.commit, at),
            6 => r.beacon_size = u64::from(at),
            7 => flip(&mut r.beacon_root, at),
            8 => r.salt = None,
            9 => {
                r.salt = None;
                r.payload = None;
            }
            10 => flip(&mut r.signature, at),
            11 => flip(&mut r.link, at),
            12 => r
                .payload
                .as_mut()
                .map_or((), |p| p.truncate(usize::from(at) % 40)),
            _ => {
                sent.swap(i, usize::from(at) % n);
            }
        }
    }
    let received: Vec<Received<'_>> = sent.iter().map(Sent::received).collect();
    let limits = Limits {
        max_payload_bytes: if b.u8() % 4 == 0 {
            usize::from(b.u8())
        } else {
            usize::MAX
        },
        max_seq: u64::MAX,
    };
    let checked = check_segments(
        &[Segment {
            head: None,
            records: &received,
        }],
        &limits,
    );
    assert_eq!(checked.len(), 1);
    match &checked[0].outcome {
        Ok(head) => {
            let head = head.expect("an accepted new chain has a head");
            assert_eq!(head.seq, received.last().expect("n >= 1").seq);
            for (link, claimed) in checked[0].links.iter().zip(&truth) {
                if !claimed.is_empty() && mutations == 0 {
                    assert_eq!(&link[..], &claimed[..]);
                }
            }
        }
        Err((index, _fault)) => {
            assert!(
                mutations > 0 || limits.max_payload_bytes < 64,
                "honest chain refused"
            );
            assert!(*index < received.len());
        }
    }
}
