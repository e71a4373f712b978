//! SPEC 5.1 up to BAD_SIGNATURE: what is learnt of a row (its flags), and the checks of its
//! chain (NO_GENESIS, FORK, GAP, BROKEN_CHAIN, BAD_SIGNATURE; key in force per SPEC 1.4).
//! The checks of a row by itself (MALFORMED, BAD_LINK, BAD_COMMIT) are `row_checks`';
//! BAD_BEACON and NOT_LOGGED need the log and are added by `mod.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::input::RecordRow;
use crate::ed25519::{self, BatchItem};
use crate::protocol::Kind;

pub const LINK_OK: u16 = 1 << 0;
pub const COMMIT_OK: u16 = 1 << 1;
pub const REDACTED: u16 = 1 << 2;
pub const DUPLICATE: u16 = 1 << 3;
pub const NO_GENESIS: u16 = 1 << 4;
pub const FORK: u16 = 1 << 5;
pub const GAP: u16 = 1 << 6;
pub const BROKEN: u16 = 1 << 7;
pub const BAD_SIGNATURE: u16 = 1 << 8;
/// MALFORMED (SPEC 5.1); `malformed_reason` says why, read again for these rows only.
pub const MALFORMED: u16 = 1 << 9;

/// What was learnt of one row so far: 2 bytes a row (with the MALFORMED reason in it, 24:
/// a million rows' states are read in every pass after the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowState {
    pub flags: u16,
}

impl RowState {
    /// The state of a row whose own checks set `flags`, MALFORMED where it has a reason.
    pub fn new(flags: u16, malformed: Option<&'static str>) -> Self {
        RowState {
            flags: flags | if malformed.is_some() { MALFORMED } else { 0 },
        }
    }

    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    pub fn malformed(&self) -> bool {
        self.has(MALFORMED)
    }

    /// Nothing before BAD_SIGNATURE applies: the verdict rests on the signature.
    fn awaits_signature(&self) -> bool {
        !self.malformed()
            && self.flags & (DUPLICATE | NO_GENESIS | FORK | GAP | BROKEN) == 0
            && self.has(LINK_OK)
            && self.has(COMMIT_OK)
    }

    /// A genesis or rotation whose own fields check out: it may set a key.
    fn sets_key(&self) -> bool {
        !self.malformed() && self.has(LINK_OK) && self.has(COMMIT_OK)
    }
}

/// Signatures per batch, as v1's engine: large batches are cheaper per signature (and a
/// device's records, in chain order, coalesce into one key term), but at least 4 batches
/// per thread so that the work spreads.
const MAX_BATCH: usize = 4096;
const MIN_BATCH: usize = 64;

pub(super) fn batch_size(items: usize, threads: usize) -> usize {
    (items / (threads.max(1) * 4)).clamp(MIN_BATCH, MAX_BATCH)
}

/// A participating row's place: (chain_id as two big-endian halves, seq, log_index, row).
/// The halves order as the bytes do, and compare as integers (a 16-byte array compares by
/// `memcmp`: the sort of 1M keys spent a fifth of its time in it).
type ChainKey = (u64, u64, u64, u64, usize);

/// What the chain pass concludes of one participating row, kept at the row's place in the
/// sorted keys: each chain writes its own slice, so no thread collects for another.
#[derive(Debug, Clone, Copy, Default)]
struct Place<'a> {
    /// Flags to set on the row.
    flags: u16,
    /// The smallest beacon_size of the non-MALFORMED rows at its chain's seq - 1.
    before: Option<u64>,
    /// The key in force, where the row's verdict now rests on its signature.
    /// (A reference into the row that set it: a place is 32 bytes, not 56.)
    pending: Option<&'a [u8; 32]>,
}

/// For every row whose chain has non-MALFORMED rows at seq - 1 with a beacon_size: the
/// smallest of those (what SPEC 5.3's BEACON_REGRESSED compares with; decision 6: forked,
/// all must be larger). The chain pass has each chain's rows by seq already, so it is
/// read here, not looked up per record later.
fn beacons_before(rows: &[RecordRow], states: &[RowState], chain: &[ChainKey], out: &mut [Place]) {
    // (seq, smallest beacon_size of its non-MALFORMED rows) of the group before.
    let mut before: Option<(u64, Option<u64>)> = None;
    let mut start = 0;
    while start < chain.len() {
        let seq = chain[start].2;
        let end = start + chain[start..].iter().take_while(|m| m.2 == seq).count();
        let group = &chain[start..end];
        if let Some((s, Some(b))) = before {
            if seq > 0 && s == seq - 1 {
                out[start..end].iter_mut().for_each(|p| p.before = Some(b));
            }
        }
        let smallest = group
            .iter()
            .filter(|&&(_, _, _, _, i)| !states[i].malformed())
            .filter_map(|&(_, _, _, _, i)| rows[i].beacon_size)
            .min();
        before = Some((seq, smallest));
        start = end;
    }
}

