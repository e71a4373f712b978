"""A simulated insomnia-therapy trial feeding a real relay: enrollment with one-time
tokens, a sleep diary every morning, phones that are offline for days and sync later in
batches, key rotations, and a right-to-erasure request.

Used by ``hashcore demo`` and by the end-to-end tests; everything goes through the relay's
public gRPC API (:class:`hashcore.RelayClient`), exactly as phones and an operator would.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..device import Device
from ..errors import InvalidInputError
from ..relay.client import RelayClient
from .sleep_diary import diary_entry

__all__ = ["Participant", "TrialResult", "simulate_trial"]

_START = datetime.datetime(2026, 1, 5, tzinfo=datetime.UTC)
_DAY_MS = 86_400_000


@dataclass
class Participant:
    participant: str
    device: Device
    offline_days: list[int] = field(default_factory=list)
    rotated_on: int | None = None


@dataclass
class TrialResult:
    participants: list[Participant]
    records: int  # acknowledged by the relay, genesis included
    syncs: int  # sync sessions (each sends one or more batches)
    batches: int
    rotations: int
    erased: tuple[str, bytes, int, int] | None  # (participant, chain_id, seq, log_index)

    def device_of(self, participant: str) -> Device:
        return next(p.device for p in self.participants if p.participant == participant)


class _PhoneClock:
    """The phone's clock, set by the simulation to the morning of the diary day."""

    def __init__(self) -> None:
        self.now_ms = int(_START.timestamp() * 1000)

    def __call__(self) -> int:
        return self.now_ms


class TrialClock:
    """The relay's clock in a simulated trial (give it as ``RelayConfig.clock``): the
    simulation moves it to just after the phones' mornings before they sync, so that the
    relay receives each diary entry after the phone made it, as it would in a real trial
    that runs for weeks. It never goes back (a relay's receive times are in log order)."""

    def __init__(self) -> None:
        self.now_ms = int(_START.timestamp() * 1000)

    def advance_to(self, ms: int) -> None:
        self.now_ms = max(self.now_ms, ms)

    def __call__(self) -> int:
        return self.now_ms


def simulate_trial(
    client: RelayClient,
    operator: RelayClient,
    *,
    participants: int = 200,
    days: int = 56,
    seed: int = 0,
    sync_probability: float = 0.35,
    offline_share: float = 0.15,
    rotate_share: float = 0.05,
    erase: bool = True,
    concurrency: int = 8,
    progress: Callable[[int, int], None] | None = None,
    relay_clock: TrialClock | None = None,
) -> TrialResult:
    """Run the trial against a relay; returns who did what (the devices keep their chains).

    Each phone writes its diary entry every morning. It syncs on a given day with
    ``sync_probability`` (and always on the last day), except during an offline spell
    (``offline_share`` of phones lose connectivity for 3-10 days), after which it sends
    everything it kept, in batches. ``rotate_share`` of phones rotate their key mid-trial.
    ``relay_clock`` is the relay's clock when the relay runs on the simulation's time
    (the demo's does); it is moved past each day's entries before the phones sync.
    """
    if participants < 1 or days < 1:
        raise InvalidInputError(
            f"need at least 1 participant and 1 day, got {participants} and {days}"
        )
    rng = random.Random(seed)
    people: list[Participant] = []
    clocks: dict[str, _PhoneClock] = {}
    for n in range(participants):
        pid = f"P{n + 1:04d}"
        clock = _PhoneClock()
        token, _ = operator.issue_token(pid)
        device = Device.new(clock=clock)
        client.enroll(device, token)
        p = Participant(pid, device)
        if rng.random() < offline_share and days > 12:
            start = rng.randrange(1, days - 11)
            p.offline_days = list(range(start, start + rng.randint(3, 10)))
        if rng.random() < rotate_share and days > 2:
            p.rotated_on = rng.randrange(1, days - 1)
        people.append(p)
        clocks[pid] = clock

    day_rngs = {p.participant: random.Random(f"{seed}/{p.participant}") for p in people}
    syncs = batches = rotations = 0
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="phone") as pool:
        for day in range(days):
            morning = int((_START + datetime.timedelta(days=day, hours=7)).timestamp() * 1000)
            due: list[Participant] = []
            for p in people:
                clocks[p.participant].now_ms = morning + rng.randrange(0, 3 * 3_600_000)
                p.device.append(diary_entry(day_rngs[p.participant], p.participant, day))
                if p.rotated_on == day:
                    p.device.rotate_key()
                    rotations += 1
                online = day not in p.offline_days
                if online and (day == days - 1 or rng.random() < sync_probability):
                    due.append(p)
            if relay_clock is not None:
                # The phones sync after writing: a minute after the day's last entry.
                relay_clock.advance_to(max(c.now_ms for c in clocks.values()) + 60_000)
            for result in pool.map(lambda p: client.sync(p.device, batch_size=64), due):
                syncs += 1
                batches += result.batches
            if progress is not None:
                progress(day + 1, days)

    erased = None
    if erase:
        # A participant withdraws consent for one entry: the relay deletes payload and
        # salt, and keeps commit and link, so the chain still verifies (SPEC 1.1).
        who = people[rng.randrange(len(people))]
        data = [r for r in who.device.records() if r.kind == 1]
        target = data[len(data) // 2]
        log_index = operator.erase(
            who.device.chain_id, target.seq, "participant request (GDPR art. 17)"
        )
        erased = (who.participant, who.device.chain_id, target.seq, log_index)
    records = sum(len(p.device) for p in people)
    return TrialResult(people, records, syncs, batches, rotations, erased)
