"""The demo's witnesses (issue 11, SPEC v2 2.3): the trial site, the CRO and the ethics
board, each a real C2SP tlog-witness (:class:`hashcore.witness.server.WitnessServer`, the
server of ``hashcore witness serve``) on loopback, with its own key file and SQLite state
under ``DIR/witnesses/``. The relay pushes every checkpoint to them, and the policy asks
for 2 of the 3.

They run in this process, on one event loop in a daemon thread, because they run on the
trial's clock (:class:`hashcore.sim.trial.TrialClock`), as the relay does: a cosignature's
timestamp says "this witness saw the checkpoint by then", and the audit uses those times as
bounds no relay clock can move (SPEC 5.2 witness clocks, 5.3 ``upper_witnessed``, the
merge-delay deadline). Weeks of a trial pass in seconds here; witnesses on the wall clock
would date every checkpoint months after the records it covers, and every bound would say
nothing. The clock is a constructor argument only: ``hashcore witness serve`` has no flag
for it, so no real witness can be set to sign another time than its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from .. import _core
from ..errors import HashcoreError
from ..witness.config import LogSpec, WitnessConfig, load_witness_key
from ..witness.protocol import encode_add_checkpoint
from ..witness.pusher import WitnessEndpoint
from ..witness.server import WitnessServer

__all__ = ["QUORUM", "WITNESSES", "DemoWitnesses"]

T = TypeVar("T")

#: (C2SP key name, who runs it), in policy order.
WITNESSES = (
    ("witness.site-a.example", "the trial site"),
    ("witness.cro.example", "the CRO"),
    ("witness.ethics-board.example", "the ethics board"),
)
#: Cosignatures a checkpoint needs (the policy's witness_quorum): no one party suffices.
QUORUM = 2
_WAIT_S = 30.0


class DemoWitnesses:
    """``DemoWitnesses(dir, origin, log_key, clock_ms).start()`` serves until :meth:`stop`."""

    def __init__(
        self, directory: Path, origin: str, log_key: bytes, clock_ms: Callable[[], int]
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)

        def clock_s() -> float:
            return clock_ms() / 1000  # a cosignature's time is in seconds (SPEC 2.3)

        self.servers = [
            WitnessServer(
                WitnessConfig(
                    name=name,
                    key_file=directory / f"{name}.key",
                    db_path=directory / f"{name}.db",
                    logs=[LogSpec(origin, log_key)],
                    listen="127.0.0.1:0",
                ),
                clock=clock_s,
            )
            for name, _ in WITNESSES
        ]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.name = "hashcore-demo-witnesses"

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(_WAIT_S)

    def start(self) -> DemoWitnesses:
        self._thread.start()
        try:
            for server in self.servers:
                self._call(server.start())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the servers (closing their state) and the loop; idempotent."""
        if not self._thread.is_alive():
            return
        for server in self.servers:
            if server.port:
                self._call(server.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_WAIT_S)

    def endpoints(self) -> tuple[WitnessEndpoint, ...]:
        """The witnesses as the relay's ``--witness URL,NAME,KEY`` names them."""
        return tuple(WitnessEndpoint(s.url, s.cfg.name, s.key) for s in self.servers)

    def seeds(self) -> tuple[tuple[str, bytes], ...]:
        """(name, secret seed) of each, from its key file: the demo plays every party, so
        its fraud stage may sign as a witness (attacks where the witnesses are fooled)."""
        return tuple((s.cfg.name, load_witness_key(s.cfg.key_file)) for s in self.servers)

    def cosigned_by(self, note: bytes) -> list[str]:
        """The witnesses with a valid cosignature on ``note``."""
        named = []
        for s in self.servers:
            try:
                if _core.note_witness_times(note, s.cfg.name, s.key):
                    named.append(s.cfg.name)
            except HashcoreError:
                continue
        return named

    def show_split_view(self, log_seed: bytes, origin: str, tree_size: int) -> dict[str, int]:
        """Play a relay that forks its log: sign another root at ``tree_size`` (which every
        witness cosigned) and ask each witness to cosign it, as a split view must to fool
        a device that checks witnesses. Returns each witness's HTTP status (C2SP
        tlog-witness: 422, the consistency proof fails; the witness keeps the signed fork
        as evidence)."""
        fork_root = hashlib.sha256(b"hashcore demo: another history").digest()
        note = _core.note_sign(log_seed, origin, tree_size, fork_root)
        body = encode_add_checkpoint(tree_size, [], note)
        answers = {}
        for s in self.servers:
            request = urllib.request.Request(f"{s.url}/add-checkpoint", data=body, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=_WAIT_S) as response:
                    answers[s.cfg.name] = int(response.status)
            except urllib.error.HTTPError as e:
                answers[s.cfg.name] = int(e.code)
        return answers
