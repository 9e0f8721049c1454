"""Redis 7 functions: `#!lua name=<library>` libraries that call `redis.register_function`,
FUNCTION LOAD / DELETE / FLUSH / RESTORE at apply, FUNCTION LIST / DUMP / STATS as reads,
and FCALL / FCALL_RO.

A library is stored as its code (node/scripting/store.py). Every FCALL loads it anew
in a fresh environment and calls the function it registered: nothing a call leaves in
a library's upvalues reaches the next call, so a replica that restarted and one that
did not answer alike. Must not touch time, random, sockets, Raft or lmdb.
"""

from __future__ import annotations

import fnmatch
import re
import shlex

from raftcache.node import commands
from raftcache.node.errors import CommandError
from raftcache.node.frontends.resp_requests import split_args
from raftcache.node.scripting import lualibs, store
from raftcache.node.scripting.engine import Engine, Run
from raftcache.node.scripting.run_rules import applied_before, caller
from raftcache.node.scripting.replies import script_error
from raftcache.node.scripting.scripts import SCRIPT_FLAGS, refused_for_memory

_NAME = re.compile(rb"\A[A-Za-z0-9_]+\Z")
#: How many times its payload's size a FUNCTION RESTORE's LZF-compressed code may expand to (plus 1 MiB).
RESTORE_EXPANSION = 16


def register(registering: dict, args: tuple, objects: bool = True) -> None:
    """redis.register_function(name, callback) or redis.register_function{function_name=…,
    callback=…, flags={…}, description=…}: adds to `registering` (name -> info). Errors are
    Redis 7.4's texts (function_lua.c), quirks included. `objects` (log version 27): a table
    keyed by tables or functions is refused before its entries are read (their order is Lua's,
    by address: which error came first differed between replicas)."""
    flags: list[str] = []
    description = None
    if len(args) == 1:
        if lualibs.lua_type(args[0]) != "table":
            raise lualibs.LuaLibError("calling redis.register_function with a single argument is only applicable "
                                      "to Lua table (representing named arguments).")
        name = callback = None
        named = list(args[0].items())
        if objects and lualibs.keyed_by_objects(key for key, _ in named):
            raise lualibs.LuaLibError("named argument key given to redis.register_function is not a string")
        for key, value in named:
            # keys and values exactly as log versions before 9 took them (replicas of every
            # release accept the same libraries); only the error texts are Redis 7.4's
            if key == b"function_name":
                if not isinstance(value, bytes):
                    raise lualibs.LuaLibError("function_name argument given to redis.register_function must be a string")
                name = value
            elif key == b"description":
                if not isinstance(value, bytes):
                    raise lualibs.LuaLibError("description argument given to redis.register_function must be a string")
                description = value.decode("utf-8", "replace")
            elif key == b"callback":
                if lualibs.lua_type(value) != "function":
                    raise lualibs.LuaLibError("callback argument given to redis.register_function must be a function")
                callback = value
            elif key == b"flags":
                if lualibs.lua_type(value) != "table":
                    raise lualibs.LuaLibError("flags argument to redis.register_function must be a table "
                                              "representing function flags")
                if objects and lualibs.keyed_by_objects(value.keys()):
                    raise lualibs.LuaLibError("unknown flag given")
                for flag in value.values():
                    text = flag.decode(errors="replace") if isinstance(flag, bytes) else str(flag)
                    if text not in SCRIPT_FLAGS:
                        raise lualibs.LuaLibError("unknown flag given")
                    flags.append(text)
            elif isinstance(key, (bytes, int, float)):
                raise lualibs.LuaLibError("unknown argument given to redis.register_function")
            else:
                raise lualibs.LuaLibError("named argument key given to redis.register_function is not a string")
        if name is None:
            raise lualibs.LuaLibError("redis.register_function must get a function name argument")
        if callback is None:
            raise lualibs.LuaLibError("redis.register_function must get a callback argument")
    elif len(args) == 2:
        name, callback = args
        if not isinstance(name, bytes):
            raise lualibs.LuaLibError("first argument to redis.register_function must be a string")
        if lualibs.lua_type(callback) != "function":
            raise lualibs.LuaLibError("second argument to redis.register_function must be a function")
    else:
        raise lualibs.LuaLibError("wrong number of arguments to redis.register_function")
    if not _NAME.match(name):   # Redis names libraries in this message for functions too
        raise lualibs.LuaLibError("Library names can only contain letters, numbers, or underscores(_) "
                                  "and must be at least one character long")
    text = name.decode()
    if text in registering:
        raise lualibs.LuaLibError("Function already exists in the library")
    registering[text] = {"flags": sorted(set(flags)), "description": description, "callback": callback}


