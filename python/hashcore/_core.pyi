"""Type stubs of the Rust extension ``hashcore._core`` (checked by ``mypy.stubtest``)."""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, final

from typing_extensions import Buffer

#: The protocol this build speaks: 2 (SPEC v2; the record constants are V2_*).
PROTOCOL_VERSION: int
CHAIN_ID_CONTEXT: str
COMMIT_CONTEXT: str
CHAIN_ID_LEN: int
LINK_LEN: int
COMMIT_LEN: int
SIGNATURE_LEN: int
SALT_LEN: int
KEY_LEN: int
#: Record kinds (SPEC 1.4): name -> code.
KINDS: dict[str, int]
KIND_GENESIS: int
KIND_DATA: int
KIND_ROTATION: int
#: ``check_submissions`` reject codes (0 is accepted): code -> (reason label, text).
REJECT_CODES: dict[int, tuple[str, str]]
DEFAULT_THREADS: int
MAX_THREADS: int

def chain_id_for_key(public_key: Buffer) -> bytes: ...
def commitment(salt: Buffer, payload: Buffer) -> bytes: ...
def check_public_key(public_key: Buffer) -> Literal["valid", "not_a_point", "small_order"]: ...
def verify_signature(public_key: Buffer, message: Buffer, signature: Buffer) -> bool: ...
def verify_signatures(items: Sequence[tuple[Buffer, Buffer, Buffer]]) -> list[bool]: ...
def public_key_from_seed(seed: Buffer) -> bytes: ...
def sign(seed: Buffer, message: Buffer) -> bytes: ...

@final
class Sha256LogTree:
    def __new__(cls) -> Sha256LogTree: ...
    def extend(self, entries: Buffer) -> int: ...
    @property
    def size(self) -> int: ...
    def root(self, size: int | None = None) -> bytes: ...
    def leaf_hash(self, index: int) -> bytes: ...
    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]: ...
    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]: ...
    def __len__(self) -> int: ...

@final
class IngestGroup:
    """The raw SubmitRequests of one group, decoded in Rust (the relay's hot path)."""

    def __new__(cls, raws: Sequence[Buffer]) -> IngestGroup: ...
    def chain_ids(self) -> list[bytes]: ...
    def beacon_sizes(self) -> list[int]: ...
    def accept(
        self,
        heads: Mapping[bytes, tuple[int, bytes, bytes]],
        signed: Mapping[int, bytes],
        first_index: int,
        received_ms: int,
        low_ms: int,
        high_ms: int,
        max_records_per_batch: int,
        max_payload_bytes: int,
        log_seed: Buffer,
    ) -> IngestBlock: ...

@final
class IngestBlock:
    """The accepted leading batches of a group: entries, heads, rows, COPY data, acks."""

    @property
    def accepted(self) -> int: ...
    @property
    def first_index(self) -> int: ...
    @property
    def next_index(self) -> int: ...
    @property
    def received_ms(self) -> int: ...
    def __len__(self) -> int: ...
    def batch_len(self, batch: int) -> int: ...
    def entries(self) -> bytes: ...
    def heads(self) -> list[tuple[bytes, int, bytes, bytes]]: ...
    def held(self, chain_id: bytes, seq: int) -> tuple[bytes, int, int] | None: ...
    def rotations(self, chain_id: bytes) -> list[tuple[int, bytes]]: ...
    def rows(self) -> list[tuple[Any, ...]]: ...
    def pg_copy(self) -> bytes: ...
    def response(self, batch: int, tree_size: int) -> bytes: ...

