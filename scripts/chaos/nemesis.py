"""The nemesis: a seeded random (or scripted) schedule of faults, run in a thread.

Each step: quiet for a while, start a fault, hold it, heal it. The schedule
is a pure function of the seed and the options (`plan()`), so a run can be
repeated; what actually happened (times, targets, errors) is recorded in
`events`, with times on the workload's clock.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
from collections.abc import Callable

from scripts.chaos import faults as F

log = logging.getLogger("chaos.nemesis")


@dataclasses.dataclass(frozen=True)
class Step:
    kind: str
    zone: str | None
    quiet_s: float    # wait before starting the fault
    hold_s: float     # how long the fault lasts before it is healed


def plan(seed: int, duration_s: float, kinds: list[str], zones: list[str], *, quiet_s=(3.0, 8.0),
         hold_s=(4.0, 12.0), warmup_s: float = 3.0) -> list[Step]:
    """A random schedule filling `duration_s` (the last fault ends before it)."""
    rng = random.Random(seed)
    steps, t = [], warmup_s
    while True:
        quiet = rng.uniform(*quiet_s)
        hold = rng.uniform(*hold_s)
        kind = rng.choice(kinds)
        zone = rng.choice(zones)
        if t + quiet + hold > duration_s:
            return steps
        steps.append(Step(kind, zone, quiet if steps else quiet + warmup_s, hold))
        t += quiet + hold


def parse_script(text: str) -> list[Step]:
    """A scripted schedule: `kind[@zone]:quiet_s:hold_s` separated by commas,
    e.g. `kill_leader:3:5,partition_zone@a:3:8`."""
    steps = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        head, quiet, hold = item.split(":")
        kind, _, zone = head.partition("@")
        if kind not in F.FAULTS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(F.FAULTS)}")
        steps.append(Step(kind, zone or None, float(quiet), float(hold)))
    return steps


class Nemesis(threading.Thread):
    def __init__(self, cluster, steps: list[Step], clock: Callable[[], float], stop: threading.Event):
        super().__init__(name="nemesis", daemon=True)
        self.cluster = cluster
        self.steps = steps
        self.clock = clock
        self.stop_event = stop
        self.events: list[dict] = []
        self.errors: list[str] = []

    def run(self) -> None:
        for step in self.steps:
            if self.stop_event.wait(step.quiet_s):
                return
            fault = F.FAULTS[step.kind](step.zone)
            record = {"kind": step.kind, "target": step.zone, "start": self.clock(), "end": None}
            self.events.append(record)
            try:
                log.info("fault %s start", fault)
                fault.start(self.cluster)
            except Exception as e:  # noqa: BLE001 - recorded; the run goes on
                record["error"] = f"start: {e!r}"
                self.errors.append(f"{fault}: start: {e!r}")
            record.update(fault.describe())
            record["start_done"] = self.clock()
            self.stop_event.wait(step.hold_s)
            record["heal_start"] = self.clock()
            try:
                log.info("fault %s heal", fault)
                fault.heal(self.cluster)
            except Exception as e:
                record["heal_error"] = repr(e)
                self.errors.append(f"{fault}: heal: {e!r}")
            record.update(fault.describe())  # what heal found (e.g. a disk fault's stopped nodes)
            record["end"] = self.clock()
            if self.stop_event.is_set():
                return
