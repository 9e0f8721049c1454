"""The one command set: stable type numbers, read/write classes, and the codecs.

A command is a `raftcache.proto.commands_pb2.Command`: a database number and
one member of the `op` oneof, whose field number is the command's stable type
number (`CommandType`). Log entries are `LogEntry` protobufs behind a one-byte
marker. Results travel as Python values inside the node and as `Value`
protobufs on the wire; `to_value`/`from_value` convert between the two:

    bytes -> bulk, None -> nil, int -> integer, float -> number,
    Status -> status, list -> array, CommandError -> error

This module must not import grpc, lmdb or pysyncobj.
"""

from __future__ import annotations

import enum
import struct
from typing import NamedTuple

from google.protobuf.message import Message

from raftcache.node.errors import CommandError, Reason
from raftcache.commandkeys import KEY_FIELDS, command_keys
from raftcache.proto import commands_pb2 as pb

Command = pb.Command
LogEntry = pb.LogEntry

#: The log's semantics versions this binary applies (`LogEntry.version`; entries
#: written before versions existed say 1). An entry stamped with a newer version
#: is never applied differently: the node waits for an upgrade (docs/operations.md).
#:   1: the first release.
#:   2: apply is total (an exception while applying a command is that command's
#:      INTERNAL error reply, its writes rolled back); results above sint64 travel
#:      as `Value.unsigned`; the SetVersion command.
#:   3: PUBLISH / SPUBLISH (the Publish command); keyspace notifications at apply.
#:   4: eviction (the leader's Evict ahead of the writes that need room,
#:      `Command.eviction`), memcached item state (MetaGet, MetaInvalidate,
#:      `Set.stale_if_older`: stale items and recache wins), and the HyperLogLog,
#:      geo and stream commands with the STREAM value type.
#:   5: ACL users (AclSetUser, AclDelUser, AclLoad) and CONFIG SET requirepass as the
#:      default user's hashed password (ConfigSet.default_user_rules).
#:   6: WATCH as Redis (`Watched.seen_at`: deletions, flushes, EXPIRE/PERSIST and SWAPDB
#:      change a watched key's version), SORT / SORT_RO, DUMP / RESTORE.
#:   7: scripting (Eval, ScriptLoad, ScriptFlush, FunctionLoad, FunctionDelete, FunctionFlush,
#:      FunctionRestore; node/scripting/): scripts and function libraries in the keyspace's meta.
#:   8: cluster mode: a shard's owned hash slots in its log (ClaimSlots).
#:   9: PublishBatch: the leader logs a group commit's consecutive PUBLISHes as one entry.
#:  10: resharding: slot migration states and key copies in each shard's log (BeginMigration,
#:      MigrateKeys, RestoreKeys, DropMigrated, FinishMigration; `Command.asking`), and a
#:      migrating shard answering -ASK / -TRYAGAIN at apply (node/commands/slot_migration.py).
#:  11: hash field expiration (Redis 7.4: HExpire, HPersist, HTtl, the leader's
#:      DeleteExpiredFields; a hash record's FIELD_TTLS layout, node/storage/itemmap.py),
#:      and Redis 7.4's rules for scripts and function libraries (node/scripting/).
#:  12: the script budget at apply (SCRIPT_BUDGET_VERSION): a writing script that runs at apply
#:      gets node/scripting/budget.APPLY_BUDGET (busy-reply-threshold capped at 100 ms,
#:      calibrated costs), not the read-only scripts' budget.
#:  13: resharding carries the source's dedup table to the target before the flip (ExportDedup,
#:      ImportDedup; node/commands/dedup.py), and a key DUMP does not serialise (a stream, a hash
#:      with field deadlines) as the record as stored (MigratedKey.record).
#:  14: quiet evictions (EVICT_QUIET_VERSION): a victim last written more than
#:      eviction.QUIET_AGE_ENTRIES entries before the entry evicting it gets no `gone` record
#:      for WATCH; its database's flush index rises to its record's index instead
#:      (node/storage/keyspace.WriteTxn.evict).
#:  15: a script's number arguments to redis.call / redis.pcall are written as Redis 7.2+ writes
#:      them (SCRIPT_COMPAT_VERSION): an integral value as an integer, another in the shortest
#:      text that reads back the same double, not Lua's "%.14g" (9007199254740991, not
#:      9.007199254741e+15); a script's reply nests tables 32 deep at most, the next level
#:      answered "ERR reached lua stack limit" (was nil past 256, deeper than a node-to-node
#:      Reply message may nest); math.randomseed takes a numeric string as its number (was 0);
#:      EVAL of another engine's shebang answers Redis 7's "Unexpected engine in script shebang";
#:      cmsgpack.unpack_one / unpack_limit exist, cmsgpack packs a table 16 deep as nil (was 17),
#:      and redis.call takes thousands of arguments (was a Lua stack error near 8,000).
#:  16: a script's global table is read-only as Redis 7's (SCRIPT_SANDBOX_VERSION): assigning KEYS,
#:      ARGV, `redis` or `_G` is refused like any other global, setmetatable on it (and on the
#:      libraries) answers "Attempt to modify a readonly table" and getmetatable(_G) gives a
#:      read-only table (was false); `loadstring` exists for text chunks (bytecode: nil); a
#:      library's shebang is split as Redis's sdssplitargs (a backslash outside quotes is kept:
#:      `name=bad\0x` is refused; shell rules made it `bad0x`); a function, once loaded, sees
#:      `redis` without register_function (Redis 7.4: calling it is Lua's nil-call error).
#:  17: a script's entry names its caller (Eval.user, SCRIPT_ACL_VERSION): every command the
#:      script runs is checked against that user's rules as the log has them at the entry,
#:      refused with Redis's NOPERM text, and redis.acl_check_cmd answers for the user.
#:  18: EVAL's script cache is bounded as Redis 7.4's (SCRIPT_EVICT_VERSION): EVAL stores a new
#:      script in an LRU list of at most 500 and forgets the least recently used one past it
#:      (EVALSHA answers NOSCRIPT for it); EVAL and EVALSHA from the log move a script to the
#:      list's end; SCRIPT LOAD takes a script out of it (never evicted). Before, every script
#:      an EVAL ran stayed until SCRIPT FLUSH (node/scripting/store.py). A restricted user's
#:      script names its serving node (Eval.caller, SCRIPT_CALLER_VERSION): that node records
#:      the script's ACL refusals in its ACL LOG, with the client info it kept for it.
#:  19: a script that declares its flags (a shebang, or a function) without `allow-oom` or
#:      `no-writes` is refused with OOM before it runs, and before EVAL caches it, when the
#:      keyspace is past maxmemory and the entry's eviction candidates cannot bring it under
#:      (SCRIPT_OOM_VERSION; Redis 7's rule; before, only its writes were measured). The error
#:      table of a command a script called carries Redis 7's `ignore_error_stats_update = true`
#:      (SCRIPT_ERRORSTATS_VERSION: INFO errorstats counts such errors once, as Redis does).
#:      CONFIG SET maxmemory takes any value, as Redis's (ANY_MAXMEMORY_VERSION; was >= 1 MiB).
#:      FUNCTION RESTORE takes Redis 7's payload (FUNCTION_DUMP_VERSION; raftcache's own too).
#:  20: the writes a script makes emit their keyspace notifications, as Redis's (SCRIPT_NOTIFY_VERSION;
#:      every node emits the same events for an entry, so a release that emits them must not
#:      apply entries an older one also applies); before, a script emitted none. Inside MULTI a
#:      command's noted events come in its place (notifications.STEP; before, first). SORT takes at
#:      most node/commands/sort.MAX_GETS GET options (SORT_GETS_VERSION; SORT ... STORE and a
#:      script's SORT at apply; before, any number). *RANDMEMBER's picks with repeats are drawn
#:      from one pass over a large container, at most 100,000 (RANDOM_PICKS_VERSION; before, a
#:      seek per pick, at most 1,000,000: a script's SRANDMEMBER decides what it writes). A
#:      script's XREAD takes `+` (before: an invalid stream id). Each command queued in a MULTI draws
#:      from its own seed (TXN_SEEDS_VERSION; before, all from the entry's: two scripts drew alike).
#:  21: LREM and LINSERT on an itemized list move only the elements on the shorter side of the
#:      change (LIST_EDIT_VERSION; node/storage/itemlist.py): the list reads the same, but its
#:      item records sit at other positions than the older release's rewrite of the whole list
#:      put them, so replicas of both releases must not apply the same entry differently. A
#:      script's writes also charge its budget by the bytes they store (SCRIPT_WRITE_BYTES_VERSION;
#:      node/scripting/budget.WRITE_BYTES_PER_INSTRUCTION): 50 SETRANGEs of a 16 MB string in one
#:      EVAL held every replica 1.7 s, a thousand would have held it half a minute.
#:  22: a script's commands also charge its budget by what they read (SCRIPT_READ_BYTES_VERSION;
#:      node/scripting/budget.READ_BYTES_PER_INSTRUCTION, READ_COST): 900 STRLENs of a 16 MB
#:      string in one EVAL held every replica 10 s, 200 SINTERCARDs of two 100,000-member sets 37 s;
#:      such a script is now stopped within its budget and rolled back, where version 21 ran it.
#:  23: a write script's entry may carry the outcome the leader found by running it just before
#:      logging it (LogEntry.effects, SCRIPT_EFFECTS_VERSION; node/scripting/effects.py): a
#:      replica whose state still matches applies those writes instead of running the script. A
#:      CONFIG SET or ACL change records its index (effects.RULES_KEY), which the guard reads.
#:  24: a script's errors as Redis 7's (SCRIPT_ERRORS_VERSION; node/scripting/): a script that
#:      returns an error reply (`return redis.error_reply(…)`, `{err=…}`) ran to its end and keeps
#:      its writes (before, they were rolled back as a failed script's); Lua's `pcall` gives a
#:      failed redis.call's error text, not its table; an error table the script raises itself
#:      keeps its text (no `ERR ` added) and gets the line it was raised at; in a read-only
#:      script a write command (SORT included) is refused before its arguments are parsed. SORT
#:      reads an empty element or weight as 0, as Redis's strtod (was: not a double). A script's
#:      string.find / match / gmatch / gsub and table.sort count their steps in the budget
#:      (node/scripting/patterns.py, table_sort.py: C's functions, which the hook cannot stop,
#:      only for calls whose worst case is small, charged by it): a backtracking pattern held
#:      every replica's apply for minutes; library functions whose work grows with their input
#:      (upper, tonumber, table.concat, cjson, cmsgpack, struct…) are charged by it (charged.py).
#:  25: a script's long strings weigh on its budget (SCRIPT_STRINGS_VERSION; node/scripting/
#:      string_weights.py): the hook fires at random intervals drawn from the entry's seed and
#:      charges each by the long strings the running code holds, as single instructions on them
#:      (comparing, arithmetic on a numeric string, a concatenation nothing allocates) take time
#:      the instruction count did not see: a loop of them on a 1 MB string held every replica's
#:      apply for minutes. math.random draws from a hash of the seed; redis.sha1hex is charged
#:      by the bytes it hashes; a stack overflow caught by pcall / xpcall / coroutine.resume ends
#:      the run as its budget does (nested ~200 C calls deep the hook could not run: a script
#:      catching that error looped uncounted for ever).
#:  26: what a script hands to Python counts in its budget (SCRIPT_COPIES_VERSION; node/scripting/
#:      copies.py): a call into a Python-written function (redis.call, redis.log, cjson, cmsgpack,
#:      struct, bit…) is charged by the bytes of its string arguments before they are copied, the
#:      strings cjson.encode and cmsgpack.pack walk as they go, and the script's reply by its
#:      values and bytes against what the run left of its budget (references to one long string
#:      handed over thousands of times made gigabytes of copies on every replica; a reply of
#:      nested tables holding each other, hours of conversion); table.sort runs in C only over
#:      strings of at most 64 bytes (table_sort.py).
#:  27: RESTORE takes Redis 7.4's payloads (RESTORE_74_VERSION; node/storage/rdb.py): RDB version 12
#:      and the hashes with field TTLs (RDB_TYPE_HASH_METADATA, HASH_LISTPACK_EX), restored with
#:      their fields' deadlines, and DUMP writes such a hash (a script's, MULTI's: by the entry's
#:      version). And scripts no longer see where Lua put an object in memory
#:      (SCRIPT_OBJECTS_VERSION; node/scripting/sandbox.py): `tostring` names
#:      tables, functions, coroutines and userdata by the order a run names them, `pairs`, `next`,
#:      `table.foreach` and `cmsgpack.pack` refuse tables keyed by them (replicas disagreed), and no
#:      Python error text reaches a script (a library's `bad argument to 'pack'`; Python's texts
#:      differ between its releases), math.randomseed of an infinity seeds as 0. OBJECT ENCODING
#:      names a small hash with field TTLs `listpackex`, as Redis 7.4 (LISTPACKEX_VERSION). Two
#:      writes that leave nothing changed are a change of the key, as Redis signals them
#:      (WATCH_NOOPS_VERSION): an LTRIM that removes nothing, a SET with an EXAT/PXAT already
#:      past on an absent key (Redis stores it expired; here it is recorded as created and gone).
#:  28: a script's calls count their whole work (SCRIPT_REPLY_COSTS_VERSION): a command's reply
#:      by all its values, its nested lists' too (a SCAN's page counted as two), what it reads in
#:      runs one unit more per key and value (ReadTxn.run_items: a DUMP of a large hash), a union
#:      of HyperLogLogs per key; and the script's own reply at what converting it costs
#:      (node/scripting/copies.py, REPLY_COSTS: a value 12 instructions, a table followed 110
#:      more; before, 10 and 20). Loops of HSCANs, DUMPs or PFCOUNTs of several keys, or a reply
#:      of nested tables, held every replica's apply 0.3-3.6 s before the budget stopped them.
#:      ZCOUNT of an itemized sorted set counts the order records between its two ends without
#:      reading them (ZCOUNT_VERSION; ItemZSet.count_by_score): the same count, what a script's
#:      budget charges for it changes. A sparse HyperLogLog longer than any that can hold its
#:      16384 registers (32,784 bytes) is corrupted for every HLL command, unread
#:      (HLL_EXACT_VERSION; before, a crafted value of up to proto-max-bulk-len was walked
#:      opcode by opcode, and PFADD and PFMERGE took one with opcodes past the last register).
#:      RESTORE refuses a payload whose compressed strings expand past 512 MB together
#:      (RESTORE_BOUND_VERSION; node/storage/rdb.py MAX_EXPANDED_BYTES; before, each string was
#:      bounded alone, and 64 MB of LZF back-references asked ~5.6 GB), and FUNCTION RESTORE
#:      one whose library codes together expand past what one may (node/scripting/store.py).
#:  29: the leader logs a group commit's run of plain SETs (`SET key value` with no option, each
#:      with its client identity if it has one) as one SetBatch entry (SET_BATCH_VERSION;
#:      node/service/entry_groups.py), applied as its SETs in order, each as a SET entry of its
#:      own would be (StateMachine._apply_set_batch).
#: The first version with cluster mode (docs/cluster-mode.md).
CLUSTER_VERSION = 8
#: The first version with PublishBatch (node/service/entry_groups.py).
PUBLISH_BATCH_VERSION = 9
#: The first version with resharding (docs/cluster-mode.md "Resharding").
RESHARD_VERSION = 10
#: The first version with hash field expiration (node/commands/hashes.py), and with Redis 7.4's
#: rules for scripts and function libraries (node/scripting/: REDIS74_VERSION).
HFE_VERSION = REDIS74_VERSION = 11
#: The first version whose writing scripts run under the apply budget (docs/scripting.md).
SCRIPT_BUDGET_VERSION = 12
#: The first version whose slot moves carry the dedup table and stored records (slot_migration.py).
RESHARD_DEDUP_VERSION = 13
#: The first version whose evictions of keys written long ago are not recorded one by one for WATCH.
EVICT_QUIET_VERSION = 14
#: The first version whose scripts follow the Redis details listed at 15 above (node/scripting/).
SCRIPT_COMPAT_VERSION = 15
#: The first version whose scripts see a read-only global table and `loadstring`, and whose
#: library shebangs are split as Redis splits them (16 above).
SCRIPT_SANDBOX_VERSION = 16
#: The first version whose scripts run their commands under the caller's ACL rules (17 above).
SCRIPT_ACL_VERSION = 17
#: The first version whose EVAL script cache is bounded, least recently used out (18 above).
SCRIPT_EVICT_VERSION = SCRIPT_CALLER_VERSION = 18
#: The first version that refuses a flagged script past maxmemory unless it allows OOM (19 above).
SCRIPT_OOM_VERSION = SCRIPT_ERRORSTATS_VERSION = ANY_MAXMEMORY_VERSION = FUNCTION_DUMP_VERSION = 19
#: The first version whose scripts' writes emit keyspace notifications, and whose SORT bounds
#: its GET options (20 above).
SCRIPT_NOTIFY_VERSION = SORT_GETS_VERSION = RANDOM_PICKS_VERSION = XREAD_LAST_VERSION = TXN_SEEDS_VERSION = 20
#: The first version whose LREM and LINSERT edit an itemized list in place, and whose scripts'
#: writes charge their budget by the bytes they store (21 above).
LIST_EDIT_VERSION = SCRIPT_WRITE_BYTES_VERSION = 21
#: The first version whose scripts' commands charge their budget by what they read (22 above).
SCRIPT_READ_BYTES_VERSION = 22
#: The first version whose write scripts may be logged with their effects (23 above).
SCRIPT_EFFECTS_VERSION = 23
#: The first version whose scripts' errors and SORT's empty scores follow Redis (24 above).
SCRIPT_ERRORS_VERSION = SORT_EMPTY_VERSION = 24
#: A script's long strings weigh on its budget (node/scripting/string_weights.py).
SCRIPT_STRINGS_VERSION = 25
#: What a script hands to Python counts in its budget (node/scripting/copies.py).
SCRIPT_COPIES_VERSION = 26
#: RESTORE of Redis 7.4's payloads, scripts blind to memory addresses, OBJECT ENCODING's
#: listpackex (27 above).
RESTORE_74_VERSION = SCRIPT_OBJECTS_VERSION = LISTPACKEX_VERSION = WATCH_NOOPS_VERSION = 27
#: A script's calls and its reply count their whole work, ZCOUNT counts without reading, a sparse
#: HyperLogLog is no longer than its registers allow, a RESTORE payload's expansion is bounded
#: (28 above).
SCRIPT_REPLY_COSTS_VERSION = ZCOUNT_VERSION = HLL_EXACT_VERSION = RESTORE_BOUND_VERSION = 28
#: A group commit's run of plain SETs logged as one SetBatch entry (29 above).
SET_BATCH_VERSION = 29
SUPPORTED_VERSIONS = range(1, SET_BATCH_VERSION + 1)
#: The first version with eviction and memcached item state: the leader proposes
#: Evict, and front ends send its fields and commands, only from this version on.
EVICTION_VERSION = 4
#: The first version with ACL users (node/commands/acl_store.py).
ACL_VERSION = 5
#: The first version with WATCH as Redis, SORT and DUMP / RESTORE.
WATCH_VERSION = 6
#: The first version with server-side scripts (node/commands/scripting.py).
SCRIPTING_VERSION = 7
MAX_VERSION = SUPPORTED_VERSIONS[-1]
#: Where the keyspace's meta table keeps the log's semantics version in force (SetVersion).
LOG_VERSION_KEY = b"log-version"
_U32 = struct.Struct(">I")


