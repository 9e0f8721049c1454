"""The Raft snapshot files: what the keyspace gives to make one, how they are timed and sized.

Owns the bridge between PySyncObj's snapshot (log compaction, a new or lagging
follower's catch-up, backups) and the keyspace: `SnapshotHooks`, what the
Replicator (node/raft/replication.py) needs from the keyspace, and
`SnapshotFiles`, which writes and installs a snapshot through those hooks
(node/raft/journal.py's file format, fsynced before the journal is compacted),
reports it as progress lines and latency events (node/raft/watch.py) and keeps
the count and durations of each kind. `write` runs on the snapshot thread
(node/raft/snapshot_serializer.BackgroundSerializer), `read` on the thread that
ticks, both synchronously (no fork); `timings` and `size_bytes` on any thread.
Must not touch: lmdb (only through the hooks), PySyncObj's state.
"""

from __future__ import annotations

import os
import time
from typing import Protocol

from raftcache.node.raft import journal as _journal


class SnapshotHooks(Protocol):
    """What the replicator needs from the keyspace to snapshot and restore it."""

    @property
    def applied_index(self) -> int:
        """The log index the local keyspace has applied (0 when empty)."""

    def save(self, path: str) -> int | None:
        """Write a consistent copy of the keyspace at `path` (a file or a directory);
        return the applied index it covers (None: the Raft index of the snapshot)."""

    def load(self, path: str) -> None:
        """Replace the whole keyspace with a copy made by `save`."""


class SnapshotFiles:
    """Snapshots written and installed through the keyspace's hooks (module docstring)."""

    def __init__(self, hooks: SnapshotHooks, watch, path: str):
        self._hooks = hooks
        self._watch = watch   # node/raft/watch.RaftWatch
        self.path = path      # PySyncObj's fullDumpFile
        #: Snapshots written (log compaction, backups) and installed: [count, total seconds, last seconds].
        self._times = {"write": [0, 0.0, 0.0], "load": [0, 0.0, 0.0]}

    def write(self, path: str, raft_state: tuple, term: int) -> None:
        """PySyncObj's serializer: the keyspace and `raft_state` into `path`."""
        started = time.monotonic()
        hooks = self._hooks
        self._watch.snapshot("writing", lambda: _journal.write_snapshot(path, raft_state, hooks.save),
                             term, hooks.applied_index)
        self._timed("write", started)

    def read(self, path: str, term: int) -> tuple:
        """PySyncObj's deserializer: install the keyspace of `path`; its Raft state."""
        started = time.monotonic()
        hooks = self._hooks
        state = self._watch.snapshot(
            "installing", lambda: _journal.read_snapshot(path, lambda: hooks.applied_index, hooks.load),
            term, hooks.applied_index)
        self._timed("load", started)
        return state

    def _timed(self, kind: str, started: float) -> None:
        took = time.monotonic() - started
        times = self._times[kind]
        times[0] += 1
        times[1] += took
        times[2] = took

    def timings(self) -> dict:
        """{"write" / "load": {"count", "seconds", "last_seconds"}} (any thread)."""
        return {kind: {"count": t[0], "seconds": t[1], "last_seconds": t[2]} for kind, t in self._times.items()}

    @property
    def size_bytes(self) -> int:
        """Size of the latest snapshot file (what a new or lagging follower is sent); 0: none."""
        try:
            return os.path.getsize(self.path)
        except OSError:
            return 0
