"""The leader's grouping of a group commit's runs of like writes: each run as one entry.

A group commit (node/service/group_commit.py: the writes proposed in one event-loop
turn, one Raft entry) holds one LogEntry per write, and every node decodes and
applies each. Two kinds of write come in runs often enough to log a run as one
entry instead:

- PUBLISH / SPUBLISH (log semantics version 9 on): each run of two or more
  becomes one PublishBatch entry (node/commands/pubsub_ops.py), applied as its
  messages in order. `expand` gives every write of a merged run the run's outcome
  (0, or the error it failed with), and the session turns 0 into this node's
  receiver count.
- plain SETs, `SET key value` with no option (strings.is_plain_set; version 29 on):
  each run of two or more of one log version and one eviction mode becomes one
  SetBatch entry, applied as its SETs in order, each as an entry of its own would
  be (StateMachine._apply_set_batch), so its result is the list of their results
  and `expand` hands each SET its own. A SET keeps its client identity (a
  follower's forwarded write, deduplicated by it on a retry) in the batch.

The order of the log is unchanged: a run is contiguous, so a connection's writes
keep their order among themselves and with its other writes. PUBLISHes with a
client identity are never merged: they stay one entry each.
"""

from __future__ import annotations

from raftcache.node import commands
from raftcache.node.commands.strings import is_plain_set
from raftcache.node.errors import CommandError
from raftcache.proto import commands_pb2 as pb

#: `group`'s description of an entry it left as it was (a run of one write).
ALONE = ("", 1)


def _run_key(entry: pb.LogEntry) -> tuple | None:
    """What an entry must share with its neighbours to join their run (None: it joins none)."""
    command = entry.command
    name = command.WhichOneof("op")
    if name == "publish":
        identified = entry.client_id or entry.sequence
        return ("publish",) if entry.version >= commands.PUBLISH_BATCH_VERSION and not identified else None
    if name == "set" and entry.version >= commands.SET_BATCH_VERSION and is_plain_set(command):
        return "set", entry.version, command.eviction
    return None


def _merged(run: list[pb.LogEntry], kind: str) -> pb.LogEntry:
    """One entry for `run` (of `kind`): the first write's version, clock and seed."""
    first = run[0]
    entry = pb.LogEntry(version=first.version, now_ms=first.now_ms, seed=first.seed)
    if kind == "publish":
        entry.command.publish_batch.messages.extend(e.command.publish for e in run)
        return entry
    command = entry.command
    command.eviction = first.command.eviction
    sets = command.set_batch.sets
    for e in run:
        op = e.command.set
        sets.add(db=e.command.db, key=op.key, value=op.value, client_id=e.client_id, sequence=e.sequence)
    return entry


def group(entries: list[pb.LogEntry]) -> tuple[list[pb.LogEntry], list[tuple[str, int]] | None]:
    """`entries` with each run of two or more mergeable writes as one entry, and, per returned
    entry, (its kind, how many of the original writes it stands for): ALONE for one left as
    it was (None: nothing merged)."""
    out: list[pb.LogEntry] = []
    runs: list[tuple[str, int]] = []
    merged = False
    keys = [_run_key(entry) for entry in entries]
    i, n = 0, len(entries)
    while i < n:
        key = keys[i]
        j = i + 1
        if key is not None:
            while j < n and keys[j] == key:
                j += 1
        if j - i >= 2:
            out.append(_merged(entries[i:j], key[0]))
            runs.append((key[0], j - i))
            merged = True
        else:
            out.append(entries[i])
            runs.append(ALONE)
        i = j
    return (out, runs) if merged else (entries, None)


def expand(results: list, runs: list[tuple[str, int]]) -> list:
    """Apply's results of the grouped entries as one result per original write: a merged run of
    PUBLISHes gives each 0, or the run's error; a merged run of SETs gives each its own result
    (the entry's result to each when it is not their list: an error the entry failed with as a
    whole). Results that do not match `runs` are returned as they are (the caller reports the
    mismatch)."""
    if not isinstance(results, list) or len(results) != len(runs):
        return results
    out: list = []
    for result, (kind, size) in zip(results, runs):
        if not kind:
            out.append(result)
        elif kind == "set":
            out += result if isinstance(result, list) and len(result) == size else [result] * size
        else:
            out += [result if isinstance(result, CommandError) else 0] * size
    return out