fn chain_key(i: usize, row: &RecordRow) -> Option<ChainKey> {
    match (row.chain_id16(), row.seq, row.prev32(), row.link32()) {
        (Some(c), Some(seq), Some(_), Some(_)) => {
            let (hi, lo) = c.split_at(8);
            let half = |b: &[u8]| u64::from_be_bytes(b.try_into().expect("8 bytes"));
            Some((half(hi), half(lo), seq, row.log_index, i))
        }
        _ => None,
    }
}

/// The places of the rows that take part in a chain. Usually all of them do: then an
/// indexed map fills the vector in place from every thread (a filter's results are
/// appended on one thread, a serial copy of 40 MB at 1M rows).
fn chain_keys(rows: &[RecordRow]) -> Vec<ChainKey> {
    let all = rows.par_iter().enumerate();
    if all.clone().all(|(i, row)| chain_key(i, row).is_some()) {
        all.map(|(i, row)| chain_key(i, row).expect("every row takes part"))
            .collect()
    } else {
        all.filter_map(|(i, row)| chain_key(i, row)).collect()
    }
}

/// `places` cut at the chains' bounds: one mutable slice per chain.
fn per_chain<'a, 'r>(
    mut places: &'a mut [Place<'r>],
    bounds: &[usize],
) -> Vec<&'a mut [Place<'r>]> {
    let mut out = Vec::with_capacity(bounds.len().saturating_sub(1));
    for w in bounds.windows(2) {
        let (head, tail) = places.split_at_mut(w[1] - w[0]);
        out.push(head);
        places = tail;
    }
    out
}

/// A pending signature copied for its batch: its position in the keys, the key in force,
/// the link and the signature.
type Copied<'a> = (usize, &'a [u8; 32], [u8; 32], [u8; 64]);

