from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Record(_message.Message):
    __slots__ = ("version", "chain_id", "seq", "time_ms", "kind", "prev", "commit", "salt", "payload", "signature", "link")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PREV_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    SALT_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    LINK_FIELD_NUMBER: _ClassVar[int]
    version: int
    chain_id: bytes
    seq: int
    time_ms: int
    kind: int
    prev: bytes
    commit: bytes
    salt: bytes
    payload: bytes
    signature: bytes
    link: bytes
    def __init__(self, version: _Optional[int] = ..., chain_id: _Optional[bytes] = ..., seq: _Optional[int] = ..., time_ms: _Optional[int] = ..., kind: _Optional[int] = ..., prev: _Optional[bytes] = ..., commit: _Optional[bytes] = ..., salt: _Optional[bytes] = ..., payload: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., link: _Optional[bytes] = ...) -> None: ...

class EnrollRequest(_message.Message):
    __slots__ = ("token", "genesis")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    GENESIS_FIELD_NUMBER: _ClassVar[int]
    token: str
    genesis: Record
    def __init__(self, token: _Optional[str] = ..., genesis: _Optional[_Union[Record, _Mapping]] = ...) -> None: ...

class EnrollResponse(_message.Message):
    __slots__ = ("chain_id", "log_index", "participant", "log_id")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    LOG_ID_FIELD_NUMBER: _ClassVar[int]
    chain_id: bytes
    log_index: int
    participant: str
    log_id: bytes
    def __init__(self, chain_id: _Optional[bytes] = ..., log_index: _Optional[int] = ..., participant: _Optional[str] = ..., log_id: _Optional[bytes] = ...) -> None: ...

