//! SPEC section 4 verdict codes. The numeric values are the `uint8` codes the Python API
//! exposes in its per-record array; their order is the SPEC's order of precedence.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Verdict {
    Ok = 0,
    OkRedacted = 1,
    Malformed = 2,
    DuplicateLogIndex = 3,
    BadLink = 4,
    BadCommit = 5,
    NoGenesis = 6,
    Fork = 7,
    Gap = 8,
    BrokenChain = 9,
    BadSignature = 10,
    NotLogged = 11,
}

impl Verdict {
    pub const ALL: [Verdict; 12] = [
        Verdict::Ok,
        Verdict::OkRedacted,
        Verdict::Malformed,
        Verdict::DuplicateLogIndex,
        Verdict::BadLink,
        Verdict::BadCommit,
        Verdict::NoGenesis,
        Verdict::Fork,
        Verdict::Gap,
        Verdict::BrokenChain,
        Verdict::BadSignature,
        Verdict::NotLogged,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::OkRedacted => "OK_REDACTED",
            Verdict::Malformed => "MALFORMED",
            Verdict::DuplicateLogIndex => "DUPLICATE_LOG_INDEX",
            Verdict::BadLink => "BAD_LINK",
            Verdict::BadCommit => "BAD_COMMIT",
            Verdict::NoGenesis => "NO_GENESIS",
            Verdict::Fork => "FORK",
            Verdict::Gap => "GAP",
            Verdict::BrokenChain => "BROKEN_CHAIN",
            Verdict::BadSignature => "BAD_SIGNATURE",
            Verdict::NotLogged => "NOT_LOGGED",
        }
    }

    pub fn is_ok(self) -> bool {
        matches!(self, Verdict::Ok | Verdict::OkRedacted)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CheckpointVerdict {
    Ok = 0,
    BadCheckpointSig = 1,
    RootMismatch = 2,
    Inconsistent = 3,
    NotAnchored = 4,
    Unconfirmed = 5,
}

impl CheckpointVerdict {
    pub const ALL: [CheckpointVerdict; 6] = [
        CheckpointVerdict::Ok,
        CheckpointVerdict::BadCheckpointSig,
        CheckpointVerdict::RootMismatch,
        CheckpointVerdict::Inconsistent,
        CheckpointVerdict::NotAnchored,
        CheckpointVerdict::Unconfirmed,
    ];

    pub fn code(self) -> &'static str {
        match self {
            CheckpointVerdict::Ok => "OK",
            CheckpointVerdict::BadCheckpointSig => "BAD_CHECKPOINT_SIG",
            CheckpointVerdict::RootMismatch => "ROOT_MISMATCH",
            CheckpointVerdict::Inconsistent => "INCONSISTENT",
            CheckpointVerdict::NotAnchored => "NOT_ANCHORED",
            CheckpointVerdict::Unconfirmed => "UNCONFIRMED",
        }
    }
}

/// Why a record is MALFORMED, so that the report can name the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MalformedReason {
    None = 0,
    ChainIdSize = 1,
    PrevSize = 2,
    CommitSize = 3,
    LinkSize = 4,
    SignatureSize = 5,
    NullInteger = 6,
    UnknownKind = 7,
    SaltSize = 8,
    SaltPayloadMismatch = 9,
    KeyPayloadMissing = 10,
    KeyPayloadSize = 11,
    KeyNotAPoint = 12,
    KeySmallOrder = 13,
    GenesisNotAtSeqZero = 14,
    ChainIdNotDerived = 15,
}

impl MalformedReason {
    pub const ALL: [MalformedReason; 16] = [
        MalformedReason::None,
        MalformedReason::ChainIdSize,
        MalformedReason::PrevSize,
        MalformedReason::CommitSize,
        MalformedReason::LinkSize,
        MalformedReason::SignatureSize,
        MalformedReason::NullInteger,
        MalformedReason::UnknownKind,
        MalformedReason::SaltSize,
        MalformedReason::SaltPayloadMismatch,
        MalformedReason::KeyPayloadMissing,
        MalformedReason::KeyPayloadSize,
        MalformedReason::KeyNotAPoint,
        MalformedReason::KeySmallOrder,
        MalformedReason::GenesisNotAtSeqZero,
        MalformedReason::ChainIdNotDerived,
    ];

    pub fn text(self) -> &'static str {
        match self {
            MalformedReason::None => "",
            MalformedReason::ChainIdSize => "chain_id is not 16 bytes",
            MalformedReason::PrevSize => "prev is not 32 bytes",
            MalformedReason::CommitSize => "commit is not 32 bytes",
            MalformedReason::LinkSize => "link is not 32 bytes",
            MalformedReason::SignatureSize => "signature is not 64 bytes",
            MalformedReason::NullInteger => "seq, time_ms or kind is null",
            MalformedReason::UnknownKind => "unknown kind",
            MalformedReason::SaltSize => "salt is not 16 bytes",
            MalformedReason::SaltPayloadMismatch => "exactly one of salt and payload is null",
            MalformedReason::KeyPayloadMissing => "genesis/rotation payload is erased",
            MalformedReason::KeyPayloadSize => "genesis/rotation payload is not a 32-byte key",
            MalformedReason::KeyNotAPoint => "genesis/rotation key is not a curve point",
            MalformedReason::KeySmallOrder => "genesis/rotation key has small order",
            MalformedReason::GenesisNotAtSeqZero => "genesis (kind 0) at seq != 0",
            MalformedReason::ChainIdNotDerived => "chain_id is not derived from the genesis key",
        }
    }
}