def stored_log_version(txn) -> int:
    """The log's semantics version in force as of `txn` (1 before any SetVersion)."""
    raw = txn.meta_get(LOG_VERSION_KEY)
    return 1 if raw is None else _U32.unpack(raw)[0]


def log_version_bytes(version: int) -> bytes:
    return _U32.pack(version)
#: The semantics version a command needs: the leader refuses it (UNAVAILABLE: retry) until
#: the cluster's log runs at that version, so no member of an older release ever meets it.
#: An entry of an older version that carries one is refused at apply as a binary of that
#: version refuses it (fields it does not know), so replicas of two releases answer alike.
SINCE_VERSION = {"publish": 3, **{name: 4 for name in (
    "meta_get", "meta_invalidate",
    "pfadd", "pfcount", "pfcount_ro", "pfmerge", "pfdebug", "pfdebug_ro",
    "geopos", "geohash", "geodist", "geosearch", "geosearch_store",
    "xadd", "xlen", "xrange", "xdel", "xtrim", "xsetid", "xread", "xreadgroup", "xack", "xpending", "xclaim",
    "xautoclaim", "xgroup", "xinfo", "xprobe",
)}, **{name: ACL_VERSION for name in ("acl_set_user", "acl_del_user", "acl_load")},
    **{name: WATCH_VERSION for name in ("sort", "sort_store", "dump", "restore")},
    **{name: SCRIPTING_VERSION for name in (
       "eval", "eval_ro", "script_load", "script_exists", "script_flush", "function_load", "function_delete",
       "function_flush", "function_restore", "function_list")},
    "claim_slots": CLUSTER_VERSION, "publish_batch": PUBLISH_BATCH_VERSION, "set_batch": SET_BATCH_VERSION,
    **{name: RESHARD_VERSION for name in (
       "begin_migration", "migrate_keys", "restore_keys", "drop_migrated", "finish_migration")},
    **{name: HFE_VERSION for name in ("hexpire", "hpersist", "httl", "delete_expired_fields")},
    **{name: RESHARD_DEDUP_VERSION for name in ("export_dedup", "import_dedup")}}
