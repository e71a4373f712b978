//! The shape and sequencing checks of `ingest::sequence` (split from `tests.rs`, which
//! covers `ingest::check`).

use super::sequence::{check_segments, check_shape, Fault, Head, Limits, Received, Segment};
use super::Reject;
use crate::ed25519;
use crate::protocol::{self, Hash};

/// An owned record, signed as a device would.
#[derive(Clone)]
struct Rec {
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

impl Rec {
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

    /// Recomputes commit and link and signs with `seed` (after a field was changed).
    fn resign(mut self, seed: &[u8; 32]) -> Rec {
        if let (Some(s), Some(p)) = (&self.salt, &self.payload) {
            self.commit = protocol::commitment(s, p).to_vec();
        }
        let link = crate::v2::record::Header {
            chain_id: self.chain_id.as_slice().try_into().unwrap(),
            seq: self.seq,
            time_ms: self.time_ms,
            kind: self.kind as u8,
            prev: self.prev.as_slice().try_into().unwrap(),
            commit: self.commit.as_slice().try_into().unwrap(),
            beacon_size: self.beacon_size,
            beacon_root: self.beacon_root.as_slice().try_into().unwrap(),
        }
        .link();
        self.signature = ed25519::sign(seed, &link).to_vec();
        self.link = link.to_vec();
        self
    }
}

/// A change to a valid chain.
type Edit = Box<dyn Fn(&mut Vec<Rec>)>;

const GENESIS_SEED: [u8; 32] = [5; 32];
const ROTATED_SEED: [u8; 32] = [6; 32];

/// genesis, data, rotation to ROTATED_SEED's key, data (signed by the new key).
fn chain() -> Vec<Rec> {
    let pk = ed25519::public_key_from_seed(&GENESIS_SEED);
    let new_pk = ed25519::public_key_from_seed(&ROTATED_SEED);
    let chain_id = protocol::chain_id_for_key(&pk).to_vec();
    let mut out: Vec<Rec> = Vec::new();
    let specs: [(u32, Vec<u8>, [u8; 32]); 4] = [
        (0, pk.to_vec(), GENESIS_SEED),
        (1, b"{\"night\": 1}".to_vec(), GENESIS_SEED),
        (2, new_pk.to_vec(), GENESIS_SEED),
        (1, b"{\"night\": 2}".to_vec(), ROTATED_SEED),
    ];
    for (seq, (kind, payload, seed)) in specs.into_iter().enumerate() {
        let prev = out.last().map_or(vec![0; 32], |r| r.link.clone());
        let rec = Rec {
            version: 2,
            chain_id: chain_id.clone(),
            seq: seq as u64,
            time_ms: 1_000 + seq as i64,
            kind,
            prev,
            commit: Vec::new(),
            beacon_size: seq as u64,
            beacon_root: if seq == 0 {
                vec![0; 32]
            } else {
                vec![seq as u8; 32]
            },
            salt: Some(vec![seq as u8; 16]),
            payload: Some(payload),
            signature: Vec::new(),
            link: Vec::new(),
        };
        out.push(rec.resign(&seed));
    }
    out
}

fn run(head: Option<Head>, recs: &[Rec], limits: &Limits) -> Result<Option<Head>, (usize, Fault)> {
    let received: Vec<Received<'_>> = recs.iter().map(Rec::received).collect();
    let segments = [Segment {
        head,
        records: &received,
    }];
    check_segments(&segments, limits).remove(0).outcome
}

fn head_after(recs: &[Rec], key_seed: &[u8; 32]) -> Head {
    let last = recs.last().unwrap();
    Head {
        seq: last.seq,
        link: Some(last.link.as_slice().try_into().unwrap()),
        key: ed25519::public_key_from_seed(key_seed),
    }
}

#[test]
fn a_whole_chain_and_its_continuation_pass_with_the_key_schedule() {
    let recs = chain();
    let want = head_after(&recs, &ROTATED_SEED);
    assert_eq!(run(None, &recs, &Limits::default()), Ok(Some(want)));
    // The same records in two steps: the head carries the rotated key.
    let first = run(None, &recs[..3], &Limits::default()).unwrap().unwrap();
    assert_eq!(first, head_after(&recs[..3], &ROTATED_SEED));
    assert_eq!(
        run(Some(first), &recs[3..], &Limits::default()),
        Ok(Some(want))
    );
    // Links are those of the headers; unclaimed links are fine.
    let mut unclaimed = recs.clone();
    unclaimed.iter_mut().for_each(|r| r.link.clear());
    let received: Vec<Received<'_>> = unclaimed.iter().map(Rec::received).collect();
    let checked = check_segments(
        &[Segment {
            head: None,
            records: &received,
        }],
        &Limits::default(),
    );
    let links: Vec<Hash> = recs
        .iter()
        .map(|r| r.link.as_slice().try_into().unwrap())
        .collect();
    assert_eq!(checked[0].links, links);
    assert_eq!(run(Some(want), &[], &Limits::default()), Ok(None));
}

/// The fault `edit` makes, and its message.
fn fault_of(edit: impl Fn(&mut Vec<Rec>)) -> (usize, String, &'static str) {
    let mut recs = chain();
    edit(&mut recs);
    let limits = Limits {
        max_payload_bytes: 100,
        max_seq: (1 << 63) - 1,
    };
    let (i, fault) = run(None, &recs, &limits).unwrap_err();
    (i, fault.to_string(), fault.reason())
}

#[test]
fn each_fault_is_named_with_the_ledgers_words() {
    let pk = ed25519::public_key_from_seed(&GENESIS_SEED);
    let out_of_range = format!("seq {} is out of range", 1u64 << 63);
    let other_chain = format!(
        "chain_id {} is not {}",
        "09".repeat(16),
        hexs(&protocol::chain_id_for_key(&pk))
    );
    let cases: Vec<(Edit, (usize, &str, &str))> = vec![
        (
            Box::new(|r| r[1].version = 1),
            (1, "unknown version 1 (expected 2)", "malformed"),
        ),
        (
            Box::new(|r| r[1].beacon_root.truncate(31)),
            (1, "beacon_root must be 32 bytes, got 31", "malformed"),
        ),
        (
            Box::new(|r| r[1].beacon_size = 0),
            (
                1,
                "beacon_size is 0 but beacon_root is not 32 zero bytes (SPEC 1.5: no beacon)",
                "malformed",
            ),
        ),
        (
            Box::new(|r| r[1].chain_id.pop().map(drop).unwrap()),
            (1, "chain_id must be 16 bytes, got 15", "malformed"),
        ),
        (
            Box::new(|r| r[2].prev.truncate(31)),
            (2, "prev must be 32 bytes, got 31", "malformed"),
        ),
        (
            Box::new(|r| r[1].salt = Some(Vec::new())),
            (1, "salt must be 16 bytes, got 0", "malformed"),
        ),
        (
            Box::new(|r| r[1].signature.truncate(63)),
            (1, "signature must be 64 bytes, got 63", "malformed"),
        ),
        (
            Box::new(|r| r[1].link.truncate(3)),
            (1, "link must be empty or 32 bytes, got 3", "malformed"),
        ),
        (
            Box::new(|r| r[1].payload = Some(vec![0; 101])),
            (
                1,
                "payload of 101 bytes exceeds the limit of 100",
                "too_large",
            ),
        ),
        (
            Box::new(|r| r[1].seq = 1 << 63),
            (1, &out_of_range, "malformed"),
        ),
        (
            Box::new(|r| r[1].kind = 7),
            (1, "unknown kind 7", "malformed"),
        ),
        (
            Box::new(|r| r[1].kind = 0),
            (
                1,
                "a genesis (kind 0) is only accepted through Enroll",
                "malformed",
            ),
        ),
        (
            Box::new(|r| r[0].kind = 1),
            (
                0,
                "enrollment needs the kind-0 record at seq 0",
                "malformed",
            ),
        ),
        (
            Box::new(|r| r[1].salt = None),
            (1, "salt and payload are erased together", "malformed"),
        ),
        (
            Box::new(|r| {
                r.remove(1);
            }),
            (
                1,
                "follows seq 0 of its chain in the batch (a chain's records must come in \
                 seq order, without gaps)",
                "gap",
            ),
        ),
        (
            Box::new(|r| r[3].chain_id = vec![9; 16]),
            (3, &other_chain, "malformed"),
        ),
        (
            Box::new(|r| r[0].payload = Some(vec![1; 31])),
            (
                0,
                "genesis payload must be a 32-byte public key, got 31",
                "bad_key",
            ),
        ),
        (
            Box::new(|r| r[0].payload = Some(identity())),
            (
                0,
                "genesis payload is not a valid (large-order) public key",
                "bad_key",
            ),
        ),
        (
            Box::new(|r| {
                r[0].salt = None;
                r[0].payload = None;
            }),
            (
                0,
                "a genesis or rotation record cannot be erased",
                "malformed",
            ),
        ),
        (
            Box::new(|r| r[0].chain_id = vec![1; 16]),
            (
                0,
                "genesis chain_id is not derived from its public key",
                "malformed",
            ),
        ),
        (
            Box::new(|r| r[0].prev = vec![1; 32]),
            (0, "genesis prev must be 32 zero bytes", "malformed"),
        ),
        (
            Box::new(|r| r[2].link = vec![2; 32]),
            (
                2,
                "link is not the link of the record's header",
                "link_mismatch",
            ),
        ),
        (
            Box::new(|r| {
                r[2].prev = vec![3; 32];
                r[2].link.clear();
            }),
            (2, "prev is not the link of seq 1", "broken_chain"),
        ),
        (
            Box::new(|r| {
                r[1].payload = Some(b"edited".to_vec());
            }),
            (1, "commit is not KDF(salt || payload)", "bad_commit"),
        ),
        (
            Box::new(|r| {
                r[3] = r[3].clone().resign(&GENESIS_SEED);
            }),
            (
                3,
                "the signature does not verify under the chain's key",
                "bad_signature",
            ),
        ),
    ];
    for (edit, (index, message, reason)) in cases {
        assert_eq!(fault_of(edit), (index, message.to_string(), reason));
    }
}

fn identity() -> Vec<u8> {
    let mut id = vec![0u8; 32];
    id[0] = 1;
    id
}

fn hexs(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn the_first_record_continues_the_head_and_seqs_come_once() {
    let recs = chain();
    let head = head_after(&recs[..1], &GENESIS_SEED);
    let (i, fault) = run(Some(head), &recs[2..], &Limits::default()).unwrap_err();
    assert_eq!(
        (i, fault.to_string()),
        (0, "seq jumps from 0 to 2 (send seq 1 first)".into())
    );
    assert_eq!(fault.reason(), "gap");
    let twice = [recs[1].clone(), recs[2].clone(), recs[1].clone()];
    let (i, fault) = run(Some(head), &twice, &Limits::default()).unwrap_err();
    assert_eq!(
        (i, fault.to_string()),
        (2, "appears twice in the batch".into())
    );
    assert_eq!((fault.reason(), fault.code()), ("malformed", "repeated"));
}

#[test]
fn an_unknown_head_link_leaves_the_first_prev_to_the_caller() {
    let mut recs = chain();
    let mut head = head_after(&recs[..1], &GENESIS_SEED);
    head.link = None;
    recs[1].prev = vec![7; 32];
    recs[1] = recs[1].clone().resign(&GENESIS_SEED);
    recs[2].prev = recs[1].link.clone();
    recs[2] = recs[2].clone().resign(&GENESIS_SEED);
    let got = run(Some(head), &recs[1..3], &Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(got.link, Some(recs[2].link.as_slice().try_into().unwrap()));
    head.link = Some(recs[0].link.as_slice().try_into().unwrap());
    let (i, fault) = run(Some(head), &recs[1..3], &Limits::default()).unwrap_err();
    assert_eq!((i, fault.code()), (0, "broken_chain"));
}

#[test]
fn a_rotation_to_a_bad_key_is_bad_key_and_later_records_keep_the_old_key() {
    let mut recs = chain();
    recs[2].payload = Some(identity());
    recs[2] = recs[2].clone().resign(&GENESIS_SEED);
    recs[3].prev = recs[2].link.clone();
    recs[3] = recs[3].clone().resign(&GENESIS_SEED);
    assert_eq!(
        run(None, &recs, &Limits::default()),
        Err((2, Fault::Rejected(Reject::BadKey)))
    );
}

#[test]
fn shape_faults_come_before_later_phases_and_segments_are_independent() {
    let mut recs = chain();
    recs[1] = recs[1].clone().resign(&ROTATED_SEED); // bad signature at 1
    recs[3].kind = 9; // shape fault at 3
    assert_eq!(run(None, &recs, &Limits::default()).unwrap_err().0, 3);
    let good = chain();
    let a: Vec<Received<'_>> = recs.iter().map(Rec::received).collect();
    let b: Vec<Received<'_>> = good.iter().map(Rec::received).collect();
    let checked = check_segments(
        &[
            Segment {
                head: None,
                records: &a,
            },
            Segment {
                head: None,
                records: &b,
            },
        ],
        &Limits::default(),
    );
    assert!(checked[0].outcome.is_err());
    assert!(checked[0].links.is_empty());
    assert_eq!(
        checked[1].outcome,
        Ok(Some(head_after(&good, &ROTATED_SEED)))
    );
    assert_eq!(checked[1].links.len(), 4);
}

#[test]
fn an_erased_data_record_passes_without_its_commitment() {
    let mut recs = chain();
    recs[1].salt = None;
    recs[1].payload = None;
    assert!(run(None, &recs, &Limits::default()).is_ok());
    assert!(check_shape(&recs[1].received(), &Limits::default(), false).is_ok());
}
