//! The spill record of a streamed audit: what the chain pass needs of a row (no payload or
//! salt, except the key of a genesis or rotation), in a fixed-size binary record, and a
//! partition's records read back in place as [`ChainRows`].
//!
//! Record: row u32 | log_index u64 | seq u64 | chain_id [16] | kind u8 | bits u8 |
//! prev [32] | link [32] | signature [64] (only when signatures are checked). Integers
//! little-endian. The keys of genesis and rotation rows go to a side list of
//! (row u32, key [32]) records.

use std::collections::HashMap;

use super::super::chains::ChainRows;
use super::super::report::FastHash;
use crate::columns::RecordColumns;
use crate::error::{Error, Result};

const HAS_SEQ: u8 = 1;
const HAS_KIND: u8 = 2;
const HAS_PREV: u8 = 4;
const HAS_LINK: u8 = 8;
const HAS_SIGNATURE: u8 = 16;
const AT_LOG_INDEX: usize = 4;
const AT_SEQ: usize = 12;
const AT_CHAIN: usize = 20;
const AT_KIND: usize = 36;
const AT_BITS: usize = 37;
const AT_PREV: usize = 38;
const AT_LINK: usize = 70;
const AT_SIGNATURE: usize = 102;
const BASE_LEN: usize = AT_SIGNATURE;
/// One (row, key) record of the side list.
pub(super) const KEY_RECORD_LEN: usize = 4 + 32;