/// The keys' positions whose signatures fail, batch-verified in runs of `keys` (a run of
/// the sorted keys is a few devices' records: their key terms coalesce).
///
/// Each batch's links and signatures are first copied side by side: in chain order they
/// are scattered over the Arrow buffers, and the batch verifier reads each as it hashes.
/// (Measured, what the copy saves is within this host's noise: BENCHMARKS.md, fourth
/// round. It costs no more than the copy, 96 bytes a signature.)
fn bad_signatures(rows: &[RecordRow], keys: &[ChainKey], places: &[Place]) -> Vec<usize> {
    let pending = places.par_iter().filter(|p| p.pending.is_some()).count();
    let batch = batch_size(pending, rayon::current_num_threads());
    keys.par_chunks(batch)
        .zip(places.par_chunks(batch))
        .enumerate()
        .flat_map_iter(|(c, (keys, places))| {
            let signed: Vec<Copied> = keys
                .iter()
                .zip(places)
                .enumerate()
                .filter_map(|(k, (&(_, _, _, _, i), p))| {
                    let link = *rows[i].link.expect("not MALFORMED");
                    let signature = *rows[i].signature.expect("not MALFORMED");
                    Some((c * batch + k, p.pending?, link, signature))
                })
                .collect();
            let items: Vec<BatchItem<'_>> = signed
                .iter()
                .map(|(_, key, link, signature)| BatchItem {
                    key,
                    message: link,
                    signature,
                })
                .collect();
            let ok = ed25519::verify_batch_each(&items);
            signed
                .iter()
                .zip(ok)
                .filter(|(_, ok)| !ok)
                .map(|((j, ..), _)| *j)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Pass 2: every chain, over the rows whose chain_id, seq, prev and link have their sizes
/// (SPEC 5.1: they take part whatever their own verdict). Sets the chain flags in `states`.
/// Chains are checked in parallel, then the ordinary records' signatures in batches.
/// Without `check_signatures` no signature is verified (genesis and rotations are taken
/// as signed), as v1's `--no-signatures`. Returns, per row, the smallest beacon_size at
/// its chain's seq - 1 (`beacons_before`; `None` where there is none).
///
/// Every step runs on all threads: the rows' outcomes are kept at their places in the
/// sorted keys, then read back by row through the inverse of the sort. (Collected per
/// chain and scattered to the rows on one thread, they were a serial 20-60 ms at 1M rows.)
pub fn check_chains(
    rows: &[RecordRow],
    states: &mut [RowState],
    check_signatures: bool,
) -> Vec<Option<u64>> {
    let mut trace = super::trace::Trace::new();
    let mut keys = chain_keys(rows);
    trace.mark("chain keys");
    keys.par_sort_unstable();
    trace.mark("chain sort");
    let mut bounds = vec![0usize];
    bounds.extend(
        (1..keys.len()).filter(|&i| (keys[i].0, keys[i].1) != (keys[i - 1].0, keys[i - 1].1)),
    );
    bounds.push(keys.len());

    let mut places: Vec<Place> = (0..keys.len())
        .into_par_iter()
        .map(|_| Place::default())
        .collect();
    let snapshot: &[RowState] = states;
    per_chain(&mut places, &bounds)
        .into_par_iter()
        .zip(bounds.par_windows(2))
        .for_each(|(out, w)| {
            let chain = &keys[w[0]..w[1]];
            check_chain(rows, snapshot, chain, check_signatures, out);
            beacons_before(rows, snapshot, chain, out);
        });
    trace.mark("chain walk");
    if check_signatures {
        for j in bad_signatures(rows, &keys, &places) {
            places[j].flags |= BAD_SIGNATURE;
        }
    }
    trace.mark("signatures");
    // Where each row's place is (usize::MAX: the row takes part in no chain).
    let place_of: Vec<AtomicUsize> = (0..rows.len())
        .into_par_iter()
        .map(|_| AtomicUsize::new(usize::MAX))
        .collect();
    keys.par_iter()
        .enumerate()
        .for_each(|(j, k)| place_of[k.4].store(j, Ordering::Relaxed));
    let before = states
        .par_iter_mut()
        .zip(&place_of)
        .map(|(state, at)| {
            let place = places.get(at.load(Ordering::Relaxed))?;
            state.flags |= place.flags;
            place.before
        })
        .collect();
    trace.mark("chain join");
    before
}

fn signed_by(row: &RecordRow, key: &[u8; 32]) -> bool {
    match (row.link32(), row.signature) {
        (Some(link), Some(sig)) => ed25519::verify(key, link, sig),
        _ => false,
    }
}

fn key_of<'a>(row: &RecordRow<'a>) -> &'a [u8; 32] {
    row.payload
        .and_then(|p| p.try_into().ok())
        .expect("a key-setting row has a 32-byte payload")
}

/// A chain's rows lie a device's share of the log apart (each a cache and TLB miss): the
/// walk asks for the rows a few places ahead, their structs first, then the bytes the
/// structs point to, so that the misses overlap instead of coming one after another.
fn prefetch_ahead(rows: &[RecordRow], states: &[RowState], chain: &[ChainKey], at: usize) {
    const STRUCTS: usize = 12;
    const BYTES: usize = 6;
    if let Some(&(_, _, _, _, i)) = chain.get(at + STRUCTS) {
        let row: *const RecordRow = &rows[i];
        for line in 0..std::mem::size_of::<RecordRow>().div_ceil(64) {
            prefetch(row.cast::<u8>().wrapping_add(64 * line));
        }
        prefetch(&states[i]);
    }
    if let Some(&(_, _, _, _, i)) = chain.get(at + BYTES) {
        if let (Some(prev), Some(link)) = (rows[i].prev, rows[i].link) {
            prefetch(prev);
            prefetch(link);
        }
    }
}

#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint to the cache: it reads nothing the program sees and
    // never faults, whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// One chain's rows sorted by (seq, log_index, row); `states` as pass 1 left them. Writes
/// each row's flags and pending key to its place in `out` (the chain's slice of places).
fn check_chain<'r>(
    rows: &[RecordRow<'r>],
    states: &[RowState],
    chain: &[ChainKey],
    check_signatures: bool,
    out: &mut [Place<'r>],
) {
    let signed = |row: &RecordRow, key: &[u8; 32]| !check_signatures || signed_by(row, key);
    // The valid genesis with the lowest log_index wins a fork at seq 0 (SPEC 1.4).
    let mut key: Option<&'r [u8; 32]> = None;
    for &(_, _, _, _, i) in chain.iter().take_while(|m| m.2 == 0) {
        let row = &rows[i];
        if row.kind == Some(Kind::Genesis as u8)
            && states[i].sets_key()
            && row.prev32() == Some(&[0u8; 32])
            && signed(row, key_of(row))
        {
            key = Some(key_of(row));
            break;
        }
    }
    let Some(mut key) = key else {
        out.iter_mut().for_each(|p| p.flags |= NO_GENESIS);
        return;
    };
    let mut prev_group: &[ChainKey] = &[];
    let mut start = 0;
    while start < chain.len() {
        prefetch_ahead(rows, states, chain, start);
        let seq = chain[start].2;
        let end = start + chain[start..].iter().take_while(|m| m.2 == seq).count();
        let group = &chain[start..end];
        let follows = seq > 0 && prev_group.first().is_some_and(|p| p.2 == seq - 1);
        let mut next_key = None;
        for (&(_, _, _, _, i), place) in group.iter().zip(&mut out[start..end]) {
            let row = &rows[i];
            let mut flag = 0;
            if group.len() > 1 {
                flag |= FORK;
            }
            if seq > 0 && !follows {
                flag |= GAP;
            }
            // Where seq-1 is forked, a match with any of its rows counts.
            if follows && !prev_group.iter().any(|p| rows[p.4].link == row.prev) {
                flag |= BROKEN;
            }
            let state = RowState {
                flags: states[i].flags | flag,
            };
            if seq > 0 && row.kind == Some(Kind::Rotation as u8) && state.sets_key() {
                // A rotation sets the key when its link, commit and signature verify,
                // whatever else is wrong with it (fork, gap, broken link).
                if !signed(row, key) {
                    flag |= BAD_SIGNATURE;
                } else if next_key.is_none() {
                    next_key = Some(key_of(row));
                }
            } else if check_signatures && seq > 0 && state.awaits_signature() {
                place.pending = Some(key);
            }
            place.flags |= flag;
        }
        if let Some(k) = next_key {
            key = k;
        }
        prev_group = group;
        start = end;
    }
}
