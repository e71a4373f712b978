//! The v2 audit engine on inputs chain.json does not hold: fields of the wrong size or
//! null, an unusable log key, `--as-of`. Each starts from a chain.json bundle and checks
//! exact verdicts (and that nothing panics).

mod v2_common;

use hashcore::v2::audit::input::{AnchorRow, Bundle, Options, Trust};
use hashcore::v2::audit::verdict::{
    AnchorVerdict as A, CheckpointVerdict as C, NoteVerdict as N, ReceiptVerdict as R,
    RecordVerdict as V,
};
use hashcore::v2::audit::{audit, Report};
use v2_common::{bundle, load, text, trust};

fn case(name: &str) -> (Bundle<'static>, Trust) {
    let d = load("chain.json");
    let b = d["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| text(&b["case"]) == name)
        .unwrap_or_else(|| panic!("bundle {name}"))
        .clone();
    let input = bundle(&b);
    let t = trust(&b, &input);
    (input, t)
}

fn run(b: &Bundle, t: &Trust) -> Report {
    audit(b, t, &Options::default())
}

#[test]
fn the_clean_bundle_is_clean() {
    let (b, t) = case("clean");
    let r = run(&b, &t);
    assert!(r.clean && r.clean_with_strict_time);
    assert_eq!(r.covered_size, 18);
    assert!(r.records.iter().all(|v| *v == V::Ok));
}

#[test]
fn a_link_of_the_wrong_size_is_malformed_and_its_position_cannot_be_rebuilt() {
    let (mut b, t) = case("clean");
    let row = b.records.iter().position(|r| r.log_index == 7).unwrap();
    b.records[row].link = None; // 31 bytes read as no 32-byte value
    let r = run(&b, &t);
    assert_eq!(r.records[row], V::Malformed);
    assert_eq!(r.malformed_reasons[row], Some("link is not 32 bytes"));
    // Checkpoints 5 attests; 10, 15 and 18 cover position 7, which can't be rebuilt.
    assert_eq!(
        r.checkpoints,
        vec![C::Ok, C::RootMismatch, C::RootMismatch, C::RootMismatch]
    );
    assert!(!r.clean);
    // The short row takes no part in its chain (SPEC 5.1), so its successor has a GAP; every
    // other record from position 5 on is no longer vouched for.
    let (chain, seq) = (b.records[row].chain_id, b.records[row].seq.unwrap());
    for (v, rec) in r.records.iter().zip(&b.records) {
        let expected = if rec.log_index == 7 {
            V::Malformed
        } else if rec.chain_id == chain && rec.seq == Some(seq + 1) {
            V::Gap
        } else if rec.log_index >= 5 {
            V::NotLogged
        } else {
            V::Ok
        };
        assert_eq!(*v, expected, "position {}", rec.log_index);
    }
}

#[test]
fn null_integers_and_wrong_sizes_are_malformed_with_their_reason() {
    let (mut b, t) = case("clean");
    b.records[3].received_ms = None;
    b.records[4].beacon_root = None;
    b.records[5].salt = Some(&[0; 15]);
    b.records[6].payload = None;
    let r = run(&b, &t);
    let reasons: Vec<_> = (3..7)
        .map(|i| (r.records[i], r.malformed_reasons[i]))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (V::Malformed, Some("an integer field is null")),
            (V::Malformed, Some("beacon_root is not 32 bytes")),
            (V::Malformed, Some("salt is not 16 bytes")),
            (
                V::Malformed,
                Some("exactly one of salt and payload is null")
            ),
        ]
    );
    // MALFORMED rows get no time window.
    assert!((3..7).all(|i| r.time_windows[i].is_none()));
}

#[test]
fn receipts_of_the_wrong_shape_are_bad_sig_and_conflict_with_nothing() {
    let (mut b, t) = case("clean");
    b.receipts[0].receipt_sig.pop();
    b.receipts[1].link = vec![1; 33];
    b.receipts[2].log_index = None;
    b.receipts[3].received_ms = None;
    let r = run(&b, &t);
    assert_eq!(
        &r.receipts[..5],
        &[R::BadSig, R::BadSig, R::BadSig, R::BadSig, R::Ok]
    );
    assert!(r.clean, "rejected evidence is nothing against the relay");
}

#[test]
fn checkpoint_rows_without_a_note_or_with_a_short_root_are_bad_checkpoint_sig() {
    let (mut b, t) = case("clean");
    b.checkpoints[0].note = None;
    b.checkpoints[1].root = Some(vec![0; 31]);
    b.checkpoints[2].tree_size = None;
    b.checkpoints[3].note = Some(b"\xff not a note".to_vec());
    let r = run(&b, &t);
    assert_eq!(r.checkpoints, vec![C::BadCheckpointSig; 4]);
    // Rows 1 and 2 carry valid relay notes, so they still attest up to 15 (decision 2);
    // with the last note unreadable, T is 15 and records at 15.. are not logged.
    assert_eq!(r.covered_size, 15);
    assert!(b
        .records
        .iter()
        .zip(&r.records)
        .all(|(row, v)| (row.log_index >= 15) == (*v == V::NotLogged)));
}