def check_submissions(
    chain_ids: Buffer,
    seqs: Sequence[int],
    times_ms: Sequence[int],
    kinds: Buffer,
    prevs: Buffer,
    commits: Buffer,
    beacon_sizes: Sequence[int],
    beacon_roots: Buffer,
    salts: Buffer,
    payloads: Sequence[bytes],
    signatures: Buffer,
    keys: Buffer,
) -> tuple[bytes, bytes]: ...
def check_chains(
    heads: Sequence[tuple[int, Buffer, Buffer] | None],
    counts: Sequence[int],
    versions: Sequence[int],
    chain_ids: Sequence[Buffer],
    seqs: Sequence[int],
    times_ms: Sequence[int],
    kinds: Sequence[int],
    prevs: Sequence[Buffer],
    commits: Sequence[Buffer],
    beacon_sizes: Sequence[int],
    beacon_roots: Sequence[Buffer],
    salts: Sequence[Buffer | None],
    payloads: Sequence[Buffer | None],
    signatures: Sequence[Buffer],
    links: Sequence[Buffer],
    max_payload_bytes: int | None = None,
    max_seq: int | None = None,
) -> list[tuple[bytes, tuple[int, bytes, bytes] | None, tuple[int, str, str, str] | None]]: ...
def check_shapes(
    versions: Sequence[int],
    chain_ids: Sequence[Buffer],
    seqs: Sequence[int],
    times_ms: Sequence[int],
    kinds: Sequence[int],
    prevs: Sequence[Buffer],
    commits: Sequence[Buffer],
    beacon_sizes: Sequence[int],
    beacon_roots: Sequence[Buffer],
    salts: Sequence[Buffer | None],
    payloads: Sequence[Buffer | None],
    signatures: Sequence[Buffer],
    links: Sequence[Buffer],
    max_payload_bytes: int | None = None,
    max_seq: int | None = None,
    starts_chain: bool = False,
) -> tuple[int, str, str, str] | None: ...

# Benchmark ceilings (bench/): the libraries alone, over the same bytes and pool.
def _raw_batch_verify(
    keys: Buffer, messages: Buffer, signatures: Buffer, threads: int | None = None
) -> int: ...
def _raw_blake3(
    headers: Buffer, header_len: int, payloads: Buffer, offsets: Buffer, threads: int | None = None
) -> bytes: ...

# Protocol v2 primitives (rust/src/python/v2.rs; ../shared/v2/SPEC.md).
V2_VERSION: int
V2_HEADER_LEN: int
V2_ENTRY_LEN: int
V2_LINK_CONTEXT: str
V2_RECEIPT_CONTEXT: str
NOTE_MAX_LEN: int
NOTE_MAX_SIGNATURE_LINES: int
COSIGNATURE_MAX_TIME: int

def v2_record_header(
    chain_id: Buffer,
    seq: int,
    time_ms: int,
    kind: int,
    prev: Buffer,
    commit: Buffer,
    beacon_size: int,
    beacon_root: Buffer,
) -> bytes: ...
def v2_link_of_header(header: Buffer) -> bytes: ...
def v2_link(
    chain_id: Buffer,
    seq: int,
    time_ms: int,
    kind: int,
    prev: Buffer,
    commit: Buffer,
    beacon_size: int,
    beacon_root: Buffer,
) -> bytes: ...
def log_entry(link: Buffer, received_ms: int) -> bytes: ...
def sha256_leaf_hash(entry: Buffer) -> bytes: ...
def sha256_node_hash(left: Buffer, right: Buffer) -> bytes: ...
def sha256_tree_root(leaf_hashes: Buffer | Iterable[Buffer]) -> bytes: ...
def sha256_inclusion_proof(leaf_hashes: Buffer | Iterable[Buffer], index: int) -> list[bytes]: ...
def sha256_verify_inclusion(
    leaf_hash: Buffer, index: int, tree_size: int, path: Iterable[Buffer], root: Buffer
) -> bool: ...
def sha256_consistency_proof(leaf_hashes: Buffer | Iterable[Buffer], first: int) -> list[bytes]: ...
def sha256_verify_consistency(
    first: int, second: int, first_root: Buffer, second_root: Buffer, path: Iterable[Buffer]
) -> bool: ...
def is_key_name(name: str) -> bool: ...
def log_key_id(origin: str, log_key: Buffer) -> bytes: ...
def witness_key_id(name: str, witness_key: Buffer) -> bytes: ...
def note_verifier_key(name: str, alg: int, key: Buffer) -> str: ...
def checkpoint_body(origin: str, tree_size: int, root: Buffer) -> bytes: ...
def checkpoint_parse_body(text: Buffer) -> tuple[str, int, bytes]: ...
def note_parse(note: Buffer) -> tuple[bytes, list[tuple[str, bytes, bytes]]]: ...
def note_verify(note: Buffer, origin: str, log_key: Buffer) -> tuple[int, bytes]: ...
def note_sign(log_seed: Buffer, origin: str, tree_size: int, root: Buffer) -> bytes: ...
def note_cosign(note: Buffer, witness_seed: Buffer, name: str, t: int) -> bytes: ...
def note_witness_times(note: Buffer, name: str, witness_key: Buffer) -> list[int]: ...
def cosignature_sign(witness_seed: Buffer, t: int, body: Buffer) -> bytes: ...
def cosignature_verify(witness_key: Buffer, body: Buffer, value: Buffer) -> int | None: ...
def receipt_digest(log_key: Buffer, log_index: int, entry: Buffer) -> bytes: ...
def receipt_sign(log_seed: Buffer, log_index: int, entry: Buffer) -> bytes: ...
def receipt_sign_consecutive(log_seed: Buffer, first_index: int, entries: Buffer) -> bytes: ...
def receipt_verify(log_key: Buffer, log_index: int, entry: Buffer, receipt_sig: Buffer) -> bool: ...