#: First byte of every raftcache log entry (PySyncObj adds its own type byte before it).
ENTRY_MARKER = b"\x01"
#: First byte of a LogBatch: several entries applied at one index.
BATCH_MARKER = b"\x02"

# CommandType is built from the proto's oneof so the two can never disagree;
# tests/unit/test_commands.py pins every number.
CommandType = enum.IntEnum(
    "CommandType",
    {f.name.upper(): f.number for f in pb.Command.DESCRIPTOR.oneofs_by_name["op"].fields},
)

#: Commands that only read: served from the local keyspace per consistency level.
READ_COMMANDS = frozenset(
    {"get", "exists", "str_len", "get_range", "mget", "ttl", "type", "scan", "db_size", "get_meta", "hget", "hmget", "hlen", "hexists", "hgetall", "hstrlen", "hrandfield", "httl", "element_scan", "lrange", "llen", "lindex", "lpos", "smembers", "sismember", "scard", "srandmember", "set_op", "zscore", "zcard", "zrange", "zrank", "zrandmember", "zset_op", "random_key", "key_version", "object_encoding", "object_access", "getbit", "bitcount", "bitpos", "lcs", "bitfield_ro", "pfcount_ro", "pfdebug_ro", "geopos", "geohash", "geodist", "geosearch", "xlen", "xrange", "xread", "xpending", "xinfo", "xprobe", "sort", "dump",
     "eval_ro", "script_exists", "function_list"}
)


