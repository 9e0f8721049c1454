"""The keyspace's byte layouts (docstring of the package): the record header, the keys of
the sub-databases, the logical size of a record, and the small types every part shares."""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass, field
from typing import NamedTuple

import lmdb

#: Logical bytes charged per key on top of len(key) + len(value): the record
#: header, the key prefixes and the deadline index entry, rounded up. Part of
#: the replicated state (it decides OOM replies): never change it without a
#: log format bump, or replicas of two versions would disagree.
RECORD_OVERHEAD_BYTES = 64

_HEADER = struct.Struct(">BQQI")      # type, expires_at_ms, index, flags
_U64 = struct.Struct(">Q")
_U16 = struct.Struct(">H")
_HASH = struct.Struct(">I")
_DB_HASH = struct.Struct(">HI")        # a data key's prefix: database, key_hash
_TYPE_EXPIRY = struct.Struct(">BQ")    # the start of _HEADER: what a GET looks at
_MAX_U64 = (1 << 64) - 1
_APPLIED = b"applied_index"
_USED = b"used_bytes"
_KEYS = b"keys/"
_EXPIRES = b"expires/"                   # + db: how many of its keys have a deadline
_EXPIRES_COUNTED = b"expires_counted"     # set once the expires/ counters exist (older data: counted at open)
_TABLE = b"t/"
_NEXT_CONTAINER_ID = b"next_container_id"
_RESTORED_FROM = b"restored_from_index"   # set by rebase_copy: the backup's applied index
#: The highest log index a record may carry from an earlier cluster's log (a backup seeding a
#: cluster itself seeded from a backup keeps the older one's indexes too); absent: restored_from_index.
_OLD_LOG_INDEXES = b"old_log_indexes_upto"
_WATCH_FLOOR = b"watch_floor"
_FLUSHED = b"flushed/"                    # + db: the newest record index its flushes (and quiet evictions) removed
#: Most entries of the `gone` table; reaching it empties the table and raises the watch floor
#: (read by writing.py, where a test patches it).
GONE_LIMIT = 100_000
_SNAPSHOT_FILE = "data.mdb"


class ValueType(enum.IntEnum):
    STRING = 1
    HASH = 2
    LIST = 3
    SET = 4
    ZSET = 5
    STREAM = 6        # always itemized: node/storage/stream.py


#: Record.flags of an itemized container (elements in the items database).
ITEMIZED = 1
#: Record.state bits of a string: memcached's item state (meta protocol), kept in the
#: top two bits of the stored type byte. Stale: invalidated (md I), served with X.
ITEM_STALE = 1
#: A recache win (W) was handed out for this item: others get Z until it is replaced.
ITEM_WIN_SENT = 2
_STATE_SHIFT = 6
_TYPE_MASK = (1 << _STATE_SHIFT) - 1
#: Logical bytes charged per container element stored as its own record, on top of
#: len(item key) + len(item value). Replicated state, as RECORD_OVERHEAD_BYTES.
ITEM_OVERHEAD_BYTES = 16
_CONTAINER = struct.Struct(">QQ")     # container id, element count
#: Record.flags of a hash whose fields may have deadlines: its value ends with the
#: u64 field-deadline bound indexed in `fexpiry` (see the package docstring).
FIELD_TTLS = 2


class Record(NamedTuple):
    """One stored value with its header (a named tuple: built on every read)."""

    type: ValueType
    value: bytes
    expires_at_ms: int = 0    # absolute Unix ms; 0 = no expiry
    index: int = 0            # log index that last wrote the value (memcached CAS unique)
    flags: int = 0            # u32 memcached client flags; 0 for everything else
    state: int = 0            # a string's memcached item state: ITEM_STALE | ITEM_WIN_SENT


class Sample(NamedTuple):
    """A key found by sampling (eviction): where it is, its logical size and header."""

    db: int
    key: bytes
    size: int                 # logical bytes deleting it frees (an itemized container's items estimated)
    expires_at_ms: int
    index: int


_VALUE_TYPES = {t.value: t for t in ValueType}
_STRING = int(ValueType.STRING)
_HASH_TYPE = int(ValueType.HASH)
_HEADER_SIZE = _HEADER.size


@dataclass(frozen=True, slots=True)
class KeyspaceStats:
    keys: list[int]           # keys per database (expired keys not yet deleted included, as Redis's DBSIZE)
    used_bytes: int           # logical size: sum of len(key) + len(value) + RECORD_OVERHEAD_BYTES
    maxmemory_bytes: int
    applied_index: int
    expires: list[int] = field(default_factory=list)  # keys with a deadline, per database


