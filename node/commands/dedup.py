"""The dedup table (docs/design.md invariant 5): each client id's last (sequence, result).

A write that carries a client id and a sequence is applied once: the state
machine looks the client up before running it (`lookup`: the same sequence
is a replay of the first outcome, an older one is refused as stale) and
records the outcome after (`store`). Only the last entry per client id is
kept, for DEDUP_WINDOW_MS of log time (`prune`, oldest first, bounded per
apply).

Resharding (log semantics version 13) carries the table along with the
slots: the source shard answers it in pages (`export_page`, an ExportDedup
entry of its log, after the last key of the moving slots left it) and the
target merges each page (`merge`, an ImportDedup entry) before it claims
the slots. Per client the higher sequence wins. That is exact because every
writer's sequences only grow per client id (the SDK's lanes share one
counter; a node's forwarding lanes count per lane), and a client id carries
one write at a time: while a write is being retried no later sequence of its
id exists anywhere, so after the merge the target holds that write's outcome
if either shard applied it. Imported entries keep their age (the source's
clock) and have no log index (a retry's reply then carries the target's).

Layout in keyspace meta (saved in snapshots with the data):

    dedup/c/<client_id>                  -> sequence u64 | now_ms (+2^63) u64 | encoded Value
    dedup/t/<now_ms (+2^63)><client_id>  -> b""      (age index for pruning)
    dedup/i/<client_id>                  -> u64 log index of its last applied write (absent: unknown)

Must not touch: clocks, sockets, Raft (runs inside apply).
"""

from __future__ import annotations

import struct

from raftcache.node import commands
from raftcache.node.errors import CommandError, Reason
from raftcache.proto import commands_pb2 as pb

#: How long a client's last (sequence, result) is kept for retries, in the log's clock.
DEDUP_WINDOW_MS = 3_600_000
#: Most expired dedup entries removed per entry of an applied index (bounds the work of one apply).
DEDUP_PRUNE_BATCH = 64
#: One exported page: at most this many clients, and results of at most this many bytes in all
#: (a page with one client may exceed it: one result is at most a value's size).
EXPORT_PAGE_CLIENTS = 2000
EXPORT_PAGE_BYTES = 1 << 20

_CLIENT = b"dedup/c/"
_AGE = b"dedup/t/"
_INDEX = b"dedup/i/"
_HEAD = struct.Struct(">QQ")
_U64 = struct.Struct(">Q")
_CLOCK_BIAS = 1 << 63          # sorts signed now_ms as unsigned big-endian
#: The stored outcome of most writes (a SET's), encoded once.
_OK_ENCODED = commands.to_value(commands.OK).SerializeToString()
#: lookup's answer when the client's sequence was not applied yet (run the write).
MISS = object()


def lookup(txn, client_id: str, sequence: int) -> object:
    """MISS (run the write), the first outcome of this sequence (a replay), or a STALE_SEQUENCE refusal."""
    raw = txn.meta_get(_CLIENT + client_id.encode())
    if raw is None:
        return MISS
    last, _ = _HEAD.unpack_from(raw)
    if sequence == last:
        result = commands.from_value(pb.Value.FromString(raw[_HEAD.size:]))
        index = txn.meta_get(_INDEX + client_id.encode())
        return result if index is None else commands.Replayed(result, _U64.unpack(index)[0])
    if sequence < last:
        # Only the last result per client is kept: an older sequence is a
        # stale retry whose outcome is no longer known. Refuse, never re-apply.
        return CommandError(
            f"request sequence {sequence} is older than this client's last applied "
            f"sequence {last}; its outcome is unknown", Reason.STALE_SEQUENCE)
    return MISS


def _put(txn, client: bytes, sequence: int, now_ms: int, encoded: bytes) -> None:
    clock = now_ms + _CLOCK_BIAS
    old = txn.meta_replace(_CLIENT + client, _HEAD.pack(sequence, clock) + encoded)
    if old is not None:
        _, old_clock = _HEAD.unpack_from(old)
        txn.meta_delete(_AGE + _U64.pack(old_clock) + client)
    txn.meta_put(_AGE + _U64.pack(clock) + client, b"")


def store(txn, client_id: str, sequence: int, now_ms: int, result: object, index: int) -> None:
    client = client_id.encode()
    encoded = _OK_ENCODED if result is commands.OK else commands.to_value(result).SerializeToString()
    _put(txn, client, sequence, now_ms, encoded)
    txn.meta_put(_INDEX + client, _U64.pack(index))


def prune(txn, now_ms: int, limit: int) -> None:
    """Forget up to `limit` clients idle for DEDUP_WINDOW_MS of log time, oldest
    first (deterministic: the clock is the entry's). Runs once per log index."""
    horizon = now_ms - DEDUP_WINDOW_MS + _CLOCK_BIAS
    for _ in range(limit):
        oldest = txn.meta_range(_AGE, 1)
        if not oldest:
            return
        name = oldest[0][0]
        if _U64.unpack_from(name, len(_AGE))[0] >= horizon:
            return
        txn.meta_delete(name)
        txn.meta_delete(_CLIENT + name[len(_AGE) + 8:])
        txn.meta_delete(_INDEX + name[len(_AGE) + 8:])


def export_page(txn, after: str) -> tuple[list[pb.DedupEntry], str]:
    """The entries of the clients named after `after` (in name order), one page, and the client to
    continue after ("" when the table is done)."""
    start = after.encode() + b"\x00" if after else b""
    out: list[pb.DedupEntry] = []
    size = 0
    rows = txn.meta_range(_CLIENT, EXPORT_PAGE_CLIENTS + 1, start=start)
    for name, raw in rows[:EXPORT_PAGE_CLIENTS]:
        if out and size + len(raw) > EXPORT_PAGE_BYTES:
            return out, out[-1].client_id
        sequence, clock = _HEAD.unpack_from(raw)
        client = bytes(name[len(_CLIENT):]).decode()
        out.append(pb.DedupEntry(client_id=client, sequence=sequence, now_ms=clock - _CLOCK_BIAS,
                                 result=bytes(raw[_HEAD.size:])))
        size += len(raw)
    more = len(rows) > EXPORT_PAGE_CLIENTS
    return out, (out[-1].client_id if more else "")


def merge(txn, entries) -> object:
    """Merge exported entries: per client the higher sequence wins (the same one: kept as is).
    The number of clients taken; an error (nothing merged) for an entry that does not decode."""
    for entry in entries:
        if not entry.client_id or not entry.sequence:
            return CommandError("bad dedup entry: a client id and a sequence are needed", Reason.INVALID_ARGUMENT)
        try:
            pb.Value.FromString(entry.result)
        except Exception:   # protobuf's DecodeError: a result that does not decode is refused whole
            return CommandError(f"bad dedup entry for client {entry.client_id!r}", Reason.INVALID_ARGUMENT)
    taken = 0
    for entry in entries:
        client = entry.client_id.encode()
        raw = txn.meta_get(_CLIENT + client)
        if raw is not None and _HEAD.unpack_from(raw)[0] >= entry.sequence:
            continue
        _put(txn, client, entry.sequence, entry.now_ms, entry.result)
        txn.meta_delete(_INDEX + client)   # the source's index means nothing here
        taken += 1
    return taken