def parse_header(code: bytes, redis74: bool = True, sds: bool = True) -> tuple[str, bytes] | CommandError:
    """(library name, code with the shebang line blanked) of a library, or the error. `redis74`:
    Redis 7.4's functionExtractLibMetaData (`#!<engine>` the first word, the engine and `name=`
    case-insensitive, one name); False: the rules of log versions before 7.4 compatibility
    (commands.REDIS74_VERSION), which replicas of those releases apply. `sds`: the line is split
    as Redis's sdssplitargs (from log version 16); else with shell rules, as before."""
    if not code.startswith(b"#!"):
        return script_error("ERR Missing library metadata")
    line, newline, rest = code.partition(b"\n")
    if redis74:
        # quotes group ("name=\"foo\"" is foo)
        if sds:
            words = split_args(line)
            parts = [w.decode("utf-8", "replace") for w in words] if words is not None else []
        else:
            try:
                parts = shlex.split(line.decode("utf-8", "replace"))
            except ValueError:
                parts = []
        if not newline or not parts:
            return script_error("ERR Invalid library metadata")
        engine, options = parts[0][2:], parts[1:]
    else:
        parts = line[2:].decode("utf-8", "replace").split()
        if not parts:
            return script_error("ERR Missing library metadata")
        engine, options = parts[0], parts[1:]
        if engine != "lua":
            return script_error(f"ERR Engine '{engine}' not found")
    name = None
    for part in options:
        key, eq, value = part.partition("=")
        if redis74 and eq and key.lower() == "name":
            if name is not None:
                return script_error("ERR Invalid metadata value, name argument was given multiple times")
        elif redis74 or key != "name" or not eq:
            return script_error(f"ERR Invalid metadata value given: {part}")
        name = value
    if not name:
        return script_error("ERR Library name was not given")
    if engine.lower() != "lua":
        return script_error(f"ERR Engine '{engine}' not found")
    if not _NAME.match(name.encode()):
        return script_error("ERR Library names can only contain letters, numbers, or underscores(_) and must "
                            "be at least one character long")
    return name, b"\n" + rest


def _load(ctx, code: bytes, run_name: str, keep_run: bool = False, stored: bool = False):
    """Run library `code`'s loader: (name, {function: info}, engine, run) or a CommandError.
    `stored`: a library FUNCTION LOAD accepted (FCALL loads it afresh)."""
    redis74 = not applied_before(ctx, commands.REDIS74_VERSION)
    sds = not applied_before(ctx, commands.SCRIPT_SANDBOX_VERSION)
    if stored and sds:   # its header passed when it was loaded, under that entry's rules: not read again
        name, body = run_name, b"\n" + code.partition(b"\n")[2]
    else:
        header = parse_header(code, redis74=redis74, sds=sds)
        if isinstance(header, CommandError):
            return header
        name, body = header
    engine = Engine.for_thread()
    chunk, error = engine.box.compile("user_function", body)
    if chunk is None:
        return script_error(f"ERR Error compiling function: {error}")
    run = Run(ctx, True, run_name or name, "user_function", ctx.db, registering={}, on_register=register,
              reads=engine.box.reads(chunk))
    result = engine.run(run, engine.box.m.load_library, chunk, engine.redis, redis74)
    if isinstance(result, CommandError):
        message = result.message
        return script_error(message if message.startswith("ERR Error running script")
                            else f"ERR Error registering functions: {message}")
    if not run.registering:
        return script_error("ERR No functions registered")
    return name, run.registering, engine, run


def load(ctx, code: bytes, replace: bool) -> object:
    """FUNCTION LOAD at apply: the library's name, or the error (nothing stored)."""
    loaded = _load(ctx, code, "")
    if isinstance(loaded, CommandError):
        return loaded
    name, registered, _, _ = loaded
    txn = ctx.txn
    if store.library(txn, name) is not None and not replace:
        return script_error(f"ERR Library '{name}' already exists")
    existing = store.functions(txn)
    for fname in registered:
        other = existing.get(fname)
        if other is not None and other["library"] != name:
            return script_error(f"ERR Function {fname} already exists")
    if len(existing) + len(registered) > store.MAX_LIBRARY_ENTRIES:
        return script_error(f"ERR too many functions (at most {store.MAX_LIBRARY_ENTRIES})")
    store.put_library(txn, name, code, registered)
    return name.encode()


def delete(ctx, library: str) -> object:
    if not store.delete_library(ctx.txn, library):
        return script_error("ERR Library not found")
    return commands.OK


def flush(ctx) -> object:
    store.flush_libraries(ctx.txn)
    return commands.OK