def required_version(command: pb.Command) -> int:
    """The oldest log semantics version that knows every op in `command` (a transaction's too)."""
    name = command.WhichOneof("op")
    version = SINCE_VERSION.get(name, 1)
    if name == "config_set" and command.config_set.default_user_rules:
        version = ACL_VERSION
    if command.asking:
        version = max(version, RESHARD_VERSION)
    if name == "restore" and restores_redis74(command.restore.payload):
        version = max(version, RESTORE_74_VERSION)
    if name == "restore_keys" and any(k.HasField("record") for k in command.restore_keys.keys):
        version = max(version, RESHARD_DEDUP_VERSION)
    if name == "restore_keys" and any(restores_redis74(k.payload) for k in command.restore_keys.keys):
        version = max(version, RESTORE_74_VERSION)
    if name in ("eval", "eval_ro"):
        op = getattr(command, name)
        if op.caller:
            version = max(version, SCRIPT_CALLER_VERSION)
        elif op.user:
            version = max(version, SCRIPT_ACL_VERSION)
    if name == "transaction":
        version = max([version, *map(required_version, command.transaction.commands)])
        if any(w.HasField("seen_at") for w in command.transaction.watches):
            version = max(version, WATCH_VERSION)
    return version


def rules_version(ctx) -> int:
    """The log semantics version whose rules a command follows: its entry's at apply (replicas
    of that older release apply it too: it must behave as they do), the newest off the log (a
    read this node serves)."""
    return ctx.version if hasattr(ctx.txn, "savepoint") else MAX_VERSION


