//! The hand-written prost structs of `wire.rs` against bytes the Python `relay_pb2` module
//! wrote (tests/relay/test_fast_ingest.py holds the whole hot path to the Python checker).

use prost::Message;

use super::wire::{decode_request, Ack, Record, SubmitResponse};

/// `pb.SubmitRequest(batch_id=9, records=[<every field set>, pb.Record(version=2, seq=1)])`.
const REQUEST: &str = concat!(
    "0809128e0208021210000102030405060708090a0b0c0d0e0f18ac0220fbffffffffffffffff0128",
    "02322001010101010101010101010101010101010101010101010101010101010101013a20020202",
    "02020202020202020202020202020202020202020202020202020202024210030303030303030303",
    "030303030303034a0568656c6c6f5240040404040404040404040404040404040404040404040404",
    "04040404040404040404040404040404040404040404040404040404040404040404040404040404",
    "5a200505050505050505050505050505050505050505050505050505050505050505608080808080",
    "206a2006060606060606060606060606060606060606060606060606060606060606061204080218",
    "01",
);

/// The Python encoding of the SubmitResponse built in `acks_encode_as_python_does`.
const RESPONSE: &str = concat!(
    "080912620a10000102030405060708090a0b0c0d0e0f10ac0228ffffffffffffffffff0132400707",
    "07070707070707070707070707070707070707070707070707070707070707070707070707070707",
    "07070707070707070707070707070707070707070707125f0a100808080808080808080808080808",
    "080818f0a2042880a0f1c2b134324009090909090909090909090909090909090909090909090909",
    "09090909090909090909090909090909090909090909090909090909090909090909090909090918",
    "f1a204",
);

#[test]
fn a_python_encoded_request_decodes_field_for_field() {
    let req = decode_request(&hex::decode(REQUEST).unwrap()).expect("a SubmitRequest");
    assert_eq!(req.batch_id, 9);
    assert_eq!(req.records.len(), 2);
    let r = &req.records[0];
    assert_eq!(
        r,
        &Record {
            version: 2,
            chain_id: (0u8..16).collect(),
            seq: 300,
            time_ms: -5,
            kind: 2,
            prev: vec![1; 32],
            commit: vec![2; 32],
            salt: vec![3; 16],
            payload: b"hello".to_vec(),
            signature: vec![4; 64],
            link: vec![5; 32],
            beacon_size: 1 << 40,
            beacon_root: vec![6; 32],
        }
    );
    // Fields left at their defaults are absent on the wire and empty here.
    let r = &req.records[1];
    assert_eq!(
        (r.version, r.seq, r.chain_id.len(), r.salt.len()),
        (2, 1, 0, 0)
    );
}

#[test]
fn acks_encode_as_python_does() {
    let response = SubmitResponse {
        batch_id: 9,
        acks: vec![
            Ack {
                chain_id: (0u8..16).collect(),
                seq: 300,
                log_index: 0,
                duplicate: false,
                received_ms: -1,
                receipt_sig: vec![7; 64],
            },
            Ack {
                chain_id: vec![8; 16],
                seq: 0,
                log_index: 70000,
                duplicate: false,
                received_ms: 1_800_000_000_000,
                receipt_sig: vec![9; 64],
            },
        ],
        tree_size: 70001,
    };
    assert_eq!(hex::encode(response.encode_to_vec()), RESPONSE);
}

#[test]
fn bytes_that_are_no_request_decode_to_none() {
    for bad in [&b"\x0a\xff\xff"[..], b"\x12\x05\x08", b"\x08"] {
        assert!(decode_request(bad).is_none(), "{bad:?}");
    }
}
