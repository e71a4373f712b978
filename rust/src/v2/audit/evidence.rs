//! SPEC 5.2's evidence: notes held by others than the relay (EQUIVOCATION, INCOMPLETE,
//! NOTE_REJECTED or OK, decisions 3 - 5) and receipts (RECEIPT_*; decision 14).

use std::collections::HashMap;

use rayon::prelude::*;

use super::checkpoints::relay_signed;
use super::input::{ReceiptRow, Trust};
use super::log::Log;
use super::records::batch_size;
use super::verdict::{NoteVerdict, ReceiptVerdict};
use crate::ed25519::{self, BatchItem, KeyCheck};
use crate::v2::entry::{entry, ENTRY_LEN};
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
    /// One note's, its relay line verified on its own (the audit batches them all:
    /// `signatures::states`, to the same notes).
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

/// What a receipt's verdict needs beyond its checks: the largest tree size of an
/// attesting checkpoint (0: none), SPEC 5.2's deadline clock (`None` without an attesting
/// checkpoint) and the trusted `max_merge_delay_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptDeadline {
    pub attested: u64,
    pub deadline_ms: Option<i64>,
    pub max_merge_delay_ms: u64,
}

/// What the receipts are judged against (the in-memory audit: the whole log at hand).
pub struct ReceiptContext<'a> {
    pub log: &'a Log<'a>,
    pub trust: &'a Trust,
    /// The largest tree size of an attesting checkpoint (0: none).
    pub attested: u64,
    /// SPEC 5.2's deadline clock, `None` without an attesting checkpoint.
    pub deadline_ms: Option<i64>,
}

/// A receipt's checks that need no more than its position: its signature, the other
/// receipts at its position, and the log's entry there. They are what a task of the
/// partitioned audit can settle where the receipts and the part holding their positions
/// meet (`partial.rs`); `verdict` finishes once the attesting size and deadline are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptCheck {
    BadSig,
    Conflict,
    /// Signed, and every validly signed receipt at `log_index` has its entry; `logged`:
    /// the log's entry at `log_index` is that entry (read only below the attested size,
    /// where the log rebuilds and every part holding the position agrees).
    Signed {
        log_index: u64,
        received_ms: i64,
        logged: bool,
    },
}

impl ReceiptCheck {
    /// The check as one byte: what a task sends back (the receipt's row has the rest).
    pub fn code(self) -> u8 {
        match self {
            ReceiptCheck::BadSig => 0,
            ReceiptCheck::Conflict => 1,
            ReceiptCheck::Signed { logged: true, .. } => 2,
            ReceiptCheck::Signed { logged: false, .. } => 3,
        }
    }

    /// The check of `code` for the receipt `row`; `None` for a byte that is no code, or a
    /// signed code on a row without its position or time (no task says that).
    pub fn from_code(code: u8, log_index: Option<u64>, received_ms: Option<i64>) -> Option<Self> {
        let signed = |logged| {
            Some(ReceiptCheck::Signed {
                log_index: log_index?,
                received_ms: received_ms?,
                logged,
            })
        };
        match code {
            0 => Some(ReceiptCheck::BadSig),
            1 => Some(ReceiptCheck::Conflict),
            2 => signed(true),
            3 => signed(false),
            _ => None,
        }
    }

    /// SPEC 5.2: the first verdict that applies.
    pub fn verdict(self, d: &ReceiptDeadline) -> ReceiptVerdict {
        let (log_index, received_ms, logged) = match self {
            ReceiptCheck::BadSig => return ReceiptVerdict::BadSig,
            ReceiptCheck::Conflict => return ReceiptVerdict::Conflict,
            ReceiptCheck::Signed {
                log_index,
                received_ms,
                logged,
            } => (log_index, received_ms, logged),
        };
        if log_index < d.attested {
            return if logged {
                ReceiptVerdict::Ok
            } else {
                ReceiptVerdict::Contradicted
            };
        }
        let due = i128::from(received_ms) + i128::from(d.max_merge_delay_ms);
        match d.deadline_ms {
            Some(deadline) if due <= i128::from(deadline) => ReceiptVerdict::Withheld,
            _ => ReceiptVerdict::Pending,
        }
    }
}

