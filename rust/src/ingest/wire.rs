//! The relay's ingest messages of `proto/hashcore/relay/v2/relay.proto`, as prost derive
//! structs written by hand (the field numbers and types are the .proto's), so the build
//! needs no `protoc`. Only what the hot path reads or writes: `SubmitRequest` with its
//! `Record`s in, the `Ack`s of a `SubmitResponse` out. Unknown fields are skipped on
//! decode, as every protobuf decoder does; `tests_wire.rs` holds them to the bytes the
//! Python `relay_pb2` module writes.

use prost::Message;

/// `hashcore.relay.v2.Record`.
#[derive(Clone, PartialEq, Message)]
pub struct Record {
    #[prost(uint32, tag = "1")]
    pub version: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub chain_id: Vec<u8>,
    #[prost(uint64, tag = "3")]
    pub seq: u64,
    #[prost(int64, tag = "4")]
    pub time_ms: i64,
    #[prost(uint32, tag = "5")]
    pub kind: u32,
    #[prost(bytes = "vec", tag = "6")]
    pub prev: Vec<u8>,
    #[prost(bytes = "vec", tag = "7")]
    pub commit: Vec<u8>,
    #[prost(bytes = "vec", tag = "8")]
    pub salt: Vec<u8>,
    #[prost(bytes = "vec", tag = "9")]
    pub payload: Vec<u8>,
    #[prost(bytes = "vec", tag = "10")]
    pub signature: Vec<u8>,
    #[prost(bytes = "vec", tag = "11")]
    pub link: Vec<u8>,
    #[prost(uint64, tag = "12")]
    pub beacon_size: u64,
    #[prost(bytes = "vec", tag = "13")]
    pub beacon_root: Vec<u8>,
}

/// `hashcore.relay.v2.SubmitRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct SubmitRequest {
    #[prost(uint64, tag = "1")]
    pub batch_id: u64,
    #[prost(message, repeated, tag = "2")]
    pub records: Vec<Record>,
}

/// `hashcore.relay.v2.Ack`.
#[derive(Clone, PartialEq, Message)]
pub struct Ack {
    #[prost(bytes = "vec", tag = "1")]
    pub chain_id: Vec<u8>,
    #[prost(uint64, tag = "2")]
    pub seq: u64,
    #[prost(uint64, tag = "3")]
    pub log_index: u64,
    #[prost(bool, tag = "4")]
    pub duplicate: bool,
    #[prost(int64, tag = "5")]
    pub received_ms: i64,
    #[prost(bytes = "vec", tag = "6")]
    pub receipt_sig: Vec<u8>,
}

/// `hashcore.relay.v2.SubmitResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct SubmitResponse {
    #[prost(uint64, tag = "1")]
    pub batch_id: u64,
    #[prost(message, repeated, tag = "2")]
    pub acks: Vec<Ack>,
    #[prost(uint64, tag = "3")]
    pub tree_size: u64,
}

/// A `SubmitRequest`, or `None` when the bytes are not one (the caller's slower path
/// then words the refusal).
pub fn decode_request(raw: &[u8]) -> Option<SubmitRequest> {
    SubmitRequest::decode(raw).ok()
}
