"""The relay keeps each witness's size in its store: after a restart it sends the
consistency proof from that size at once, and the witness answers no 409 (issue 11)."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable
from pathlib import Path

from hashcore import Device, _core
from hashcore.relay.keys import load_or_create_key
from hashcore.relay.store import Store, open_store
from hashcore.relay.witnessing import known_size_key
from hashcore.witness.pusher import WitnessEndpoint

from . import store_fixtures
from .conftest import ThreadRelay
from .test_relay_witnesses import ORIGIN, Witness, _until

# The backend-parametrized fixtures (SQLite, PostgreSQL), registered in this module.
pg_store_url = store_fixtures.pg_store_url
store = store_fixtures.store
store_target = store_fixtures.store_target


def test_witness_sizes_are_replaced_not_set_once(store: Store) -> None:
    assert store.witness_sizes() == {}
    store.set_witness_size("w1/ab", 6)
    store.set_witness_size("w2/cd", 3)
    store.set_witness_size("w1/ab", 13)
    assert store.witness_sizes() == {"w1/ab": 13, "w2/cd": 3}
    store.set_meta("origin", b"relay.example/t")  # set-once values are apart from them
    assert store.witness_sizes() == {"w1/ab": 13, "w2/cd": 3}


def _answers(witness: Witness, status: int) -> int:
    with urllib.request.urlopen(f"{witness.url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    name = "hashcore_witness_add_checkpoint_requests_total"
    m = re.search(rf'^{name}\{{status="{status}"\}} (\S+)$', text, re.M)
    return int(float(m.group(1))) if m else 0


def test_witness_sizes_survive_a_relay_restart(
    relay_factory: Callable[..., ThreadRelay], tmp_path: Path
) -> None:
    seed, _ = load_or_create_key(tmp_path / "relay.key")
    witness = Witness(tmp_path, 0, _core.public_key_from_seed(seed))
    endpoint = WitnessEndpoint(witness.url, witness.name, witness.key)
    try:
        device = Device.new()

        def run_once(participant: str, days: int) -> int:
            relay = relay_factory(
                key_file=tmp_path / "relay.key", origin=ORIGIN, witnesses=(endpoint,)
            )
            op, phones = relay.client(operator=True), relay.client()
            if participant:
                phones.enroll(device, op.issue_token(participant)[0])
            for n in range(days):
                device.append(b'{"day": %d}' % n)
            phones.sync(device)
            size = op.create_checkpoint().tree_size
            _until(
                lambda: bool(_core.note_witness_times(phones.checkpoint().note, witness.name,
                                                      witness.key)),
                f"the witness cosigning {size}",
            )  # fmt: skip
            relay.stop()
            return size

        first = run_once("P1", 5)
        with open_store(str(tmp_path / "relay.db"), readonly=True) as store:
            assert store.witness_sizes() == {known_size_key(endpoint): first}
        second = run_once("", 7)  # a restarted relay on the same store
        assert (first, second) == (6, 13)
        with open_store(str(tmp_path / "relay.db"), readonly=True) as store:
            assert store.witness_sizes() == {known_size_key(endpoint): second}
        # The restarted relay started from the size it stored: the witness never had to
        # tell it with a 409 (200s: 6, 13, and 6 again when the restarted relay pushed its
        # newest checkpoint before it signed 13).
        assert _answers(witness, 409) == 0
        assert _answers(witness, 200) in (2, 3)
    finally:
        witness.stop()
