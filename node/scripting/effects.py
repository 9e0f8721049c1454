"""Script effects (log semantics version 23): a write script runs once, on the leader.

Every replica used to run every EVAL / EVALSHA at apply: a two-call script cost each node
about five times a plain INCR. Redis replicates a script's effects instead; here the leader
runs the script on its applied state just before it logs it (`trial`, in a write transaction
it aborts), and logs what the script wrote, its reply and a guard with it (LogEntry.effects).
Where the entry sits in the log, every replica checks the guard against its own state (the
same on every replica) and then either applies the writes (`apply`) or, when anything the
script depended on may have changed since the leader ran it, runs the script as before
(FALLBACK). The guard:

- each key the script named (GET, SET, EXPIRE… its positional keys) holds the record it held
  when the leader ran it, expired or not, or none: the same header (log index, deadline, type
  and item state, flags; every change of a value stamps its entry's index, RENAME / MOVE /
  SWAPDB / COPY included, a memcached touch changes the deadline, and the leader ran on a
  committed state, so a header names one content; an expired record is told from none, as a
  DEL of it removes it), unless the keyspace was seeded from a backup whose last index the
  leader had not passed then (its records carry the old log's indexes; ReadTxn.old_log_indexes);
- no CONFIG SET or ACL change was applied since (node/commands/scripting.rules_index);
- EVALSHA's script is still stored (else the script's run answers NOSCRIPT);
- the data stays within maxmemory with the script's peak growth added (then no write of it
  would have been refused or have evicted);
- no keyspace notifications are configured and the log has no cluster slots (StateMachine).

A script qualifies only when what it did is exactly what the writes and the reply say: every
command it called is in SAFE (string commands whose result depends on the keys they name and
nothing else), it was not refused anything, it did not call redis.log (every replica logs), it
ended without an error, it wrote only strings (a container's elements are not carried), its
reply is plain (no RESP3 types) and its writes fit in MAX_EFFECT_BYTES with its reply, guard
and counts. Anything else is logged as before and run by every replica. Applying the effects
leaves what running the script would: the records, WATCH's deletion records (EffectWrite.gone),
the script cache, the dedup table and the node's counters of writes (tests/unit/
test_script_effects.py compares every table).

INFO commandstats and errorstats count the script's commands on every node as before: the
trial counts them apart, the effects carry the counts, and every node adds them when it applies
the effects (the durations are the leader's).
"""

from __future__ import annotations

from raftcache.node import commands
from raftcache.node.commands.scripting import FALLBACK, TRIAL_INDEX, rules_index
from raftcache.node.errors import CommandError
from raftcache.node.frontends.acl_catalog import positional_keys
from raftcache.node.scripting import engine, scripts, store
from raftcache.node.storage.keyspace import is_string
from raftcache.proto import commands_pb2 as pb

#: Redis commands a script may call and still be logged with its effects: each reads and
#: writes only the string records of the keys it names (its positional keys), or nothing.
SAFE = frozenset({
    "get", "set", "setnx", "setex", "psetex", "getset", "getdel", "getex", "incr", "incrby", "decr",
    "decrby", "incrbyfloat", "append", "strlen", "getrange", "substr", "setrange", "mget", "mset",
    "msetnx", "exists", "del", "unlink", "expire", "pexpire", "expireat", "pexpireat", "persist", "ttl",
    "pttl", "expiretime", "pexpiretime", "type", "getbit", "setbit", "bitcount", "bitpos",
    "ping", "echo", "time", "select",
})
#: Largest effects an entry carries (records written, reply, guard); a script whose effects are
#: larger is logged as a script (its entry stays small; every replica runs it).
MAX_EFFECT_BYTES = 16 << 10


class Recorder:
    """What one trial run named and did (Engine.recorder while the leader runs a script)."""

    __slots__ = ("txn", "keys", "qualifies", "start", "peak")

    def __init__(self, txn):
        self.txn = txn
        #: (db, key) -> the header of the record stored there before the script touched it,
        #: expired or not (b"": none)
        self.keys: dict[tuple[int, bytes], bytes] = {}
        self.qualifies = True
        self.start = self.peak = txn.used_bytes()

    def before(self, db: int, spec, argv: list) -> None:
        """A command the script is about to call (`spec` known, on database `db`)."""
        if spec.name not in SAFE:
            self.qualifies = False
            return
        keys = self.keys
        for key, _ in positional_keys(spec, argv):
            if (db, key) not in keys:
                keys[(db, key)] = self.txn.stored_header(db, key)

    def after(self, rejected: bool) -> None:
        """The command ran (or was refused before it ran: then the script does not qualify)."""
        if rejected:
            self.qualifies = False
        used = self.txn.used_bytes()
        if used > self.peak:
            self.peak = used

    def disqualify(self) -> None:
        """The script used something the effects cannot carry (redis.log: every replica logs)."""
        self.qualifies = False


