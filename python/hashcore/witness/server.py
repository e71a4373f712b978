"""A C2SP tlog-witness (SPEC 2.3): ``POST /add-checkpoint`` over aiohttp, the monitoring
``GET /<origin hash>/checkpoint``, ``GET /healthz``, and ``/metrics`` on its own listener.

Answers (C2SP tlog-witness, checked in this order): 400 malformed request or checkpoint
body, or old size larger than the checkpoint's; 404 unknown origin; 403 no valid line by
the log's key (or a failing or repeated one: SPEC 2.2 rejects such a note); 422 a size-0
checkpoint whose root isn't SHA256(""), a proof from size 0, or a consistency proof that
doesn't verify (which includes another root at the cosigned size); 409 with
``text/x.tlog.size`` when the old size isn't the cosigned one; 413 for a body larger than
the largest well-formed request; 200 with the cosignature line after the new size is on
disk. Nothing is stored for anything but a 200, except that a checkpoint with a valid log
signature refused with 422 is kept as evidence of a split view (tlog-witness allows it;
``WitnessState.conflicts``; at most ``MAX_CONFLICTS`` per origin).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .. import _core
from ..errors import HashcoreError, WitnessError
from .config import LogSpec, WitnessConfig, load_or_create_witness_key
from .metrics import WitnessMetrics
from .protocol import (
    MAX_REQUEST_BYTES,
    SIZE_CONTENT_TYPE,
    SizeConflictError,
    cosignature_line,
    origin_hash,
    parse_add_checkpoint,
)
from .state import EMPTY_ROOT, WitnessState

__all__ = ["Witness", "WitnessServer", "split_host_port"]

log = logging.getLogger("hashcore.witness")
_DASH = "\u2014".encode()


@dataclass(frozen=True)
class _Checked:
    origin: str
    tree_size: int
    root: bytes
    text: bytes
    log_lines: bytes


class Witness:
    """The witness's decisions, without HTTP: ``add_checkpoint(body)`` gives the 200 body or
    raises ``WitnessError`` with the status to answer. Blocking (fsync): call it off the
    event loop."""

    def __init__(
        self,
        name: str,
        seed: bytes,
        logs: list[LogSpec],
        state: WitnessState,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self._seed = seed
        self.key = _core.public_key_from_seed(seed)
        self.logs = {spec.origin: spec for spec in logs}
        self.state = state
        self._clock = clock

    @property
    def verifier_key(self) -> str:
        """The witness's C2SP verifier key (``name+id+b64(0x04||key)``, tlog-cosignature)."""
        return _core.note_verifier_key(self.name, 0x04, self.key)

    def _check_note(self, note: bytes) -> _Checked:
        try:
            text, sigs = _core.note_parse(note)
        except HashcoreError as e:
            raise WitnessError(400, f"checkpoint note: {e}") from None
        origin = text.split(b"\n", 1)[0].decode("utf-8", "replace")
        spec = self.logs.get(origin)
        if spec is None:
            # The origin is the client's text: repeat at most 200 characters of it.
            raise WitnessError(404, f"unknown log origin {origin[:200]!r}")
        try:
            _, tree_size, root = _core.checkpoint_parse_body(text)
        except HashcoreError as e:
            raise WitnessError(400, f"checkpoint body: {e}") from None
        try:
            _core.note_verify(note, origin, spec.log_key)
        except HashcoreError as e:
            raise WitnessError(403, f"checkpoint signature: {e}") from None
        key_id = _core.log_key_id(origin, spec.log_key)
        # The note kept for monitors: the log's line and ours, not other witnesses' lines
        # (which could push it past SPEC 2.2's 100 lines).
        log_lines = b"".join(
            _DASH + b" " + n.encode() + b" " + base64.b64encode(k + s) + b"\n"
            for n, k, s in sigs
            if n == origin and k == key_id
        )
        return _Checked(origin, tree_size, root, text, log_lines)

    def add_checkpoint(self, body: bytes) -> bytes:
        """The cosignature line(s) for a valid request, once the new state is durable.

        Raises:
            WitnessError: the status to answer (409 as ``SizeConflictError``).
        """
        return self.cosign(body)[2]

    def cosign(self, body: bytes) -> tuple[str, int, bytes]:
        """``add_checkpoint``, also giving the origin and size cosigned."""
        req = parse_add_checkpoint(body)
        cp = self._check_note(req.note)
        if req.old_size > cp.tree_size:
            raise WitnessError(
                400, f"old size {req.old_size} is larger than the checkpoint's {cp.tree_size}"
            )
        # tlog-witness: the timestamp MUST NOT be zero; SPEC 2.3: at most 2^63 - 1.
        t = min(max(1, int(self._clock())), _core.COSIGNATURE_MAX_TIME)
        line = cosignature_line(self.name, self.key, _core.cosignature_sign(self._seed, t, cp.text))
        try:
            if cp.tree_size == 0 and cp.root != EMPTY_ROOT:
                raise WitnessError(422, 'a checkpoint of size 0 must have the root SHA256("")')
            self.state.advance(
                cp.origin,
                req.old_size,
                cp.tree_size,
                cp.root,
                req.proof,
                cp.text + b"\n" + cp.log_lines + line,
            )
        except WitnessError as e:
            if e.status == 422:
                # Signed by the log, inconsistent with what was cosigned: keep as evidence.
                self.state.record_conflict(
                    cp.origin, cp.tree_size, cp.root, cp.text + b"\n" + cp.log_lines, str(e)
                )
            raise
        return cp.origin, cp.tree_size, line


