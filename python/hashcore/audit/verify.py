"""``verify_bulk``: SPEC section 4 verdicts for a whole table of records.

The table's columns are handed to the Rust engine as raw Arrow buffers (no copy where the
column already has the SPEC type); the engine releases the GIL for the whole job and spreads
it over its own thread pool.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from .. import _core
from ..checkpoint import parse_log_id
from ..errors import InvalidInputError
from ..limits import check_threads
from .columns import checkpoint_table_rows, column_array, record_specs

#: Record verdict codes, indexed by the uint8 values of ``VerifyReport.verdicts``.
VERDICT_CODES: tuple[str, ...] = tuple(_core.VERDICT_CODES)
#: Checkpoint verdict codes.
CHECKPOINT_VERDICT_CODES: tuple[str, ...] = tuple(_core.CHECKPOINT_VERDICT_CODES)
_OK_CODES = frozenset({"OK", "OK_REDACTED"})
_MALFORMED_REASONS: tuple[str, ...] = tuple(_core.MALFORMED_REASONS)


#: A one-line explanation of each verdict, for reports.
VERDICT_REASONS: dict[str, str] = {
    "OK": "verified",
    "OK_REDACTED": "verified; payload and salt erased",
    "MALFORMED": "a field is malformed",
    "DUPLICATE_LOG_INDEX": "another row claims the same log position",
    "BAD_LINK": "stored link is not the link of the stored header",
    "BAD_COMMIT": "payload and salt do not match the commitment",
    "NO_GENESIS": "the chain has no valid genesis",
    "FORK": "another record of the chain has the same seq",
    "GAP": "the record before it (seq-1) is missing",
    "BROKEN_CHAIN": "prev is not the link of record seq-1",
    "BAD_SIGNATURE": "signature is not valid under the chain's key at that seq",
    "NOT_LOGGED": "no attesting checkpoint covers its log position",
}


@dataclass(frozen=True, slots=True)
class Failure:
    """A record whose verdict is neither OK nor OK_REDACTED."""

    row: int
    log_index: int
    chain_id: bytes | None
    seq: int | None
    code: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "log_index": self.log_index,
            "chain_id": self.chain_id.hex() if self.chain_id is not None else None,
            "seq": self.seq,
            "code": self.code,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class CheckpointResult:
    """The verdict of one checkpoint row."""

    row: int
    tree_size: int | None
    root: bytes | None
    code: str

    def to_json(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root": self.root.hex() if self.root is not None else None,
            "code": self.code,
        }


@dataclass(eq=False)
class VerifyReport:
    """The outcome of an audit: a verdict for every record and every checkpoint."""

    records: int
    #: One uint8 per input row; ``VERDICT_CODES[v]`` names it.
    verdicts: npt.NDArray[np.uint8]
    #: Per-row MALFORMED reason code (0 unless MALFORMED).
    reason_codes: npt.NDArray[np.uint8]
    checkpoints: list[CheckpointResult]
    missing_log_positions: list[tuple[int, int]]
    clean: bool
    log_checked: bool
    signatures_checked: bool
    signatures_verified: int
    #: Records at log positions below this are vouched for by an attesting checkpoint.
    attested_size: int
    largest_signed_tree_size: int | None
    elapsed_s: float
    threads: int
    #: Where the relay's log_id came from: "trusted" (given by the caller), "bundle"
    #: (the bundle's own manifest: weaker, SPEC 2.2) or None (no checkpoints).
    log_id_source: str | None = None
    #: True when a trusted log_id was given and the bundle's manifest names another.
    manifest_log_id_mismatch: bool = False
    #: Whether anchors were checked on chain (SPEC 2.2).
    anchors_checked: bool = False
    _table: pa.Table | pa.RecordBatch | None = field(default=None, repr=False)
    #: A streamed audit keeps no table: its failing rows (row, log_index, chain_id, seq),
    #: in log order, and its per-chain summary instead.
    _failure_table: pa.Table | None = field(default=None, repr=False)
    _chain_table: pa.Table | None = field(default=None, repr=False)

    @cached_property
    def counts(self) -> dict[str, int]:
        """Records per verdict code (every code, zeros included, in SPEC order)."""
        bins = np.bincount(self.verdicts, minlength=len(VERDICT_CODES))
        return {code: int(bins[i]) for i, code in enumerate(VERDICT_CODES)}

    @cached_property
    def checkpoint_counts(self) -> dict[str, int]:
        out = dict.fromkeys(CHECKPOINT_VERDICT_CODES, 0)
        for cp in self.checkpoints:
            out[cp.code] += 1
        return out

    @cached_property
    def failures(self) -> list[Failure]:
        """Every record that did not verify, in log order."""
        if self._failure_table is not None:
            t = self._failure_table
            return [
                Failure(
                    row=row,
                    log_index=li,
                    chain_id=cid,
                    seq=seq,
                    code=VERDICT_CODES[self.verdicts[row]],
                    reason=self._reason(row),
                )
                for row, li, cid, seq in zip(
                    t.column("row").to_pylist(),
                    t.column("log_index").to_pylist(),
                    t.column("chain_id").to_pylist(),
                    t.column("seq").to_pylist(),
                    strict=True,
                )
            ]
        rows = np.flatnonzero(self.verdicts >= 2)
        if len(rows) == 0 or self._table is None:
            return []
        picked = self._table.select(["log_index", "chain_id", "seq"]).take(pa.array(rows))
        out = [
            Failure(
                row=int(row),
                log_index=int(li),
                chain_id=cid,
                seq=seq,
                code=VERDICT_CODES[self.verdicts[row]],
                reason=self._reason(int(row)),
            )
            for row, li, cid, seq in zip(
                rows,
                picked.column("log_index").to_pylist(),
                picked.column("chain_id").to_pylist(),
                picked.column("seq").to_pylist(),
                strict=True,
            )
        ]
        out.sort(key=lambda f: (f.log_index, f.row))
        return out

    @cached_property
    def chains(self) -> pa.Table:
        """One row per chain (the records with one 16-byte ``chain_id``), by chain_id.

        Columns: ``chain_id``, ``records``, ``max_seq`` (null when every seq is null),
        ``ok`` (records OK or OK_REDACTED), ``failures`` and ``complete``: seqs 0 to
        ``max_seq`` each present exactly once, all OK or OK_REDACTED, and all covered by
        an attesting checkpoint (``log_index < attested_size``; never without checkpoints).
        """
        if self._chain_table is not None:
            return self._chain_table
        if self._table is None:
            return chain_summary(CHAIN_SUMMARY_SCHEMA.empty_table(), self.verdicts <= 1, False, 0)
        return chain_summary(self._table, self.verdicts <= 1, self.log_checked, self.attested_size)

    def _reason(self, row: int) -> str:
        code = VERDICT_CODES[self.verdicts[row]]
        if code == "MALFORMED":
            return str(_MALFORMED_REASONS[self.reason_codes[row]])
        return str(VERDICT_REASONS[code])

    def verdict(self, row: int) -> str:
        """The verdict code of input row ``row``."""
        return str(VERDICT_CODES[self.verdicts[row]])

    def verdict_names(self) -> list[str]:
        """Every row's verdict code, in input order."""
        return [VERDICT_CODES[v] for v in self.verdicts.tolist()]

    def to_json(self) -> dict[str, Any]:
        """The report in the shape `hashcore audit --json` writes (more keys may follow)."""
        return {
            "clean": self.clean,
            "records": self.records,
            "counts": self.counts,
            "failures": [f.to_json() for f in self.failures],
            "checkpoints": [c.to_json() for c in self.checkpoints],
            "missing_log_positions": [[a, b] for a, b in self.missing_log_positions],
            "log_checked": self.log_checked,
            "signatures_checked": self.signatures_checked,
            "anchors_checked": self.anchors_checked,
            "log_id_source": self.log_id_source,
            "manifest_log_id_mismatch": self.manifest_log_id_mismatch,
            "attested_size": self.attested_size,
            "largest_signed_tree_size": self.largest_signed_tree_size,
            "checkpoint_counts": self.checkpoint_counts,
            "signatures_verified": self.signatures_verified,
            "chains": chains_json(self.chains),
            "elapsed_s": round(self.elapsed_s, 6),
        }

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.counts.items() if v)
        cps = ", ".join(f"{k}={v}" for k, v in self.checkpoint_counts.items() if v)
        notes = []
        if not self.log_checked:
            notes.append("log not checked")
        if not self.signatures_checked:
            notes.append("signatures not checked")
        if self.log_id_source == "bundle":
            notes.append("log_id taken from the bundle")
        tail = f", notes=[{'; '.join(notes)}]" if notes else ""
        return (
            f"VerifyReport(clean={self.clean}, records={self.records}, {counts or 'no records'}, "
            f"checkpoints=[{cps}], missing={self.missing_log_positions}{tail})"
        )


