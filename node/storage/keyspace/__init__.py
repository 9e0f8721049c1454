"""The keyspace: the LMDB environment and everything stored in it.

This package is the only one that imports lmdb. It owns the environment, its
sub-databases and their byte layouts, the logical memory accounting and the
snapshot file format (a compacted LMDB image), in five modules: layout (the
byte layouts below, the record types, sizes), reading (ReadTxn), writing
(WriteTxn: counters, deadline indexes, undo scopes, savepoints), environment
(Keyspace: the environment, its reader and writer, swaps and copies) and
copies (a copy read or rewritten offline). Import from the package.

It knows nothing of commands, Raft, sockets or clocks: every time it sees is
a `now_ms` handed in by the caller, so the state machine above it stays
deterministic.

Layout (all integers big-endian):

    data    db u16 | crc32(key) u32 | key  ->  type u8 | expires_at_ms u64 | index u64 | flags u32 | value
            (a string's type byte also holds its memcached item state in bits 6-7: ITEM_STALE, ITEM_WIN_SENT)
    expiry  deadline u64 | db u16 | key    ->  b""            (deadline index for active expiry)
    fexpiry deadline u64 | db u16 | key    ->  b""            (a hash's earliest field deadline: active field expiry)
    items   container id u64 | item key    ->  item value    (elements of a large container)
    meta    b"applied_index" -> u64;  b"used_bytes" -> u64;  b"keys/" db u16 -> u64;
            b"restored_from_index" -> u64  (only in a keyspace seeded from a backup);
            b"old_log_indexes_upto" -> u64 (the same, the highest of a chain of restores);
            b"t/" name -> bytes       (small state-machine tables: meta_get / meta_put);
            b"next_container_id" -> u64;
            b"watch_floor" -> u64;  b"flushed/" db u16 -> u64  (WATCH: see below)
    gone    db u16 | crc32(key) u32 | key  ->  u64   (WATCH: the last index at which a deleted key existed)

WATCH (docs/design.md, "Transactions"): a record's index changes with every write,
so a watched key that exists is checked by its index alone. A key absent when it
was watched needs to know whether it existed at any point since: while the state
machine turns `watch_tracking` on (log semantics version 6), every deletion writes
the index of the key's last existence to `gone` (the deleting entry's index for a
live key, the record's own index for one already expired), a flush records per
database the newest record index it removed (`flushed/`; from log version 14 an
eviction of a record written long before does the same, `WriteTxn.evict`), and `gone` is bounded:
past GONE_LIMIT entries it is emptied and `watch_floor` moves to the current index
(a transaction watching an absent key since before the floor aborts).

A container (hash, list, set, sorted set) is stored one of two ways (a stream,
node/storage/stream.py, always the second, its header in the record). Small,
it is one record whose value encodes every element (node/storage/containers.py).
Large, it is "itemized": its record's flags hold ITEMIZED and its value is
`container id u64 | element count u64` (a list adds its head position), and
each element is its own record in `items` under that id (node/storage/itemview.py,
itemmap.py, itemlist.py, itemzset.py), so a write costs O(log n). The id stays
with the record when the key is renamed, moved or swapped to another
database; deleting or overwriting the record deletes its items; a copy gets
a new id and copies of the items.

A hash whose fields have deadlines (HEXPIRE, log semantics version 9) carries
FIELD_TTLS in its record's flags and ends its value with a u64 lower bound of
its fields' deadlines (node/storage/itemmap.py owns the rest of that layout);
put/delete/flush keep `fexpiry` in step with that bound, as `expiry` with the
key's own deadline, so the leader finds the hashes with fields to expire.

Keys are ordered by a hash prefix within a database so that a SCAN cursor is
simply "the next hash value + 1": a batch never ends inside one hash value,
so a key present for the whole scan is returned at least once (Redis's
guarantee) whatever is inserted or deleted meanwhile.

The environment runs without per-commit fsync (the Raft log rebuilds it);
`applied_index` is committed in the same transaction as the data it covers
(docs/design.md invariant 3). Snapshots written by `copy_to` are fsynced.
"""

from raftcache.node.storage.keyspace.layout import (
    container_ref,
    container_value,
    FIELD_TTLS,
    GONE_LIMIT,
    is_environment_error,
    is_itemized,
    is_string,
    item_bytes,
    ITEM_OVERHEAD_BYTES,
    ITEM_STALE,
    ITEM_WIN_SENT,
    ITEMIZED,
    key_hash,
    KeyspaceFullError,
    KeyspaceStats,
    Record,
    record_bytes,
    RECORD_OVERHEAD_BYTES,
    Sample,
    ValueType,
)
from raftcache.node.storage.keyspace.reading import ReadTxn
from raftcache.node.storage.keyspace.writing import (
    Savepoint,
    WriteTxn,
)
from raftcache.node.storage.keyspace.environment import Keyspace
from raftcache.node.storage.keyspace.copies import (
    check_items,
    rebase_copy,
    snapshot_info,
    SnapshotInfo,
)

__all__ = [
    "container_ref",
    "container_value",
    "FIELD_TTLS",
    "GONE_LIMIT",
    "is_environment_error",
    "is_itemized",
    "is_string",
    "item_bytes",
    "ITEM_OVERHEAD_BYTES",
    "ITEM_STALE",
    "ITEM_WIN_SENT",
    "ITEMIZED",
    "key_hash",
    "KeyspaceFullError",
    "KeyspaceStats",
    "Record",
    "record_bytes",
    "RECORD_OVERHEAD_BYTES",
    "Sample",
    "ValueType",
    "ReadTxn",
    "Savepoint",
    "WriteTxn",
    "Keyspace",
    "check_items",
    "rebase_copy",
    "snapshot_info",
    "SnapshotInfo",
]
