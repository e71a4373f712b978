//! What a [`Block`] hands the relay's store and its clients: the records as PostgreSQL
//! binary COPY data (one buffer for the whole block) and each batch's `SubmitResponse`
//! bytes, so that no Python object is made per record on either path.

use prost::Message;

use super::group::Block;
use super::wire::{Ack, SubmitResponse};

/// `PGCOPY\n\xff\r\n\0`, then flags and header extension length (both 0).
const PG_SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
const PG_TRAILER: &[u8] = &[0xff, 0xff];
/// Columns of the `records` table, in the order of the stores' RECORD_COLUMNS.
const PG_FIELDS: i16 = 14;

fn pg_int8(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&8i32.to_be_bytes());
    out.extend_from_slice(&v.to_be_bytes());
}

fn pg_bytea(out: &mut Vec<u8>, v: &[u8]) {
    // Field sizes are bounded by the request limits (far below 2 GiB).
    out.extend_from_slice(&(v.len() as i32).to_be_bytes());
    out.extend_from_slice(v);
}

impl Block {
    /// The block's records as one PostgreSQL binary COPY stream (signature to trailer)
    /// for `COPY records (RECORD_COLUMNS) FROM STDIN (FORMAT BINARY)`. Values beyond
    /// int64 wrap here; the store refuses them before it copies (`check_int64`).
    pub fn pg_copy(&self) -> Vec<u8> {
        let payloads: usize = self.records.iter().map(|r| r.payload.len()).sum();
        let mut out = Vec::with_capacity(PG_SIGNATURE.len() + self.records.len() * 330 + payloads);
        out.extend_from_slice(PG_SIGNATURE);
        for (i, (r, link)) in self.records.iter().zip(&self.links).enumerate() {
            out.extend_from_slice(&PG_FIELDS.to_be_bytes());
            pg_int8(&mut out, (self.first_index + i as u64) as i64);
            pg_bytea(&mut out, &r.chain_id);
            pg_int8(&mut out, r.seq as i64);
            pg_int8(&mut out, r.time_ms);
            out.extend_from_slice(&2i32.to_be_bytes());
            out.extend_from_slice(&(r.kind as i16).to_be_bytes());
            pg_bytea(&mut out, &r.prev);
            pg_bytea(&mut out, &r.commit);
            pg_int8(&mut out, r.beacon_size as i64);
            pg_bytea(&mut out, &r.beacon_root);
            pg_bytea(&mut out, link);
            pg_bytea(&mut out, &r.signature);
            pg_bytea(&mut out, &r.salt);
            pg_bytea(&mut out, &r.payload);
            pg_int8(&mut out, self.received_ms);
        }
        out.extend_from_slice(PG_TRAILER);
        out
    }

    /// Records `[start, end)` of the block's batch `batch`.
    pub fn batch_range(&self, batch: usize) -> Option<(usize, usize)> {
        let end = *self.batch_ends.get(batch)?;
        let start = if batch == 0 {
            0
        } else {
            self.batch_ends[batch - 1]
        };
        Some((start, end))
    }

    /// The `SubmitResponse` of batch `batch`: its batch_id, one fresh ack per record
    /// (with its receipt), and `tree_size`.
    pub fn response(&self, batch: usize, tree_size: u64) -> Option<Vec<u8>> {
        let (start, end) = self.batch_range(batch)?;
        let acks = (start..end)
            .map(|i| Ack {
                chain_id: self.records[i].chain_id.clone(),
                seq: self.records[i].seq,
                log_index: self.first_index + i as u64,
                duplicate: false,
                received_ms: self.received_ms,
                receipt_sig: self.receipts[i].to_vec(),
            })
            .collect();
        let response = SubmitResponse {
            batch_id: self.batch_ids[batch],
            acks,
            tree_size,
        };
        Some(response.encode_to_vec())
    }
}