#: The columns of ``VerifyReport.chains``.
CHAIN_SUMMARY_SCHEMA = pa.schema(
    [
        pa.field("chain_id", pa.binary(16)),
        pa.field("records", pa.uint64()),
        pa.field("max_seq", pa.uint64()),
        pa.field("ok", pa.uint64()),
        pa.field("failures", pa.uint64()),
        pa.field("complete", pa.bool_()),
    ]
)


def chain_summary(
    table: pa.Table | pa.RecordBatch,
    ok: npt.NDArray[np.bool_],
    log_checked: bool,
    attested_size: int,
) -> pa.Table:
    """``VerifyReport.chains`` of an in-memory table, ``ok`` marking the rows whose verdict
    is OK or OK_REDACTED (the streamed audit computes the same in Rust, partition by
    partition; the v2 audit's report uses it too)."""
    if table.num_rows == 0:
        return CHAIN_SUMMARY_SCHEMA.empty_table()
    chain = column_array(table, "chain_id")
    if pa.types.is_dictionary(chain.type):
        chain = chain.dictionary_decode()
    if pa.types.is_fixed_size_binary(chain.type):
        has_id = (
            pc.is_valid(chain)
            if chain.type.byte_width == 16
            else pa.array(np.zeros(len(chain), dtype=bool))
        )
    else:
        has_id = pc.equal(pc.binary_length(chain), 16)
    has_id = pc.fill_null(has_id, False)
    ids = pc.filter(chain, has_id)
    if not pa.types.is_fixed_size_binary(ids.type):
        ids = ids.cast(pa.binary()).cast(pa.binary(16))
    rows = pa.table(
        {
            "chain_id": ids,
            "seq": pc.filter(column_array(table, "seq").cast(pa.uint64()), has_id),
            "log_index": pc.filter(column_array(table, "log_index").cast(pa.uint64()), has_id),
            "ok": pc.filter(pa.array(ok), has_id),
        }
    )
    g = rows.group_by("chain_id").aggregate(
        [("log_index", "count"), ("seq", "max"), ("ok", "sum"), ("log_index", "max")]
    )
    records = g.column("log_index_count").cast(pa.uint64())
    max_seq = g.column("seq_max").cast(pa.uint64())
    ok = pc.fill_null(g.column("ok_sum"), 0).cast(pa.uint64())
    complete = pc.and_(
        pc.and_(pc.equal(ok, records), pc.equal(pc.add(max_seq, 1), records)),
        pc.less(g.column("log_index_max"), pa.scalar(attested_size, pa.uint64())),
    )
    complete = pc.and_(pc.fill_null(complete, False), pa.scalar(log_checked))
    out = pa.table(
        [g.column("chain_id"), records, max_seq, ok, pc.subtract(records, ok), complete],
        schema=CHAIN_SUMMARY_SCHEMA,
    )
    return out.sort_by("chain_id")