def trial(txn, now_ms: int, run_script, effects: pb.ScriptEffects, stats) -> int:
    """Run the script (`run_script()`: the state machine's own apply of it at log index
    TRIAL_INDEX, in an undo scope of `txn`, at the entry's clock `now_ms`) and fill `effects`
    (holding only tried_at and rules_index, the batch's) with what it did: their size in bytes,
    or 0 when it does not qualify (`effects` is then to be cleared, and the script's writes are
    undone). `stats`: the run's own ScriptStats (what its commands count in INFO, carried in the
    effects for every node to add).

    The writes of a script that qualifies stay in `txn` for the next script's trial: they are
    stamped TRIAL_INDEX, which no record in the log carries, so a later script that names one
    of those keys is guarded by a state no replica can have and is run everywhere (the key
    deleted is guarded as absent: right whichever way the earlier script was applied)."""
    runner = engine.Engine.for_thread()
    recorder = runner.recorder = Recorder(txn)
    txn.touched = set()
    txn.gone_noted = {}
    txn.watch_tracking(TRIAL_INDEX, now_ms)   # its deletions recorded for WATCH as apply records them
    txn.begin_undo()
    qualified = 0
    try:
        result = run_script()
        qualified = _record(txn, recorder, result, effects, stats) if recorder.qualifies else 0
        return qualified
    finally:
        runner.recorder = None
        txn.touched = txn.gone_noted = None
        txn.stop_watch_tracking()
        txn.end_undo(rollback=not qualified)


def _record(txn, recorder: Recorder, result, effects: pb.ScriptEffects, stats) -> int:
    """Fill `effects` with the trial's writes, guard, reply and counts: their size, or 0 when
    they cannot carry it."""
    if isinstance(result, CommandError) or not _plain(result, 0):
        return 0
    keys = recorder.keys
    writes = effects.writes
    size = 0
    for db, key in txn.touched:
        before = keys.get((db, key))
        if before is None or (before and not is_string(before)):
            return 0   # a key it did not name, or a container it replaced or deleted
        record = txn.stored_record(db, key) or b""
        size += len(key) + len(record)
        if size > MAX_EFFECT_BYTES or (record and not is_string(record)):
            return 0
        writes.add(db=db, key=key, record=record, gone=txn.noted_gone(db, key))
    guard = effects.keys
    for (db, key), header in keys.items():
        guard.add(db=db, key=key, header=header)
    effects.growth = max(recorder.peak - recorder.start, 0)
    commands.to_value(result, effects.reply)
    _count(stats, effects)
    size = effects.ByteSize()
    return size if size <= MAX_EFFECT_BYTES else 0


def _count(stats, effects: pb.ScriptEffects) -> None:
    calls = effects.calls
    for name, (n, usec, _, failed) in stats.calls.items():
        calls.add(name=name, calls=n, usec=usec, failed=failed)   # (a rejected call disqualified the run)
    errors = effects.errors
    for prefix, n in stats.errors.items():
        if n:
            errors.add(prefix=prefix, count=n)


def _add_counts(stats, effects: pb.ScriptEffects) -> None:
    """What the script's commands count in INFO commandstats / errorstats, on this node too."""
    if stats is None:
        return
    for call in effects.calls:
        stats.add(call.name, call.calls, call.usec, 0, call.failed)
    for error in effects.errors:
        stats.errors[error.prefix] += error.count
        if stats.errors[error.prefix] <= 0:
            del stats.errors[error.prefix]


def apply(ctx, op: pb.Eval, effects: pb.ScriptEffects) -> object:
    """The script's reply with its writes applied, or FALLBACK when the guard does not hold."""
    txn = ctx.txn
    if rules_index(txn) != effects.rules_index:
        return FALLBACK
    sha = engine.sha1hex(op.body) if op.body else op.sha.lower()
    if not op.body and store.script(txn, sha) is None:
        return FALLBACK
    for key in effects.keys:
        if txn.stored_header(key.db, key.key) != key.header:
            return FALLBACK
    if txn.would_exceed(effects.growth) or effects.tried_at < txn.old_log_indexes():
        return FALLBACK   # (before a restored backup's last index, one index may name two records)
    scripts.cache_script(ctx, sha, op.body or None)   # as the run would have
    index = ctx.index
    for write in effects.writes:
        if write.record:
            txn.put_stored(write.db, write.key, write.record, index)
        elif not txn.delete(write.db, write.key):
            txn.count_write(write.db, write.key)   # set and deleted again by the script
        if write.gone:   # as the script's own last deletion of it recorded it for WATCH
            txn.note_gone_at(write.db, write.key, index if write.gone == TRIAL_INDEX else write.gone)
    _add_counts(ctx.script_stats, effects)
    return commands.from_value(effects.reply)


def _plain(value, depth: int) -> bool:
    """Whether the reply survives the log's Value encoding as itself (no RESP3 types, no booleans)."""
    kind = type(value)
    if value is None or kind is bytes or kind is int or kind is commands.Status:
        return True
    if kind is list and depth < 8:
        return all(_plain(item, depth + 1) for item in value)
    return False
