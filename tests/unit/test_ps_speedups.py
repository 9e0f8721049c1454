"""PySyncObj's peer hash and clock as node/raft/ps_speedups.py installs them: the same values."""

from __future__ import annotations

import functools
import time

import pysyncobj.syncobj
import pysyncobj.tcp_connection
import pysyncobj.transport
from pysyncobj.node import TCPNode

from raftcache.node.raft import ps_speedups, raftnode


def test_a_peer_hashes_as_its_address_and_equal_peers_find_one_entry():
    ps_speedups.install()
    first, again = TCPNode("127.0.0.1:7001"), TCPNode("127.0.0.1:7001")
    assert hash(first) == hash("127.0.0.1:7001") == hash(again)
    table = {first: "kept"}
    assert table[again] == "kept" and again in {first} and TCPNode("127.0.0.1:7002") not in table


def test_pysyncobj_reads_the_clock_raftcache_computes_its_deadlines_with():
    ps_speedups.install()   # (raftnode installed it at import already: installing again changes nothing)
    for module in (pysyncobj.syncobj, pysyncobj.tcp_connection, pysyncobj.transport):
        assert isinstance(module.monotonicTime, functools.partial)   # no Python frame per reading
        before = raftnode._ps_monotonic()   # PySyncObj's original function, bound at import
        seen = module.monotonicTime()
        after = time.clock_gettime(time.CLOCK_MONOTONIC_RAW)
        assert before <= seen <= after


def test_a_clock_that_is_not_the_raw_one_is_left_alone():
    assert ps_speedups._reads_raw_clock(lambda: time.clock_gettime(time.CLOCK_MONOTONIC_RAW))
    assert not ps_speedups._reads_raw_clock(time.monotonic)
    assert not ps_speedups._reads_raw_clock(lambda: time.clock_gettime(time.CLOCK_MONOTONIC))
