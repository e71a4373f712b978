"""Assembling and running a relay: store, ledger, gRPC server (health, reflection, TLS),
metrics endpoint, checkpoint timer, graceful stop.

    config = RelayConfig(store="relay.db", listen="127.0.0.1:7443", plaintext=True)
    async with RelayServer(config) as relay:   # started; relay.port is the bound port
        await relay.wait_closed()              # until SIGTERM/SIGINT or relay.stop()

SIGTERM: stop accepting calls, let in-flight batches finish (``grace_s``), sign a final
checkpoint over everything acknowledged, close the store. The settings and their start-up
checks are in ``config.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import time
from types import TracebackType
from typing import Any

from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from .. import _core
from .config import RelayConfig, default_origin, split_hostport
from .grpc_api import add_operator_servicer, add_relay_servicer
from .interceptors import RelayInterceptor
from .keys import (
    check_key_binding,
    load_key,
    load_or_create_key,
    load_or_create_operator_token,
    record_key_binding,
)
from .ledger import Ledger
from .listening import bind_grpc_port
from .metrics import RelayMetrics
from .service import OperatorService, RelayService, Writer
from .store import Store, describe_target, open_store
from .store.base import StoredCheckpoint
from .v2 import relay_pb2 as pb

__all__ = ["RelayConfig", "RelayServer", "load_or_create_operator_token"]

log = logging.getLogger("hashcore.relay")

#: Health-service name for anchoring (the relay keeps ingesting when the chain is down).
ANCHORING_SERVICE = "hashcore.relay.v2.Anchoring"

_SERVICE_NAMES = (
    pb.DESCRIPTOR.services_by_name["Relay"].full_name,
    pb.DESCRIPTOR.services_by_name["Operator"].full_name,
)


class RelayServer:
    def __init__(self, config: RelayConfig) -> None:
        config.check()
        self.config = config
        self.metrics = RelayMetrics()
        self._server: aio.Server | None = None
        self._writer: Writer | None = None
        self._witnessing: Any = None
        self._health: health.aio.HealthServicer | None = None
        self._timer: asyncio.Task[None] | None = None
        self._metrics_server: Any = None
        self._tiles: Any = None  # tiles_source.TilesServing with --tiles-listen
        self.tiles_port = 0
        self._http: Any = None  # connect_face.HttpFace with --http-listen
        self.http_port = 0
        self._closed = asyncio.Event()
        self._stopping = False
        self.port = 0
        self.metrics_port = 0
        self.ledger: Ledger | None = None
        self.operator_token = ""
        self.chain: Any = None  # hashcore.anchor.EvmChain when anchoring
        self.anchorer: Any = None  # hashcore.anchor.Anchorer when anchoring
        self.contract: str | None = None
        self._embedded: Any = None  # hashcore.anchor.embedded.EmbeddedAnvil
        self._anchor_task: asyncio.Task[None] | None = None

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> RelayServer:
        cfg = self.config
        if cfg.key_dir is not None:
            cfg.key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        key_file = cfg.resolved_key_file()
        # An existing key is checked before the store is touched; a new key and token are
        # made only once this relay holds the store (a relay refused creates nothing).
        known_seed = load_key(key_file) if key_file.exists() else None
        store = await asyncio.to_thread(
            functools.partial(open_store, cfg.store, exclusive=not cfg.frontend)
        )
        try:
            if cfg.frontend:  # frontends share the log's key: never make a second one
                from .frontend_setup import check_frontend_key

                check_frontend_key(key_file, known_seed, store)
            seed, created = (
                (known_seed, False) if known_seed is not None else load_or_create_key(key_file)
            )
            if created:
                log.warning(
                    "created a new relay key at %s (keep it safe: it is the log's identity)",
                    key_file,
                )
            self.operator_token = load_or_create_operator_token(cfg.resolved_token_file())
            self.ledger = await asyncio.to_thread(self._open_ledger, store, seed)
        except BaseException:
            store.close()
            raise
        ledger = self.ledger
        try:
            await self._start_anchoring(ledger)
        except BaseException:
            if self._embedded is not None:
                await asyncio.to_thread(self._embedded.stop)
            store.close()
            raise
        self.metrics.log_size.set(ledger.size)
        self.metrics.track_checkpoint_age(
            lambda: ledger.latest.created_ms if ledger.latest else None
        )
        self._writer = Writer(ledger, self.metrics, cfg.group_max_records)
        self._writer.start()
        if cfg.frontend:
            ledger.start()  # type: ignore[attr-defined]  # FrontendLedger: elect, follow
        self._server = aio.server(
            interceptors=[RelayInterceptor(self.operator_token.encode())],
            options=[
                ("grpc.max_receive_message_length", cfg.max_message_bytes),
                ("grpc.max_send_message_length", cfg.max_message_bytes),
                ("grpc.so_reuseport", 0),
            ],
        )
        anchor_info = self._anchor_pb if self.anchorer is not None else None
        relay_service = RelayService(self._writer, anchor_info)
        operator_service = OperatorService(self._writer, cfg.token_ttl_s)
        add_relay_servicer(relay_service, self._server)
        add_operator_servicer(operator_service, self._server)
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            (
                *_SERVICE_NAMES,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            self._server,
        )
        self.port = bind_grpc_port(self._server, cfg)
        await self._server.start()
        for name in ("", *_SERVICE_NAMES):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        if cfg.http_listen:
            from .connect_face import HttpFace  # connectrpc, hypercorn: only when asked

            self._http = await HttpFace(
                cfg, relay_service, operator_service, self.operator_token
            ).start()
            self.http_port = self._http.port
        if cfg.metrics_listen:
            self._start_metrics(cfg.metrics_listen)
        self._timer = asyncio.create_task(self._checkpoint_timer(), name="hashcore-checkpoints")
        if cfg.witnesses:
            from .frontend_duties import start_for_config

            self._witnessing = await start_for_config(
                cfg, self._writer, ledger, self.metrics.registry
            )
        if cfg.tiles_listen:
            from .tiles_source import start_tiles_serving

            self._tiles = await start_tiles_serving(
                cfg.store, ledger.origin, ledger.log_key, cfg.tiles_listen
            )
            self.tiles_port = self._tiles.port
        if self.anchorer is not None:
            self._anchor_task = asyncio.create_task(self._run_anchorer(), name="hashcore-anchorer")
        log.info(
            "relay %s serving on %s:%d (%s), origin %s, store %s, %d records",
            ledger.log_id.hex(),
            split_hostport(cfg.listen)[0],
            self.port,
            "plaintext" if cfg.plaintext else ("mTLS" if cfg.client_ca else "TLS"),
            ledger.origin,
            cfg.store,
            ledger.size,
        )
        return self

    def _open_ledger(self, store: Store, seed: bytes) -> Ledger:
        """The ledger, once the key and the store agree they belong together: the store
        refuses another key (Ledger), the key refuses another store (its binding file)."""
        cfg = self.config
        key_file = cfg.resolved_key_file()
        where = describe_target(cfg.store)
        store_id = store.store_id()
        check_key_binding(key_file, store_id, where)
        origin = cfg.origin
        if origin is None:
            named = store.get_meta("origin")
            origin = (
                named.decode(errors="replace")
                if named is not None
                else default_origin(_core.public_key_from_seed(seed))
            )
        if cfg.frontend:
            from .frontend_ledger import FrontendLedger

            ledger: Ledger = FrontendLedger(
                store,
                seed,
                url=cfg.store,
                origin=origin,
                checkpoint_every=cfg.checkpoint_every,
                limits=cfg.limits,
                clock=cfg.clock,
                sequence_wait_s=cfg.sequence_wait_s,
                sequencer_lease_s=cfg.sequencer_lease_s,
            )
        else:
            ledger = Ledger(
                store,
                seed,
                origin=origin,
                checkpoint_every=cfg.checkpoint_every,
                limits=cfg.limits,
                clock=cfg.clock,
            )
        record_key_binding(key_file, store_id, where)
        return ledger

    async def _start_anchoring(self, ledger: Ledger) -> None:
        """Connect the chain, find or deploy the contract, check the configuration. A
        misconfigured chain refuses to start (AnchorError, one line)."""
        cfg = self.config
        if cfg.evm == "none":
            return
        from ..anchor import Anchorer, EvmChain  # web3 is heavy: only when anchoring

        if cfg.evm == "embedded":
            from ..anchor.embedded import EMBEDDED_KEY, EmbeddedAnvil

            # Started from this thread, the event loop's, on purpose: anvil's
            # PR_SET_PDEATHSIG follows the thread that made it, and this one lives as long
            # as the relay. (Blocks the loop for the ~0.3 s anvil takes, before serving.)
            self._embedded = EmbeddedAnvil.start(cfg.resolved_evm_state_file())
            self.chain = EvmChain.embedded_node(
                self._embedded.url, EMBEDDED_KEY, bury_blocks=cfg.confirmations
            )
        else:
            assert cfg.evm_url and cfg.evm_key
            self.chain = await asyncio.to_thread(EvmChain.connect, cfg.evm_url, cfg.evm_key)
        contract = cfg.evm_contract or await asyncio.to_thread(self._known_contract, ledger)
        if cfg.evm == "embedded" and not cfg.evm_contract:
            contract = await asyncio.to_thread(self._embedded_contract, ledger, contract)
        if cfg.frontend:  # one contract and one account for every frontend of the log
            from .frontend_anchoring import shared_contract

            args = (cfg.store, self.chain, cfg.evm_contract, contract)
            contract = await asyncio.to_thread(shared_contract, *args)
        if contract is None:
            contract = await asyncio.to_thread(self.chain.deploy_anchor_contract)
            if cfg.evm == "url":
                log.warning(
                    "deployed a new anchor contract at %s; pass --evm-contract %s from now on",
                    contract,
                    contract,
                )
        self.contract = contract
        assert contract is not None
        make = functools.partial(
            Anchorer,
            ledger.store,
            self.chain,
            contract,
            interval_s=cfg.anchor_interval_s,
            confirmations=cfg.confirmations,
            expected_chain_id=cfg.evm_chain_id,
            log=log,
        )
        if cfg.frontend:  # anchors only while this frontend sequences
            from .frontend_anchoring import AnchorDuty

            self.anchorer = AnchorDuty(make, ledger)
        else:
            self.anchorer = make()
        await self.anchorer.preflight()
        anchorer = self.anchorer
        self.metrics.anchor_failures.set_function(lambda: anchorer.status.consecutive_failures)
        self.metrics.anchored_size.set_function(lambda: anchorer.status.final_tree_size or 0)

    def _embedded_contract(self, ledger: Ledger, known: str | None) -> str | None:
        """The embedded chain's anchor contract: the one the store anchored to, else the
        first contract the embedded account created (its nonce-0 deployment, so a store
        that never anchored finds it too); None: deploy one."""
        from eth_utils.address import to_checksum_address
        from eth_utils.crypto import keccak

        if known is not None and self.chain.code_at(known):
            return known
        if known is not None:
            self._forget_lost_chain(ledger, known)
        # CREATE address of (sender, nonce 0): keccak(rlp([sender, 0]))[12:].
        sender = bytes.fromhex(self.chain.address.removeprefix("0x"))
        first = to_checksum_address(keccak(b"\xd6\x94" + sender + b"\x80")[12:])
        return first if self.chain.code_at(first) else None

    def _forget_lost_chain(self, ledger: Ledger, contract: str) -> None:
        """The embedded chain's state lost the contract (state files deleted, or a crash
        before the first dump): its anchors are gone, so the store must stop claiming
        them; the newest checkpoint is anchored again on a new contract."""
        chain_id = self.chain.chain_id()
        lost = [
            cp.tree_size
            for cp in ledger.store.list_checkpoints()
            if cp.anchor is not None
            and cp.anchor.evm_chain_id == chain_id
            and cp.anchor.contract.lower() == contract.lower()
        ]
        log.warning(
            "EVM: the embedded chain (%s) holds no contract at %s: its state lags the "
            "store; forgetting the %d anchors made on it and deploying a new contract",
            self.config.resolved_evm_state_file(),
            contract,
            len(lost),
        )
        for tree_size in lost:
            ledger.store.set_anchor(tree_size, None)

    def _known_contract(self, ledger: Ledger) -> str | None:
        """The contract this store's checkpoints were anchored to on this chain, if any."""
        chain_id = self.chain.chain_id()
        for cp in reversed(ledger.store.list_checkpoints()):
            if cp.anchor is not None and cp.anchor.evm_chain_id == chain_id:
                return cp.anchor.contract
        return None

    def _anchor_pb(self, cp: StoredCheckpoint) -> pb.Anchor | None:
        receipt = self.anchorer.anchor_receipt(cp.anchor)
        if receipt is None:
            return None
        return pb.Anchor(
            evm_chain_id=receipt.evm_chain_id,
            contract=receipt.contract,
            tx_hash=receipt.tx_hash,
            block_number=-1 if receipt.block_number is None else receipt.block_number,
            confirmations=receipt.confirmations,
            final=receipt.final,
        )

    async def _run_anchorer(self) -> None:
        """The anchorer's loop, and the health of the "hashcore.relay.v2.Anchoring" service
        (NOT_SERVING while the chain is unreachable or misconfigured; ingest goes on)."""
        run = asyncio.create_task(self.anchorer.run())
        try:
            while not run.done():
                if self._health is not None:
                    serving = health_pb2.HealthCheckResponse.SERVING
                    status = (
                        serving
                        if self.anchorer.status.healthy
                        else health_pb2.HealthCheckResponse.NOT_SERVING
                    )
                    await self._health.set(ANCHORING_SERVICE, status)
                await asyncio.wait({run}, timeout=0.5)
        finally:
            if not run.done():
                self.anchorer.stop()
                await run

    def _start_metrics(self, listen: str) -> None:
        from prometheus_client import start_http_server

        host, port = split_hostport(listen)
        server, _thread = start_http_server(port, addr=host, registry=self.metrics.registry)
        self._metrics_server = server
        self.metrics_port = int(server.server_address[1])

    async def witnesses_settle(self, tree_size: int, timeout_s: float) -> bool:
        """Push the newest checkpoint to the witnesses now and wait (at most ``timeout_s``)
        until every reachable one cosigned ``tree_size``; True when they all did (and
        without witnesses). For programs that sign checkpoints themselves (the demo)."""
        if self._witnessing is None:
            return True
        ok: bool = await self._witnessing.settle(tree_size, timeout_s)
        return ok

    async def _checkpoint_timer(self) -> None:
        assert self._writer is not None and self.ledger is not None
        while True:
            await asyncio.sleep(self.config.checkpoint_interval_s)
            try:
                cp = await self._writer.call(self.ledger.checkpoint)
                if cp is not None:
                    self.metrics.checkpoint_size.set(cp.tree_size)
            except Exception:
                log.exception("signing a timed checkpoint failed; will retry")

    async def stop(self, grace_s: float | None = None) -> None:
        """Graceful stop: refuse new calls, finish in-flight ones, final checkpoint, close."""
        if self._stopping:
            await self._closed.wait()
            return
        self._stopping = True
        grace = self.config.grace_s if grace_s is None else grace_s
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        if self._timer is not None:
            self._timer.cancel()
        if self._anchor_task is not None:
            self.anchorer.stop()
            self._anchor_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._anchor_task
        if self._server is not None:
            await self._server.stop(grace)
        if self._http is not None:
            await self._http.stop()
        if self._writer is not None and self.ledger is not None:
            await self._writer.drain()
            cp = None
            try:
                cp = await self._writer.call(self.ledger.checkpoint)
                if cp is not None:
                    log.info("final checkpoint at tree_size %d", cp.tree_size)
            except Exception:
                log.exception("final checkpoint failed")
            # A frontend anchors its final checkpoint only if it sequences (AnchorDuty).
            if cp is not None and getattr(self.anchorer, "anchors_here", self.anchorer):
                await self._anchor_final(cp.tree_size)
            if self._witnessing is not None:
                if cp is not None:
                    # A bounded chance for the witnesses to cosign the final checkpoint.
                    await self._witnessing.settle(cp.tree_size, timeout_s=5.0)
                await self._witnessing.stop()
            await self._writer.close()
            if self.config.frontend:  # let go of the sequencer lock before the store
                await asyncio.to_thread(self.ledger.stop)  # type: ignore[attr-defined]
            self.ledger.store.close()
        if self._embedded is not None:
            await asyncio.to_thread(self._embedded.stop)  # anvil dumps the chain's state
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
        if self._tiles is not None:
            await self._tiles.stop()
        log.info("relay stopped")
        self._closed.set()

    async def _anchor_final(self, tree_size: int) -> None:
        """Anchor the final checkpoint and wait (at most ``stop_anchor_wait_s``) for the
        anchor to be final, so that a stopped relay's export is vouched for on chain. Not
        final in time: said loudly; the next start follows it up."""
        wait = self.config.stop_anchor_wait_s
        deadline = time.monotonic() + wait
        status = self.anchorer.status
        try:
            await self.anchorer.anchor_once()
            while (status.final_tree_size or 0) < tree_size and time.monotonic() < deadline:
                await asyncio.sleep(min(self.anchorer.finality_poll_s, 0.5))
                await self.anchorer.follow_once()
        except Exception as exc:
            log.error("anchoring the final checkpoint (tree_size %d) failed: %s", tree_size, exc)
            return
        if (status.final_tree_size or 0) >= tree_size:
            log.info("final checkpoint at tree_size %d is anchored and final", tree_size)
        else:
            log.warning(
                "the final checkpoint at tree_size %d is anchored but NOT FINAL after %g s "
                "(anchors final up to tree_size %s); the next start follows it up",
                tree_size,
                wait,
                status.final_tree_size,
            )

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(self.stop()))

    async def __aenter__(self) -> RelayServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