def split_host_port(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise WitnessError(0, f"expected HOST:PORT, got {listen!r}")
    return host.strip("[]"), int(port)


class WitnessServer:
    """A running witness: ``await start()``, ``url``, ``await stop()``."""

    def __init__(self, cfg: WitnessConfig, clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.metrics = WitnessMetrics()
        seed, self.key_created = load_or_create_witness_key(cfg.key_file)
        key = _core.public_key_from_seed(seed)
        cfg.check(key)
        self.state = WitnessState(cfg.db_path, key)
        self.witness = Witness(cfg.name, seed, cfg.logs, self.state, clock)
        self._runners: list[web.AppRunner] = []
        self.port = 0
        self.metrics_port = 0
        self.metrics.logs.set(len(cfg.logs))
        for origin, size in self.state.sizes().items():
            self.metrics.cosigned_size.labels(origin).set(size)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def key(self) -> bytes:
        return self.witness.key

    def _app(self, *, main: bool) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_get("/healthz", self._health)
        if main:
            app.router.add_post("/add-checkpoint", self._add_checkpoint)
            app.router.add_get("/{origin_hash:[0-9a-f]{64}}/checkpoint", self._checkpoint)
        if not main or self.cfg.metrics_listen is None:
            app.router.add_get("/metrics", self._metrics)
        return app

    async def _serve(self, app: web.Application, listen: str) -> int:
        host, port = split_host_port(listen)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        return int(runner.addresses[0][1])

    async def start(self) -> None:
        self.port = await self._serve(self._app(main=True), self.cfg.listen)
        if self.cfg.metrics_listen is not None:
            self.metrics_port = await self._serve(self._app(main=False), self.cfg.metrics_listen)
        log.info("witness %s listening on %s (key %s)", self.cfg.name, self.url, self.key.hex())

    async def stop(self) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        self.state.close()

    async def _add_checkpoint(self, request: web.Request) -> web.Response:
        start = time.perf_counter()
        try:
            try:
                # A client that sends slowly holds a connection: bound the whole body read.
                body = await asyncio.wait_for(request.read(), self.cfg.read_timeout)
            except TimeoutError:
                raise web.HTTPRequestTimeout(text="request body not received in time\n") from None
            try:
                origin, size, line = await asyncio.to_thread(self.witness.cosign, body)
            except SizeConflictError as e:
                resp = web.Response(
                    status=409, body=f"{e.known_size}\n".encode(), content_type=SIZE_CONTENT_TYPE
                )
            except WitnessError as e:
                resp = web.Response(status=e.status, text=f"{e}\n")
            else:
                resp = web.Response(status=200, body=line, content_type="text/plain")
                self.metrics.cosigned_size.labels(origin).set(size)
        except web.HTTPException as e:  # 413 from aiohttp's body limit, 408
            self.metrics.requests.labels(str(e.status)).inc()
            raise
        self.metrics.requests.labels(str(resp.status)).inc()
        self.metrics.latency.observe(time.perf_counter() - start)
        return resp

    async def _checkpoint(self, request: web.Request) -> web.Response:
        wanted = request.match_info["origin_hash"]
        for origin in self.witness.logs:
            if origin_hash(origin) == wanted:
                got = await asyncio.to_thread(self.state.get, origin)
                if got is not None:
                    return web.Response(
                        body=got.note,
                        content_type="text/plain",
                        charset="utf-8",
                        headers={"Cache-Control": "no-store"},
                    )
        return web.Response(status=404, text="no checkpoint cosigned for that log\n")

    async def _health(self, _request: web.Request) -> web.Response:
        try:
            await asyncio.to_thread(self.state.ping)
            sizes = await asyncio.to_thread(self.state.sizes)
            conflicts = await asyncio.to_thread(self.state.conflict_counts)
            status, code = "SERVING", 200
        except Exception as e:  # any failure to read the state file is "not serving"
            log.warning("witness state unreadable: %s", e)
            sizes, conflicts, status, code = {}, {}, "NOT_SERVING", 503
        body = {
            "status": status,
            "name": self.cfg.name,
            "key": self.key.hex(),
            "verifier_key": self.witness.verifier_key,
            "logs": [
                {
                    "origin": o,
                    "cosigned_tree_size": sizes.get(o),
                    "conflicting_checkpoints": conflicts.get(o, 0),
                }
                for o in self.witness.logs
            ],
        }
        return web.Response(status=code, text=json.dumps(body), content_type="application/json")

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self.metrics.registry),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )
