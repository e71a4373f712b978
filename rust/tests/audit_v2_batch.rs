//! The checkpoints' and evidence notes' signatures are verified in batches
//! (`signatures::states`): on a bundle of many checkpoints with a few bad lines among
//! them, the exact verdicts and witness times, and the same states as judging each note
//! on its own (`CheckpointState::new`, `EvidenceNote::new`).

mod v2_common;

use hashcore::ed25519;
use hashcore::v2::audit::audit;
use hashcore::v2::audit::checkpoints::CheckpointState;
use hashcore::v2::audit::evidence::EvidenceNote;
use hashcore::v2::audit::input::{Bundle, CheckpointRow, IdentitySource, Options, Trust};
use hashcore::v2::audit::partial_judge::Signed;
use hashcore::v2::audit::signatures;
use hashcore::v2::audit::verdict::{CheckpointVerdict as C, NoteVerdict as N};
use hashcore::v2::cosignature::{self, MAX_TIME};
use hashcore::v2::note::{sign_checkpoint, Checkpoint, Note};
use v2_common::{bundle, load, text};

const COUNT: usize = 200;
const LOG_SEED: [u8; 32] = [11; 32];
const WITNESS_SEEDS: [[u8; 32]; 2] = [[12; 32], [13; 32]];
const NAMES: [&str; 3] = ["w-a.example/x", "w-b.example/x", "w-small.example/x"];

/// The bad ones among the checkpoints.
const BAD_RELAY_LINE: usize = 37;
const BAD_COSIGNATURE: usize = 51; // witness A's; odd, so B has no line: UNWITNESSED
const REPEATED_LOG_LINE: usize = 80;
const THREE_LINES_OF_A: usize = 90; // A: valid t=5, failing, valid t=7
const TIME_OVER_MAX: usize = 121; // A's only line has t = 2^63 (signed): no time; odd
const ROW_ROOT_DIFFERS: usize = 130;

/// The identity point: ZIP-215 accepts (R = identity, S = 0) under it for any message,
/// but a small-order key verifies nothing (decision 11).
fn identity() -> [u8; 32] {
    let mut p = [0u8; 32];
    p[0] = 1;
    p
}

fn witness_key(w: usize) -> [u8; 32] {
    match WITNESS_SEEDS.get(w) {
        Some(seed) => ed25519::public_key_from_seed(seed),
        None => identity(),
    }
}

/// Witness `w`'s cosignature line at time `t` (over `message(t, body)` whatever `t`),
/// its signature flipped where `bad`.
fn cosign(note: &mut Note, w: usize, t: u64, bad: bool) {
    let mut value = [0u8; cosignature::VALUE_LEN];
    value[..8].copy_from_slice(&t.to_be_bytes());
    match WITNESS_SEEDS.get(w) {
        Some(seed) => {
            let m = cosignature::message(t, note.text.as_bytes());
            value[8..].copy_from_slice(&ed25519::sign(seed, &m));
        }
        None => value[8] = 1, // (identity, 0)
    }
    if bad {
        value[20] ^= 1;
    }
    let line = cosignature::line(NAMES[w], &witness_key(w), &value).unwrap();
    note.lines.push(line);
}