def restores_redis74(payload: bytes) -> bool:
    """A RESTORE payload only Redis 7.4's format allows: RDB version 12 (its footer), or a hash
    with field TTLs (RDB types 22-25), which node/storage/rdb.py reads from log version 27 on
    (its FIELD_TTLS_RDB_VERSION and FIELD_TTL_TYPES; this layer may not import storage, and
    tests/unit/test_rdb.py checks the two agree)."""
    version = int.from_bytes(payload[-10:-8], "little") if len(payload) >= 10 else 0
    return version > 11 or bool(payload) and 22 <= payload[0] <= 25


class Status(str):
    """A simple status reply such as OK (RESP `+OK`), distinct from a byte string."""

    __slots__ = ()


OK = Status("OK")


class Replayed(NamedTuple):
    """An entry's result when the state machine found it already applied (a
    retry with the same client id and sequence): the first application's
    result and log index, which the caller reports instead of the retry's."""

    result: object
    index: int


def op_name(command: pb.Command) -> str:
    """The oneof member name, e.g. "set"; raises CommandError when none is set."""
    name = command.WhichOneof("op")
    if name is None:
        raise CommandError("empty command: no operation set", Reason.SYNTAX)
    return name


def has_unknown_fields(message: Message, decoded_bytes: int | None = None) -> bool:
    """True when `message` (or any message inside it) carries fields this binary does not know.

    Measured rather than walked (in C, not per field in Python): discarding
    the unknown fields changes the encoded size exactly when there were some.
    `decoded_bytes`: the length of the canonical encoding `message` was decoded
    from (every encoder of this schema writes the same bytes), its size before
    the discard without encoding it once more.
    """
    before = message.ByteSize() if decoded_bytes is None else decoded_bytes
    message.DiscardUnknownFields()
    return message.ByteSize() != before


