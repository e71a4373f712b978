//! The v2 audit's rows from Arrow-layout column views (`v2::audit::columns`), as the Python
//! binding hands them over: every chain.json bundle's rows survive the round trip through
//! buffers exactly, and the audit of the rebuilt bundle is the audit of the original.

mod v2_common;

use hashcore::columns::{BinaryColumn, IntColumn, Validity, Values};
use hashcore::error::Error;
use hashcore::v2::audit::audit;
use hashcore::v2::audit::columns::{binary_rows, ReceiptColumns, RecordColumns};
use hashcore::v2::audit::input::Options;
use v2_common::{bundle, load, trust};

/// A binary column's buffers: i32 offsets, data, validity (bit set = present).
struct Bin {
    offsets: Vec<u8>,
    data: Vec<u8>,
    validity: Vec<u8>,
    len: usize,
}

impl Bin {
    fn new<'a>(values: impl Iterator<Item = Option<&'a [u8]>>) -> Self {
        let mut b = Bin {
            offsets: 0i32.to_le_bytes().to_vec(),
            data: Vec::new(),
            validity: Vec::new(),
            len: 0,
        };
        for (i, v) in values.enumerate() {
            if i % 8 == 0 {
                b.validity.push(0);
            }
            if let Some(v) = v {
                b.data.extend_from_slice(v);
                b.validity[i / 8] |= 1 << (i % 8);
            }
            b.offsets
                .extend_from_slice(&(b.data.len() as i32).to_le_bytes());
            b.len += 1;
        }
        b
    }

    fn view(&self) -> BinaryColumn<'_> {
        BinaryColumn {
            values: Values::Var32 {
                offsets: &self.offsets,
                data: &self.data,
            },
            validity: Some(Validity {
                bits: &self.validity,
            }),
            offset: 0,
            len: self.len,
        }
    }
}

/// An integer column's buffers (little-endian) and validity.
struct Int<const W: usize> {
    data: Vec<u8>,
    validity: Vec<u8>,
    len: usize,
}

impl<const W: usize> Int<W> {
    fn new(values: impl Iterator<Item = Option<[u8; W]>>) -> Self {
        let mut c = Int {
            data: Vec::new(),
            validity: Vec::new(),
            len: 0,
        };
        for (i, v) in values.enumerate() {
            if i % 8 == 0 {
                c.validity.push(0);
            }
            c.data.extend_from_slice(&v.unwrap_or([0; W]));
            if v.is_some() {
                c.validity[i / 8] |= 1 << (i % 8);
            }
            c.len += 1;
        }
        c
    }

    fn view(&self) -> IntColumn<'_, W> {
        IntColumn {
            data: &self.data,
            validity: Some(Validity {
                bits: &self.validity,
            }),
            offset: 0,
            len: self.len,
        }
    }
}

