"""EVAL and EVALSHA: from a script's body to its run on the engine.

Owns the steps between a Command's Eval and `Engine.run`: reading the
`#!lua flags=…` shebang (`strip_shebang`), compiling the body
(`compile_script`), finding an EVALSHA's script (the log's store, or this
node's cache of scripts it ran as reads), Redis 7's OOM refusal of a script
that declares flags (`refused_for_memory`), storing the script as EVAL does
(`cache_script`), and the run itself (`eval_script`). Functions (FCALL) share
the shebang flags and the OOM rule (node/scripting/functions.py).

Must not touch time, random, sockets, Raft or lmdb (as engine.py).
"""

from __future__ import annotations

from raftcache.node import commands
from raftcache.node.commands import script_read_cache as read_cache
from raftcache.node.errors import CommandError, out_of_memory
from raftcache.node.scripting import store
from raftcache.node.scripting.engine import Engine, Run, sha1hex
from raftcache.node.scripting.run_rules import applied_before, caller, serving_read
from raftcache.node.scripting.replies import script_error
from raftcache.proto import commands_pb2 as pb

#: A script with at most this many KEYS and ARGV gets them as values of one call into Lua
#: (which builds the tables); more go as two tables built from Python.
VALUES_MAX = 32


def strip_shebang(body: bytes, redis72_texts: bool = True) -> tuple[bytes, list[str] | CommandError]:
    """(code, flags) of an EVAL body: a `#!lua flags=a,b` first line is read and blanked
    (`redis72_texts`: Redis 7's error for another engine, from log version 15)."""
    if not body.startswith(b"#!"):
        return body, []
    line, _, rest = body.partition(b"\n")
    parts = line[2:].decode("utf-8", "replace").split()
    if not parts or parts[0] != "lua":
        if redis72_texts:
            return body, script_error(f"ERR Unexpected engine in script shebang: {line.split()[0].decode('utf-8', 'replace')}")
        return body, script_error(f"ERR Could not find engine '{parts[0] if parts else ''}'")
    flags: list[str] = []
    for part in parts[1:]:
        key, _, value = part.partition("=")
        if key != "flags":
            return body, script_error(f"ERR Unknown lua shebang option: {key}")
        flags += [f for f in value.split(",") if f]
    for flag in flags:
        if flag not in SCRIPT_FLAGS:
            return body, script_error(f"ERR Unexpected flag in script shebang: {flag}")
    return b"\n" + rest, flags


#: The flags a script's shebang or a function may declare (Redis 7's).
SCRIPT_FLAGS = ("no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys")


def compile_script(engine: Engine, body: bytes, ctx=None) -> tuple[object, list[str] | CommandError]:
    """(chunk, shebang flags), or (None, the error: a bad shebang, a compile error); `ctx`: the
    entry applied (its version decides error texts), None off the log."""
    code, flags = strip_shebang(body, ctx is None or not applied_before(ctx, commands.SCRIPT_COMPAT_VERSION))
    if isinstance(flags, CommandError):
        return None, flags
    chunk, error = engine.box.compile("user_script", code)
    if chunk is None:
        return None, script_error(f"ERR Error compiling script (new function): {error}")
    return chunk, flags


def cache_script(ctx, sha: str, body: bytes | None) -> None:
    """EVAL stores its script as Redis caches it (EVALSHA works from then on); from log version
    18 in a bounded LRU cache that EVAL and EVALSHA from the log refresh (store.cache_evaled)."""
    if applied_before(ctx, commands.SCRIPT_EVICT_VERSION):
        if body is not None:
            store.put_script(ctx.txn, sha, body)
    elif body is None:
        store.touch(ctx.txn, sha)
    else:
        store.cache_evaled(ctx.txn, sha, body)


def refused_for_memory(ctx, op, flags: list[str]) -> CommandError | None:
    """Redis 7's rule for a script that declares its flags (a shebang, every function): unless
    they say `allow-oom` or `no-writes`, it is refused with OOM before it runs (and before EVAL
    caches it) while the keyspace is past maxmemory and the entry's eviction candidates cannot
    bring it under (from log version 19). A script without a shebang is not: each write it
    makes is measured (node/commands/quota.py)."""
    if "allow-oom" in flags or "no-writes" in flags or applied_before(ctx, commands.SCRIPT_OOM_VERSION):
        return None
    if not ctx.txn.would_exceed(0):
        return None
    room = ctx.room
    if room is not None and ctx.eviction != pb.EVICT_NEVER and room.make_room(ctx, op):
        return None
    return out_of_memory()


def eval_script(ctx, op, read_only: bool) -> object:
    """EVAL / EVALSHA (read_only: the _RO forms, on a read transaction)."""
    engine = Engine.for_thread()
    ahead, engine.read_ahead = engine.read_ahead, None
    if op.body:
        body = op.body
        sha = sha1hex(body)
    else:
        sha = op.sha.lower()
        if ahead is not None and ahead[0] is op and ahead[1] is ctx.txn:
            body = ahead[2]   # the quota wrapper's needs_savepoint read it just now
        else:
            body = store.script(ctx.txn, sha)
        if body is None and serving_read(ctx):
            body = read_cache.body(sha)
        if body is None:
            return script_error("NOSCRIPT No matching script. Please use EVAL.")
    chunk, flags = compile_script(engine, body, ctx)
    if chunk is None:
        return flags
    if op.body and serving_read(ctx) and store.script(ctx.txn, sha) is None:
        read_cache.remember(sha, body)   # a script the log did not store: this node keeps it
    if not read_only:
        if body.startswith(b"#!"):
            refused = refused_for_memory(ctx, op, flags)
            if refused is not None:
                return refused
        cache_script(ctx, sha, body if op.body else None)
    run = Run(ctx, read_only or "no-writes" in flags, sha, "user_script", ctx.db, user=caller(ctx, op),
              caller=op.caller, reads=engine.box.reads(chunk))
    keys, args = op.keys[:], op.args[:]   # slices: lists, far cheaper than iterating the repeated fields
    if len(keys) + len(args) <= VALUES_MAX:
        return engine.run(run, engine.run_chunk_values, chunk, engine.redis, len(keys), *keys, *args)
    return engine.run(run, engine.run_chunk, chunk, engine.redis, keys, args)