class SubmitRequest(_message.Message):
    __slots__ = ("batch_id", "records")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    records: _containers.RepeatedCompositeFieldContainer[Record]
    def __init__(self, batch_id: _Optional[int] = ..., records: _Optional[_Iterable[_Union[Record, _Mapping]]] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("chain_id", "seq", "log_index", "duplicate")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    chain_id: bytes
    seq: int
    log_index: int
    duplicate: bool
    def __init__(self, chain_id: _Optional[bytes] = ..., seq: _Optional[int] = ..., log_index: _Optional[int] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class SubmitResponse(_message.Message):
    __slots__ = ("batch_id", "acks", "tree_size")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    ACKS_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    batch_id: int
    acks: _containers.RepeatedCompositeFieldContainer[Ack]
    tree_size: int
    def __init__(self, batch_id: _Optional[int] = ..., acks: _Optional[_Iterable[_Union[Ack, _Mapping]]] = ..., tree_size: _Optional[int] = ...) -> None: ...

class Checkpoint(_message.Message):
    __slots__ = ("log_id", "tree_size", "root", "signature", "created_ms")
    LOG_ID_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    CREATED_MS_FIELD_NUMBER: _ClassVar[int]
    log_id: bytes
    tree_size: int
    root: bytes
    signature: bytes
    created_ms: int
    def __init__(self, log_id: _Optional[bytes] = ..., tree_size: _Optional[int] = ..., root: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., created_ms: _Optional[int] = ...) -> None: ...

class Anchor(_message.Message):
    __slots__ = ("evm_chain_id", "contract", "tx_hash", "block_number", "confirmations", "final")
    EVM_CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_FIELD_NUMBER: _ClassVar[int]
    TX_HASH_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CONFIRMATIONS_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    evm_chain_id: int
    contract: str
    tx_hash: bytes
    block_number: int
    confirmations: int
    final: bool
    def __init__(self, evm_chain_id: _Optional[int] = ..., contract: _Optional[str] = ..., tx_hash: _Optional[bytes] = ..., block_number: _Optional[int] = ..., confirmations: _Optional[int] = ..., final: _Optional[bool] = ...) -> None: ...

class GetReceiptRequest(_message.Message):
    __slots__ = ("chain_id", "seq")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    chain_id: bytes
    seq: int
    def __init__(self, chain_id: _Optional[bytes] = ..., seq: _Optional[int] = ...) -> None: ...

class Receipt(_message.Message):
    __slots__ = ("log_index", "link", "inclusion_path", "checkpoint", "anchor")
    LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    LINK_FIELD_NUMBER: _ClassVar[int]
    INCLUSION_PATH_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_FIELD_NUMBER: _ClassVar[int]
    log_index: int
    link: bytes
    inclusion_path: _containers.RepeatedScalarFieldContainer[bytes]
    checkpoint: Checkpoint
    anchor: Anchor
    def __init__(self, log_index: _Optional[int] = ..., link: _Optional[bytes] = ..., inclusion_path: _Optional[_Iterable[bytes]] = ..., checkpoint: _Optional[_Union[Checkpoint, _Mapping]] = ..., anchor: _Optional[_Union[Anchor, _Mapping]] = ...) -> None: ...

class GetCheckpointRequest(_message.Message):
    __slots__ = ("tree_size",)
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    tree_size: int
    def __init__(self, tree_size: _Optional[int] = ...) -> None: ...

class GetConsistencyProofRequest(_message.Message):
    __slots__ = ("from_size", "to_size")
    FROM_SIZE_FIELD_NUMBER: _ClassVar[int]
    TO_SIZE_FIELD_NUMBER: _ClassVar[int]
    from_size: int
    to_size: int
    def __init__(self, from_size: _Optional[int] = ..., to_size: _Optional[int] = ...) -> None: ...

class ConsistencyProof(_message.Message):
    __slots__ = ("from_size", "to_size", "from_root", "to_root", "path")
    FROM_SIZE_FIELD_NUMBER: _ClassVar[int]
    TO_SIZE_FIELD_NUMBER: _ClassVar[int]
    FROM_ROOT_FIELD_NUMBER: _ClassVar[int]
    TO_ROOT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    from_size: int
    to_size: int
    from_root: bytes
    to_root: bytes
    path: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, from_size: _Optional[int] = ..., to_size: _Optional[int] = ..., from_root: _Optional[bytes] = ..., to_root: _Optional[bytes] = ..., path: _Optional[_Iterable[bytes]] = ...) -> None: ...

class GetChainHeadRequest(_message.Message):
    __slots__ = ("chain_id",)
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    chain_id: bytes
    def __init__(self, chain_id: _Optional[bytes] = ...) -> None: ...

class ChainHead(_message.Message):
    __slots__ = ("chain_id", "head_seq", "head_link", "head_log_index")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    HEAD_SEQ_FIELD_NUMBER: _ClassVar[int]
    HEAD_LINK_FIELD_NUMBER: _ClassVar[int]
    HEAD_LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    chain_id: bytes
    head_seq: int
    head_link: bytes
    head_log_index: int
    def __init__(self, chain_id: _Optional[bytes] = ..., head_seq: _Optional[int] = ..., head_link: _Optional[bytes] = ..., head_log_index: _Optional[int] = ...) -> None: ...

class IssueTokenRequest(_message.Message):
    __slots__ = ("participant", "ttl_seconds")
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    participant: str
    ttl_seconds: int
    def __init__(self, participant: _Optional[str] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class IssueTokenResponse(_message.Message):
    __slots__ = ("token", "expires_ms")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_MS_FIELD_NUMBER: _ClassVar[int]
    token: str
    expires_ms: int
    def __init__(self, token: _Optional[str] = ..., expires_ms: _Optional[int] = ...) -> None: ...

class ListDevicesRequest(_message.Message):
    __slots__ = ("participant",)
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    participant: str
    def __init__(self, participant: _Optional[str] = ...) -> None: ...

class DeviceInfo(_message.Message):
    __slots__ = ("chain_id", "participant", "head_seq", "enrolled_ms")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    HEAD_SEQ_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_MS_FIELD_NUMBER: _ClassVar[int]
    chain_id: bytes
    participant: str
    head_seq: int
    enrolled_ms: int
    def __init__(self, chain_id: _Optional[bytes] = ..., participant: _Optional[str] = ..., head_seq: _Optional[int] = ..., enrolled_ms: _Optional[int] = ...) -> None: ...

class ListDevicesResponse(_message.Message):
    __slots__ = ("devices",)
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    devices: _containers.RepeatedCompositeFieldContainer[DeviceInfo]
    def __init__(self, devices: _Optional[_Iterable[_Union[DeviceInfo, _Mapping]]] = ...) -> None: ...

class EraseRequest(_message.Message):
    __slots__ = ("chain_id", "seq", "reason")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    chain_id: bytes
    seq: int
    reason: str
    def __init__(self, chain_id: _Optional[bytes] = ..., seq: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class EraseResponse(_message.Message):
    __slots__ = ("log_index", "erased_ms")
    LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    ERASED_MS_FIELD_NUMBER: _ClassVar[int]
    log_index: int
    erased_ms: int
    def __init__(self, log_index: _Optional[int] = ..., erased_ms: _Optional[int] = ...) -> None: ...

class CreateCheckpointRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