class KeyspaceFullError(RuntimeError):
    """The LMDB map filled up. Fatal: the entry cannot be applied, the node must stop."""


#: LMDB errors that a command's own data can cause (the same on every replica).
_COMMAND_LMDB_ERRORS = (lmdb.BadValsizeError, lmdb.KeyExistsError, lmdb.NotFoundError)


def is_environment_error(exc: BaseException) -> bool:
    """True when `exc` is a fault of this node's machine (storage full or failing, out
    of memory), which another replica need not meet, rather than of the command."""
    if isinstance(exc, lmdb.Error):
        return not isinstance(exc, _COMMAND_LMDB_ERRORS)
    return isinstance(exc, (KeyspaceFullError, MemoryError, OSError))


def record_bytes(key: bytes, value_len: int) -> int:
    """Logical size charged for one key holding a value of `value_len` bytes."""
    return len(key) + value_len + RECORD_OVERHEAD_BYTES


def key_hash(key: bytes) -> int:
    """The 32-bit hash that orders keys within a database (and SCAN cursors)."""
    return zlib.crc32(key) & 0xFFFFFFFF


def _data_key(db: int, key: bytes) -> bytes:
    return _DB_HASH.pack(db, key_hash(key)) + key


def _expiry_key(deadline_ms: int, db: int, key: bytes) -> bytes:
    return _U64.pack(deadline_ms) + _U16.pack(db) + key


def is_string(raw: bytes) -> bool:
    """Whether a stored record (header and value, as stored, or its header) holds a string."""
    return raw[0] & _TYPE_MASK == ValueType.STRING


def is_itemized(record: Record) -> bool:
    return record.type != ValueType.STRING and bool(record.flags & ITEMIZED)


def container_ref(record: Record) -> tuple[int, int]:
    """(container id, element count) of an itemized container record."""
    return _CONTAINER.unpack_from(record.value)


def container_value(cid: int, count: int) -> bytes:
    return _CONTAINER.pack(cid, count)


def _itemized_id(raw: bytes, vtype: int, flags: int) -> int:
    """The container id of a stored raw record whose header holds `vtype` and `flags`,
    0 when it is not an itemized container."""
    if vtype & _TYPE_MASK == ValueType.STRING or not flags & ITEMIZED:
        return 0
    return _U64.unpack_from(raw, _HEADER.size)[0]


def _field_bound(raw: bytes | None) -> int:
    """The field-deadline bound of a stored raw record, 0 when it is not a hash with FIELD_TTLS."""
    if raw is None:
        return 0
    vtype, _, _, flags = _HEADER.unpack_from(raw)
    if vtype & _TYPE_MASK != ValueType.HASH or not flags & FIELD_TTLS or len(raw) < _HEADER.size + _U64.size:
        return 0
    return _U64.unpack_from(raw, len(raw) - _U64.size)[0]


def _raw_itemized_id(raw: bytes) -> int:
    vtype, _, _, flags = _HEADER.unpack_from(raw)
    return _itemized_id(raw, vtype, flags)


def _item_key(cid: int, ikey: bytes) -> bytes:
    return _U64.pack(cid) + ikey


def item_bytes(ikey: bytes, value_len: int) -> int:
    """Logical size charged for one element stored as its own record."""
    return len(ikey) + value_len + ITEM_OVERHEAD_BYTES


def _decode(raw: bytes) -> Record:
    vtype, expires_at_ms, index, flags = _HEADER.unpack_from(raw)
    return Record(_VALUE_TYPES[vtype & _TYPE_MASK], raw[_HEADER.size:], expires_at_ms, index, flags,
                  vtype >> _STATE_SHIFT)


#: Logical bytes assumed per element of an itemized container when sampling
#: (its items are not read): an estimate only the leader's eviction choice uses.
_SAMPLED_ITEM_BYTES = 32


def _sample(db: int, key: bytes, raw: bytes) -> Sample:
    vtype, expires_at_ms, index, flags = _HEADER.unpack_from(raw)
    size = record_bytes(key, len(raw) - _HEADER.size)
    if _itemized_id(raw, vtype, flags):
        size += _CONTAINER.unpack_from(raw, _HEADER.size)[1] * _SAMPLED_ITEM_BYTES
    return Sample(db, key, size, expires_at_ms, index)
