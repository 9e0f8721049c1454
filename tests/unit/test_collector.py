"""A serving node's cyclic garbage collector (node/collector.py): start-up's objects frozen,
young collections rarer, cycles still collected by the collector on its own and by the
periodic full collection."""

import asyncio
import contextlib
import gc
import logging
import time
import weakref

import pytest

from raftcache.node import collector
from raftcache.node.latency_events import LatencyMonitor


@pytest.fixture
def restored_gc():
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


class _Node:
    pass


@contextlib.asynccontextmanager
async def _running(coro):
    """`coro` as a task, started (its watch in place) for the block, then cancelled."""
    task = asyncio.ensure_future(coro)
    await asyncio.sleep(0)
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _until(done, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def _cycle() -> weakref.ref:
    """A two-object cycle nothing else references; a weak reference to one of them."""
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    assert gone() is not None   # reference counting alone does not free it
    return gone


def test_settle_freezes_start_up_and_raises_the_young_threshold(restored_gc):
    collector.settle()
    assert gc.isenabled()
    assert gc.get_threshold()[:2] == collector.THRESHOLDS[:2]
    assert gc.get_freeze_count() > 0   # what was built before it is out of the collector's reach


def test_the_collector_still_frees_young_cycles_on_its_own(restored_gc):
    collector.settle()
    gone = _cycle()
    kept = [[] for _ in range(collector.THRESHOLDS[0] + 100)]   # past the young threshold
    assert gone() is None
    del kept


def test_the_periodic_collection_frees_a_cycle_that_outlived_young_collections(restored_gc):
    collector.settle()
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    gc.collect(1)   # alive through the young and middle collections: now in the oldest generation
    del a, b
    kept = [[] for _ in range(collector.THRESHOLDS[0] + 100)]   # young collections do not reach it
    assert gone() is not None

    async def one_period():
        async with _running(collector.collect_every(interval_s=0.01)):
            await _until(lambda: gone() is None)

    asyncio.run(one_period())
    assert gone() is None
    del kept


def test_a_collections_pause_is_the_latency_event_gc_and_the_watch_goes_with_its_task():
    monitor = LatencyMonitor(threshold_ms=1)

    async def go():
        live = [[i] for i in range(400_000)]   # a full collection walks every one of them
        gc.collect()   # (building them set off collections: those came before the watch)
        async with _running(collector.report_pauses(monitor.record, interval_s=0.02)):
            started = time.perf_counter()
            gc.collect()
            took_ms = (time.perf_counter() - started) * 1e3
            await _until(monitor.latest)
        del live
        return took_ms

    took_ms = asyncio.run(go())
    [(event, _, _, worst_ms)] = monitor.latest()
    assert event == "gc" and 1 <= worst_ms <= took_ms + 1
    assert collector._timed not in gc.callbacks, "a cancelled report leaves no callback behind"


def test_a_stop_without_its_start_is_not_timed():
    """The watch put in place while a collection runs sees only its stop: no pause is made up."""
    async def go():
        async with _running(collector.report_pauses(lambda event, ms: None, interval_s=60)):
            collector._timed("stop", {})
            return collector._pauses.longest_ms

    assert asyncio.run(go()) == 0.0


def test_a_slow_collection_is_logged(monkeypatch, caplog):
    monkeypatch.setattr(collector, "SLOW_COLLECTION_MS", 0.001)

    async def go():
        async with _running(collector.report_pauses(lambda event, ms: None, interval_s=0.02)):
            live = [[i] for i in range(50_000)]
            gc.collect()
            await _until(lambda: caplog.records)
        del live

    with caplog.at_level(logging.WARNING, logger=collector.log.name):
        asyncio.run(go())
    assert any("garbage collection stopped this node" in r.getMessage() for r in caplog.records)
