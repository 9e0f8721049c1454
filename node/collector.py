"""The cyclic garbage collector of a serving node (docs/performance-log.md, "The cyclic garbage
collector").

Every request allocates a few dozen short-lived containers (protobuf messages, futures, tuples)
that reference counting frees. With Python's default thresholds the collector still ran a young
collection every ~700 of them, and every few seconds under write load a full one went through
the whole heap, start-up's objects included (modules, protobuf descriptors, the servers): 25-50
ms during which the event loop, the Raft tick with it, stood still. `settle` (once the node is
about to serve) freezes what start-up built, which then lives as long as the process and is
never walked again (an object of it that later becomes part of an unreachable cycle is never
freed: a few objects per Raft connection accepted before it), and makes young collections rarer.
`collect_every` runs a full collection on a timer, so that a cycle which outlived a young
collection (a closed connection holding its last queued values, say) waits at most that long
on an idle node too; with start-up frozen a full collection walks little (well under 1 ms).
`report_pauses` times every collection and gives the longest of each second to the latency
monitor as the event `gc` (LATENCY LATEST, DOCTOR), so a pause the collector causes is seen.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Callable

log = logging.getLogger(__name__)

#: gc.set_threshold once serving: a young collection after 10,000 net new containers instead of
#: 700 (about 1,600 SETs' worth), the middle and oldest generations as Python's defaults (the
#: oldest also waits until its pending objects reach a quarter of it: Python's own rule).
THRESHOLDS = (10_000, 10, 10)
#: A full collection at least this often (seconds), whatever the load.
FULL_COLLECTION_S = 30.0
#: A collection slower than this is logged (milliseconds).
SLOW_COLLECTION_MS = 50.0


def settle() -> None:
    """Collect once, freeze what is left (start-up's objects), and set THRESHOLDS."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


async def collect_every(interval_s: float = FULL_COLLECTION_S) -> None:
    """A full collection every `interval_s` for the node's life (cancel the task to stop;
    report_pauses times it with the others)."""
    while True:
        await asyncio.sleep(interval_s)
        gc.collect()


class _Pauses:
    """What the collector's callback leaves for report_pauses: plain attributes, set from inside
    a collection (no lock there: a lock held by the code a collection interrupts would never be
    released)."""

    __slots__ = ("started", "longest_ms")

    def __init__(self) -> None:
        self.started = 0.0
        self.longest_ms = 0.0


_pauses = _Pauses()


def _timed(phase: str, info: dict) -> None:
    """gc.callbacks: a collection starts or stops, on whichever thread runs it (one at a time).
    A stop without its start (the callback put in place during a collection) is not timed."""
    if phase == "start":
        _pauses.started = time.perf_counter()
        return
    started, _pauses.started = _pauses.started, 0.0
    if started:
        took_ms = (time.perf_counter() - started) * 1e3
        if took_ms > _pauses.longest_ms:
            _pauses.longest_ms = took_ms


async def report_pauses(record: Callable[[str, float], None], interval_s: float = 1.0) -> None:
    """Every `interval_s`, `record("gc", ms)` with the longest collection since the last report
    (none: nothing recorded), and a warning logged when it took SLOW_COLLECTION_MS or more, for
    the node's life (cancel the task to stop; one such task per process). The latency monitor
    keeps one sample a second, the larger, so nothing it would keep is lost between reports (bar
    a collection ending on another thread just as a report takes the value)."""
    _pauses.started = _pauses.longest_ms = 0.0
    gc.callbacks.append(_timed)
    try:
        while True:
            await asyncio.sleep(interval_s)
            longest, _pauses.longest_ms = _pauses.longest_ms, 0.0
            if longest:
                record("gc", longest)
            if longest >= SLOW_COLLECTION_MS:
                log.warning("a garbage collection stopped this node for %.1f ms", longest)
    finally:
        gc.callbacks.remove(_timed)
        _pauses.started = _pauses.longest_ms = 0.0