def is_read(command: pb.Command) -> bool:
    return command.WhichOneof("op") in READ_COMMANDS


def encode_entry(entry: pb.LogEntry) -> bytes:
    return ENTRY_MARKER + entry.SerializeToString()


def stamp(command: pb.Command, now_ms: int) -> CommandError | None:
    """Make a command's relative TTL (`Expiry.ttl_ms`) an absolute deadline, in place.

    The leader does it before proposing (its clock); apply does it for the
    commands nested in a transaction with the entry's clock. A deadline that
    does not fit an int64 leaves the command unchanged and returns Redis's
    "invalid expire time" error for the caller to answer with.
    """
    name = command.WhichOneof("op")
    return stamp_named(name, getattr(command, name), now_ms)


def stamp_named(name: str, op, now_ms: int) -> CommandError | None:
    """stamp() of the op `name` (the message `op`) of a command, for a caller that knows them."""
    if hasattr(op, "expiry") and op.HasField("expiry"):
        return stamp_op(name, op, now_ms)
    return None


def stamp_op(name: str, op, now_ms: int) -> CommandError | None:
    """stamp() of the op `name` (the message `op`), known to have its `expiry` set."""
    expiry = op.expiry
    if expiry.HasField("ttl_ms"):
        deadline = now_ms + expiry.ttl_ms
        if not -(1 << 63) <= deadline < (1 << 63):
            return CommandError(f"invalid expire time in '{name}' command", Reason.INVALID_EXPIRE)
        expiry.expire_at_ms = deadline
        expiry.ClearField("ttl_ms")
    return None


