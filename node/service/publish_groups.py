"""The leader's grouping of PUBLISHes: consecutive PUBLISHes of one group commit as one entry.

A group commit (node/service/group_commit.py: the writes proposed in one event-loop
turn, one Raft entry) holds one LogEntry per write. A pipeline of PUBLISHes
would cost every node one entry to decode and apply per message; from log
semantics version 9 on, each run of two or more consecutive PUBLISH /
SPUBLISH entries of the leader's own clients becomes one PublishBatch entry
(node/commands/pubsub_ops.py), applied as its messages in order. The order
of the log is unchanged: a run is contiguous, so a connection's publishes
keep their order among themselves and with its other writes.

Entries with a client identity (a follower's forwarded writes, deduplicated
by it on a retry) are never merged: they stay one entry each. Each PUBLISH
still gets its own reply: `expand` gives every write of a merged run the
run's outcome (0, or the error it failed with), and the session turns 0
into this node's receiver count.
"""

from __future__ import annotations

from raftcache.node import commands
from raftcache.node.errors import CommandError
from raftcache.proto import commands_pb2 as pb


def _mergeable(entry: pb.LogEntry) -> bool:
    return (entry.command.WhichOneof("op") == "publish" and not entry.client_id and not entry.sequence
            and entry.version >= commands.PUBLISH_BATCH_VERSION)


def group(entries: list[pb.LogEntry]) -> tuple[list[pb.LogEntry], list[int] | None]:
    """`entries` with each run of consecutive mergeable PUBLISHes as one PublishBatch entry, and
    how many of the original writes each returned entry stands for (None: nothing merged)."""
    out: list[pb.LogEntry] = []
    sizes: list[int] = []
    merged = False
    i, n = 0, len(entries)
    while i < n:
        j = i
        while j < n and _mergeable(entries[j]):
            j += 1
        if j - i >= 2:
            first = entries[i]
            entry = pb.LogEntry(version=first.version, now_ms=first.now_ms, seed=first.seed)
            entry.command.publish_batch.messages.extend(e.command.publish for e in entries[i:j])
            out.append(entry)
            sizes.append(j - i)
            merged = True
            i = j
            continue
        out.append(entries[i])
        sizes.append(1)
        i += 1
    return (out, sizes) if merged else (entries, None)


def expand(results: list, sizes: list[int]) -> list:
    """Apply's results of the grouped entries as one result per original write: a merged run's
    writes each get 0, or the run's error. Results that do not match `sizes` are returned as
    they are (the caller reports the mismatch)."""
    if not isinstance(results, list) or len(results) != len(sizes):
        return results
    out: list = []
    for result, size in zip(results, sizes):
        if size == 1:
            out.append(result)
        else:
            out += [result if isinstance(result, CommandError) else 0] * size
    return out
