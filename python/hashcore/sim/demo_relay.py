"""The demo's relay and chains: the relay's settings (SQLite, the embedded EVM chain, the
witnesses, the trial's clock), signing and anchoring a checkpoint until final, the relay's
log lines kept out of the progress, the relay's log as report.json tells it, its chain read
back after it stopped, and a fresh chain for the attacks that write anchors."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import HashcoreError
from .demo_witnesses import QUORUM, DemoWitnesses

if TYPE_CHECKING:
    from ..relay.background import BackgroundRelay

__all__ = [
    "CONFIRMATIONS",
    "ORIGIN",
    "WAIT_S",
    "DemoError",
    "anchor_final",
    "attack_chain",
    "chain_read_back",
    "relay_config",
    "relay_json",
    "relay_log",
]

#: Blocks (the anchoring one included) before an anchor counts as final.
CONFIRMATIONS = 2
#: The demo relay's log name (SPEC 2.2), in every checkpoint and in the policy.
ORIGIN = "relay.sponsor.example/insomnia-trial"
WAIT_S = 120.0


class DemoError(HashcoreError):
    """The demo could not run (one line says why)."""


def relay_config(relay_dir: Path, clock: Any, witnesses: DemoWitnesses) -> Any:
    from ..relay.ledger import Limits
    from ..relay.server import RelayConfig

    return RelayConfig(
        store=str(relay_dir / "relay.db"),
        listen="127.0.0.1:0",
        plaintext=True,
        origin=ORIGIN,
        # Every checkpoint goes to the three witnesses (issue 11); 2 of 3 make it witnessed.
        witnesses=witnesses.endpoints(),
        witness_quorum=QUORUM,
        # The demo signs and anchors one checkpoint per trial week itself, between days,
        # so the bundle's checkpoint sizes depend on the seed only, never on timing: no
        # size- or time-triggered checkpoints, and the anchorer's own loop (which would
        # race our passes) waits an hour. A production relay uses both timers instead.
        checkpoint_every=10**12,
        checkpoint_interval_s=3600.0,
        evm="embedded",
        confirmations=CONFIRMATIONS,
        anchor_interval_s=3600.0,
        grace_s=5.0,
        # The simulated phones keep the trial's fixed dates (from 2026-01-05, so that a
        # seed always gives the same bundle) while the relay's clock is the real one:
        # without this, the demo would be refused once those dates are a year old.
        limits=Limits(max_clock_behind_ms=100 * 365 * 86_400_000),
        # The relay runs on the trial's clock, so that it receives each entry after the
        # phone made it (protocol v2 bounds every record's time by the log's).
        clock=clock,
    )


def anchor_final(relay: BackgroundRelay, operator: Any) -> int:
    """Sign a checkpoint over the whole log, anchor it and bury it until final; returns
    its tree_size. Blocks are mined explicitly: no waiting for the chain's clock."""
    server = relay.server
    cp = operator.create_checkpoint()
    # The witnesses cosign it now, on the trial's clock (the day it was signed), before the
    # phones move on: the cosigned times are then the trial's, whatever the load.
    if not relay.call(server.witnesses_settle(cp.tree_size, WAIT_S)):
        raise DemoError(f"the witnesses did not all cosign the checkpoint of {cp.tree_size}")
    relay.call(server.anchorer.anchor_once())
    for _ in range(CONFIRMATIONS + 2):
        if (server.anchorer.status.final_tree_size or -1) >= cp.tree_size:
            return int(cp.tree_size)
        server.chain.mine(1)
        relay.call(server.anchorer.follow_once())
    raise DemoError(
        f"the checkpoint of tree_size {cp.tree_size} did not become final: "
        f"{server.anchorer.status.last_error or 'no error reported'}"
    )


@contextmanager
def relay_log(path: Path) -> Iterator[None]:
    """Send the relay's and the anchorer's log lines to ``path``, not over the progress."""
    logger = logging.getLogger("hashcore")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        handler.close()
        logger.handlers[:], logger.level, logger.propagate = saved


def relay_json(store_path: Path, server: Any, witnesses: DemoWitnesses) -> dict[str, Any]:
    """The relay's log as its store holds it once stopped: size, checkpoints (with the
    witnesses whose cosignature each carries), anchors."""
    from ..relay.store import open_store

    with open_store(str(store_path), readonly=True) as store:
        size = store.tree_size()
        checkpoints = store.list_checkpoints()
    return {
        "log_id": server.ledger.log_id.hex(),
        "log_size": size,
        "evm_chain_id": server.chain.chain_id(),
        "contract": server.contract,
        "confirmations": CONFIRMATIONS,
        "checkpoints": [
            {
                "tree_size": cp.tree_size,
                "root": cp.root.hex(),
                "tx_hash": "0x" + cp.anchor.tx_hash.hex() if cp.anchor else None,
                "block_number": cp.anchor.block_number if cp.anchor else None,
                "final": bool(cp.anchor and cp.anchor.final),
                "cosigned_by": witnesses.cosigned_by(cp.note),
            }
            for cp in sorted(checkpoints, key=lambda c: c.tree_size)
        ],
    }


def chain_read_back(config: Any, cleanup: contextlib.ExitStack) -> Any:
    """The relay's embedded chain, started again from its state file: the relay stopped
    its anvil, and the audits ask the chain about the anchors."""
    from ..anchor import EvmChain
    from ..anchor.embedded import EmbeddedAnvil

    node = EmbeddedAnvil.start(config.resolved_evm_state_file())
    cleanup.callback(node.stop)
    return EvmChain.connect(node.url)


def attack_chain(directory: Path, cleanup: contextlib.ExitStack) -> str:
    """A fresh anvil for the attacks that write anchors (each on its own contract, its
    policy naming it); the relay's own chain is left as the relay left it."""
    from ..anchor.embedded import EmbeddedAnvil

    directory.mkdir()
    node = EmbeddedAnvil.start(directory / "anvil-state.json")
    cleanup.callback(node.stop)
    return node.url
