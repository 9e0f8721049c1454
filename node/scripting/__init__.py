"""Server-side scripting: EVAL / EVALSHA / FCALL with Redis's Lua API, run inside the
state machine (node/commands/scripting.py dispatches to the functions here once
`install()` has been called by the node's process wiring).

Modules: sandbox.py (the Lua 5.1 runtime, its read-only environment, the
instruction budget's hook), budget.py (what the budget allows and what each
step costs), lualibs.py (bit, cjson, cmsgpack, struct), engine.py (a script
run and redis.call), redis_api.py (the `redis` table, in Lua), local_commands.py
(TIME, SELECT, PING, ECHO, WAIT in a script), run_rules.py (the semantics
version and the caller's ACL a run follows), replies.py (replies to and from Lua), scripts.py (EVAL / EVALSHA: a body to its run),
effects.py (a write script run once by the leader, its writes logged),
functions.py (FUNCTION libraries, FCALL), store.py (scripts and libraries in
the keyspace's meta table); node/commands/script_read_cache.py keeps the
scripts a node ran as reads. docs/scripting.md is the user's page.
"""

from __future__ import annotations

from raftcache.node import commands
from raftcache.node.commands import scripting as _ops
from raftcache.node.commands import script_read_cache as read_cache
from raftcache.node.scripting import effects, engine, functions, run_rules, sandbox, scripts, store


def _eval(ctx, op, read_only: bool):
    """EVAL / EVALSHA, or FCALL when the op names a function."""
    if op.function:
        return functions.fcall(ctx, op, read_only)
    return scripts.eval_script(ctx, op, read_only)


class _Runner:
    """The functions node/commands/scripting.py calls, one per op."""

    @staticmethod
    def needs_savepoint(txn, op) -> bool:
        if op.function or op.body:
            return store.may_flush(txn, op)
        body = store.script(txn, op.sha)
        engine.Engine.for_thread().read_ahead = (op, txn, body)   # the run that follows reads it here
        return store.flushes(body)

    @staticmethod
    def eval(ctx, op):
        return _eval(ctx, op, read_only=False)

    @staticmethod
    def try_effects(txn, now_ms: int, run_script, out, stats) -> int:
        return effects.trial(txn, now_ms, run_script, out, stats)

    @staticmethod
    def apply_effects(ctx, op, logged):
        return effects.apply(ctx, op, logged)

    @staticmethod
    def eval_ro(ctx, op):
        return _eval(ctx, op, read_only=True)

    @staticmethod
    def script_load(ctx, op):
        chunk, error = scripts.compile_script(engine.Engine.for_thread(), op.body, ctx)
        if chunk is None:
            return error   # as Redis: a script that does not compile is not stored
        sha = engine.sha1hex(op.body)
        store.put_script(ctx.txn, sha, op.body)
        if not run_rules.applied_before(ctx, commands.SCRIPT_EVICT_VERSION):
            store.keep(ctx.txn, sha)   # out of EVAL's bounded cache: a loaded script stays
        return sha.encode()

    @staticmethod
    def script_exists(ctx, op):
        cached = run_rules.serving_read(ctx)   # and the scripts this node ran as reads
        return [int(store.script(ctx.txn, sha) is not None or (cached and read_cache.holds(sha))) for sha in op.shas]

    @staticmethod
    def evicted_total(txn) -> int:
        return store.evicted_total(txn)

    @staticmethod
    def usage(txn) -> dict[str, int]:
        return {**store.usage(txn), "used_memory_vm_eval": sandbox.memory_used()}

    @staticmethod
    def script_flush(ctx, op):
        store.flush_scripts(ctx.txn)
        read_cache.forget()
        sandbox.forget_compiled_here()
        return commands.OK

    @staticmethod
    def function_load(ctx, op):
        return functions.load(ctx, op.code, op.replace)

    @staticmethod
    def function_delete(ctx, op):
        return functions.delete(ctx, op.library)

    @staticmethod
    def function_flush(ctx, op):
        result = functions.flush(ctx)
        sandbox.forget_compiled_here()
        return result

    @staticmethod
    def function_restore(ctx, op):
        return functions.restore(ctx, op.payload, op.policy)

    @staticmethod
    def function_list(ctx, op):
        return functions.listing(ctx, op)


def install() -> None:
    """Let this process's state machines run scripts (the Lua runtime starts on first use)."""
    _ops.install(_Runner)
