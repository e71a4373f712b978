"""The SQL store's identity and enrollment: the log_id and store_id it is bound to,
enrollment tokens, and the devices they enrolled."""

from __future__ import annotations

import secrets
from typing import Any

from ...errors import TokenRejectedError
from .base import (
    Device,
    StoredRecord,
)
from .sql_connection import SqlConnection
from .sql_rows import (
    DEVICE_COLUMNS,
    KIND_GENESIS,
    check_int64,
    check_size,
)


class SqlEnrollment(SqlConnection):
    """Identity, tokens and devices (one transaction enrolls a device with its genesis)."""

    # ------------------------------------------------------------------ identity

    def get_log_id(self) -> bytes | None:
        with self._read("get_log_id"):
            row = self._one("SELECT value FROM meta WHERE key = ?", ("log_id",))
        return bytes(row[0]) if row else None

    def set_log_id(self, log_id: bytes) -> None:
        check_size("log_id", log_id, 32)
        with self._write("set_log_id"):
            row = self._one("SELECT value FROM meta WHERE key = ?", ("log_id",))
            if row is None:
                self._run("INSERT INTO meta (key, value) VALUES (?, ?)", ("log_id", log_id))
            elif bytes(row[0]) != log_id:
                raise self._conflict(
                    "set_log_id",
                    f"the store belongs to relay log_id {bytes(row[0]).hex()}, not {log_id.hex()}",
                )

    def get_meta(self, key: str) -> bytes | None:
        with self._read("get_meta"):
            row = self._one("SELECT value FROM meta WHERE key = ?", (f"v:{key}",))
        return bytes(row[0]) if row else None

    def set_meta(self, key: str, value: bytes) -> None:
        with self._write("set_meta"):
            row = self._one("SELECT value FROM meta WHERE key = ?", (f"v:{key}",))
            if row is None:
                self._run("INSERT INTO meta (key, value) VALUES (?, ?)", (f"v:{key}", value))
            elif bytes(row[0]) != value:
                raise self._conflict(
                    "set_meta", f"the store's {key} is {bytes(row[0])!r}, not {value!r}"
                )

    # Witness sizes live in meta under "w:" (set-once values are under "v:"): replaced
    # whenever a witness's size changes, once per checkpoint and witness at most.
    def witness_sizes(self) -> dict[str, int]:
        with self._read("witness_sizes"):
            rows = self._all("SELECT key, value FROM meta WHERE key LIKE ?", ("w:%",))
        return {str(k)[2:]: int(bytes(v)) for k, v in rows if bytes(v).isdigit()}

    def set_witness_size(self, witness: str, size: int) -> None:
        with self._write("set_witness_size"):
            self._run(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (f"w:{witness}", str(size).encode()),
            )

    def store_id(self) -> bytes:
        with self._write("store_id"):
            row = self._one("SELECT value FROM meta WHERE key = ?", ("store_id",))
            if row is None:
                made = secrets.token_bytes(16)
                self._run("INSERT INTO meta (key, value) VALUES (?, ?)", ("store_id", made))
                return made
        return bytes(row[0])

    # ------------------------------------------------------------------ enrollment

    def add_token(
        self, token_hash: bytes, participant: str, created_ms: int, expires_ms: int
    ) -> None:
        with self._write("add_token"):
            self._run(
                "INSERT INTO tokens (token_hash, participant, created_ms, expires_ms) "
                "VALUES (?, ?, ?, ?)",
                (token_hash, participant, created_ms, expires_ms),
            )

    def enroll(
        self, token_hash: bytes, now_ms: int, genesis: StoredRecord, device: Device
    ) -> Device:
        self._check_genesis(genesis, device)
        with self._write("enroll"):
            participant = self._use_token(token_hash, now_ms)
            if device.participant not in ("", participant):
                raise self._fail(
                    "enroll",
                    f"the token was issued for participant {participant!r}, "
                    f"not {device.participant!r}",
                )
            if self._one("SELECT 1 FROM devices WHERE chain_id = ?", (device.chain_id,)):
                raise self._conflict("enroll", f"chain {device.chain_id.hex()} is already enrolled")
            self._check_positions("enroll", [genesis.log_index])
            stored = Device(
                device.chain_id,
                participant,
                device.genesis_key,
                device.current_key,
                device.head_seq,
                device.head_link,
                device.enrolled_ms,
            )
            self._run(
                "INSERT INTO devices (chain_id, participant, genesis_key, current_key, "
                "head_seq, head_link, enrolled_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    stored.chain_id,
                    stored.participant,
                    stored.genesis_key,
                    stored.current_key,
                    stored.head_seq,
                    stored.head_link,
                    stored.enrolled_ms,
                ),
            )
            self._insert_records([genesis])
            self._run(
                "UPDATE tokens SET used_ms = ?, chain_id = ? WHERE token_hash = ?",
                (now_ms, device.chain_id, token_hash),
            )
        return stored

    def _check_genesis(self, genesis: StoredRecord, device: Device) -> None:
        # The store keeps the device's head next to its records; a head that disagrees
        # with the genesis would make the relay accept the wrong seq 1.
        if genesis.chain_id != device.chain_id:
            raise self._fail(
                "enroll",
                f"genesis chain_id {genesis.chain_id.hex()} is not the device's "
                f"{device.chain_id.hex()}",
            )
        if (genesis.seq, genesis.kind) != (0, KIND_GENESIS):
            raise self._fail(
                "enroll",
                f"genesis must be kind 0 at seq 0, got kind {genesis.kind} at seq {genesis.seq}",
            )
        if (device.head_seq, device.head_link) != (0, genesis.link):
            raise self._fail("enroll", "the device's head must be its genesis record")
        check_int64("log_index", genesis.log_index)

    def _use_token(self, token_hash: bytes, now_ms: int) -> str:
        """Check the token inside the enroll transaction; return its participant."""
        row = self._one(
            "SELECT participant, expires_ms, used_ms FROM tokens WHERE token_hash = ?",
            (token_hash,),
        )
        if row is None:
            raise TokenRejectedError("unknown", f"{self._where}: enroll: unknown token")
        participant, expires_ms, used_ms = row
        if used_ms is not None:
            raise TokenRejectedError(
                "used", f"{self._where}: enroll: the token was already used (at {used_ms} ms)"
            )
        # expires_ms is the first instant at which the token is no longer valid.
        if now_ms >= expires_ms:
            raise TokenRejectedError(
                "expired", f"{self._where}: enroll: the token expired at {expires_ms} ms"
            )
        return str(participant)

    def enrolled_with(self, token_hash: bytes, chain_id: bytes) -> bool:
        with self._read("enrolled_with"):
            row = self._one(
                "SELECT 1 FROM tokens WHERE token_hash = ? AND chain_id = ?",
                (token_hash, chain_id),
            )
        return row is not None

    def get_device(self, chain_id: bytes) -> Device | None:
        with self._read("get_device"):
            row = self._one(
                f"SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.chain_id = ?", (chain_id,)
            )
        return Device(*row) if row else None

    def list_devices(self, participant: str | None = None) -> list[Device]:
        # Enrollment order is the log order of the genesis records: enroll() appends the
        # genesis in the same transaction as the device, and the log only grows. A
        # correlated subquery makes that one index probe per device; a join let SQLite
        # scan the whole records table.
        sql = f"SELECT {DEVICE_COLUMNS} FROM devices d"
        params: tuple[Any, ...] = ()
        if participant is not None:
            sql += " WHERE d.participant = ?"
            params = (participant,)
        order = (
            " ORDER BY (SELECT r.log_index FROM records r "
            "WHERE r.chain_id = d.chain_id AND r.seq = 0)"
        )
        with self._read("list_devices"):
            rows = self._all(sql + order, params)
        return [Device(*row) for row in rows]