/// The clean chain.json bundle's records with `COUNT` checkpoints of its sizes signed by
/// our log key and cosigned, and evidence notes; the trust of our keys, quorum 1.
fn fixture() -> (Bundle<'static>, Trust) {
    let d = load("chain.json");
    let clean = d["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| text(&b["case"]) == "clean")
        .unwrap();
    let mut b = bundle(clean);
    let log_key = ed25519::public_key_from_seed(&LOG_SEED);
    b.manifest_log_key = log_key;
    b.receipts.clear();
    let sizes: Vec<(u64, Vec<u8>)> = b
        .checkpoints
        .iter()
        .map(|c| (c.tree_size.unwrap(), c.root.clone().unwrap()))
        .collect();
    let origin = b.manifest_origin.clone();
    let signed = |i: usize| {
        let (size, root) = &sizes[i % sizes.len()];
        let cp = Checkpoint {
            origin: origin.clone(),
            tree_size: *size,
            root: root[..].try_into().unwrap(),
        };
        Note::parse(&sign_checkpoint(&LOG_SEED, &cp).unwrap()).unwrap()
    };
    b.checkpoints = (0..COUNT)
        .map(|i| {
            let mut note = signed(i);
            let t = 1000 + i as u64;
            match i {
                BAD_RELAY_LINE => note.lines[0].signature[3] ^= 1,
                REPEATED_LOG_LINE => note.lines.push(note.lines[0].clone()),
                _ => {}
            }
            match i {
                THREE_LINES_OF_A => {
                    cosign(&mut note, 0, 5, false);
                    cosign(&mut note, 0, 6, true);
                    cosign(&mut note, 0, 7, false);
                }
                TIME_OVER_MAX => cosign(&mut note, 0, MAX_TIME + 1, false),
                _ => cosign(&mut note, 0, t, i == BAD_COSIGNATURE),
            }
            if i % 2 == 0 {
                cosign(&mut note, 1, 2000 + i as u64, false);
            }
            if i % 10 == 3 {
                cosign(&mut note, 2, 3000, false); // small-order key: never counts
            }
            let (size, root) = &sizes[i % sizes.len()];
            let mut root = root.clone();
            if i == ROW_ROOT_DIFFERS {
                root[0] ^= 1;
            }
            CheckpointRow {
                tree_size: Some(*size),
                root: Some(root),
                note: Some(note.encode()),
            }
        })
        .collect();
    let mut bad_relay = signed(1);
    bad_relay.lines[0].signature[40] ^= 1;
    let mut repeated = signed(2);
    repeated.lines.insert(0, repeated.lines[0].clone());
    b.notes = vec![
        signed(0).encode(),
        bad_relay.encode(),
        repeated.encode(),
        b"not a note".to_vec(),
        signed(3).encode(),
    ];
    let trust = Trust {
        origin,
        log_key,
        witnesses: (0..NAMES.len())
            .map(|w| (NAMES[w].to_owned(), witness_key(w)))
            .collect(),
        witness_quorum: 1,
        max_merge_delay_ms: Trust::DEFAULT_MAX_MERGE_DELAY_MS,
        max_clock_skew_ms: Trust::DEFAULT_MAX_CLOCK_SKEW_MS,
        source: IdentitySource::Policy,
    };
    (b, trust)
}

fn unsigned(i: usize) -> bool {
    i == BAD_RELAY_LINE || i == REPEATED_LOG_LINE
}

#[test]
fn batched_checkpoint_signatures_give_the_exact_verdicts_and_times() {
    let (b, t) = fixture();
    let r = audit(&b, &t, &Options::default());
    for (i, v) in r.checkpoints.iter().enumerate() {
        let want = match i {
            _ if unsigned(i) || i == ROW_ROOT_DIFFERS => C::BadCheckpointSig,
            BAD_COSIGNATURE | TIME_OVER_MAX => C::Unwitnessed,
            _ => C::Ok,
        };
        assert_eq!(*v, want, "checkpoint {i}");
    }
    assert_eq!(r.covered_size, 18);
    let sizes = [5, 10, 15, 18];
    assert_eq!(
        r.notes,
        vec![
            (Some(sizes[0]), N::Ok),
            (Some(sizes[1]), N::NoteRejected),
            (Some(sizes[2]), N::NoteRejected),
            (None, N::NoteRejected),
            (Some(sizes[3]), N::Ok),
        ]
    );

    let s = Signed::new(&b.checkpoints, &b.notes, &t);
    for (i, state) in s.cps.iter().enumerate() {
        let a: Vec<u64> = match i {
            _ if unsigned(i) => vec![],
            BAD_COSIGNATURE | TIME_OVER_MAX => vec![],
            THREE_LINES_OF_A => vec![5, 7],
            _ => vec![1000 + i as u64],
        };
        let w_b: Vec<u64> = match i {
            _ if unsigned(i) || i % 2 == 1 => vec![],
            _ => vec![2000 + i as u64],
        };
        assert_eq!(state.witness_times, vec![a, w_b, vec![]], "checkpoint {i}");
        assert_eq!(state.signed.is_some(), !unsigned(i), "checkpoint {i}");
        assert_eq!(state.row_matches, !unsigned(i) && i != ROW_ROOT_DIFFERS);
    }
    // Every relay-signed (size, root): the checkpoints' and the two good notes'.
    assert_eq!(s.signed.len(), COUNT - 2 + 2);
}

#[test]
fn batched_states_are_those_of_one_note_at_a_time() {
    let (b, mut t) = fixture();
    for unusable_log_key in [false, true] {
        if unusable_log_key {
            t.log_key = identity();
        }
        let (cps, notes) = signatures::states(&b.checkpoints, &b.notes, &t);
        assert_eq!(cps.len(), COUNT);
        for (row, got) in b.checkpoints.iter().zip(&cps) {
            let want = CheckpointState::new(row, &t);
            assert_eq!(got.signed, want.signed);
            assert_eq!(got.row_matches, want.row_matches);
            assert_eq!(got.witness_times, want.witness_times);
            assert!(!unusable_log_key || got.signed.is_none());
        }
        for (n, got) in b.notes.iter().zip(&notes) {
            let want = EvidenceNote::new(n, &t);
            assert_eq!((&got.body, got.signed), (&want.body, want.signed));
        }
    }
    let (cps, notes) = signatures::states(&[], &[], &t);
    assert!(cps.is_empty() && notes.is_empty());
}
