//! SPEC 5.2's evidence: notes held by others than the relay (EQUIVOCATION, INCOMPLETE,
//! NOTE_REJECTED or OK, decisions 3 - 5) and receipts (RECEIPT_*; decision 14).

use std::collections::HashMap;

use super::checkpoints::relay_signed;
use super::input::{ReceiptRow, Trust};
use super::log::Log;
use super::verdict::{NoteVerdict, ReceiptVerdict};
use crate::v2::entry::entry;
use crate::v2::note::{Checkpoint, Note};
use crate::v2::{receipt, Hash};

/// One evidence note: its body where it parses (valid relay line or not), and whether it
/// has a valid relay line.
#[derive(Debug, Clone)]
pub struct EvidenceNote {
    pub body: Option<Checkpoint>,
    pub signed: bool,
}

impl EvidenceNote {
    pub fn new(note: &[u8], trust: &Trust) -> Self {
        let body = Note::parse(note)
            .ok()
            .and_then(|n| Checkpoint::parse_body(&n.text).ok());
        let signed = relay_signed(note, trust).is_some();
        EvidenceNote { body, signed }
    }

    /// The body the relay signed, where it did.
    pub fn signed_body(&self) -> Option<&Checkpoint> {
        self.body.as_ref().filter(|_| self.signed)
    }
}

/// Each evidence note's verdict. `signed_elsewhere` holds every relay-signed `(size, root)`
/// of the bundle's checkpoints and of the evidence, for the two-roots-at-one-size rule.
pub fn note_verdicts(
    notes: &[EvidenceNote],
    signed_elsewhere: &[(u64, Hash)],
    log: &Log,
    covered: u64,
) -> Vec<NoteVerdict> {
    let mut roots_at: HashMap<u64, Vec<Hash>> = HashMap::new();
    for &(size, root) in signed_elsewhere {
        roots_at.entry(size).or_default().push(root);
    }
    notes
        .iter()
        .map(|n| {
            let Some(cp) = n.signed_body() else {
                return NoteVerdict::NoteRejected;
            };
            // Decision 3: a tree the bundle can't rebuild at a size it covers is another
            // history as much as a different root.
            let contradicts_log =
                cp.tree_size <= covered && log.root(cp.tree_size) != Some(cp.root);
            let two_roots = roots_at
                .get(&cp.tree_size)
                .is_some_and(|roots| roots.iter().any(|r| *r != cp.root));
            if contradicts_log || two_roots {
                NoteVerdict::Equivocation
            } else if cp.tree_size > covered {
                NoteVerdict::Incomplete
            } else {
                NoteVerdict::Ok
            }
        })
        .collect()
}

/// What the receipts are judged against.
pub struct ReceiptContext<'a> {
    pub log: &'a Log,
    pub trust: &'a Trust,
    /// The largest tree size of an attesting checkpoint (0: none).
    pub attested: u64,
    /// SPEC 5.2's deadline clock, `None` without an attesting checkpoint.
    pub deadline_ms: Option<i64>,
}

fn signed_entry(r: &ReceiptRow, trust: &Trust) -> Option<(u64, [u8; 41])> {
    let link: &Hash = r.link.as_slice().try_into().ok()?;
    let sig: &[u8; 64] = r.receipt_sig.as_slice().try_into().ok()?;
    let (log_index, received_ms) = (r.log_index?, r.received_ms?);
    let e = entry(link, received_ms);
    receipt::verify(&trust.log_key, log_index, &e, sig).then_some((log_index, e))
}

/// Each receipt's verdict, the first that applies (every row its own, copies included).
pub fn receipt_verdicts(receipts: &[ReceiptRow], ctx: &ReceiptContext<'_>) -> Vec<ReceiptVerdict> {
    let valid: Vec<Option<(u64, [u8; 41])>> = receipts
        .iter()
        .map(|r| signed_entry(r, ctx.trust))
        .collect();
    let mut entries_at: HashMap<u64, Vec<[u8; 41]>> = HashMap::new();
    for (index, e) in valid.iter().flatten() {
        entries_at.entry(*index).or_default().push(*e);
    }
    receipts
        .iter()
        .zip(&valid)
        .map(|(r, v)| {
            let Some((index, e)) = v else {
                return ReceiptVerdict::BadSig;
            };
            if entries_at[index].iter().any(|other| other != e) {
                return ReceiptVerdict::Conflict;
            }
            if *index < ctx.attested {
                let logged = ctx.log.entry(*index).map(|(l, ms)| entry(&l, ms));
                return if logged.as_ref() == Some(e) {
                    ReceiptVerdict::Ok
                } else {
                    ReceiptVerdict::Contradicted
                };
            }
            let received = i128::from(r.received_ms.expect("verified"));
            let due = received + i128::from(ctx.trust.max_merge_delay_ms);
            match ctx.deadline_ms {
                Some(deadline) if due <= i128::from(deadline) => ReceiptVerdict::Withheld,
                _ => ReceiptVerdict::Pending,
            }
        })
        .collect()
}