def restore(ctx, payload: bytes, policy: str) -> object:
    """FUNCTION RESTORE: every library of the payload loads, or none (the caller's savepoint)."""
    policy = (policy or "APPEND").upper()
    if policy not in ("APPEND", "REPLACE", "FLUSH"):
        return script_error("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
    # a compressed code may expand ~88 times: at most what real code does (LZF gives it 2-5
    # times), so a small payload cannot hold up every replica's apply for seconds
    max_code_bytes = min(ctx.max_value_bytes, RESTORE_EXPANSION * len(payload) + (1 << 20))
    libraries = store.parse_dump(payload, not applied_before(ctx, commands.FUNCTION_DUMP_VERSION), max_code_bytes,
                                 not applied_before(ctx, commands.RESTORE_BOUND_VERSION))
    if isinstance(libraries, str):
        return script_error(f"ERR {libraries}")
    if libraries and (libraries[0][0] is None or not applied_before(ctx, commands.SCRIPT_OBJECTS_VERSION)):
        # Redis's payload; from log version 27 raftcache's older one too: its libraries are named
        # by their code, as they load (before, APPEND checked the name the payload carried,
        # and a code naming another library replaced that one)
        return _restore_redis(ctx, [code for _, code in libraries], policy)
    if policy == "FLUSH":
        store.flush_libraries(ctx.txn)
    for name, code in libraries:
        if policy == "APPEND" and store.library(ctx.txn, name) is not None:
            return script_error(f"ERR Library {name} already exists")
        result = load(ctx, code, replace=True)
        if isinstance(result, CommandError):
            return result
    return commands.OK

def _restore_redis(ctx, codes: list[bytes], policy: str) -> object:
    """FUNCTION RESTORE of Redis 7's payload as Redis's functionRestoreCommand: every library
    loads on its own first (a name twice in the payload is refused), then they join the stored
    ones: APPEND refuses a name stored already, REPLACE drops the libraries it replaces before
    the function names are checked, FLUSH drops them all. A failure leaves nothing changed
    (the caller's savepoint)."""
    names: list[str] = []
    for code in codes:
        loaded = _load(ctx, code, "")
        if isinstance(loaded, CommandError):
            return loaded
        if loaded[0] in names:
            return script_error(f"ERR Library '{loaded[0]}' already exists")
        names.append(loaded[0])
    txn = ctx.txn
    if policy == "FLUSH":
        store.flush_libraries(txn)
    elif policy == "APPEND":
        for name in names:
            if store.library(txn, name) is not None:
                return script_error(f"ERR Library {name} already exists")
    else:
        for name in names:
            store.delete_library(txn, name)
    for code in codes:
        result = load(ctx, code, replace=True)
        if isinstance(result, CommandError):
            return result
    return commands.OK


def listing(ctx, op) -> object:
    """FUNCTION LIST / DUMP / STATS (a read)."""
    txn = ctx.txn
    if op.what == "dump":
        return store.dump(txn, commands.stored_log_version(txn) >= commands.FUNCTION_DUMP_VERSION)
    if op.what == "flags":   # one function's flags (nil: no such function)
        info = store.function(txn, op.pattern.decode("utf-8", "replace"))
        return None if info is None else [flag.encode() for flag in info["flags"]]
    libraries = store.libraries(txn)
    functions = store.functions(txn)
    if op.what == "stats":
        return [b"running_script", None, b"engines",
                [b"LUA", [b"libraries_count", len(libraries), b"functions_count", len(functions)]]]
    pattern = op.pattern.decode("utf-8", "replace") if op.pattern else None
    out = []
    for name, code in libraries:
        if pattern is not None and not fnmatch.fnmatchcase(name, pattern):
            continue
        fns = [[b"name", fname.encode(), b"description",
                None if info["description"] is None else info["description"].encode(),
                b"flags", [f.encode() for f in info["flags"]]]
               for fname, info in sorted(functions.items()) if info["library"] == name]
        entry = [b"library_name", name.encode(), b"engine", b"LUA", b"functions", fns]
        if op.with_code:
            entry += [b"library_code", code]
        out.append(entry)
    return out


def fcall(ctx, op, read_only: bool) -> object:
    """FCALL / FCALL_RO: load the function's library afresh and call it."""
    txn = ctx.txn
    info = store.function(txn, op.function)
    if info is None:
        return script_error("ERR Function not found")
    no_writes = "no-writes" in info["flags"]
    if read_only and not no_writes:
        return script_error("ERR Can not execute a script with write flag using *_ro command.")
    if not read_only:
        refused = refused_for_memory(ctx, op, info["flags"])
        if refused is not None:
            return refused
    code = store.library(txn, info["library"])
    loaded = _load(ctx, code, op.function, stored=True) if code is not None else None
    if not isinstance(loaded, tuple) or op.function not in loaded[1]:
        return loaded if isinstance(loaded, CommandError) else script_error("ERR Function not found")
    _, registered, engine, loader = loaded
    callback, reads = registered[op.function]["callback"], loader.reads
    del loaded, registered, loader   # the library's other functions: their registry references freed first
    run = Run(ctx, read_only or no_writes, op.function, "user_function", ctx.db, user=caller(ctx, op),
              caller=op.caller, reads=reads)
    return engine.run(run, engine.box.m.call, callback, op.keys[:], op.args[:])