def chains_json(chains: pa.Table) -> list[dict[str, Any]]:
    return [
        {
            "chain_id": row["chain_id"].hex(),
            "records": row["records"],
            "max_seq": row["max_seq"],
            "ok": row["ok"],
            "failures": row["failures"],
            "complete": row["complete"],
        }
        for row in chains.to_pylist()
    ]


def verify_bulk(
    records: pa.Table | pa.RecordBatch,
    *,
    checkpoints: pa.Table | pa.RecordBatch | None = None,
    log_id: bytes | bytearray | memoryview | str | None = None,
    threads: int | None = None,
    check_signatures: bool = True,
    anchors: Sequence[str | None] | None = None,
) -> VerifyReport:
    """Verify every record (and checkpoint) and give each its SPEC section 4 verdict.

    ``records`` has the SPEC section 3 columns (extra columns are ignored). With
    ``checkpoints`` (which need the relay's trusted ``log_id``) the Merkle log is rebuilt
    from the stored links and NOT_LOGGED is assessed; without them it is not, and the
    report says ``log_checked=False``. ``anchors`` gives, per checkpoint row, what the
    chain said of its anchor ("final", "pending", "missing" or None for not checked).
    ``threads`` defaults to all cores; ``check_signatures=False`` skips Ed25519 (and then
    trusts genesis and rotation signatures).
    """
    check_threads(threads)
    specs = record_specs(records)
    cp_rows = checkpoint_table_rows(checkpoints) if checkpoints is not None else None
    trusted = parse_log_id(log_id) if log_id is not None else None
    if cp_rows is not None and trusted is None:
        raise InvalidInputError("checkpoints need the relay's log_id to be verified")
    start = time.perf_counter()
    raw = _core.verify_columns(
        specs,
        checkpoints=cp_rows,
        log_id=trusted,
        anchors=list(anchors) if anchors is not None else None,
        threads=threads,
        check_signatures=check_signatures,
    )
    elapsed = time.perf_counter() - start
    return report_from_raw(
        raw,
        records=records.num_rows,
        checkpoint_rows=cp_rows,
        elapsed_s=elapsed,
        threads=threads,
        trusted=trusted,
        anchors_checked=anchors is not None,
        _table=records,
    )