/// Each receipt's `(log_index, entry)` where its signature verifies under `log_key`
/// (SPEC 2.4). The signatures are verified in batches: every receipt is under the one
/// log key, so a batch costs about one point per signature (ed25519-zebra coalesces the
/// key's terms), and ZIP-215 batch and single verification agree on every input.
fn signed_entries(
    receipts: &[ReceiptRow],
    log_key: &[u8; 32],
) -> Vec<Option<(u64, [u8; ENTRY_LEN])>> {
    // Decision 11: a log key that is small order or no point verifies nothing.
    if ed25519::check_public_key(log_key) != KeyCheck::Valid {
        return vec![None; receipts.len()];
    }
    let formed: Vec<Option<(u64, [u8; ENTRY_LEN], Hash)>> = receipts
        .par_iter()
        .map(|r| {
            let link: &Hash = r.link.as_slice().try_into().ok()?;
            let _: &[u8; 64] = r.receipt_sig.as_slice().try_into().ok()?;
            let (log_index, received_ms) = (r.log_index?, r.received_ms?);
            let e = entry(link, received_ms);
            Some((log_index, e, receipt::digest(log_key, log_index, &e)))
        })
        .collect();
    let candidates: Vec<usize> = (0..receipts.len())
        .filter(|&i| formed[i].is_some())
        .collect();
    let bad: Vec<usize> = candidates
        .par_chunks(batch_size(candidates.len(), rayon::current_num_threads()))
        .flat_map_iter(|chunk| {
            let items: Vec<BatchItem<'_>> = chunk
                .iter()
                .map(|&i| BatchItem {
                    key: log_key,
                    message: &formed[i].as_ref().expect("formed").2[..],
                    signature: receipts[i].receipt_sig[..].try_into().expect("formed"),
                })
                .collect();
            let ok = ed25519::verify_batch_each(&items);
            chunk
                .iter()
                .zip(ok)
                .filter(|(_, ok)| !ok)
                .map(|(&i, _)| i)
                .collect::<Vec<_>>()
        })
        .collect();
    let mut out: Vec<Option<(u64, [u8; ENTRY_LEN])>> = formed
        .into_iter()
        .map(|f| f.map(|(index, e, _)| (index, e)))
        .collect();
    for i in bad {
        out[i] = None;
    }
    out
}

/// Each receipt's checks (every row its own, copies included): its signature under the
/// trusted `log_key`, then the other receipts at its position, then `logged(index)`, the
/// log's `(link, received_ms)` there as far as the caller knows it. `receipts` must hold
/// every receipt of the positions it holds (a conflict is between receipts at one).
pub fn receipt_checks(
    receipts: &[ReceiptRow],
    log_key: &[u8; 32],
    logged: impl Fn(u64) -> Option<(Hash, i64)> + Sync,
) -> Vec<ReceiptCheck> {
    let signed = signed_entries(receipts, log_key);
    // A position with two validly signed entries: every receipt there is a CONFLICT.
    let mut promised: Vec<(u64, [u8; ENTRY_LEN])> = signed.iter().flatten().copied().collect();
    promised.par_sort_unstable();
    promised.dedup();
    let mut conflicted: Vec<u64> = promised
        .windows(2)
        .filter(|w| w[0].0 == w[1].0)
        .map(|w| w[0].0)
        .collect();
    conflicted.dedup();
    receipts
        .par_iter()
        .zip(&signed)
        .map(|(r, s)| match s {
            None => ReceiptCheck::BadSig,
            Some((index, _)) if conflicted.binary_search(index).is_ok() => ReceiptCheck::Conflict,
            Some((index, e)) => ReceiptCheck::Signed {
                log_index: *index,
                received_ms: r.received_ms.expect("verified"),
                logged: logged(*index).map(|(link, ms)| entry(&link, ms)).as_ref() == Some(e),
            },
        })
        .collect()
}

