"""Frontends with witnesses: only the sequencer pushes; when it is killed, the next one's
pusher takes over (from the witnesses' 409 answers) and the final checkpoint is cosigned."""

from __future__ import annotations

import time
from pathlib import Path

from hashcore import RelayClient, _core
from hashcore.relay.keys import load_or_create_key
from hashcore.relay.store import open_store

from .frontends_helpers import frontends_database, sequencer_pid, start_frontend
from .test_relay_frontends import DEVICES, RECORDS, _fleet
from .test_relay_witnesses import ORIGIN, Witness, _cosigned_by


def _latest_note(url: str) -> bytes:
    with open_store(url, readonly=True) as store:
        latest = store.latest_checkpoint()
    return b"" if latest is None else latest.note


def test_the_sequencer_pushes_to_witnesses_and_its_successor_goes_on(tmp_path: Path) -> None:
    seed, _ = load_or_create_key(tmp_path / "relay.key")
    log_key = _core.public_key_from_seed(seed)
    witnesses = [Witness(tmp_path, i, log_key) for i in range(2)]
    flags = ["--origin", ORIGIN, "--witness-quorum", "2"]
    for w in witnesses:
        flags += ["--witness", f"{w.url},{w.name},{w.key.hex()}"]
    with frontends_database() as url:
        first = start_frontend(tmp_path, url, *flags)
        frontends = [first]
        try:
            assert sequencer_pid(url) == first.proc.pid
            second = start_frontend(tmp_path, url, *flags)
            frontends.append(second)
            devices = _fleet(frontends)
            with RelayClient(second.target, plaintext=True) as client:
                for device in devices[:6]:
                    client.sync(device, batch_size=10)
            deadline = time.monotonic() + 30
            while len(_cosigned_by(_latest_note(url), witnesses)) < 2:
                assert time.monotonic() < deadline, "the sequencer's pusher never cosigned"
                time.sleep(0.1)
            first.kill9()
            assert sequencer_pid(url, not_pid=first.proc.pid) == second.proc.pid
            with RelayClient(second.target, plaintext=True) as client:
                for device in devices[6:]:
                    client.sync(device, batch_size=10)
            assert second.terminate() == 0  # the final checkpoint, settled with witnesses
            total = DEVICES * (RECORDS + 1)
            with open_store(url, readonly=True) as store:
                latest = store.latest_checkpoint()
            assert latest is not None and latest.tree_size == total
            assert _cosigned_by(latest.note, witnesses) == [w.name for w in witnesses]
        finally:
            for f in frontends:
                if f.proc.poll() is None:
                    f.kill9()
            for w in witnesses:
                w.stop()
