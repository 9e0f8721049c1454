"""A serving node's cyclic garbage collector (node/server.settle_gc): start-up's objects frozen,
collections rarer, cycles still collected."""

import gc
import weakref

import pytest

from raftcache.node import server


@pytest.fixture
def restored_gc():
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_settle_gc_freezes_start_up_and_raises_thresholds(restored_gc):
    server.settle_gc()
    assert gc.get_threshold() == server.GC_THRESHOLDS
    assert gc.get_freeze_count() > 0   # what was built before it is out of the collector's reach


def test_cycles_made_after_settling_are_still_collected(restored_gc):
    server.settle_gc()

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    assert gone() is not None   # a cycle: reference counting alone does not free it
    gc.collect()
    assert gone() is None
