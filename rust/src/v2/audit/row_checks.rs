//! SPEC 5.1's checks of a row by itself: MALFORMED (its first failing rule named), BAD_LINK
//! and BAD_COMMIT, over runs of rows whose links and commitments are hashed together.

use rayon::prelude::*;

use super::input::RecordRow;
use super::records::{RowState, COMMIT_OK, DUPLICATE, LINK_OK, REDACTED};
use crate::ed25519::{self, KeyCheck};
use crate::protocol::{self, Kind};
use crate::v2::derive_many;
use crate::v2::record::{Header, HEADER_LEN};

/// The header a row's fields encode, where every field has its size.
pub fn header_of(row: &RecordRow) -> Option<Header> {
    Some(Header {
        chain_id: *row.chain_id16()?,
        seq: row.seq?,
        time_ms: row.time_ms?,
        kind: row.kind?,
        prev: *row.prev32()?,
        commit: *row.commit?,
        beacon_size: row.beacon_size?,
        beacon_root: *row.beacon_root?,
    })
}

/// The MALFORMED rules of SPEC 5.1, first failing one named.
pub fn malformed_reason(row: &RecordRow) -> Option<&'static str> {
    let sizes = [
        (row.chain_id.len() == 16, "chain_id is not 16 bytes"),
        (row.prev.is_some(), "prev is not 32 bytes"),
        (row.commit.is_some(), "commit is not 32 bytes"),
        (row.beacon_root.is_some(), "beacon_root is not 32 bytes"),
        (row.link.is_some(), "link is not 32 bytes"),
        (row.signature.is_some(), "signature is not 64 bytes"),
    ];
    if let Some((_, why)) = sizes.iter().find(|(ok, _)| !ok) {
        return Some(why);
    }
    let (Some(seq), Some(kind), Some(_), Some(beacon_size), Some(_)) = (
        row.seq,
        row.kind,
        row.time_ms,
        row.beacon_size,
        row.received_ms,
    ) else {
        return Some("an integer field is null");
    };
    let Some(kind) = Kind::from_u8(kind) else {
        return Some("unknown kind");
    };
    if row
        .salt
        .as_ref()
        .is_some_and(|s| s.len() != protocol::SALT_LEN)
    {
        return Some("salt is not 16 bytes");
    }
    if row.salt.is_some() != row.payload.is_some() {
        return Some("exactly one of salt and payload is null");
    }
    if beacon_size == 0 && row.beacon_root != Some(&[0u8; 32]) {
        return Some("beacon_size is 0 with a non-zero beacon_root");
    }
    if kind == Kind::Data {
        return None;
    }
    let Some(payload) = &row.payload else {
        return Some("a genesis or rotation payload is null");
    };
    let Ok(key) = <&[u8; 32]>::try_from(&payload[..]) else {
        return Some("a genesis or rotation payload is not 32 bytes");
    };
    match ed25519::check_public_key(key) {
        KeyCheck::NotAPoint => return Some("the key is not a curve point"),
        KeyCheck::SmallOrder => return Some("the key is of small order"),
        KeyCheck::Valid => {}
    }
    if kind == Kind::Genesis {
        if seq != 0 {
            return Some("a genesis at seq other than 0");
        }
        if row.chain_id16() != Some(&protocol::chain_id_for_key(key)) {
            return Some("chain_id is not derived from the genesis key");
        }
    }
    None
}

/// Pass 1: each row alone, in parallel runs of [`check_rows`]. `duplicate` marks rows
/// sharing a log_index with another row.
pub fn check_all_rows(
    rows: &[RecordRow],
    duplicate: impl Fn(&RecordRow) -> bool + Sync,
) -> Vec<RowState> {
    // 256 rows: 16 passes of the widest lanes, their headers and payloads in L2.
    const RUN: usize = 256;
    let mut states = vec![RowState { flags: 0 }; rows.len()];
    states
        .par_chunks_mut(RUN)
        .zip(rows.par_chunks(RUN))
        .for_each(|(out, rows)| check_rows(rows, &duplicate, out));
    states
}

/// Pass 1 over a run of rows, into `out`: their links and commitments are hashed together,
/// a SIMD lane per row (`derive_many`), then each row's flags set.
fn check_rows(rows: &[RecordRow], duplicate: impl Fn(&RecordRow) -> bool, out: &mut [RowState]) {
    let headers: Vec<Option<[u8; HEADER_LEN]>> = rows
        .iter()
        .map(|r| header_of(r).map(|h| h.encode()))
        .collect();
    let header_inputs: Vec<&[u8]> = headers.iter().flatten().map(|h| &h[..]).collect();
    let mut links = vec![[0u8; 32]; header_inputs.len()];
    derive_many::links(&header_inputs, &mut links);
    // salt || payload of the rows that have both, side by side.
    let mut salted = Vec::new();
    let mut bounds = Vec::new();
    for row in rows {
        if let (Some(salt), Some(payload)) = (row.salt, row.payload) {
            salted.extend_from_slice(salt);
            salted.extend_from_slice(payload);
            bounds.push(salted.len());
        }
    }
    let mut start = 0;
    let salted_inputs: Vec<&[u8]> = bounds
        .iter()
        .map(|&end| {
            let input = &salted[start..end];
            start = end;
            input
        })
        .collect();
    let mut commits = vec![[0u8; 32]; salted_inputs.len()];
    derive_many::commitments(&salted_inputs, &mut commits);

    let (mut links, mut commits) = (links.iter(), commits.iter());
    for ((row, header), state) in rows.iter().zip(&headers).zip(out.iter_mut()) {
        let mut flags = if duplicate(row) { DUPLICATE } else { 0 };
        let commit = match (row.salt, row.payload) {
            (Some(_), Some(_)) => commits.next(),
            _ => None,
        };
        if header.is_some() {
            let link = links.next().expect("a link per header");
            if Some(link) == row.link32() {
                flags |= LINK_OK;
            }
            match commit {
                Some(commit) => {
                    if Some(commit) == row.commit {
                        flags |= COMMIT_OK;
                    }
                }
                // Erased (SPEC 1.1): the commitment stays and can't be checked.
                None => flags |= COMMIT_OK | REDACTED,
            }
        }
        *state = RowState::new(flags, malformed_reason(row));
    }
}
