//! The audit's rows from Arrow-layout column views (`crate::columns`): what a Parquet
//! reader hands over, read without copying until each row is built. Buffers are checked
//! once up front (lengths, offsets, bitmaps), so building a row can't fail; a value of the
//! wrong size or a null stays in the row, to become a verdict (SPEC 4: wrong sizes are
//! MALFORMED / RECEIPT_BAD_SIG, never a read error).

use rayon::prelude::*;

use crate::columns::{BinaryColumn, IntColumn};
use crate::error::{Error, Result};

use super::input::{ReceiptRow, RecordRow, RowBytes};

fn owned(col: &BinaryColumn<'_>, i: usize) -> Vec<u8> {
    col.get(i).map(<[u8]>::to_vec).unwrap_or_default()
}

/// A value borrowed from the column (a null reads as empty: a wrong size, MALFORMED).
fn borrowed<'a>(col: &BinaryColumn<'a>, i: usize) -> RowBytes<'a> {
    col.get(i).unwrap_or_default()
}

fn same_length(columns: &[(&str, usize)]) -> Result<usize> {
    let (first, n) = columns[0];
    for &(name, len) in &columns[1..] {
        if len != n {
            return Err(Error::Column {
                column: name.into(),
                message: format!("has {len} rows, {first} has {n}"),
            });
        }
    }
    Ok(n)
}

/// The columns of a v2 `records.parquet` (SPEC 4).
#[derive(Debug, Clone, Copy)]
pub struct RecordColumns<'a> {
    pub log_index: IntColumn<'a, 8>,
    pub chain_id: BinaryColumn<'a>,
    pub seq: IntColumn<'a, 8>,
    pub time_ms: IntColumn<'a, 8>,
    pub kind: IntColumn<'a, 1>,
    pub prev: BinaryColumn<'a>,
    pub commit: BinaryColumn<'a>,
    pub beacon_size: IntColumn<'a, 8>,
    pub beacon_root: BinaryColumn<'a>,
    pub link: BinaryColumn<'a>,
    pub signature: BinaryColumn<'a>,
    pub salt: BinaryColumn<'a>,
    pub payload: BinaryColumn<'a>,
    pub received_ms: IntColumn<'a, 8>,
}

impl<'a> RecordColumns<'a> {
    /// Every row, or an error naming the column whose buffers don't hold the rows. A null
    /// `log_index` is an error: a row without a log position can't be placed in the log.
    pub fn rows(&self) -> Result<Vec<RecordRow<'a>>> {
        let n = same_length(&[
            ("log_index", self.log_index.len),
            ("chain_id", self.chain_id.len),
            ("seq", self.seq.len),
            ("time_ms", self.time_ms.len),
            ("kind", self.kind.len),
            ("prev", self.prev.len),
            ("commit", self.commit.len),
            ("beacon_size", self.beacon_size.len),
            ("beacon_root", self.beacon_root.len),
            ("link", self.link.len),
            ("signature", self.signature.len),
            ("salt", self.salt.len),
            ("payload", self.payload.len),
            ("received_ms", self.received_ms.len),
        ])?;
        for (name, col) in [
            ("log_index", &self.log_index),
            ("seq", &self.seq),
            ("time_ms", &self.time_ms),
            ("beacon_size", &self.beacon_size),
            ("received_ms", &self.received_ms),
        ] {
            col.validate(name)?;
        }
        self.kind.validate("kind")?;
        for (name, col) in [
            ("chain_id", &self.chain_id),
            ("prev", &self.prev),
            ("commit", &self.commit),
            ("beacon_root", &self.beacon_root),
            ("link", &self.link),
            ("signature", &self.signature),
            ("salt", &self.salt),
            ("payload", &self.payload),
        ] {
            col.validate(name)?;
        }
        // A null log_index is checked first, so that the rows are an indexed parallel map:
        // rayon fills the vector in place from every thread. (Collected as `Result`s, the
        // rows went through per-thread lists appended on one thread: a serial copy of
        // the ~300 MB of rows a 1M-record audit builds, and its page faults.)
        if let Some(i) = (0..n)
            .into_par_iter()
            .find_first(|&i| self.log_index.get_u64(i).is_none())
        {
            return Err(Error::Column {
                column: "log_index".into(),
                message: format!("row {i} is null; every record needs its log position"),
            });
        }
        Ok((0..n)
            .into_par_iter()
            .map(|i| RecordRow {
                log_index: self.log_index.get_u64(i).unwrap_or_default(),
                chain_id: borrowed(&self.chain_id, i),
                seq: self.seq.get_u64(i),
                time_ms: self.time_ms.get_i64(i),
                kind: self.kind.get_u8(i),
                prev: self.prev.get_array(i),
                commit: self.commit.get_array(i),
                beacon_size: self.beacon_size.get_u64(i),
                beacon_root: self.beacon_root.get_array(i),
                link: self.link.get_array(i),
                signature: self.signature.get_array(i),
                salt: self.salt.get(i),
                payload: self.payload.get(i),
                received_ms: self.received_ms.get_i64(i),
            })
            .collect())
    }
}

/// The columns of a `receipts.parquet` (SPEC 4).
#[derive(Debug, Clone, Copy)]
pub struct ReceiptColumns<'a> {
    pub chain_id: BinaryColumn<'a>,
    pub seq: IntColumn<'a, 8>,
    pub link: BinaryColumn<'a>,
    pub log_index: IntColumn<'a, 8>,
    pub received_ms: IntColumn<'a, 8>,
    pub receipt_sig: BinaryColumn<'a>,
}

impl ReceiptColumns<'_> {
    /// Every receipt; nulls and wrong sizes stay in the row (decision 14: RECEIPT_BAD_SIG).
    pub fn rows(&self) -> Result<Vec<ReceiptRow>> {
        let n = same_length(&[
            ("chain_id", self.chain_id.len),
            ("seq", self.seq.len),
            ("link", self.link.len),
            ("log_index", self.log_index.len),
            ("received_ms", self.received_ms.len),
            ("receipt_sig", self.receipt_sig.len),
        ])?;
        for (name, col) in [
            ("seq", &self.seq),
            ("log_index", &self.log_index),
            ("received_ms", &self.received_ms),
        ] {
            col.validate(name)?;
        }
        for (name, col) in [
            ("chain_id", &self.chain_id),
            ("link", &self.link),
            ("receipt_sig", &self.receipt_sig),
        ] {
            col.validate(name)?;
        }
        Ok((0..n)
            .map(|i| ReceiptRow {
                chain_id: owned(&self.chain_id, i),
                seq: self.seq.get_u64(i),
                link: owned(&self.link, i),
                log_index: self.log_index.get_u64(i),
                received_ms: self.received_ms.get_i64(i),
                receipt_sig: owned(&self.receipt_sig, i),
            })
            .collect())
    }
}

/// One binary column's values as owned rows: notes, one a row. A null note is empty bytes,
/// which don't parse (NOTE_REJECTED), as any other note that isn't one.
pub fn binary_rows(col: &BinaryColumn<'_>, name: &str) -> Result<Vec<Vec<u8>>> {
    col.validate(name)?;
    Ok((0..col.len).map(|i| owned(col, i)).collect())
}
