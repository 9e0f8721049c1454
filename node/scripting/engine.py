"""Running one script: EVAL / EVALSHA / FCALL and their _RO forms, inside the state
machine (a write: at apply, in the entry's write transaction; a read: on a read
transaction of the serving node).

`redis.call` turns its arguments into a raftcache Command with the RESP front end's
own builders (node/frontends/resp_table.py: the same parsing and error texts as a
client's command), runs it through the state machine's handlers (ctx.handlers, with
the limits check, TTL stamping and quota rule a MULTI/EXEC command gets), and gives
Lua the reply as Redis converts it (RESP2, or RESP3 after `redis.setresp(3)`: replies.py).
`TIME` answers the entry's clock; `math.random` draws from the entry's seed.

The script is atomic: any error it ends with (a failed `redis.call`, a Lua error, the
instruction budget, the memory bound) is its error reply and its writes are rolled
back by the quota wrapper (an undo scope, or a savepoint for a script that names a flush);
an error it returns as its reply is not one it ends with (ReplyError: from log version 24
its writes stay, as Redis's); a command that fails under redis.pcall is undone alone, and so is one whose write would
pass maxmemory (refused as Redis's OOM, log version 19; a script that declares flags without
allow-oom is refused before it runs while the keyspace is past maxmemory: scripts.py). Errors carry Redis
7's texts, with the " script: <sha>, on @user_script:<line>." suffix, and are counted in INFO
errorstats once (ScriptStats.errors, unless the script's reply carries them).

Imports the RESP front end's command table (it translates Redis commands, as the
front end does); must not touch time (but the duration of a called command, for INFO
commandstats, which is not replicated state), random, sockets, Raft or lmdb.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import random
import re
import time

from lupa import lua51

from raftcache.commandkeys import KEY_FIELDS
from raftcache.node import commands
from raftcache.node.commands import acl, notifications
from raftcache.node.commands.acl_keys import access_keys
from raftcache.node.commands.quota import run_with_quota, within_quota
from raftcache.node.errors import CommandError, Reason, ReplyError
from raftcache.node.frontends import acl_catalog, resp_args, resp_blocking, resp_sort_dump
from raftcache.node.frontends.resp_protocol import (
    RespError, error_text,
)
from raftcache.node.frontends.resp_table import TABLE
from raftcache.node.frontends.resp_types import SINCE_HFE
from raftcache.node.pulse import beat
from raftcache.node.scripting import local_commands, lualibs, string_weights
from raftcache.node.scripting.budget import (
    APPLY_BUDGET, READ_BUDGET, READ_BYTES_FREE, READS_FREE, WRITE_BYTES_PER_INSTRUCTION, Budget,
    cost_of_reads,
)
from raftcache.node.scripting.copies import REPLY_COSTS, REPLY_COSTS_26, ReplyMeter, ReplySpent
from raftcache.node.scripting.replies import MAX_REPLY_DEPTH, REPLY_DEPTH_LIMIT, LuaReplies, script_error
from raftcache.node.scripting.redis_api import REDIS_API
from raftcache.node.scripting.run_rules import applied_before, rules_version, serving_read
from raftcache.node.scripting.sandbox import HOOK_STEP, Sandbox
from raftcache.node.scripting.string_weights import ARG_BYTES, ARG_BYTES_FREE, FREE_NUL
from raftcache.node.storage.containers import mixed_seed, seed_of
from raftcache.proto import commands_pb2 as pb

log = logging.getLogger(__name__)

#: Lua memory one run may allocate (beyond what the runtime held when it started; the
#: collector does not run during a run, so garbage counts: node/scripting/sandbox.py).
MEMORY_LIMIT_BYTES = 256 << 20
#: What redis.log writes of a message, at most.
LOGGED_BYTES = 4096
#: A full collection runs before a script when the runtime holds more than this.
GC_ABOVE_BYTES = 16 << 20
#: Ops whose message has an `expiry` (commands.stamp turns its ttl_ms into a deadline).
_EXPIRY_OPS = frozenset(f.name for f in pb.Command.DESCRIPTOR.oneofs_by_name["op"].fields
                        if "expiry" in f.message_type.fields_by_name)
#: Ops that carry the seed of their random choice (*RANDMEMBER, RANDOMKEY): the builder draws one
#: from the system; a script at apply gets one from its entry instead (_execute).
_SEEDED_OPS = frozenset(f.name for f in pb.Command.DESCRIPTOR.oneofs_by_name["op"].fields
                        if "seed" in f.message_type.fields_by_name)
#: Ops whose values commands.check_limits checks besides their keys.
_VALUE_CHECKED = frozenset({"set", "append", "set_range", "mset", "mset_nx"})
#: Command names (as a script spells them) remembered with their Spec.
_SPECS_MAX = 1024
#: Commands a script may not call (besides those the RESP table marks noscript).
_NOT_IN_SCRIPTS = frozenset({"eval", "eval_ro", "script_load", "script_flush", "function_load", "function_delete",
                             "function_flush", "function_restore", "transaction", "evict"})
#: What an undo scope cannot undo (node/storage/keyspace/): only scripts that name them run
#: in a savepoint (node/scripting/store.may_flush).
_UNDO_REFUSES = (pb.FlushAll, pb.FlushDb, pb.SwapDb)
#: The sampling hook's seeds for reads this node serves (a log entry's are the entry's).
_READ_SEEDS = random.Random()
_POSITION = re.compile(r"user_(?:script|function):(\d+):")
_WRITE_IN_READ_ONLY = "ERR Write commands are not allowed from read-only scripts."



def box_out_of_memory(box: Sandbox) -> bool:
    """Whether the run just ended used up its memory bound (a conversion in Python may have
    been the allocation refused)."""
    return box.lua.get_memory_used() + (1 << 20) >= box.lua.get_max_memory()


def _disarm(box: Sandbox, run: Run) -> None:
    """A run that raised out of the prelude (its budget or its memory stopped it there): the
    memory bound lifted before anything reaches into the runtime (an allocation refused there,
    outside Lua's protection, would end the process)."""
    run.memory_exhausted = box_out_of_memory(box)
    box.set_memory_limit(0)
    box.disarm()


def sha1hex(body: bytes) -> str:
    return hashlib.sha1(body).hexdigest()


def budget_for(ctx) -> Budget:
    """The budget of a run: APPLY_BUDGET for a read this node serves, and for anything that
    runs at apply (a script, a read-only one inside MULTI, a library's load) in an entry of
    SCRIPT_BUDGET_VERSION or later; READ_BUDGET in an older one (the same on every replica: it
    depends on the entry only)."""
    if serving_read(ctx) or ctx.version >= commands.SCRIPT_BUDGET_VERSION:
        return APPLY_BUDGET
    return READ_BUDGET


class HandlerCrash(Exception):
    """A command handler raised inside redis.call: re-raised after the run, so the state
    machine answers it as it answers any handler bug (INTERNAL, rolled back)."""


@dataclasses.dataclass(slots=True)
class Run:
    """One script run's state (the sandbox's current run)."""

    ctx: object
    read_only: bool
    name: str            # the sha, or the function's name
    chunk_name: str      # user_script / user_function
    db: int
    resp: int = 2
    crashed: BaseException | None = None
    budget: Budget = READ_BUDGET
    memory_exhausted: bool | None = False
    redis74: bool = True              # Redis 7.4's rules (commands.REDIS74_VERSION), else the older log versions
    compat: bool = True               # log version 15's rules (commands.SCRIPT_COMPAT_VERSION)
    objects: bool = True              # no address, no Python object or text (commands.SCRIPT_OBJECTS_VERSION)
    registering: dict | None = None   # FUNCTION LOAD: the functions registered so far
    on_register: object = None        # FUNCTION LOAD: register(registering, args) (functions.register)
    user: acl.User | None = None      # the restricted caller every command is checked for (Eval.user)
    caller: str = ""                  # the node whose ACL LOG records its refusals (Eval.caller)
    errorstats: bool = True           # its commands' errors in INFO errorstats (commands.SCRIPT_ERRORSTATS_VERSION)
    write_quota: bool = True          # each write measured against maxmemory alone (commands.SCRIPT_OOM_VERSION)
    write_bytes: bool = True          # writes charge the budget by the bytes they store (SCRIPT_WRITE_BYTES_VERSION)
    read_bytes: bool = True           # commands charge it by what they read (SCRIPT_READ_BYTES_VERSION)
    script_errors: bool = True        # its errors as Redis 7's: a returned one keeps its writes… (SCRIPT_ERRORS_VERSION)
    long_strings: bool = True         # its long strings weigh on its budget (SCRIPT_STRINGS_VERSION)
    copies: bool = True               # what it hands to Python counts in its budget (SCRIPT_COPIES_VERSION)
    whole_costs: bool = True          # replies and item runs counted whole (SCRIPT_REPLY_COSTS_VERSION)
    reads: tuple | None = None        # ... what its code reads of strings (Sandbox.reads: string_weights.py)
    notify: frozenset | None = None   # the keyspace events its writes note (commands.SCRIPT_NOTIFY_VERSION)
    picks: int = 0                    # random choices its commands made so far (_execute's seeds)


def _prefix(error: CommandError) -> str:
    """An error's INFO errorstats name: the first word of its Redis text (ERR, WRONGTYPE, OOM…)."""
    return error_text(error).split(" ", 1)[0]


def _values(reply) -> int:
    """The values of a command's reply, those of its nested lists too (a SCAN's page, a map's
    pairs), an empty list one: what handing it to Lua converts (log version 28; before, its
    length)."""
    return len(reply) + sum(max(_values(x), 1) - 1 for x in reply if isinstance(x, (list, tuple)))


def _reply_carries(run: Run, error: CommandError) -> None:
    """The script answers with the error one of its commands gave (and errorstats counted):
    the node the client is connected to counts that reply, so the command's count is taken
    back (on every replica: the others send no reply). As Redis's ignore_error_stats_update."""
    stats = run.ctx.script_stats
    if stats is None:
        return
    errors = stats.errors
    prefix = _prefix(error)
    errors[prefix] -= 1
    if errors[prefix] <= 0:   # (a CONFIG RESETSTAT may have cleared it meanwhile)
        errors.pop(prefix, None)


@dataclasses.dataclass(frozen=True, slots=True)
class _Rejected:
    """A script's command refused before it ran (wrong arity, not allowed from scripts,
    maxmemory): INFO commandstats counts it in rejected_calls."""
    error: CommandError


class Engine(LuaReplies):
    """The `redis` API of one sandbox, and the runs on it."""

    def __init__(self, box: Sandbox):
        self.box = box
        self.current: Run | None = None
        self.redis74_reply = True   # the rules from_lua follows: the last run's (Run.redis74)
        self.plain_replies = True   # to_lua's and from_lua's rules of log version 27: the run's (Run.objects)
        self.reply_depth = REPLY_DEPTH_LIMIT   # and the deepest table it follows (the last run's)
        guarded = box.guarded
        py = box.table({b"call": guarded(self._call), b"call_table": guarded(self._call_table),
                        b"sha1hex": box.bounded(self._sha1hex, "sha1hex"), b"log": guarded(self._log, "log"),
                        b"setresp": guarded(self._setresp, "setresp"),
                        b"acl_check_cmd": guarded(self._acl_check_cmd, "acl_check_cmd"),
                        b"register_function": guarded(self._register_function)})
        self.redis = box.lua.execute(REDIS_API, box.m, py)
        m = box.m
        self.run_chunk, self.run_chunk_values, self._stop_gc = m.run_chunk, m.run_chunk_values, m.stop_gc
        self._charge = m.charge   # (the Python-written libraries charge the budget: lualibs.py, log version 24)
        self._pushed = m.pushed   # (a long reply: the sampling hook's, log version 25)
        self._use_api = m.use_api   # (the redis table's functions of a version: redis_api.py)
        #: what the Lua side's `state` holds of the per-run settings (set only when they change)
        self._lua_state: tuple = (True, True, None, None, None, None, None, None)
        self._reads: tuple | None = None   # the Lua side's lines and constants_weight (_set_weights)
        #: (op, txn, body): the stored script an EVALSHA op names, read by needs_savepoint
        #: (node/scripting/__init__.py) just before the op runs in that transaction.
        self.read_ahead: tuple | None = None
        self._specs: dict[bytes, object] = {}   # a command's name as called -> its Spec
        #: While the leader tries a script for its effects: what the run names and does
        #: (node/scripting/effects.py's Recorder), else None.
        self.recorder = None

    @classmethod
    def for_thread(cls) -> Engine:
        box = Sandbox.for_thread()
        engine = getattr(box, "engine", None)
        if engine is None:
            engine = box.engine = cls(box)
        return engine

    # ------------------------------------------------------------ running

    def run(self, run: Run, start, *args) -> object:
        """Run `start(steps, *args)` (a prelude runner) as `run`; returns the reply or a CommandError.
        A list in `args` (KEYS, ARGV) becomes a Lua table once the run's memory is counted."""
        box = self.box
        ctx = run.ctx
        version = rules_version(ctx)
        compat = run.compat = version >= commands.SCRIPT_COMPAT_VERSION
        long_strings = run.long_strings = version >= commands.SCRIPT_STRINGS_VERSION
        copies = run.copies = version >= commands.SCRIPT_COPIES_VERSION
        run.whole_costs = version >= commands.SCRIPT_REPLY_COSTS_VERSION
        box.seed(ctx.seed, numeric_strings=compat, derived=long_strings)
        box.msgpack.compat = compat
        box.msgpack.charge = box.cjson.charge = self._charge if version >= commands.SCRIPT_ERRORS_VERSION else None
        box.msgpack.copies = box.cjson.copies = copies
        objects = run.objects = version >= commands.SCRIPT_OBJECTS_VERSION   # (no addresses, no Python texts)
        box.msgpack.plain_keys = box.plain_errors = box.msgpack.plain_errors = box.cjson.plain_errors = objects
        self.plain_replies = objects
        cjson = box.cjson
        cjson.reset()
        cjson.depth_settable = run.redis74 = version >= commands.REDIS74_VERSION
        run.budget = budget = budget_for(ctx)
        steps = max(budget.instructions(ctx.settings) // HOOK_STEP, 1)
        run.errorstats = errorstats = version >= commands.SCRIPT_ERRORSTATS_VERSION
        run.write_quota = version >= commands.SCRIPT_OOM_VERSION
        run.write_bytes = version >= commands.SCRIPT_WRITE_BYTES_VERSION
        run.read_bytes = version >= commands.SCRIPT_READ_BYTES_VERSION
        run.script_errors = script_errors = version >= commands.SCRIPT_ERRORS_VERSION
        if getattr(ctx.txn, "notes", None) is not None and version >= commands.SCRIPT_NOTIFY_VERSION:
            run.notify = notifications.flags_of(ctx.settings)
        self._set_lua_state((compat, version >= commands.SCRIPT_SANDBOX_VERSION, budget.call_cost, errorstats,
                             script_errors, long_strings, objects, copies))
        if long_strings:   # (a read this node serves: a seed no script can know)
            seed = ctx.seed if ctx.index else _READ_SEEDS.getrandbits(62)
            self._set_weights(string_weights.sampler_seed(seed), run.reads)
        self.current = run
        if box.lua.get_memory_used() > GC_ABOVE_BYTES:
            box.gc()   # garbage left by earlier runs would eat into this run's bound
        # The collector stops before the bound is set: from here on what the run may still
        # allocate depends only on the run (node/scripting/sandbox.py).
        self._stop_gc()
        box.set_memory_limit(MEMORY_LIMIT_BYTES)
        run.memory_exhausted = None
        try:
            resp_args.set_clock(ctx.now_ms)
            args = [box.table(a) if type(a) is list else a for a in args]
            # (ok, exhausted, the value) or (ok, exhausted, the message[, its line])
            outcome = start(steps, *args)
        except lua51.LuaMemoryError:
            _disarm(box, run)
            outcome = (False, False, "not enough memory")
        except lua51.LuaError as e:
            _disarm(box, run)
            outcome = (False, bool(box.state[b"exhausted"]), str(e))
        finally:
            resp_args.set_clock(None)
            self.current = None
            if run.memory_exhausted is None:
                run.memory_exhausted = box_out_of_memory(box)
            box.set_memory_limit(0)
        if run.crashed is not None:
            raise HandlerCrash(f"a command called by script {run.name} raised") from run.crashed
        if box.starved:   # (stopped as out of memory: Sandbox.error_room)
            return self._run_error(run, "not enough memory", None)
        if outcome[1]:
            return self._budget_error(run)
        if outcome[0]:
            self.redis74_reply = run.redis74
            self.reply_depth = REPLY_DEPTH_LIMIT if run.compat else MAX_REPLY_DEPTH
            if run.copies:   # (what the run left of its budget: the hook's count, in instructions)
                costs = REPLY_COSTS if run.whole_costs else REPLY_COSTS_26   # (a read: always the first)
                self.reply_meter = ReplyMeter(box.state[b"left"] * HOOK_STEP, costs)
            try:
                reply = self.from_lua(outcome[2], 0)
            except ReplySpent:
                return self._budget_error(run, reply=True)
            finally:
                self.reply_meter = None
            if type(reply) is CommandError and run.errorstats and lualibs.lua_type(outcome[2]) == "table" \
                    and self.box.m.rawget(outcome[2], b"ignore_error_stats_update"):
                _reply_carries(run, reply)   # a redis.pcall's error table returned
            if type(reply) is CommandError and run.script_errors and run.registering is None:
                return ReplyError(reply.message, reply.reason)   # the script ran to its end: its writes stay
            return reply
        error = self._run_error(run, outcome[2], outcome[3] if len(outcome) > 3 else None)
        if len(outcome) > 4 and outcome[4] and run.errorstats:
            _reply_carries(run, error)   # redis.call's error raised out of the script
        return error

    def _set_lua_state(self, values: tuple) -> None:
        """The Lua side's (compat, readonly_globals, call_cost, errorstats, script_errors, sampled,
        objects_named, copies), and the redis table's functions of the run's version: written only
        when they change."""
        if values != self._lua_state:
            if values[-1] != self._lua_state[-1]:
                self._use_api(values[-1])
            self._lua_state = values
            state = self.box.state
            (state[b"compat"], state[b"readonly_globals"], state[b"call_cost"], state[b"errorstats"],
             state[b"script_errors"], state[b"sampled"], state[b"objects_named"], state[b"copies"]) = values

    def _set_weights(self, seed: int, reads: tuple | None) -> None:
        """A run's sampling hook (log version 25): its generator's seed, and what its code reads
        of strings (Sandbox.reads; node/scripting/string_weights.py)."""
        state = self.box.state
        state[b"sample_seed"] = seed
        if reads is not self._reads:
            self._reads = reads
            state[b"lines"], state[b"constants_weight"] = reads[:2] if reads is not None else (False, 0)

    def _budget_error(self, run: Run, reply: bool = False) -> CommandError:
        budget = run.budget.instructions(run.ctx.settings)
        if run.registering is not None and not applied_before(run.ctx, commands.SCRIPT_SANDBOX_VERSION):
            # a library's top level (Redis's text; functions._load prefixes "ERR Error registering functions")
            return script_error(f"FUNCTION LOAD timeout: library {run.name}'s top level ran past its budget "
                                f"of {budget} Lua instructions; nothing was loaded")
        read = serving_read(run.ctx)
        whose = "" if read else " for a script that writes"
        capped = f", at most {run.budget.cap_ms} ms{whose}" if run.budget.cap_ms else ""
        outcome = "it was stopped" if read else "its writes were rolled back"
        weighed = ", long strings it held counting for more" if run.long_strings and self.box.state[b"weighed"] else ""
        if reply:
            weighed += ", its reply counted in it"
        return script_error(
            f"ERR Error running script {run.name}: it ran past its budget of {budget} Lua instructions "
            f"(busy-reply-threshold / lua-time-limit{capped}{weighed}); {outcome}")

    def _run_error(self, run: Run, message, line) -> CommandError:
        text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
        if text in ("not enough memory", "") or run.memory_exhausted:
            return script_error(f"ERR Error running script {run.name}: it used more than "
                                f"{MEMORY_LIMIT_BYTES} bytes of Lua memory; its writes were rolled back")
        if line is None:  # a Lua error (a string): Redis prefixes ERR and takes the line from its position
            found = _POSITION.match(text)
            line = int(found.group(1)) if found else 0
            if not text.startswith("ERR "):
                text = "ERR " + text
        try:
            line = int(line)
        except (TypeError, ValueError, OverflowError):   # an older entry's table gave its own `line`
            line = 0
        return script_error(f"{text} script: {run.name}, on @{run.chunk_name}:{line}.")

    # ------------------------------------------------------------ redis.call

    def _call_table(self, protected, n, args):
        return self._call(protected, *(args[i] for i in range(1, int(n) + 1)))

    def _call(self, protected, *args):
        """(the reply in Lua, False[, False, what its reads cost]), or (the error, True, whether
        INFO errorstats counted it: its error table then carries Redis's ignore_error_stats_update[,
        what its reads cost]); the Lua side charges that cost (log version 22 on: budget.cost_of_reads)."""
        run = self.current
        counted = False
        beat()   # (a leader's heartbeats go on through a long script: node/pulse.py)
        if run is None or run.registering is not None:
            text = "ERR redis.call is not available while a library loads"
            read_cost = 0
        else:
            txn = run.ctx.txn
            bytes_read, reads, run_items = txn.bytes_read, txn.reads, txn.run_items
            try:
                reply, counted = self._dispatch(run, args)
            except (HandlerCrash, lua51.LuaError):   # the budget or the memory bound stopped the run
                raise
            except Exception as e:  # a bug in a handler or a builder
                run.crashed = e
                raise HandlerCrash("handler raised") from e
            elements = 0
            if isinstance(reply, (list, tuple)):
                elements = run.budget.element_cost * (_values(reply) if run.whole_costs else len(reply))
                if elements:
                    self._charge(elements)   # its conversion is Python's work
            bytes_read, reads = txn.bytes_read - bytes_read, txn.reads - reads
            if run.whole_costs:
                reads += txn.run_items - run_items
            if run.long_strings and (bytes_read > FREE_NUL or type(reply) is bytes and len(reply) > FREE_NUL):
                _report_long(self._pushed, reply)
            read_cost = 0
            if (reads > READS_FREE or bytes_read > READ_BYTES_FREE) and run.read_bytes:
                read_cost = cost_of_reads(bytes_read, reads, elements)
            if not isinstance(reply, CommandError):
                value = self.to_lua(reply, run.resp, 0)   # (its tables: built under the bound)
                self.box.room_for(value)   # (a string: pushed as it returns)
                if read_cost:
                    return value, False, False, read_cost
                return value, False
            text = error_text(reply)
        if protected:
            if counted:
                error = self.box.table({b"err": text.encode(), b"ignore_error_stats_update": True})
            else:
                error = self.box.table({b"err": text.encode()})
        else:
            error = text.encode()
            self.box.room_for(error)   # (pushed as it returns)
        return (error, True, counted, read_cost) if read_cost else (error, True, counted)

    def _dispatch(self, run: Run, args) -> tuple[object, bool]:
        """(the command's reply or CommandError, whether INFO errorstats counted that error:
        as Redis, an error the command answered or a refusal, an unknown command too, but not
        arguments Lua could not pass)."""
        argv = _command_argv(args, run.compat)
        if argv is None:
            return script_error("ERR Lua redis lib command arguments must be strings or integers"), False
        if not argv:
            return script_error("ERR Please specify at least one argument for this redis lib call"), False
        spec = self._specs.get(argv[0])
        if spec is None:
            spec = TABLE.get(argv[0].lower())
            if spec is None:
                return self._counted(run, script_error("ERR Unknown Redis command called from script"))
            if len(self._specs) >= _SPECS_MAX:
                self._specs.clear()
            self._specs[argv[0]] = spec
        if spec.name in SINCE_HFE and applied_before(run.ctx, commands.HFE_VERSION):
            return self._counted(run, script_error("ERR Unknown Redis command called from script"))
        recorder = self.recorder
        if recorder is not None:
            recorder.before(run.db, spec, argv)
        started_ns = time.perf_counter_ns()
        result = self._command(run, spec, argv)
        rejected = type(result) is _Rejected
        if recorder is not None:
            recorder.after(rejected)
        stats = run.ctx.script_stats
        if stats is not None:   # INFO commandstats (counters; no replicated state)
            if rejected:
                stats.add(spec.name, 0, 0, 1, 0)
            else:
                stats.add(spec.name, 1, (time.perf_counter_ns() - started_ns) // 1000, 0,
                          isinstance(result, CommandError))
        if rejected:
            return self._counted(run, result.error)
        if isinstance(result, CommandError):
            return self._counted(run, result)
        return result, False

    @staticmethod
    def _counted(run: Run, error: CommandError) -> tuple[CommandError, bool]:
        """`error`, counted in INFO errorstats (from log version 19: SCRIPT_ERRORSTATS_VERSION)."""
        if not run.errorstats:
            return error, False
        stats = run.ctx.script_stats
        if stats is not None:
            stats.errors[_prefix(error)] += 1
        return error, True

    def _command(self, run: Run, spec, argv: list) -> object:
        """Run the command `argv` (its `spec` known): its reply or CommandError, or _Rejected
        when it was refused before it ran (INFO commandstats' rejected_calls)."""
        if (spec.arity > 0 and len(argv) != spec.arity) or len(argv) < -spec.arity:
            return _Rejected(script_error("ERR Wrong number of args calling Redis command from script"))
        local = _LOCAL.get(spec.name)
        if local is not None and (run.redis74 or spec.name != "wait"):
            if run.user is not None:
                refused = _acl_refusal(run, spec, argv, ())
                if refused is not None:
                    return refused
            return local(self, run, argv)
        if spec.name == "xread" and applied_before(run.ctx, commands.XREAD_LAST_VERSION) and _reads_last(argv):
            return script_error("ERR Invalid stream ID specified as stream command argument")   # as that release
        try:
            if "blocking" in spec.flags:
                spec, command = resp_blocking.in_multi(spec.name, argv, run.db)
            elif spec.build is None or "noscript" in spec.flags:
                return _Rejected(script_error("ERR This Redis command is not allowed from script"))
            else:
                command = spec.build(argv, run.db)
        except RespError as e:
            if run.user is not None:   # Redis checks the ACL (the keys at their positions) first
                refused = _acl_refusal(run, spec, argv, acl_catalog.positional_keys(spec, argv))
                if refused is not None:
                    return refused
            if run.read_only and run.script_errors and _writes(spec):
                return _Rejected(script_error(_WRITE_IN_READ_ONLY))   # then the command's flags
            return script_error(e.text)
        op_name = command.WhichOneof("op")
        if op_name in _NOT_IN_SCRIPTS:
            return _Rejected(script_error("ERR This Redis command is not allowed from script"))
        if run.user is not None:
            refused = _acl_refusal(run, spec, argv, access_keys(command))
            if refused is not None:
                return refused
            if spec.name in ("sort", "sort_ro"):   # BY / GET patterns read keys the command does not name
                refused = resp_sort_dump.pattern_refusal(run.user, argv, acl_catalog.categories(spec.name))
                if refused is not None:
                    return script_error(refused)
        is_read = op_name in commands.READ_COMMANDS
        if run.read_only and (not is_read or (run.script_errors and _writes(spec))):   # (SORT, PFCOUNT)
            return _Rejected(script_error(_WRITE_IN_READ_ONLY))
        result = self._execute(run, command, op_name, is_read)
        if spec.shape is None or isinstance(result, (CommandError, _Rejected)):
            return result
        return spec.shape(result, run.resp, command)

    def _execute(self, run: Run, command, op_name: str, is_read: bool) -> object:
        """Run one command of the script in its transaction: the handler's result, a
        CommandError, or _Rejected (refused before it ran: INFO commandstats)."""
        ctx = run.ctx
        op = getattr(command, op_name)
        error = self._limits(ctx, command, op_name, op)
        if error is None and op_name in _EXPIRY_OPS and op.HasField("expiry"):
            error = commands.stamp_op(op_name, op, ctx.now_ms)
        if op_name in _SEEDED_OPS and not serving_read(ctx):
            # at apply every replica must choose alike: the n-th random choice of the run draws
            # from the entry's seed and n (the builder drew from the system: replicas differed)
            run.picks += 1
            op.seed = mixed_seed(seed_of(ctx), run.picks)
        if error is not None:
            return error
        handler = ctx.handlers.get(op_name)
        if handler is None:
            return _Rejected(script_error("ERR This Redis command is not allowed from script"))
        sub_ctx = ctx if command.db == ctx.db else ctx.using(command.db, ctx.seed)
        txn = ctx.txn
        if is_read or not hasattr(txn, "savepoint"):
            return handler(sub_ctx, op)
        if run.notify is None:
            return self._write(run, txn, handler, sub_ctx, op, op_name)
        # Keyspace notifications are on: the command's own touched keys give its events (as the
        # state machine's for a command of its own), noted if it is kept (and dropped with the
        # script by the quota wrapper if the script is not).
        outer, txn.touched = txn.touched, set()
        outer_created = txn.created   # a dict when `new` (class n) is on: the keys it adds, in order
        if outer_created is not None:
            txn.created = {}
        notes = txn.notes
        writes, noted = txn.writes, len(notes)
        try:
            result = self._write(run, txn, handler, sub_ctx, op, op_name)
        finally:
            touched, txn.touched = txn.touched, outer
            outer |= touched
            created, txn.created = txn.created, outer_created
        if isinstance(result, (CommandError, _Rejected)):
            del notes[noted:]   # what its handler noted went with its writes
        elif txn.writes != writes:
            exists = notifications.key_exists(txn, ctx.now_ms)
            notifications.decide(notes, noted, run.notify, exists)   # what its handler noted (fields expired…)
            notes[noted:noted] = [(db, notifications.DECIDED, "new", key) for db, key in created or ()]
            decided = set(notes[noted:])
            for db, event, key in notifications.events_for(op_name, op, command.db, touched, exists, run.notify):
                if (db, notifications.DECIDED, event, key) not in decided:   # a `del` said already
                    notes.append((db, notifications.DECIDED, event, key))
        return result

    def _write(self, run: Run, txn, handler, sub_ctx, op, op_name: str) -> object:
        """Run one write of the script: the handler's result, a CommandError (its writes undone),
        or _Rejected (refused: past maxmemory, or a flush in an undo scope). What it stored is
        charged to the run's budget (WRITE_BYTES_PER_INSTRUCTION), kept or undone alike (an undone
        write's write-back is charged too: it is work apply did)."""
        before = txn.bytes_put
        result = self._write_command(run, txn, handler, sub_ctx, op, op_name)
        stored = txn.bytes_put - before
        if stored >= WRITE_BYTES_PER_INSTRUCTION and run.write_bytes:
            self._charge(stored // WRITE_BYTES_PER_INSTRUCTION)
        return result

    def _write_command(self, run: Run, txn, handler, sub_ctx, op, op_name: str) -> object:
        if not txn.undoing:   # the script runs in a savepoint: each command as the state machine runs it
            result = run_with_quota(txn, handler, sub_ctx, op)
            refused = isinstance(result, CommandError) and result.reason == Reason.OUT_OF_MEMORY
            return _Rejected(result) if refused else result
        # The script runs in an undo scope; a command that fails is undone alone, back to its
        # mark, and so is one that grows the data past maxmemory, refused as a rejected call (log
        # version 19; before, the quota wrapper checked maxmemory for the whole script only).
        if type(op) in _UNDO_REFUSES:
            return _Rejected(script_error(f"ERR {op_name.upper()} inside a script needs its name in the "
                                          f"script's code"))
        mark = txn.undo_mark()
        if not run.write_quota:
            result = handler(sub_ctx, op)
            if isinstance(result, CommandError):
                txn.undo_to(mark)
            return result
        used_before = txn.used_bytes()
        result = handler(sub_ctx, op)
        refused = within_quota(txn, sub_ctx, op, result, used_before)
        if refused is None:
            return result
        txn.undo_to(mark)
        return result if refused is result else _Rejected(refused)

    @staticmethod
    def _limits(ctx, command, op_name: str, op) -> CommandError | None:
        """commands.check_limits, with the common case (the keys of single-key fields, a known
        database, no value to check) done here."""
        limits = ctx.limits
        max_key_bytes = limits.max_key_bytes if limits is not None else 1 << 30
        single, repeated, pairs = KEY_FIELDS[op_name]
        if repeated or pairs or op_name in _VALUE_CHECKED or command.db >= (ctx.databases or 16):
            return commands.check_limits(command, databases=ctx.databases or 16, max_key_bytes=max_key_bytes,
                                         max_value_bytes=ctx.max_value_bytes)
        for field in single:
            if len(getattr(op, field)) > max_key_bytes:
                return commands.check_limits(command, databases=ctx.databases or 16, max_key_bytes=max_key_bytes,
                                             max_value_bytes=ctx.max_value_bytes)
        return None

    # ------------------------------------------------------------ the other redis.* functions

    def _sha1hex(self, data=None):
        if not isinstance(data, (bytes, int, float)):
            raise lualibs.LuaLibError("wrong number of arguments")
        run = self.current
        if run is not None and run.long_strings and isinstance(data, bytes) and len(data) > ARG_BYTES_FREE:
            self._charge((len(data) - ARG_BYTES_FREE) // ARG_BYTES)
        return sha1hex(data if isinstance(data, bytes) else lualibs.number_text(data)).encode()

    def _log(self, level=None, *parts):
        if not isinstance(level, int) or not parts:
            raise lualibs.LuaLibError("redis.log() requires two arguments or more.")
        if not 0 <= level <= 3:
            raise lualibs.LuaLibError("Invalid debug level.")
        if self.recorder is not None:
            self.recorder.disqualify()   # every replica logs it, as before: the script runs everywhere
        text = bytearray()
        for p in parts:   # (the first LOGGED_BYTES only: many long parts would make a huge join)
            if text:
                text += b" "
            part = p if isinstance(p, bytes) else lualibs.number_text(p) if isinstance(p, (int, float)) else b""
            text += part[:LOGGED_BYTES - len(text)]
            if len(text) >= LOGGED_BYTES:
                break
        log.log((logging.DEBUG, logging.DEBUG, logging.INFO, logging.WARNING)[level], "script: %s",
                text[:LOGGED_BYTES].decode("utf-8", "replace"))

    def _setresp(self, version=None):
        if version not in (2, 3):
            raise lualibs.LuaLibError("RESP version must be 2 or 3.")
        if self.current is not None:
            self.current.resp = version

    def _acl_check_cmd(self, *args):
        """redis.acl_check_cmd(command, args…): whether the script's caller may run it on
        its keys (always, for a caller that is not checked: Eval.user)."""
        if not args or not isinstance(args[0], bytes):
            raise lualibs.LuaLibError("Please specify at least one argument for this redis lib call")
        argv = _command_argv(args, True)
        if argv is None:
            raise lualibs.LuaLibError("Lua redis lib command arguments must be strings or integers")
        spec = TABLE.get(argv[0].lower())
        if spec is None:
            raise lualibs.LuaLibError("Invalid command passed to redis.acl_check_cmd()")
        run = self.current
        if run is None or run.user is None:
            return True
        try:
            keys = acl_catalog.resp_keys(spec, argv, run.db)
        except Exception:   # too few arguments to find its keys (Redis checks the command alone then)
            keys = []
        return _acl_refusal(run, spec, argv, keys, logged=False) is None

    def _register_function(self, *args):
        run = self.current
        if run is None or run.registering is None:
            raise lualibs.LuaLibError("redis.register_function can only be called on FUNCTION LOAD command")
        run.on_register(run.registering, args, run.objects)
        self.box.took_refs(kept=True)   # (the library's function, held until the load ends)


def _report_long(pushed, reply) -> None:
    """A command's reply may hold a long string (log version 25): the run's hook samples from
    now on as often as its weight warrants (`pushed`: node/scripting/string_weights.py)."""
    w = string_weights.heaviest((reply,))
    if w > 0:
        pushed(w)


def _writes(spec) -> bool:
    """Whether a read-only script is refused the command by its flags, as Redis refuses it: a
    write, or one that may replicate (PFCOUNT, which may rewrite its HyperLogLog's cache)."""
    flags = spec.flags
    return "write" in flags or "may_replicate" in flags


def _command_argv(args, compat: bool) -> list[bytes] | None:
    """A command's arguments as a script passes them (numbers as Redis writes them: `compat`,
    log version 15's rules); None when one is neither a string nor a number."""
    argv = list(args)
    for i, a in enumerate(argv):
        if type(a) is not bytes:
            if isinstance(a, (int, float)) and not isinstance(a, bool):
                argv[i] = lualibs.command_number_text(a) if compat else lualibs.number_text(a)
            elif not isinstance(a, bytes):
                return None
    return argv


def _acl_refusal(run: Run, spec, argv: list, keys, logged: bool = True) -> _Rejected | None:
    """Redis's refusal of a script's command its caller's ACL does not allow (ACL failure in
    script); `logged`: also an ACL LOG entry on the caller's node (redis.acl_check_cmd: none)."""
    user = run.user
    name, parent = acl_catalog.resp_name(spec, argv)
    denial = acl.check(user, name, acl_catalog.categories(name), keys, acl_catalog.resp_channels(spec, argv),
                       parent=parent)
    if denial is None:
        return None
    stats = run.ctx.script_stats
    if logged and run.caller and stats is not None and stats.on_denial is not None:
        stats.on_denial(run.caller, user.name, denial)
    return _Rejected(script_error(f"ERR ACL failure in script: {acl.denial_text(user.name, denial)}"))


def _keys(engine: Engine, run: Run, argv) -> object:
    """KEYS: SCAN to the end, as the front end runs it (every step counts in the budget)."""
    pattern = argv[1]
    found: list[bytes] = []
    cursor = 0
    while True:
        command = resp_args.cmd(run.db, "scan", cursor=cursor, match=b"" if pattern == b"*" else pattern, count=1000)
        result = engine._execute(run, command, "scan", True)
        if isinstance(result, (CommandError, _Rejected)):
            return result
        cursor = int(result[0])
        found.extend(result[1])
        if cursor == 0:
            return found
        engine._charge(run.budget.call_cost)


def _reads_last(argv: list) -> bool:
    """An XREAD's ids (after STREAMS: the second half) include `+` (Redis 7.4's last entry)."""
    words = [a.lower() for a in argv]
    if b"streams" not in words:
        return False
    rest = argv[words.index(b"streams") + 1:]
    return b"+" in rest[len(rest) // 2:]


#: Commands the RESP front end runs itself that a script may call, answered here.
_LOCAL = {**local_commands.ANSWERED_HERE, "keys": _keys}