# The v2 audit engine (rust/src/python/v2_audit.rs; SPEC v2 section 5).

V2_RECORD_VERDICT_CODES: list[str]
V2_CHECKPOINT_VERDICT_CODES: list[str]
V2_NOTE_VERDICT_CODES: list[str]
V2_RECEIPT_VERDICT_CODES: list[str]
V2_ANCHOR_VERDICT_CODES: list[str]
V2_TIME_FINDING_CODES: list[str]
V2_DEFAULT_MAX_MERGE_DELAY_MS: int
V2_DEFAULT_MAX_CLOCK_SKEW_MS: int

def v2_audit(
    records: dict[str, tuple[str, int, Buffer, Buffer | None, Buffer | None, int, int]],
    checkpoints: Sequence[tuple[int | None, Buffer | None, Buffer | None]],
    receipts: dict[str, tuple[str, int, Buffer, Buffer | None, Buffer | None, int, int]],
    notes: tuple[str, int, Buffer, Buffer | None, Buffer | None, int, int],
    manifest_origin: str,
    manifest_log_key: Buffer,
    policy: tuple[str, Buffer, Sequence[tuple[str, Buffer]], int, int, int] | None = None,
    as_of: int | None = None,
    anchors: Sequence[tuple[int, Buffer, bool]] | None = None,
    threads: int | None = None,
    check_signatures: bool = True,
) -> dict[str, Any]: ...

# The partitioned v2 audit's tasks (rust/src/python/v2_partial.rs; hashcore/audit/plan.py).

_Spec = tuple[str, int, Buffer, Buffer | None, Buffer | None, int, int]
_Policy = tuple[str, Buffer, Sequence[tuple[str, Buffer]], int, int, int]

def v2_part_scan(
    records: dict[str, _Spec], buckets: int, sizes: Sequence[int], threads: int | None = None
) -> dict[str, Any]: ...
def v2_part_log(
    records: dict[str, _Spec],
    cuts: Sequence[int],
    limit: int,
    skip: Sequence[int],
    lookups: Sequence[int],
    receipts: dict[str, _Spec] | None = None,
    log_key: Buffer | None = None,
    threads: int | None = None,
) -> tuple[list[tuple[int, int, bytes]], list[tuple[int, bytes | None, int | None]], bytes]: ...
def v2_asked_sizes(
    checkpoints: Sequence[tuple[int | None, Buffer | None, Buffer | None]],
    notes: _Spec,
    manifest_origin: str,
    manifest_log_key: Buffer,
    policy: _Policy | None = None,
    anchors: Sequence[tuple[int, Buffer, bool]] | None = None,
) -> list[int]: ...
def v2_combine(
    checkpoints: Sequence[tuple[int | None, Buffer | None, Buffer | None]],
    receipts: dict[str, _Spec],
    receipt_checks: Buffer,
    notes: _Spec,
    manifest_origin: str,
    manifest_log_key: Buffer,
    blocks: Sequence[tuple[int, int, Buffer]],
    limit: int,
    sizes: Sequence[int],
    entries: Sequence[tuple[int, Buffer, int]],
    runs: Sequence[tuple[int, int]],
    max_received: Sequence[tuple[int, int | None]],
    policy: _Policy | None = None,
    as_of: int | None = None,
    anchors: Sequence[tuple[int, Buffer, bool]] | None = None,
) -> dict[str, Any]: ...
def v2_judge_bucket(
    records: dict[str, _Spec],
    flags: Buffer,
    duplicates: Sequence[int],
    checkpoints: Sequence[tuple[int | None, Buffer | None, Buffer | None]],
    notes: _Spec,
    manifest_origin: str,
    manifest_log_key: Buffer,
    roots: Sequence[tuple[int, Buffer]],
    entries: Sequence[tuple[int, Buffer, int]],
    policy: _Policy | None = None,
    check_signatures: bool = True,
    threads: int | None = None,
) -> dict[str, Any]: ...