#[test]
fn a_small_order_log_key_verifies_nothing() {
    let (b, mut t) = case("clean");
    t.log_key = [0; 32];
    t.log_key[0] = 1; // the identity point
    let r = run(&b, &t);
    assert!(r.checkpoints.iter().all(|v| *v == C::BadCheckpointSig));
    assert!(r.receipts.iter().all(|v| *v == R::BadSig));
    assert!(r.notes.iter().all(|(_, v)| *v == N::NoteRejected));
    assert!(r.records.iter().all(|v| *v == V::NotLogged));
    assert!(!r.manifest_log_key_matches && !r.clean);
}

#[test]
fn as_of_an_older_size_forgives_larger_notes_but_not_a_smaller_bundle() {
    let (b, t) = case("truncate_tail_mirror_note");
    let plain = run(&b, &t);
    assert!(plain.incomplete);
    assert_eq!(plain.notes.last(), Some(&(Some(18), N::Incomplete)));
    let as_of = |n| {
        audit(
            &b,
            &t,
            &Options {
                as_of: Some(n),
                ..Options::default()
            },
        )
    };
    let covered = as_of(15);
    assert!(!covered.incomplete);
    assert_eq!(covered.notes.last(), Some(&(Some(18), N::Incomplete)));
    assert!(covered.clean);
    let short = as_of(16);
    assert!(short.incomplete && !short.clean);
}

#[test]
fn no_rows_at_all_audits_without_panicking() {
    let (mut b, t) = case("clean");
    b.records.clear();
    let r = run(&b, &t);
    assert_eq!(r.missing_log_positions, vec![(0, 18)]);
    assert_eq!(r.checkpoints, vec![C::RootMismatch; 4]);
    assert_eq!(r.deadline_clock_ms, None);
    assert!(r.receipts.iter().all(|v| *v == R::Pending));
    assert!(!r.clean);
}

/// The clean case's checkpoints as (tree_size, root).
fn checkpoint_roots(b: &Bundle<'_>) -> Vec<(u64, [u8; 32])> {
    b.checkpoints
        .iter()
        .map(|c| {
            let root: [u8; 32] = c.root.as_deref().unwrap().try_into().unwrap();
            (c.tree_size.unwrap(), root)
        })
        .collect()
}

fn anchor(tree_size: u64, root: [u8; 32], is_final: bool) -> AnchorRow {
    AnchorRow {
        tree_size,
        root,
        is_final,
    }
}

#[test]
fn anchors_are_judged_in_the_engine() {
    let (mut b, t) = case("clean");
    let cps = checkpoint_roots(&b);
    let (r10, r18) = (cps[1].1, cps[3].1);
    // No evm: nothing is checked, and the checkpoints stay OK.
    assert_eq!(run(&b, &t).anchors, None);
    // evm, no anchor: every checkpoint NOT_ANCHORED.
    b.anchors = Some(vec![]);
    let r = run(&b, &t);
    assert_eq!(r.checkpoints, vec![C::NotAnchored; 4]);
    assert_eq!(r.anchors, Some(vec![]));
    assert!(!r.clean);
    // A final anchor of 10 vouches for 5 and 10; a pending one of 18 leaves 15 and 18
    // UNCONFIRMED; an anchor at a size with no checkpoint (12, right root or not) vouches
    // for none, and one with a wrong root at 12 contradicts the log.
    b.anchors = Some(vec![
        anchor(10, r10, true),
        anchor(12, [7; 32], true),
        anchor(18, r18, false),
    ]);
    let r = run(&b, &t);
    assert_eq!(
        r.checkpoints,
        vec![C::Ok, C::Ok, C::Unconfirmed, C::Unconfirmed]
    );
    assert_eq!(
        r.anchors,
        Some(vec![A::Ok, A::Contradicted, A::Unconfirmed])
    );
    assert!(!r.clean && !r.incomplete);
    // Final anchors: 18 vouches for all; one beyond T (final) is INCOMPLETE, a pending one
    // beyond T is not; a contradiction not yet final still counts.
    b.anchors = Some(vec![anchor(18, r18, true), anchor(30, [1; 32], false)]);
    let r = run(&b, &t);
    assert_eq!(r.checkpoints, vec![C::Ok; 4]);
    assert_eq!(r.anchors, Some(vec![A::Ok, A::Unconfirmed]));
    assert!(r.clean && !r.incomplete);
    b.anchors = Some(vec![anchor(18, r18, true), anchor(30, [1; 32], true)]);
    let r = run(&b, &t);
    assert_eq!(r.anchors, Some(vec![A::Ok, A::BeyondBundle]));
    assert!(r.incomplete && !r.clean);
    let as_of = audit(
        &b,
        &t,
        &Options {
            as_of: Some(18),
            ..Options::default()
        },
    );
    assert!(as_of.clean && !as_of.incomplete);
    b.anchors = Some(vec![anchor(10, [9; 32], false), anchor(18, r18, true)]);
    let r = run(&b, &t);
    assert_eq!(r.anchors, Some(vec![A::Contradicted, A::Ok]));
    assert!(!r.clean);
}

#[test]
fn an_anchor_of_a_prefix_the_bundle_cannot_rebuild_is_contradicted() {
    let (mut b, t) = case("clean");
    let cps = checkpoint_roots(&b);
    b.records.retain(|r| r.log_index != 7);
    b.anchors = Some(vec![anchor(5, cps[0].1, true), anchor(10, cps[1].1, true)]);
    let r = run(&b, &t);
    assert_eq!(r.anchors, Some(vec![A::Ok, A::Contradicted]));
    assert_eq!(
        r.checkpoints,
        vec![C::Ok, C::RootMismatch, C::RootMismatch, C::RootMismatch]
    );
}