#[test]
fn rows_from_column_views_are_the_rows() {
    let d = load("chain.json");
    for b in d["bundles"].as_array().unwrap() {
        let original = bundle(b);
        let r = &original.records;
        let u64s = |f: fn(&hashcore::v2::audit::input::RecordRow) -> Option<u64>| {
            Int::<8>::new(r.iter().map(move |x| f(x).map(u64::to_le_bytes)))
        };
        let i64s = |f: fn(&hashcore::v2::audit::input::RecordRow) -> Option<i64>| {
            Int::<8>::new(r.iter().map(move |x| f(x).map(i64::to_le_bytes)))
        };
        let (log_index, seq, beacon_size) = (
            u64s(|x| Some(x.log_index)),
            u64s(|x| x.seq),
            u64s(|x| x.beacon_size),
        );
        let (time_ms, received_ms) = (i64s(|x| x.time_ms), i64s(|x| x.received_ms));
        let kind = Int::<1>::new(r.iter().map(|x| x.kind.map(|k| [k])));
        let bin = |f: for<'x> fn(
            &'x hashcore::v2::audit::input::RecordRow<'static>,
        ) -> Option<&'x [u8]>| { Bin::new(r.iter().map(f)) };
        let cols = [
            bin(|x| Some(x.chain_id)),
            bin(|x| x.prev.map(|v| &v[..])),
            bin(|x| x.commit.map(|v| &v[..])),
            bin(|x| x.beacon_root.map(|v| &v[..])),
            bin(|x| x.link.map(|v| &v[..])),
            bin(|x| x.signature.map(|v| &v[..])),
            bin(|x| x.salt),
            bin(|x| x.payload),
        ];
        let views = RecordColumns {
            log_index: log_index.view(),
            chain_id: cols[0].view(),
            seq: seq.view(),
            time_ms: time_ms.view(),
            kind: kind.view(),
            prev: cols[1].view(),
            commit: cols[2].view(),
            beacon_size: beacon_size.view(),
            beacon_root: cols[3].view(),
            link: cols[4].view(),
            signature: cols[5].view(),
            salt: cols[6].view(),
            payload: cols[7].view(),
            received_ms: received_ms.view(),
        };
        let rc = &original.receipts;
        let rbin = |f: fn(&hashcore::v2::audit::input::ReceiptRow) -> &[u8]| {
            Bin::new(rc.iter().map(move |x| Some(f(x))))
        };
        let (chain_id, link, sig) = (
            rbin(|x| &x.chain_id),
            rbin(|x| &x.link),
            rbin(|x| &x.receipt_sig),
        );
        let rseq = Int::<8>::new(rc.iter().map(|x| x.seq.map(u64::to_le_bytes)));
        let rindex = Int::<8>::new(rc.iter().map(|x| x.log_index.map(u64::to_le_bytes)));
        let rms = Int::<8>::new(rc.iter().map(|x| x.received_ms.map(i64::to_le_bytes)));
        let receipts = ReceiptColumns {
            chain_id: chain_id.view(),
            seq: rseq.view(),
            link: link.view(),
            log_index: rindex.view(),
            received_ms: rms.view(),
            receipt_sig: sig.view(),
        };
        let notes = Bin::new(original.notes.iter().map(|n| Some(n.as_slice())));

        let mut rebuilt = original.clone();
        rebuilt.records = views.rows().unwrap();
        rebuilt.receipts = receipts.rows().unwrap();
        rebuilt.notes = binary_rows(&notes.view(), "note").unwrap();
        assert_eq!(rebuilt, original, "{}", b["case"]);
        let t = trust(b, &original);
        assert_eq!(
            audit(&rebuilt, &t, &Options::default()),
            audit(&original, &t, &Options::default())
        );
    }
}

#[test]
fn a_null_log_index_or_a_short_column_is_refused() {
    let log_index = Int::<8>::new([Some(0u64.to_le_bytes()), None].into_iter());
    let ints = Int::<8>::new([Some([0; 8]), Some([0; 8])].into_iter());
    let kind = Int::<1>::new([Some([1]), Some([1])].into_iter());
    let two = Bin::new([Some(&[0u8; 32][..]), Some(&[0u8; 32][..])].into_iter());
    let one = Bin::new([Some(&[0u8; 32][..])].into_iter());
    let mut cols = RecordColumns {
        log_index: log_index.view(),
        chain_id: two.view(),
        seq: ints.view(),
        time_ms: ints.view(),
        kind: kind.view(),
        prev: two.view(),
        commit: two.view(),
        beacon_size: ints.view(),
        beacon_root: two.view(),
        link: two.view(),
        signature: two.view(),
        salt: two.view(),
        payload: two.view(),
        received_ms: ints.view(),
    };
    assert_eq!(
        cols.rows().unwrap_err().to_string(),
        Error::Column {
            column: "log_index".into(),
            message: "row 1 is null; every record needs its log position".into()
        }
        .to_string()
    );
    cols.signature = one.view();
    assert_eq!(
        cols.rows().unwrap_err().to_string(),
        Error::Column {
            column: "signature".into(),
            message: "has 1 rows, log_index has 2".into()
        }
        .to_string()
    );
}
