//! The bundle's checkpoints and evidence notes, their Ed25519 signatures verified in
//! batches: every note is parsed and checked for structure first (in parallel), then the
//! candidate signatures (relay lines under the trusted log key, cosignature lines under
//! each policy witness key) are verified together, in parallel chunks. ed25519-zebra
//! coalesces the items that share a key, so the relay lines cost about one key term, and
//! ZIP-215 batch and single verification agree on every input: the states are exactly
//! those of `CheckpointState::new` and `EvidenceNote::new`, one note at a time.

use rayon::prelude::*;

use super::checkpoints::CheckpointState;
use super::evidence::EvidenceNote;
use super::input::{CheckpointRow, Trust};
use super::records::batch_size;
use crate::ed25519::{self, BatchItem, KeyCheck};
use crate::v2::cosignature;
use crate::v2::keys::{log_key_id, witness_key_id, KeyId};
use crate::v2::note::{log_line_signature, parse_checkpoint, Checkpoint, Note};

/// The key IDs of the trusted keys, each key checked usable once (decision 11: an
/// unusable key verifies nothing, so it has no ID here).
struct Keys {
    log: Option<KeyId>,
    witnesses: Vec<Option<KeyId>>,
}

impl Keys {
    fn new(trust: &Trust) -> Self {
        let usable = |key: &[u8; 32]| ed25519::check_public_key(key) == KeyCheck::Valid;
        Keys {
            log: trust
                .log_key_usable()
                .then(|| log_key_id(&trust.origin, &trust.log_key)),
            witnesses: trust
                .witnesses
                .iter()
                .map(|(name, key)| usable(key).then(|| witness_key_id(name, key)))
                .collect(),
        }
    }
}

/// A note that parses as a checkpoint, before any signature is verified.
struct Parsed {
    note: Note,
    body: Checkpoint,
    /// The signature of its one relay line, where the body names the trusted origin and
    /// the note has exactly one line of the trusted log (`log_line_signature`).
    relay: Option<[u8; 64]>,
    /// `(witness, t, signature)` of its cosignature candidates (`cosignature::candidates`),
    /// by witness in the policy's order then in line order: a bundle checkpoint's with a
    /// relay line only (an evidence note's cosignatures count for nothing).
    cosigs: Vec<(usize, u64, [u8; 64])>,
}

fn parse(bytes: &[u8], trust: &Trust, keys: &Keys, cosigned: bool) -> Option<Parsed> {
    let (note, body) = parse_checkpoint(bytes).ok()?;
    let relay = keys
        .log
        .filter(|_| body.origin == trust.origin)
        .and_then(|id| log_line_signature(&note, &trust.origin, &id).ok().copied());
    let mut cosigs = Vec::new();
    if cosigned && relay.is_some() {
        for (w, ((name, _), id)) in trust.witnesses.iter().zip(&keys.witnesses).enumerate() {
            let Some(id) = id else { continue };
            let lines = cosignature::candidates(&note, name, id);
            cosigs.extend(lines.map(|(t, sig)| (w, t, *sig)));
        }
    }
    Some(Parsed {
        note,
        body,
        relay,
        cosigs,
    })
}

/// Whether each item verifies: the items in chunks of `records::batch_size`, each chunk
/// one batch (bisected where it fails), the chunks in parallel.
fn verify_all(items: &[BatchItem<'_>]) -> Vec<bool> {
    let chunk = batch_size(items.len(), rayon::current_num_threads());
    items
        .par_chunks(chunk)
        .map(ed25519::verify_batch_each)
        .collect::<Vec<_>>()
        .concat()
}

/// Each checkpoint's state and each evidence note's, in their order: the same as
/// `CheckpointState::new` and `EvidenceNote::new` give, with the signatures batched.
pub fn states(
    checkpoints: &[CheckpointRow],
    notes: &[Vec<u8>],
    trust: &Trust,
) -> (Vec<CheckpointState>, Vec<EvidenceNote>) {
    let keys = Keys::new(trust);
    // The bundle checkpoints first, then the evidence notes.
    let parsed: Vec<Option<Parsed>> = checkpoints
        .par_iter()
        .map(|c| parse(c.note.as_deref()?, trust, &keys, true))
        .chain(notes.par_iter().map(|n| parse(n, trust, &keys, false)))
        .collect();
    let relay_at: Vec<usize> = (0..parsed.len())
        .filter(|&i| parsed[i].as_ref().is_some_and(|p| p.relay.is_some()))
        .collect();
    // (witness, note, candidate): sorted by witness (stably, so each note's lines of one
    // witness stay in line order) for the items of one key to share a batch.
    let mut cosig_at: Vec<(usize, usize, usize)> = parsed
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((i, p.as_ref()?)))
        .flat_map(|(i, p)| p.cosigs.iter().enumerate().map(move |(k, c)| (c.0, i, k)))
        .collect();
    cosig_at.sort_by_key(|&(w, _, _)| w);
    let get = |i: usize| parsed[i].as_ref().expect("a candidate's note parsed");
    let messages: Vec<Vec<u8>> = cosig_at
        .par_iter()
        .map(|&(_, i, k)| cosignature::message(get(i).cosigs[k].1, get(i).note.text.as_bytes()))
        .collect();
    let relay_items = relay_at.iter().map(|&i| BatchItem {
        key: &trust.log_key,
        message: get(i).note.text.as_bytes(),
        signature: get(i).relay.as_ref().expect("a relay candidate"),
    });
    let cosig_items = cosig_at
        .iter()
        .zip(&messages)
        .map(|(&(w, i, k), m)| BatchItem {
            key: &trust.witnesses[w].1,
            message: m,
            signature: &get(i).cosigs[k].2,
        });
    let items: Vec<BatchItem<'_>> = relay_items.chain(cosig_items).collect();
    let ok = verify_all(&items);
    let (relay_ok, cosig_ok) = ok.split_at(relay_at.len());

    let mut signed = vec![false; parsed.len()];
    for (&i, &ok) in relay_at.iter().zip(relay_ok) {
        signed[i] = ok;
    }
    let witnesses = trust.witnesses.len();
    let mut times: Vec<Vec<Vec<u64>>> = vec![Vec::new(); checkpoints.len()];
    for (&(w, i, k), &ok) in cosig_at.iter().zip(cosig_ok) {
        if ok && signed[i] {
            let t = &mut times[i];
            t.resize(witnesses, Vec::new());
            t[w].push(get(i).cosigs[k].1);
        }
    }
    let mut parsed = parsed.into_iter();
    let cps = checkpoints
        .iter()
        .zip(parsed.by_ref())
        .zip(times)
        .enumerate()
        .map(|(i, ((row, p), mut witness_times))| {
            witness_times.resize(witnesses, Vec::new());
            CheckpointState::of(row, p.filter(|_| signed[i]).map(|p| p.body), witness_times)
        })
        .collect();
    let evidence = parsed
        .zip(&signed[checkpoints.len()..])
        .map(|(p, &signed)| EvidenceNote {
            body: p.map(|p| p.body),
            signed,
        })
        .collect();
    (cps, evidence)
}
