"""A relay on its own event loop in a daemon thread, for programs whose own code blocks
(phones simulated with the blocking :class:`~hashcore.RelayClient`, the demo, tests)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from ..errors import RelayError
from .server import RelayConfig, RelayServer

__all__ = ["BackgroundRelay"]

T = TypeVar("T")


class BackgroundRelay:
    """``BackgroundRelay(config).start()`` serves until :meth:`stop`; ``.server`` is the
    running :class:`RelayServer` (its bound ``port``, ``ledger``, ``anchorer``, ...)."""

    def __init__(self, config: RelayConfig, *, wait_s: float = 120.0) -> None:
        self.server = RelayServer(config)
        self._wait_s = wait_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="hashcore-relay", daemon=True)
        self._started = threading.Event()
        self._failure: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.server.start())
        except BaseException as exc:  # handed to start(), which raises it in the caller
            self._failure = exc
            self._started.set()
            return
        self._started.set()
        self._loop.run_until_complete(self.server.wait_closed())
        self._loop.close()

    def start(self) -> BackgroundRelay:
        """Start serving; raises what the relay's start-up raised (e.g. a bad config)."""
        self._thread.start()
        if not self._started.wait(self._wait_s):
            raise RelayError("DEADLINE_EXCEEDED", f"the relay did not start in {self._wait_s:g} s")
        if self._failure is not None:
            raise self._failure
        return self

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the relay's loop (where its writer and anchorer live) and wait."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self._wait_s)

    def stop(self, grace_s: float = 5.0) -> None:
        """Graceful stop (in-flight batches finish, a final checkpoint); idempotent."""
        if not self._thread.is_alive():
            return
        self.call(self.server.stop(grace_s=grace_s))
        self._thread.join(self._wait_s)
