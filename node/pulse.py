"""Beats that long work gives the thread running Raft, so that a leader keeps sending its
heartbeats while one log entry applies, or one read runs, for seconds.

Apply, reads and Raft share the event loop (docs/architecture.md "Threads"): while one of
them runs, no tick does, and a leader silent for an election timeout (0.6 s) is replaced. The
loops that may run long call `beat()`: the state machine between the entries of a batch and
the commands of a transaction, the keyspace once every `EVERY` records or items it writes,
deletes or reads, the Redis encoder once every `EVERY` elements of a reply, a script at each
redis.call and each table of its reply (node/scripting/). The node installs
what a beat does (`install`: Replicator.heartbeat_if_due, which sends append-entries when a
heartbeat is due and does nothing on a follower or off the Raft thread). One hook per process:
a process runs one node (in-process test clusters share it; a beat is harmless to any node).

A beat must not touch the keyspace or its caller's state. Must not touch: lmdb, sockets.
"""

from __future__ import annotations

from time import monotonic
from typing import Callable

#: Items (records, container items, reply elements) between two beats of a long loop.
EVERY = 4096
MASK = EVERY - 1
#: A beat calls what was installed at most this often (the state machine beats after every
#: entry of a batch: ~0.1 µs each, where the heartbeat check itself costs ~0.3).
CHECK_EVERY_S = 0.02

_beat: Callable[[], None] | None = None
_next_check = 0.0


def install(fn: Callable[[], None] | None) -> None:
    """What a beat does from now on (None: nothing). `fn` must never raise: a beat runs inside
    apply, where an exception would roll the entry back on this node alone."""
    global _beat
    _beat = fn


def beat() -> None:
    global _next_check
    now = monotonic()
    if now < _next_check:
        return
    _next_check = now + CHECK_EVERY_S
    fn = _beat
    if fn is not None:
        fn()