/// Each receipt's verdict, the first that applies (every row its own, copies included).
pub fn receipt_verdicts(receipts: &[ReceiptRow], ctx: &ReceiptContext<'_>) -> Vec<ReceiptVerdict> {
    let deadline = ReceiptDeadline {
        attested: ctx.attested,
        deadline_ms: ctx.deadline_ms,
        max_merge_delay_ms: ctx.trust.max_merge_delay_ms,
    };
    receipt_checks(receipts, &ctx.trust.log_key, |i| ctx.log.entry(i))
        .into_iter()
        .map(|c| c.verdict(&deadline))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(seed: &[u8; 32], index: u64, link: Hash, ms: i64) -> ReceiptRow {
        ReceiptRow {
            chain_id: vec![0; 16],
            seq: Some(0),
            link: link.to_vec(),
            log_index: Some(index),
            received_ms: Some(ms),
            receipt_sig: receipt::sign(seed, index, &entry(&link, ms)).to_vec(),
        }
    }

    #[test]
    fn batched_checks_name_each_bad_signature_and_conflict() {
        let seed = [3u8; 32];
        let key = ed25519::public_key_from_seed(&seed);
        let mut rows: Vec<ReceiptRow> = (0..300u64)
            .map(|i| signed(&seed, i, [i as u8; 32], 1000 + i as i64))
            .collect();
        rows[17].receipt_sig[5] ^= 1;
        rows[200].log_index = Some(201);
        rows[250].receipt_sig.pop();
        rows.push(signed(&seed, 42, [9; 32], 5));
        let logged = |i: u64| (i % 2 == 0).then(|| ([i as u8; 32], 1000 + i as i64));
        let checks = receipt_checks(&rows, &key, logged);
        for (i, &check) in checks.iter().enumerate() {
            let want = match i {
                17 | 200 | 250 => ReceiptCheck::BadSig,
                42 | 300 => ReceiptCheck::Conflict,
                _ => ReceiptCheck::Signed {
                    log_index: i as u64,
                    received_ms: 1000 + i as i64,
                    logged: i % 2 == 0,
                },
            };
            assert_eq!(check, want, "receipt {i}");
            let (index, ms) = (rows[i].log_index, rows[i].received_ms);
            assert_eq!(
                ReceiptCheck::from_code(check.code(), index, ms),
                Some(check)
            );
        }
        let mut identity = [0u8; 32];
        identity[0] = 1; // small order: verifies nothing (decision 11)
        assert!(receipt_checks(&rows, &identity, logged)
            .iter()
            .all(|&c| c == ReceiptCheck::BadSig));
        assert_eq!(ReceiptCheck::from_code(2, None, Some(1)), None);
        assert_eq!(ReceiptCheck::from_code(4, Some(1), Some(1)), None);
    }

    #[test]
    fn a_signed_receipt_is_judged_by_the_attested_size_and_the_deadline() {
        let d = ReceiptDeadline {
            attested: 10,
            deadline_ms: Some(1_000),
            max_merge_delay_ms: 100,
        };
        let check = |log_index, received_ms, logged| ReceiptCheck::Signed {
            log_index,
            received_ms,
            logged,
        };
        assert_eq!(check(9, 0, true).verdict(&d), ReceiptVerdict::Ok);
        assert_eq!(check(9, 0, false).verdict(&d), ReceiptVerdict::Contradicted);
        assert_eq!(check(10, 900, true).verdict(&d), ReceiptVerdict::Withheld);
        assert_eq!(check(10, 901, false).verdict(&d), ReceiptVerdict::Pending);
        let none = ReceiptDeadline {
            deadline_ms: None,
            ..d
        };
        assert_eq!(
            check(10, i64::MIN, false).verdict(&none),
            ReceiptVerdict::Pending
        );
        assert_eq!(ReceiptCheck::Conflict.verdict(&d), ReceiptVerdict::Conflict);
    }
}