def report_from_raw(
    raw: dict[str, Any],
    *,
    records: int,
    checkpoint_rows: Sequence[tuple[int | None, bytes | None, bytes | None, bytes | None]] | None,
    elapsed_s: float,
    threads: int | None,
    trusted: bytes | None,
    anchors_checked: bool,
    **private: Any,
) -> VerifyReport:
    """A VerifyReport from the engine's raw result (in-memory or streamed: one shape)."""
    cp_results = [
        CheckpointResult(row=i, tree_size=ts, root=root, code=CHECKPOINT_VERDICT_CODES[code])
        for i, ((ts, root, _, _), code) in enumerate(
            zip(checkpoint_rows or [], raw["checkpoint_verdicts"], strict=True)
        )
    ]
    return VerifyReport(
        records=records,
        verdicts=np.frombuffer(raw["verdicts"], dtype=np.uint8),
        reason_codes=np.frombuffer(raw["reasons"], dtype=np.uint8),
        checkpoints=cp_results,
        missing_log_positions=[(int(a), int(b)) for a, b in raw["missing_log_positions"]],
        clean=bool(raw["clean"]),
        log_checked=bool(raw["log_checked"]),
        signatures_checked=bool(raw["signatures_checked"]),
        signatures_verified=int(raw["signatures_verified"]),
        attested_size=int(raw["attested_size"]),
        largest_signed_tree_size=raw["largest_signed_tree_size"],
        elapsed_s=elapsed_s,
        threads=threads or _core.DEFAULT_THREADS,
        log_id_source="trusted" if trusted is not None else None,
        anchors_checked=anchors_checked,
        **private,
    )
