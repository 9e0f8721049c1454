"""Two of PySyncObj's per-message helpers with fewer Python frames.

PySyncObj 0.3.17 (pinned; re-check on upgrade) hashes its Node objects through
the `id` property (two Python calls for every dict or set lookup of a peer:
~25 in a leader's tick) and reads its clock through a lambda around
`time.clock_gettime(CLOCK_MONOTONIC_RAW)` (~14 a tick). `install()` hashes a
Node by its `_id` directly (one frame) and gives the PySyncObj modules that
imported the lambda the same clock as a C-level `functools.partial` (none) —
only when the lambda is that clock's, so PySyncObj's deadlines and the ones
raftcache computes from the same function (raftnode, raft_wire) never compare
two clocks. Nothing observable changes: the same hash values, the same clock.
Must not touch: Raft state.
"""

from __future__ import annotations

import functools
import time

import pysyncobj.dns_resolver
import pysyncobj.monotonic
import pysyncobj.syncobj
import pysyncobj.tcp_connection
import pysyncobj.transport
from pysyncobj.node import Node

_CLOCK_USERS = (pysyncobj.syncobj, pysyncobj.tcp_connection, pysyncobj.transport, pysyncobj.dns_resolver)


def _node_hash(node: Node) -> int:
    return hash(node._id)   # Node.__hash__ is hash(node.id), `id` a property returning _id


def _reads_raw_clock(clock) -> bool:
    """Whether `clock` is PySyncObj's lambda around clock_gettime(CLOCK_MONOTONIC_RAW)."""
    return "CLOCK_MONOTONIC_RAW" in getattr(getattr(clock, "__code__", None), "co_names", ())


def install() -> None:
    Node.__hash__ = _node_hash
    raw = getattr(time, "CLOCK_MONOTONIC_RAW", None)
    if raw is None or not _reads_raw_clock(pysyncobj.monotonic.monotonic):
        return   # another clock (a newer PySyncObj, ctypes on an old Python): left as it is
    clock = functools.partial(time.clock_gettime, raw)
    pysyncobj.monotonic.monotonic = clock
    for module in _CLOCK_USERS:
        if getattr(module, "monotonicTime", None) is not None:
            module.monotonicTime = clock