def encode_batch(entries: list[pb.LogEntry]) -> bytes:
    """BATCH_MARKER + a serialized LogBatch of `entries`, built from each entry's own bytes
    (the same bytes as LogBatch(entries=...) gives, without copying the entries into one)."""
    parts = [BATCH_MARKER]
    for entry in entries:
        data = entry.SerializeToString()
        parts.append(_BATCH_ENTRY_TAG + _varint(len(data)))
        parts.append(data)
    return b"".join(parts)


#: LogBatch.entries' tag: field 1, length-delimited.
_BATCH_ENTRY_TAG = b"\x0a"


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


class NewerVersionError(ValueError):
    """A log entry is stamped with a semantics version this binary does not know."""

    def __init__(self, version: int, max_version: int):
        super().__init__(f"log entry needs semantics version {version}; this node accepts up to {max_version}")
        self.version = version


def decode_entries(data: bytes, max_version: int = MAX_VERSION) -> list[pb.LogEntry]:
    """Decode a log entry or a batch into its entries.

    Raises NewerVersionError when an entry's version is above `max_version`
    (the envelope's shape never changes between versions, so the version
    always decodes), ValueError or protobuf's DecodeError when the bytes are
    not an entry at all.
    """
    return _decode(data, max_version)[0]


def decode_for_apply(data: bytes, max_version: int = MAX_VERSION) -> tuple[list[pb.LogEntry], bool]:
    """decode_entries, and True when no entry carries a field this binary does not know:
    measured once for the whole batch, so apply checks each command (has_unknown_fields)
    only when this is False."""
    entries, envelope = _decode(data, max_version)
    if not has_unknown_fields(envelope, decoded_bytes=len(data) - 1):   # (after the one-byte marker)
        return entries, True
    return _decode(data, max_version)[0], False   # afresh: the measure dropped the unknown fields


def _decode(data: bytes, max_version: int) -> tuple[list[pb.LogEntry], pb.LogBatch | pb.LogEntry]:
    if data[:1] == BATCH_MARKER:
        envelope = pb.LogBatch()
        envelope.ParseFromString(data[1:])
        if not envelope.entries:
            raise ValueError("empty log batch")
        entries = list(envelope.entries)
    elif data[:1] == ENTRY_MARKER:
        envelope = pb.LogEntry()
        envelope.ParseFromString(data[1:])
        entries = [envelope]
    else:
        raise ValueError(f"unknown log entry marker {data[:1]!r}")
    for entry in entries:
        if entry.version > max_version:
            raise NewerVersionError(entry.version, max_version)
    return entries, envelope