/// The size of one spill record.
pub(super) fn record_len(check_signatures: bool) -> usize {
    BASE_LEN + if check_signatures { 64 } else { 0 }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn array_at<const N: usize>(b: &[u8], at: usize) -> &[u8; N] {
    b[at..at + N].try_into().expect("N bytes")
}

/// The partition of a chain: a mix of all 16 bytes (honest chain ids are hash outputs).
pub(super) fn partition_of(chain_id: &[u8; 16], partitions: usize) -> usize {
    let lo = u64::from_le_bytes(chain_id[..8].try_into().expect("8 bytes"));
    let hi = u64::from_le_bytes(chain_id[8..].try_into().expect("8 bytes"));
    let mixed = (lo ^ hi.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((mixed >> 32) % partitions as u64) as usize
}

/// Writes the spill record of batch row `i` into `slot` (zeroed, `record_len` bytes).
pub(super) fn encode(
    slot: &mut [u8],
    cols: &RecordColumns<'_>,
    first: usize,
    i: usize,
    check_signatures: bool,
) {
    let mut bits = 0u8;
    slot[..4].copy_from_slice(&((first + i) as u32).to_le_bytes());
    let li = cols.log_index.get_u64(i).expect("validated");
    slot[AT_LOG_INDEX..AT_LOG_INDEX + 8].copy_from_slice(&li.to_le_bytes());
    if let Some(seq) = cols.seq.get_u64(i) {
        slot[AT_SEQ..AT_SEQ + 8].copy_from_slice(&seq.to_le_bytes());
        bits |= HAS_SEQ;
    }
    let chain_id = cols.chain_id.get_array::<16>(i).expect("partitioned rows");
    slot[AT_CHAIN..AT_CHAIN + 16].copy_from_slice(chain_id);
    if let Some(kind) = cols.kind.get_u8(i) {
        slot[AT_KIND] = kind;
        bits |= HAS_KIND;
    }
    if let Some(prev) = cols.prev.get_array::<32>(i) {
        slot[AT_PREV..AT_PREV + 32].copy_from_slice(prev);
        bits |= HAS_PREV;
    }
    if let Some(link) = cols.link.get_array::<32>(i) {
        slot[AT_LINK..AT_LINK + 32].copy_from_slice(link);
        bits |= HAS_LINK;
    }
    if check_signatures {
        if let Some(sig) = cols.signature.get_array::<64>(i) {
            slot[AT_SIGNATURE..AT_SIGNATURE + 64].copy_from_slice(sig);
            bits |= HAS_SIGNATURE;
        }
    }
    slot[AT_BITS] = bits;
}

/// Appends the side-list record of a genesis or rotation key.
pub(super) fn encode_key(out: &mut Vec<u8>, row: u32, key: &[u8; 32]) {
    out.extend_from_slice(&row.to_le_bytes());
    out.extend_from_slice(key);
}

/// A partition read back: its records, read in place.
pub(super) struct Spilled {
    pub(super) records: Vec<u8>,
    record_len: usize,
    keys: HashMap<u32, [u8; 32], FastHash>,
}

impl Spilled {
    /// The records and key side list of a partition that was sent `rows` rows.
    pub(super) fn new(
        records: Vec<u8>,
        keys: &[u8],
        record_len: usize,
        rows: usize,
    ) -> Result<Self> {
        let part = Spilled {
            records,
            record_len,
            keys: decode_keys(keys)?,
        };
        if part.records.len() % record_len != 0 || part.len() != rows {
            return Err(Error::Io(format!(
                "a spill file of the audit is corrupt: it holds {} bytes for {} rows",
                part.records.len(),
                rows
            )));
        }
        Ok(part)
    }

    pub(super) fn len(&self) -> usize {
        self.records.len() / self.record_len
    }
    fn record(&self, i: usize) -> &[u8] {
        &self.records[i * self.record_len..(i + 1) * self.record_len]
    }
    pub(super) fn row(&self, i: usize) -> u32 {
        u32_at(self.record(i), 0)
    }
    fn has(&self, i: usize, bit: u8) -> bool {
        self.record(i)[AT_BITS] & bit != 0
    }
}

impl ChainRows for Spilled {
    fn chain_id(&self, i: usize) -> Option<&[u8; 16]> {
        Some(array_at(self.record(i), AT_CHAIN))
    }
    fn seq(&self, i: usize) -> Option<u64> {
        self.has(i, HAS_SEQ).then(|| u64_at(self.record(i), AT_SEQ))
    }
    fn log_index(&self, i: usize) -> Option<u64> {
        Some(u64_at(self.record(i), AT_LOG_INDEX))
    }
    fn kind(&self, i: usize) -> Option<u8> {
        self.has(i, HAS_KIND).then(|| self.record(i)[AT_KIND])
    }
    fn prev(&self, i: usize) -> Option<&[u8; 32]> {
        self.has(i, HAS_PREV)
            .then(|| array_at(self.record(i), AT_PREV))
    }
    fn link(&self, i: usize) -> Option<&[u8; 32]> {
        self.has(i, HAS_LINK)
            .then(|| array_at(self.record(i), AT_LINK))
    }
    fn signature(&self, i: usize) -> Option<&[u8; 64]> {
        self.has(i, HAS_SIGNATURE)
            .then(|| array_at(self.record(i), AT_SIGNATURE))
    }
    fn key(&self, i: usize) -> Option<&[u8; 32]> {
        self.keys.get(&self.row(i))
    }
}

fn decode_keys(bytes: &[u8]) -> Result<HashMap<u32, [u8; 32], FastHash>> {
    if bytes.len() % KEY_RECORD_LEN != 0 {
        return Err(Error::Io(
            "a key spill file of the audit is truncated".into(),
        ));
    }
    Ok(bytes
        .chunks_exact(KEY_RECORD_LEN)
        .map(|k| (u32_at(k, 0), *array_at::<32>(k, 4)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_cover_every_chain_once() {
        for partitions in [1, 2, 3, 7, 20] {
            let mut seen = vec![0; partitions];
            for c in 0..=255u8 {
                let id = [c; 16];
                let p = partition_of(&id, partitions);
                assert!(p < partitions);
                assert_eq!(p, partition_of(&id, partitions));
                seen[p] += 1;
            }
            assert!(seen.iter().all(|&s| s > 0), "{partitions}: {seen:?}");
        }
    }

    #[test]
    fn truncated_key_spill_is_an_error() {
        assert!(decode_keys(&[0; KEY_RECORD_LEN * 2]).is_ok());
        assert!(matches!(
            decode_keys(&[0; KEY_RECORD_LEN + 1]),
            Err(Error::Io(_))
        ));
    }
}