def to_value(result, out: pb.Value | None = None) -> pb.Value:
    """Convert a Python result into a Value protobuf (filling `out` if given)."""
    v = pb.Value() if out is None else out
    if result is None:
        v.nil = True
    elif isinstance(result, Status):
        v.status = result
    elif isinstance(result, (bytes, bytearray, memoryview)):
        v.bulk = bytes(result)
    elif isinstance(result, bool):
        v.integer = int(result)
    elif isinstance(result, int):
        if result < _SINT64_END:
            v.integer = result  # raises ValueError below sint64's range: no command makes one
        else:
            v.unsigned = result  # memcached counters (raises ValueError past 2**64 - 1)
    elif isinstance(result, float):
        v.number = result
    elif isinstance(result, (list, tuple)):
        v.array.SetInParent()
        for item in result:
            to_value(item, v.array.items.add())
    elif isinstance(result, CommandError):
        v.error.reason = result.reason.value
        v.error.message = result.message
    elif isinstance(result, str):
        v.bulk = result.encode()
    else:
        raise TypeError(f"cannot encode result of type {type(result).__name__}")
    return v


_SINT64_END = 1 << 63


def from_value(v: pb.Value):
    """Convert a Value protobuf back into the Python result it encodes."""
    kind = v.WhichOneof("kind")
    if kind == "bulk":
        return v.bulk
    if kind == "integer":
        return v.integer
    if kind == "unsigned":
        return v.unsigned
    if kind == "nil" or kind is None:
        return None
    if kind == "status":
        return Status(v.status)
    if kind == "array":
        return [from_value(item) for item in v.array.items]
    if kind == "number":
        return v.number
    if kind == "error":
        try:
            reason = Reason(v.error.reason)
        except ValueError:
            reason = Reason.INTERNAL
        return CommandError(v.error.message, reason)
    raise ValueError(f"unknown value kind {kind}")


def check_limits(command: pb.Command, *, databases: int, max_key_bytes: int, max_value_bytes: int) -> CommandError | None:
    """The error a command gets for a bad database or oversized key/value, or None.

    The service checks before proposing; apply checks again, so that a
    replica never stores what its own limits refuse.
    """
    if command.db >= databases:
        return CommandError("DB index is out of range", Reason.INVALID_ARGUMENT)
    name = command.WhichOneof("op")
    op = getattr(command, name) if name else None
    single, repeated, pairs = KEY_FIELDS[name or "noop"]
    for field in single:  # the common case, without building a list of keys
        key = getattr(op, field)
        if len(key) > max_key_bytes:
            return _key_too_large(key, max_key_bytes)
    for field in repeated:   # a slice: far cheaper than iterating a protobuf repeated field
        for key in getattr(op, field)[:]:
            if len(key) > max_key_bytes:
                return _key_too_large(key, max_key_bytes)
    if pairs:
        for key in command_keys(command):
            if len(key) > max_key_bytes:
                return _key_too_large(key, max_key_bytes)
    values: list[bytes] = []
    if name in ("set", "append"):
        values.append(op.value)
    elif name == "set_range":
        if op.offset < 0:
            return CommandError("offset is out of range", Reason.INVALID_ARGUMENT)
        if op.offset + len(op.value) > max_value_bytes:
            return CommandError("string exceeds maximum allowed size", Reason.VALUE_TOO_LARGE)
    elif name in ("mset", "mset_nx"):
        values.extend(p.value for p in op.pairs)
    for value in values:
        if len(value) > max_value_bytes:
            return CommandError(f"value is {len(value)} bytes; the limit is {max_value_bytes}", Reason.VALUE_TOO_LARGE)
    return None


def _key_too_large(key: bytes, max_key_bytes: int) -> CommandError:
    return CommandError(f"key is {len(key)} bytes; the limit is {max_key_bytes}", Reason.KEY_TOO_LARGE)


def one_pass_picks(ctx) -> bool:
    """*RANDMEMBER's picks with repeats follow RANDOM_PICKS_VERSION's rules: on a read this node
    serves, and at apply from that version (an older entry keeps its release's)."""
    return not ctx.index or ctx.version >= RANDOM_PICKS_VERSION
