"""Unit tests of the script sandbox and of scripts applied by the state machine (real
encoded log entries on a temporary LMDB, no sockets): no clock, no randomness and no
os / io of its own, protected globals, the instruction budget (a loop, a pcall or a
coroutine cannot outlive it) with the script's writes rolled back, the same entry
giving the same results and state on two state machines, scripts and libraries kept
across a restart and a snapshot, scripts inside MULTI, and the Lua libraries."""

from __future__ import annotations

import hashlib
import random
import struct
import zlib

import msgpack

import pytest

from raftcache.node import commands, scripting
from raftcache.node.commands import Status, script_read_cache
from raftcache.node.errors import CommandError, Reason
from raftcache.node.scripting import engine, scripts
from raftcache.node.storage import rdb
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_statemachine import Node

scripting.install()


def run(node: Node, body: str, keys=(), args=(), seed: int = 0, version: int = commands.MAX_VERSION, user: str = "",
        **entry):
    node.index += 1
    data = commands.encode_entry(pb.LogEntry(
        version=version, now_ms=entry.get("now_ms", node.now_ms), seed=seed,
        command=pb.Command(eval=pb.Eval(body=body.encode(), keys=[k.encode() for k in keys],
                                        args=[str(a).encode() for a in args], user=user))))
    return node.sm.apply(node.index, data)


def error_text(result) -> str:
    assert isinstance(result, CommandError), result
    return result.message


@pytest.mark.parametrize("name", ["os", "io", "require", "loadfile", "dofile", "debug", "package",
                                  "getfenv", "setfenv", "collectgarbage", "newproxy", "print", "module"])
def test_no_clock_io_or_loading(node, name):
    assert "Script attempted to access nonexistent global variable" in error_text(run(node, f"return {name}"))


@pytest.mark.parametrize("body", [
    "setmetatable(_G, {})",
    "local g = getmetatable(_G) g.__index = {}",
    "redis = function() return 1 end",
    "_G = {}",
    "KEYS = {}",
    "ARGV = {}",
    "rawset(_G, 'redis', 1)",
    "setmetatable(cjson, {})",
])
def test_the_global_table_is_read_only_as_redis_7s(node, body):
    """Redis's "Try trick global protection" tests: the globals a run starts with cannot be
    replaced either (log version 16); a script's own tables stay writable."""
    assert "Attempt to modify a readonly table" in error_text(run(node, body))
    assert run(node, "ARGV[1] = 'x' local t = setmetatable({}, {}) return ARGV[1]", args=["a"]) == b"x"


def test_loadstring_compiles_text_into_the_scripts_own_globals(node):
    assert run(node, "return loadstring('return 1 + ...')(41)") == 42
    assert run(node, "return loadstring('return KEYS[1]')()", ["k"]) == b"k"
    # bytecode is refused (nil), as Redis 7 refuses it
    assert "attempt to call a nil value" in error_text(run(node, "return loadstring(string.dump(function() "
                                                                 "return 1 end))()"))
    # however it is called, the chunk sees the sandbox's globals, never the runtime's own
    for body in ("return loadstring('return os')()", "local ok, f = pcall(loadstring, 'return io') return f()",
                 "return loadstring('x = 1')()"):
        text = error_text(run(node, body))
        assert "nonexistent global variable" in text or "Attempt to modify a readonly table" in text


def test_entries_before_log_version_16_keep_their_globals(node):
    """What replicas of version 15 did with these scripts, a node replaying their entries does:
    the same replies, the same texts a pcall can store, the same budget."""
    older = commands.SCRIPT_SANDBOX_VERSION - 1
    assert run(node, "redis = 1 return 1", version=older) == 1
    assert run(node, "KEYS = {'x'} return KEYS[1]", version=older) == b"x"
    assert run(node, "local ok, e = pcall(setmetatable, _G, {}) return e", version=older) \
        == b"cannot change a protected metatable"
    assert "nonexistent global variable 'loadstring'" in error_text(run(node, "return loadstring('return 1')()",
                                                                        version=older))


def test_base_function_errors_point_at_the_script_line_with_luas_texts(node):
    assert "user_script:1: bad argument #1 to 'setmetatable' (table expected, got number)" in error_text(
        run(node, "setmetatable(1, {})"))
    assert "user_script:1: bad argument #1 to 'loadstring' (string expected, got nil)" in error_text(
        run(node, "loadstring(nil)"))
    assert "user_script:1: cannot change a protected metatable" in error_text(
        run(node, "local t = setmetatable({}, {__metatable = 1}) setmetatable(t, {})"))
    assert run(node, "local f, e = loadstring(42) return {type(f), type(e)}") == [b"nil", b"string"]  # "42" is its text


def test_globals_are_protected_and_nothing_outlives_a_run(node):
    assert "Attempt to modify a readonly table" in error_text(run(node, "x = 1"))
    assert "Attempt to modify a readonly table" in error_text(run(node, "string.upper = nil"))
    assert "Attempt to modify a readonly table" in error_text(run(node, "rawset(cjson, 'x', 1)"))
    assert "Attempt to modify a readonly table" in error_text(run(node, "setmetatable(math, {})"))
    assert run(node, "local t = {} rawset(t, 'a', 1) return t.a") == 1
    assert run(node, "return string.upper('x')") == b"X"


def test_time_and_random_come_from_the_entry(tmp_path):
    a, b = Node(str(tmp_path / "a")), Node(str(tmp_path / "b"))
    body = "return {tostring(math.random()), math.random(10, 99), redis.call('TIME')}"
    first = run(a, body, seed=42, now_ms=1_700_000_123_456)
    assert first == run(b, body, seed=42, now_ms=1_700_000_123_456)
    assert first[2] == [b"1700000123", b"456000"]
    assert run(a, body, seed=43, now_ms=1_700_000_123_456) != first
    assert run(a, "math.randomseed(7) return math.random(1000)") == run(b, "math.randomseed(7) return math.random(1000)")


def test_the_same_entries_leave_two_state_machines_identical(tmp_path):
    a, b = Node(str(tmp_path / "a")), Node(str(tmp_path / "b"))
    script = ("for i = 1, 20 do redis.call('ZADD', KEYS[1], math.random(1000), 'm' .. i) end "
              "redis.call('HSET', KEYS[2], 'at', table.concat(redis.call('TIME'), '.'), 'r', math.random()) "
              "return redis.call('ZRANGE', KEYS[1], 0, 2)")
    for seed in (1, 2, 3):
        assert run(a, script, ["z", "h"], seed=seed) == run(b, script, ["z", "h"], seed=seed)
    assert a.dump() == b.dump()


@pytest.mark.parametrize("body", [
    "while true do end",
    "while true do pcall(function() while true do end end) end",
    "pcall(function() while true do pcall(function() while true do end end) end end) while true do end",
    "local c = coroutine.wrap(function() while true do end end) c()",
    "while true do local ok = pcall(coroutine.wrap(function() while true do end end)) end",
    "local s = string.rep('x', 1e9)",
    "for i = 1, 1e7 do redis.call('GET', 'k') end",
])
def test_a_runaway_script_is_stopped_and_its_writes_rolled_back(node, body):
    node.run(set=pb.Set(key=b"k", value=b"before"))
    result = run(node, f"redis.call('SET', 'k', 'during') redis.call('DEL', 'gone') {body}")
    assert "ran past its budget" in error_text(result) or "Lua memory" in error_text(result)
    assert node.get(b"k") == b"before"
    assert run(node, "return redis.call('GET', 'k')") == b"before"   # the sandbox still works


def test_the_budget_follows_busy_reply_threshold(node):
    node.run(config_set=pb.ConfigSet(parameters=[pb.ConfigPair(name="busy-reply-threshold", value="1")]))
    assert "budget of 20000 Lua instructions" in error_text(run(node, "for i = 1, 30000 do end"))
    assert run(node, "for i = 1, 100 do end return 1") == 1


def test_a_script_at_apply_is_capped_well_under_the_election_timeout(node):
    """busy-reply-threshold is taken as at most 100 ms for a script that runs at apply (every
    replica's Raft thread); each redis.call counts for 2,000 instructions."""
    loop = "for i = 1, 3e6 do end return 1"
    assert "budget of 2000000 Lua instructions (busy-reply-threshold / lua-time-limit, at most 100 ms" \
        in error_text(run(node, loop))
    assert run(node, "for i = 1, 900 do redis.call('INCR', 'n') end return 1") == 1
    assert "budget of 2000000" in error_text(run(node, "for i = 1, 1100 do redis.call('INCR', 'n') end"))
    assert node.get(b"n") == b"900"


def test_a_read_only_script_is_capped_as_a_script_at_apply(node):
    """A read-only script on the serving node holds its event loop (a leader's heartbeats, every
    other client) as an apply does: the same 100 ms cap, and the elements of each reply count (20
    instructions each, as at apply), so a loop of commands with long replies cannot hold a node
    for minutes (nor, counted at 5, for half a second)."""
    node.run(push=pb.Push(key=b"big", values=[b"%d" % i for i in range(20_000)]))
    assert "budget of 2000000 Lua instructions (busy-reply-threshold / lua-time-limit, at most 100 ms)" \
        in error_text(node.read(eval_ro=pb.Eval(body=b"for i = 1, 3e6 do end return 1")))
    long_replies = b"for i = 1, 5 do redis.call('LRANGE', KEYS[1], 0, -1) end return 1"   # 402,000 a call
    assert error_text(node.read(eval_ro=pb.Eval(body=long_replies, keys=[b"big"]))).endswith("it was stopped")
    assert node.read(eval_ro=pb.Eval(body=long_replies.replace(b"5", b"4"), keys=[b"big"])) == 1


def test_entries_of_older_versions_keep_their_budget(node):
    """Replaying a journal written before SCRIPT_BUDGET_VERSION gives the results it gave then."""
    node.index += 1
    old = commands.encode_entry(pb.LogEntry(
        version=commands.SCRIPT_BUDGET_VERSION - 1, now_ms=node.now_ms,
        command=pb.Command(eval=pb.Eval(body=b"for i = 1, 1100 do redis.call('INCR', 'n') end return 1"))))
    assert node.sm.apply(node.index, old) == 1
    assert node.get(b"n") == b"1100"


@pytest.fixture
def small_memory(monkeypatch):
    """A 16 MiB bound per run, so that the tests reach it quickly."""
    monkeypatch.setattr(engine, "MEMORY_LIMIT_BYTES", 16 << 20)


def test_memory_is_bounded(node, small_memory):
    result = run(node, "local t = {} for i = 1, 1e6 do t[i] = string.rep('y', 100) .. i end")
    assert "Lua memory" in error_text(result) or "budget" in error_text(result)


def test_errors_roll_back_and_reads_are_read_only(node):
    assert run(node, "redis.call('SET', 'a', '1') return redis.call('INCR', 'nokey') + redis.call('HGET', 'a', 'f')"
               ).message.startswith("WRONGTYPE")
    assert node.get(b"a") is None
    refused = node.read(eval_ro=pb.Eval(body=b"return redis.call('SET', 'a', '1')"))
    assert "Write commands are not allowed from read-only scripts" in error_text(refused)
    assert "Write commands are not allowed" in error_text(run(node, "#!lua flags=no-writes\nredis.call('SET','a','1')"))


def test_scripts_and_libraries_survive_restart_and_snapshot(tmp_path):
    a = Node(str(tmp_path / "a"))
    body = b"return redis.call('INCRBY', KEYS[1], ARGV[1])"
    sha = hashlib.sha1(body).hexdigest()
    assert a.run(script_load=pb.ScriptLoad(body=body)) == sha.encode()
    library = b"#!lua name=lib\nredis.register_function('count', function(k, a) return redis.call('INCR', k[1]) end)"
    assert a.run(function_load=pb.FunctionLoad(code=library)) == b"lib"
    a.ks.close()
    a = Node(str(tmp_path / "a"))
    assert a.run(eval=pb.Eval(sha=sha, keys=[b"n"], args=[b"5"])) == 5
    assert a.run(eval=pb.Eval(function="count", keys=[b"n"])) == 6
    a.sm.snapshot(str(tmp_path / "snap"))
    b = Node(str(tmp_path / "b"))
    b.sm.restore(str(tmp_path / "snap"))
    assert b.read(script_exists=pb.ScriptExists(shas=[sha, "0" * 40])) == [1, 0]
    b.index = b.ks.applied_index
    assert b.run(eval=pb.Eval(function="count", keys=[b"n"])) == 7
    assert b.run(script_flush=pb.ScriptFlush()) == commands.OK
    assert b.run(eval=pb.Eval(sha=sha)).message.startswith("NOSCRIPT")


def test_a_library_keeps_no_state_between_calls(node):
    library = (b"#!lua name=counter\nlocal calls = 0\n"
               b"redis.register_function('bump', function() calls = calls + 1 return calls end)")
    node.run(function_load=pb.FunctionLoad(code=library))
    assert [node.run(eval=pb.Eval(function="bump")) for _ in range(3)] == [1, 1, 1]


def test_a_script_inside_multi(node):
    tx = pb.Command()
    tx.transaction.commands.add(set=pb.Set(key=b"k", value=b"1"))
    tx.transaction.commands.add(eval=pb.Eval(body=b"return redis.call('INCR', KEYS[1])", keys=[b"k"]))
    tx.transaction.commands.add(eval=pb.Eval(body=b"return redis.call('NOSUCH')"))
    node.index += 1
    results = node.sm.apply(node.index, commands.encode_entry(pb.LogEntry(version=commands.MAX_VERSION,
                                                                           now_ms=node.now_ms, command=tx)))
    assert results[:2] == [commands.OK, 2] and "Unknown Redis command" in results[2].message


def test_evalsha_after_script_flush_in_the_same_transaction_finds_no_script(node):
    body = b"return redis.call('INCR', KEYS[1])"
    sha = hashlib.sha1(body).hexdigest()
    assert node.run(script_load=pb.ScriptLoad(body=body)) == sha.encode()
    tx = pb.Command()
    tx.transaction.commands.add(eval=pb.Eval(sha=sha, keys=[b"k"]))
    tx.transaction.commands.add(script_flush=pb.ScriptFlush())
    tx.transaction.commands.add(eval=pb.Eval(sha=sha, keys=[b"k"]))
    node.index += 1
    results = node.sm.apply(node.index, commands.encode_entry(pb.LogEntry(version=commands.MAX_VERSION,
                                                                           now_ms=node.now_ms, command=tx)))
    assert results[:2] == [1, commands.OK] and results[2].message.startswith("NOSCRIPT")
    assert node.run(eval=pb.Eval(sha=sha, keys=[b"k"])).message.startswith("NOSCRIPT")


@pytest.mark.parametrize("count", [0, 1, scripts.VALUES_MAX, scripts.VALUES_MAX + 1, 300])
def test_keys_and_argv_reach_the_script_whatever_their_number(node, count):
    keys = [f"k{i}" for i in range(count // 2)]
    args = [f"a{i}" for i in range(count - len(keys))]
    body = "return {#KEYS, #ARGV, KEYS[1] or false, KEYS[#KEYS] or false, ARGV[1] or false, ARGV[#ARGV] or false}"
    assert run(node, body, keys, args) == [len(keys), len(args), *[x.encode() if x else None for x in (
        keys[0] if keys else None, keys[-1] if keys else None, args[0] if args else None, args[-1] if args else None)]]


def test_libraries(node):
    assert run(node, "return cjson.encode({1, 'a/b', {x = true}})") == b'[1,"a\\/b",{"x":true}]'
    assert run(node, "local t = cjson.decode('{\"a\":[1,null,3]}') return {t.a[3], tostring(t.a[2] == cjson.null)}") \
        == [3, b"true"]
    assert run(node, "return {bit.band(0xff, 0x0f), bit.bnot(0), bit.lshift(1, 31), bit.tohex(-1), "
                     "bit.rshift(-1, 28), bit.arshift(-16, 2), bit.bswap(0x01020304), bit.rol(1, 33)}") \
        == [15, -1, -2147483648, b"ffffffff", 15, -4, 0x04030201, 2]
    assert run(node, "return {struct.unpack('<i4HBs', struct.pack('<i4HBs', -2, 513, 7, 'abc'))}") \
        == [-2, 513, 7, b"abc", 12]
    assert run(node, "return struct.size('>I2i8d')") == 18
    assert run(node, "local t = cmsgpack.unpack(cmsgpack.pack({1, 'x', {y = 2}})) return {t[1], t[2], t[3].y}") \
        == [1, b"x", 2]
    assert run(node, "return cmsgpack.pack(1, 'a')") == b"\x01\xa1a"
    # tables nest 16 deep at most, the 17th packs as nil (lua-cmsgpack's LUACMSGPACK_MAX_NESTING)
    assert run(node, "local a = {} a.x = a local t = cmsgpack.unpack(cmsgpack.pack(a)) local n = 0 "
                     "while t do n = n + 1 t = t.x end return n") == 16
    assert run(node, "return {cmsgpack.unpack_one(cmsgpack.pack(1, 'a', 3))}") == [1, 1]
    assert run(node, "return {cmsgpack.unpack_one(cmsgpack.pack(1, 'a'), 1)}") == [-1, b"a"]
    assert run(node, "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}") == [2, 1, 2]
    assert run(node, "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2), 0)}") == [1, 2]
    assert "Start offset 5 greater than input length 2." in str(run(node, "return cmsgpack.unpack_one('ab', 5)"))
    assert "Missing bytes in input." in str(run(node, "return cmsgpack.unpack_one(string.sub(cmsgpack.pack('abc'), 1, 2))"))
    assert run(node, "return redis.sha1hex('')") == b"da39a3ee5e6b4b0d3255bfef95601890afd80709"
    assert run(node, "return redis.status_reply('FINE')") == Status("FINE")
    assert run(node, "return redis.error_reply('MY bad')") == CommandError("MY bad", result_reason())
    assert run(node, "redis.set_repl(redis.REPL_ALL) redis.replicate_commands() redis.log(redis.LOG_NOTICE, 'hi') "
                     "return 1") == 1


def result_reason():
    from raftcache.node.errors import Reason
    return Reason.SCRIPT_ERROR


def test_the_memory_bound_stops_a_script_at_the_same_point_whatever_ran_before(node, small_memory):
    fill = ("local base, kept, n = string.rep('x', 1000000), {}, 0 "
            "local ok = pcall(function() while true do n = n + 1 kept[n] = base .. n end end) return {tostring(ok), n}")
    first = run(node, fill)
    assert first[0] == b"false" and 5 < first[1] < 17   # ~16 MiB of 1 MB strings
    run(node, "for i = 1, 200000 do local s = 'garbage' .. i end")   # leaves garbage behind
    assert run(node, fill) == first
    assert "Lua memory" in error_text(run(node, "local s = 'x' for i = 1, 40 do s = s .. s end"))


def test_a_failed_command_is_undone_alone_and_flushes_need_their_name(node):
    node.run(hset=pb.HSet(key=b"h", pairs=[pb.KeyValue(key=b"f", value=b"v")]))
    assert run(node, "redis.call('SET', 'a', '1') local r = redis.pcall('INCR', 'h') "
                     "redis.call('SET', 'b', '2') return r.err") .startswith(b"WRONGTYPE")
    assert node.get(b"a") == b"1" and node.get(b"b") == b"2"
    assert run(node, "redis.call('SET', 'c', '3') redis.call('FLUSHALL') return redis.call('DBSIZE')") == 0
    assert run(node, "redis.call('SET', 'd', '4') return redis.call('FLUS' .. 'HDB')").message.startswith(
        "ERR FLUSH_DB inside a script")
    assert node.get(b"d") is None   # the script failed: rolled back
    node.run(set=pb.Set(key=b"keep", value=b"1"))
    assert run(node, "redis.call('FLUSHDB') redis.call('HSET', 'x', 'f', 'v') return redis.call('INCR', 'x')"
               ).message.startswith("WRONGTYPE")
    assert node.get(b"keep") == b"1"   # the error rolled the flush back


def test_numbers_become_integers_as_in_redis(node):
    assert run(node, "return {3.99, -2.5, 1e300, 0/0, 2^53}") == [3, -2, -(1 << 63), -(1 << 63), 1 << 53]


def test_keys_select_ping_echo_inside_a_script(node):
    assert run(node, "redis.call('SET', 'k1', 1) redis.call('SET', 'k2', 2) redis.call('SET', 'x', 3) "
                     "local ks = redis.call('KEYS', 'k*') table.sort(ks) return ks") == [b"k1", b"k2"]
    assert run(node, "redis.call('SELECT', 1) redis.call('SET', 'in1', 'v') return redis.call('DBSIZE')") == 1
    assert node.read(db=1, get=pb.Get(key=b"in1")) == b"v"
    assert run(node, "return {redis.call('PING'), redis.call('ECHO', 'e')}") == [Status("PONG"), b"e"]
    assert "not allowed from script" in error_text(run(node, "return redis.call('CONFIG', 'GET', 'x')"))


def test_keys_counts_in_the_budget(node):
    node.run(config_set=pb.ConfigSet(parameters=[pb.ConfigPair(name="busy-reply-threshold", value="1")]))
    node.run(mset=pb.MSet(pairs=[pb.KeyValue(key=b"k%d" % i, value=b"v") for i in range(3000)]))
    assert "ran past its budget" in error_text(run(node, "for i = 1, 10 do redis.call('KEYS', '*') end"))


def test_a_handler_that_raises_inside_a_script_is_an_internal_error_and_changes_nothing(node, monkeypatch):
    from raftcache.node.commands import statemachine

    def broken(ctx, op):
        raise RuntimeError("a bug")
    monkeypatch.setitem(statemachine.HANDLERS, "incr_by", broken)
    result = run(node, "redis.call('SET', 'a', '1') return redis.pcall('INCR', 'a')")
    assert "internal error while applying 'eval' (HandlerCrash)" in error_text(result)
    assert node.get(b"a") is None
    assert run(node, "return redis.call('SET', 'a', '2')") == commands.OK   # the node goes on


def test_a_script_that_does_not_compile_is_not_stored(node):
    body = b"return )"
    assert node.run(script_load=pb.ScriptLoad(body=body)).message.startswith("ERR Error compiling script")
    assert node.run(eval=pb.Eval(body=body)).message.startswith("ERR Error compiling script")
    assert node.read(script_exists=pb.ScriptExists(shas=[hashlib.sha1(body).hexdigest()])) == [0]


def test_a_reply_is_read_without_the_tables_metatables(node):
    """Redis reads a returned table raw: _G (whose missing globals raise) and a table whose
    __index answers anything convert by their own fields only, and nothing raises at apply."""
    assert run(node, "return _G") == []
    assert run(node, "return setmetatable({}, {__index = function() return 'x' end})") == []
    assert run(node, "return setmetatable({1, 2}, {__index = {err = 'no'}})") == [1, 2]
    assert run(node, "return {err = 'boom'}").message == "boom"


def test_the_engine_name_of_a_library_is_case_insensitive(node):
    library = b"#!LUA name=upper\nredis.register_function('f', function() return 1 end)"
    assert node.run(function_load=pb.FunctionLoad(code=library)) == b"upper"
    assert "Engine 'js' not found" in error_text(node.run(function_load=pb.FunctionLoad(code=b"#!js name=x\n")))


def test_wait_in_a_script_does_not_block_and_answers_zero(node):
    assert run(node, "return redis.pcall('wait', '1', '0')") == 0



def test_entries_of_older_log_versions_keep_their_script_rules(node):
    """Redis 7.4's script and library rules start at REDIS74_VERSION: an entry of an older version
    is applied as that release applies it, so replicas of both releases stay identical."""
    older = commands.REDIS74_VERSION - 1
    assert "not allowed from script" in error_text(run(node, "return redis.call('wait', '1', '0')", version=older))
    assert run(node, "return redis.call('wait', '1', '0')") == 0
    depth = "cjson.encode_max_depth(1) return cjson.encode({{1}})"
    assert run(node, depth, version=older) == b"[[1]]"
    assert "excessive nesting" in error_text(run(node, depth))
    nan = "cjson.encode_invalid_numbers(true) return cjson.encode({0/0})"
    assert "must not be NaN or Inf" in error_text(run(node, nan, version=older))
    assert run(node, nan) == b"[nan]"
    assert "must not be NaN or Inf" in error_text(run(node, "return cjson.encode({0/0})")), "reset at each run"
    node.index += 1
    upper = pb.LogEntry(version=older, now_ms=node.now_ms, command=pb.Command(function_load=pb.FunctionLoad(
        code=b"#!LUA name=old\nredis.register_function('f', function() return 1 end)")))
    assert "Engine 'LUA' not found" in error_text(node.sm.apply(node.index, commands.encode_entry(upper)))


def test_a_library_top_level_sees_only_the_library_api_while_it_loads(node):
    loading = b"#!lua name=lib\nlocal x = math.random()\nredis.register_function('f', function() return 1 end)"
    assert "nonexistent global variable 'math'" in error_text(node.run(function_load=pb.FunctionLoad(code=loading)))
    fine = b"#!lua name=lib\nredis.register_function('f', function() return math.floor(2.5) end)"
    assert node.run(function_load=pb.FunctionLoad(code=fine)) == b"lib"
    assert node.run(eval=pb.Eval(function="f")) == 2, "a function called later sees the whole API"


def test_a_function_cannot_register_functions_when_called_and_a_looping_library_times_out(node):
    nested = (b"#!lua name=lib\nredis.register_function('f1', function() "
              b"redis.register_function('f2', function() return 2 end) return 1 end)")
    assert node.run(function_load=pb.FunctionLoad(code=nested)) == b"lib"
    assert "attempt to call field 'register_function' (a nil value)" in error_text(
        node.run(eval=pb.Eval(function="f1")))
    node.index += 1   # before log version 16: the text its replicas gave
    older = pb.LogEntry(version=commands.SCRIPT_SANDBOX_VERSION - 1, now_ms=node.now_ms,
                        command=pb.Command(eval=pb.Eval(function="f1")))
    assert "can only be called on FUNCTION LOAD" in error_text(node.sm.apply(node.index, commands.encode_entry(older)))
    looping = b"#!lua name=loops\nlocal a = 1 while true do a = a + 1 end"
    assert error_text(node.run(function_load=pb.FunctionLoad(code=looping))).startswith(
        "ERR Error registering functions: FUNCTION LOAD timeout: library loops")
    node.index += 1   # the text a version-15 replica gave (a client's reply is kept in the dedup table)
    older = pb.LogEntry(version=commands.SCRIPT_SANDBOX_VERSION - 1, now_ms=node.now_ms,
                        command=pb.Command(function_load=pb.FunctionLoad(code=looping)))
    assert error_text(node.sm.apply(node.index, commands.encode_entry(older))).startswith("ERR Error running script")


def test_a_library_name_may_be_quoted_as_redis_splits_its_shebang(node):
    quoted = b'#!lua name="quoted"\nredis.register_function("f", function() return 1 end)'
    assert node.run(function_load=pb.FunctionLoad(code=quoted)) == b"quoted"


def test_a_backslash_outside_quotes_stays_in_a_library_name_from_log_version_16(node):
    """Redis splits the shebang with sdssplitargs: `name=bad\\0x` keeps its backslash and is
    refused; entries of version 15 split it with shell rules (`bad0x`), as their replicas did."""
    code = b'#!lua name=bad\\0x\nredis.register_function("f", function() return 1 end)'
    assert "Library names can only contain letters" in error_text(node.run(function_load=pb.FunctionLoad(code=code)))
    node.index += 1
    older = pb.LogEntry(version=commands.SCRIPT_SANDBOX_VERSION - 1, now_ms=node.now_ms,
                        command=pb.Command(function_load=pb.FunctionLoad(code=code)))
    assert node.sm.apply(node.index, commands.encode_entry(older)) == b"bad0x"
    # loaded then, it is still called once the cluster runs version 16
    assert node.run(eval=pb.Eval(function="f")) == 1


def test_number_arguments_reach_commands_at_full_precision_from_log_version_15(node):
    """Redis 7.2+ writes a number given to redis.call as an integer, or as the shortest text that
    reads back the same double; entries of older versions keep Lua's "%.14g", as their replicas did."""
    body = "redis.call('SET', KEYS[1], ARGV[1] == 'int' and 9007199254740991 or 1/3) return redis.call('GET', KEYS[1])"
    assert run(node, body, ["k"], ["int"]) == b"9007199254740991"
    assert run(node, body, ["k"], ["frac"]) == b"0.3333333333333333"
    assert run(node, "return redis.call('INCRBYFLOAT', KEYS[1], 0.1)", ["f"]) == b"0.1"
    older = commands.SCRIPT_COMPAT_VERSION - 1
    assert run(node, body, ["k"], ["int"], version=older) == b"9.007199254741e+15"
    assert run(node, body, ["k"], ["frac"], version=older) == b"0.33333333333333"


def test_a_recursive_reply_nests_32_deep_then_answers_redis_stack_limit_error(node):
    body = "local a = {} local b = {a} a[1] = b return a"
    reply, depth = run(node, body), 0
    while isinstance(reply, list):
        assert len(reply) == 1
        reply, depth = reply[0], depth + 1
    assert depth == 33 and isinstance(reply, CommandError) and str(reply).startswith("ERR reached lua stack limit")
    reply, depth = run(node, body, version=commands.SCRIPT_COMPAT_VERSION - 1), 0
    while isinstance(reply, list):
        reply, depth = reply[0], depth + 1
    assert depth == 257 and reply is None   # older entries: nil past 256, as their replicas answered


def test_a_command_called_with_thousands_of_arguments_as_redis_allows(node):
    body = "local a = {} for i = 1, 7999 do a[i] = i end return redis.call('RPUSH', KEYS[1], unpack(a))"
    assert run(node, body, ["l"]) == 7999
    assert run(node, "local a = {} for i = 1, 300 do a[i] = 'x' end a[301] = 'y' "
                     "return redis.pcall('SADD', KEYS[1], unpack(a))", ["s"]) == 2
    assert "must be strings or integers" in str(run(node, "return redis.pcall('SADD', KEYS[1], "
                                                        "unpack({1, 2, nil, 4}, 1, 300))", ["t"]))


def test_randomseed_takes_numeric_strings_and_eval_names_an_unknown_engine_as_redis(node):
    body = "math.randomseed(ARGV[1]) return tostring(math.random())"
    assert run(node, body, (), ["10"]) == run(node, body, (), ["10"]) != run(node, body, (), ["20"])
    assert run(node, body, (), ["0x10"]) == run(node, body, (), ["16"])
    assert "number expected, got string" in str(run(node, body, (), ["ten"]))
    assert str(run(node, "#!not-lua\nreturn 1")).startswith("ERR Unexpected engine in script shebang: #!not-lua")
    older = commands.SCRIPT_COMPAT_VERSION - 1   # older entries: as their replicas answered
    assert run(node, body, (), ["10"], version=older) == run(node, body, (), ["20"], version=older)
    assert str(run(node, "#!not-lua\nreturn 1", version=older)).startswith("ERR Could not find engine 'not-lua'")


def test_older_entries_keep_their_cmsgpack_and_argument_count_rules(node):
    """Log version 15's additions do not reach entries of older versions (their replicas applied
    them without): unpack_one / unpack_limit absent, tables 17 deep packed, ~8,000 arguments refused."""
    older = commands.SCRIPT_COMPAT_VERSION - 1
    assert "attempt to call field 'unpack_one' (a nil value)" in str(
        run(node, "return cmsgpack.unpack_one(cmsgpack.pack(1))", version=older))
    deep = "local t = 1 for i = 1, 20 do t = {t} end return cmsgpack.pack(t)"
    assert run(node, deep) == b"\x91" * 16 + b"\xc0"
    assert run(node, deep, version=older) == b"\x91" * 17 + b"\xc0"
    many = "local a = {} for i = 1, 7999 do a[i] = i end return redis.call('RPUSH', KEYS[1], unpack(a))"
    assert isinstance(run(node, many, ["l2"], version=older), CommandError)
    assert run(node, many, ["l3"]) == 7999


def test_a_scripts_commands_follow_its_callers_acl_as_the_log_has_it(tmp_path):
    """Eval.user (log version 17): every command the script runs is checked against that user's
    rules at this point of the log, the same on every replica; a refused one fails the script
    (its writes rolled back); an unknown user may run nothing; older entries never carry it."""
    nodes = [Node(str(tmp_path / name)) for name in "ab"]
    results = []
    for node in nodes:
        node.run(acl_set_user=pb.AclSetUser(name="bob", rules=[b"on", b"+@scripting", b"+set", b"~x*"]))
        results.append([
            run(node, "return redis.call('set', KEYS[1], 'v')", keys=["xa"], user="bob"),
            run(node, "redis.call('set', 'xa', 'w') return redis.call('set', 'yy', 'v')", user="bob"),
            run(node, "return redis.call('get', 'xa')", user="bob"),
            run(node, "return {redis.acl_check_cmd('set', 'xb', 1), redis.acl_check_cmd('set', 'yy', 1)}", user="bob"),
            run(node, "return redis.call('set', 'xa', 'v')", user="ghost"),
            run(node, "return redis.call('set', 'yy', 'v')", user="bob", version=commands.SCRIPT_SANDBOX_VERSION),
            node.run(acl_set_user=pb.AclSetUser(name="bob", rules=[b"allkeys"])),
            run(node, "return redis.call('set', 'yy', 'v')", user="bob"),
        ])
    assert results[0] == results[1]   # the same entries, the same answers on every replica
    ok, key_refused, command_refused, check, ghost, old_version, _, after_change = results[0]
    assert ok == Status("OK")
    assert "ACL failure in script: No permissions to access a key" in error_text(key_refused)
    assert "ACL failure in script: User bob has no permissions to run the 'get' command" in error_text(command_refused)
    assert check == [1, None]   # true, then false (nil to the client)
    assert "User ghost has no permissions to run the 'set' command" in error_text(ghost)
    assert "fields this version does not know" in error_text(old_version)
    assert after_change == Status("OK")
    assert nodes[0].get(b"xa") == b"v"   # the refused script's first SET was undone
    node = nodes[0]
    node.run(acl_set_user=pb.AclSetUser(name="carl", rules=[b"on", b"+@all", b"~x*"]))
    node.run(push=pb.Push(key=b"xl", values=[b"1"]))
    node.run(set=pb.Set(key=b"secret:1", value=b"s"))
    assert run(node, "return redis.call('set', 'yy', 'w')", user="default") == Status("OK")   # Redis's default: all
    sort = run(node, "return redis.call('sort', 'xl', 'get', 'secret:*')", user="carl")
    assert error_text(sort).startswith("ERR GET option of SORT denied due to insufficient ACL permissions."), sort
    assert run(node, "return {redis.acl_check_cmd('get'), redis.acl_check_cmd('set', 'xa')}", user="carl") == [1, 1]
    assert "arguments must be strings or integers" in error_text(
        run(node, "return redis.acl_check_cmd('get', {})", user="carl"))
    assert commands.required_version(pb.Command(eval=pb.Eval(sha="x", user="bob"))) == commands.SCRIPT_ACL_VERSION
    assert commands.required_version(pb.Command(eval=pb.Eval(sha="x"))) == commands.SCRIPTING_VERSION


def test_info_counts_what_is_stored_and_script_flush_frees_the_runtime(node):
    """INFO memory's scripting fields (StateMachine.script_usage): the stored scripts' bytes,
    and the Lua runtime's, which SCRIPT FLUSH gives back as Redis's VM reset does."""
    bodies = [f"local t = {{}} for i = 1, 20 do t[i] = i * {j} end return #t" for j in range(300)]
    for body in bodies:
        assert run(node, body) == 20
    usage = node.sm.script_usage()
    assert usage["number_of_cached_scripts"] == 300
    assert usage["used_memory_scripts_eval"] == sum(len("script/") + 40 + len(body) for body in bodies)
    before = usage["used_memory_vm_eval"]
    assert node.run(script_flush=pb.ScriptFlush()) == commands.OK
    usage = node.sm.script_usage()
    assert usage["number_of_cached_scripts"] == usage["used_memory_scripts_eval"] == 0
    assert usage["used_memory_vm_eval"] < before - 100_000, (before, usage["used_memory_vm_eval"])


def evalsha(node: Node, body: str, version: int = commands.MAX_VERSION):
    node.index += 1
    return node.sm.apply(node.index, commands.encode_entry(pb.LogEntry(
        version=version, now_ms=node.now_ms,
        command=pb.Command(eval=pb.Eval(sha=hashlib.sha1(body.encode()).hexdigest())))))


def cached(node: Node, *bodies: str) -> list[int]:
    shas = [hashlib.sha1(b.encode()).hexdigest() for b in bodies]
    return node.read(script_exists=pb.ScriptExists(shas=shas))


def test_evals_cache_keeps_the_500_most_recently_used_as_redis_74(node):
    for j in range(1, 501):
        assert run(node, f"return {j}") == j
    assert node.sm.script_usage()["number_of_cached_scripts"] == 500 and node.sm.scripts_evicted_total() == 0
    assert run(node, "return 1") == 1            # EVAL of a cached script: to the end of the list
    assert evalsha(node, "return 2") == 2        # so does EVALSHA from the log
    assert run(node, "return 1000") == 1000      # a new one: "return 3", least recently used, goes
    assert cached(node, "return 1", "return 2", "return 3", "return 500", "return 1000") == [1, 1, 0, 1, 1]
    assert "NOSCRIPT" in error_text(evalsha(node, "return 3"))
    assert node.sm.script_usage()["number_of_cached_scripts"] == 500 and node.sm.scripts_evicted_total() == 1


def test_script_load_keeps_a_script_out_of_evals_cache(node):
    assert node.run(script_load=pb.ScriptLoad(body=b"return 'loaded'")) == hashlib.sha1(b"return 'loaded'").hexdigest().encode()
    assert run(node, "return 'evaled then loaded'") == b"evaled then loaded"
    node.run(script_load=pb.ScriptLoad(body=b"return 'evaled then loaded'"))
    for j in range(600):
        run(node, f"return {j}")
    assert cached(node, "return 'loaded'", "return 'evaled then loaded'", "return 0", "return 100", "return 599") == \
        [1, 1, 0, 1, 1]
    assert node.sm.script_usage()["number_of_cached_scripts"] == 502 and node.sm.scripts_evicted_total() == 100
    assert node.run(script_flush=pb.ScriptFlush()) == commands.OK
    for j in range(500):
        run(node, f"return {j}")
    assert node.sm.scripts_evicted_total() == 100, "the flush emptied the list: 500 fit again"


def test_entries_before_version_18_cache_every_evaled_script(node):
    for j in range(520):
        run(node, f"return {j}", version=commands.SCRIPT_EVICT_VERSION - 1)
    assert node.sm.script_usage()["number_of_cached_scripts"] == 520 and node.sm.scripts_evicted_total() == 0


def test_two_replicas_evict_the_same_scripts(tmp_path):
    a, b = Node(str(tmp_path / "a")), Node(str(tmp_path / "b"))
    rng = random.Random(5)
    steps = [(evalsha if rng.random() < 0.3 else run, f"return {rng.randrange(700)}") for _ in range(2000)]
    for n in (a, b):
        for step, body in steps:
            step(n, body)
    every = [f"return {j}" for j in range(700)]
    assert cached(a, *every) == cached(b, *every) and sum(cached(a, *every)) == 500


def test_a_scripts_acl_refusals_go_to_the_nodes_hook_with_its_caller(node):
    """Eval.caller (log version 18): every replica reports a refusal, caught or not, to its
    node's hook (the service keeps those whose caller is connected to it: the ACL LOG)."""
    node.run(acl_set_user=pb.AclSetUser(name="bob", rules=[b"on", b"+@scripting", b"+set", b"~x*"]))
    seen = []
    node.sm.script_stats.on_denial = lambda caller, user, denial: seen.append((caller, user, denial.object))

    def run_as_bob(body: str, caller: str = "n1\n7") -> object:
        node.index += 1
        return node.sm.apply(node.index, commands.encode_entry(pb.LogEntry(
            version=commands.MAX_VERSION, now_ms=node.now_ms,
            command=pb.Command(eval=pb.Eval(body=body.encode(), user="bob", caller=caller)))))
    assert run_as_bob("return redis.pcall('set', 'yy', 'v')['err'] ~= nil") == 1
    assert "ACL failure in script" in error_text(run_as_bob("return redis.call('get', 'xa')"))
    assert run_as_bob("return redis.acl_check_cmd('get')") is None   # asked, not refused: not logged
    run_as_bob("return redis.call('get', 'xa')", caller="")          # no caller named: nobody to tell
    assert seen == [("n1\n7", "bob", b"yy"), ("n1\n7", "bob", b"get")]
    assert commands.required_version(pb.Command(eval=pb.Eval(sha="x", user="bob", caller="n1\n"))) == \
        commands.SCRIPT_CALLER_VERSION


def test_the_same_code_as_a_script_and_as_a_library_compiles_under_each_name(node):
    """An error's text names the chunk (`user_script:2:` / `user_function:2:`): a node that ran
    the code as a read-only script first (no log entry, this node only) must still answer a
    function's call as every other replica does."""
    rest = "redis.register_function('f', function() local ok, e = pcall(function() error('boom') end) return e end)"
    assert "can only be called on FUNCTION LOAD" in error_text(node.read(eval_ro=pb.Eval(body=("#!lua\n" + rest).encode())))
    node.run(function_load=pb.FunctionLoad(code=("#!lua name=lib\n" + rest).encode()))
    assert node.run(eval=pb.Eval(function="f")) == b"user_function:2: boom"


def test_an_eviction_a_failed_script_rolled_back_is_not_counted(node):
    """A script whose code names a flush runs in a savepoint: failing, it takes back its own
    caching and the eviction that made room for it (the count lives in the same transaction)."""
    for j in range(500):
        run(node, f"return {j}")
    assert "boom" in error_text(run(node, "if false then redis.call('flushall') end error('boom')"))
    assert cached(node, "return 0") == [1] and node.sm.scripts_evicted_total() == 0
    run(node, "return 'flushall is only a word here'")
    assert cached(node, "return 0") == [0] and node.sm.scripts_evicted_total() == 1


def test_a_flagged_script_is_refused_past_maxmemory_unless_it_allows_oom(node):
    """Redis 7's rules (log version 19): a script that declares its flags (a shebang, a function)
    without allow-oom or no-writes is refused with OOM before it runs, and EVAL does not cache
    it, while the keyspace is past maxmemory; in any script a write that would pass maxmemory
    is refused alone (redis.pcall catches it); an entry of version 18 runs the flagged script
    and refuses a script whose writes pass maxmemory as a whole."""
    node.run(set=pb.Set(key=b"filler", value=b"x" * 100))
    node.run(config_set=pb.ConfigSet(parameters=[pb.ConfigPair(name="maxmemory", value="1")]))
    flagged = "#!lua\nreturn 1"
    assert "OOM" not in str(run(node, flagged, version=commands.SCRIPT_OOM_VERSION - 1))
    assert cached(node, flagged) == [1]
    node.run(script_flush=pb.ScriptFlush())
    refused = run(node, flagged)
    assert isinstance(refused, CommandError) and refused.reason == Reason.OUT_OF_MEMORY, refused
    assert "command not allowed when used memory > 'maxmemory'" in refused.message
    assert cached(node, flagged) == [0], "a refused EVAL does not cache its script"
    assert run(node, "#!lua flags=allow-oom\nreturn redis.call('strlen', 'filler')") == 100
    assert run(node, "#!lua flags=no-writes\nreturn 2") == 2
    assert run(node, "return 3") == 3, "no shebang: only its writes are measured"
    assert "used memory > 'maxmemory'" in error_text(run(node, "return redis.call('set', 'k', 'v')"))
    caught = "local t = redis.pcall('set', 'k', 'v') return {t['err'], redis.call('exists', 'k')}"
    assert run(node, caught) == [b"OOM command not allowed when used memory > 'maxmemory'.", 0], \
        "the write alone is refused, as a Redis error pcall catches"
    assert "used memory > 'maxmemory'" in error_text(run(node, caught, version=commands.SCRIPT_OOM_VERSION - 1)), \
        "version 18: the script as a whole"
    node.run(function_load=pb.FunctionLoad(code=b"#!lua name=lib\n"
                                           b"redis.register_function('plain', function() return 4 end)\n"
                                           b"redis.register_function{function_name='oomok', callback=function() "
                                           b"return 5 end, flags={'allow-oom'}}"))
    assert error_text(node.run(eval=pb.Eval(function="plain"))).startswith("command not allowed when used memory")
    assert node.run(eval=pb.Eval(function="oomok")) == 5
    node.run(config_set=pb.ConfigSet(parameters=[pb.ConfigPair(name="maxmemory", value="0")]))
    assert run(node, flagged) == 1 and node.run(eval=pb.Eval(function="plain")) == 4


def test_errors_of_a_scripts_commands_are_counted_once(node):
    """INFO errorstats (log version 19, as Redis 7): an error a command answered is counted
    where it happened unless the script's reply carries it (the client's node counts that
    reply); the error tables carry Redis's ignore_error_stats_update field."""
    node.run(set=pb.Set(key=b"text", value=b"abc"))
    errors = node.sm.script_stats.errors
    assert "ERR" in error_text(run(node, "return redis.call('incr', KEYS[1])", ["text"]))
    assert "ERR" in error_text(run(node, "return redis.pcall('incr', KEYS[1])", ["text"]))
    assert dict(errors) == {}, "each reply carries its error"
    assert run(node, "local ok, e = pcall(redis.call, 'incr', KEYS[1]) return e", ["text"]).startswith(b"ERR")
    assert run(node, "local t = redis.pcall('incr', KEYS[1]) "
                     "return tostring(t.ignore_error_stats_update)", ["text"]) == b"true"
    assert run(node, "redis.pcall('lpush', KEYS[1], 'x') return 1", ["text"]) == 1
    assert dict(errors) == {"ERR": 2, "WRONGTYPE": 1}, "caught: no reply carries them"
    assert run(node, "return tostring(redis.pcall('nosuch').ignore_error_stats_update)") == b"true"
    assert run(node, "return tostring(redis.pcall().ignore_error_stats_update)") == b"nil"
    assert dict(errors) == {"ERR": 3, "WRONGTYPE": 1}, "an unknown command counts, arguments Lua cannot pass do not"
    assert "Please specify at least one argument" in error_text(run(node, "return redis.pcall()"))
    assert dict(errors) == {"ERR": 3, "WRONGTYPE": 1}, "an error never counted is not taken back"
    old = commands.SCRIPT_ERRORSTATS_VERSION - 1
    assert run(node, "local t = redis.pcall('incr', KEYS[1]) return tostring(t.ignore_error_stats_update)",
               ["text"], version=old) == b"nil"
    assert dict(errors) == {"ERR": 3, "WRONGTYPE": 1}, "an older entry's scripts are not counted"
    node.sm.script_stats.reset()
    assert dict(errors) == {}


def test_a_script_a_read_ran_is_kept_by_the_node_only(node):
    """EVAL_RO caches its script as Redis's does, in the node's own cache (a read has no log
    entry): EVALSHA_RO and SCRIPT EXISTS served here find it; an entry applied from the log
    never does (replicas' caches differ); SCRIPT FLUSH forgets it."""
    script_read_cache.forget()
    body = b"return 'read here'"
    sha = hashlib.sha1(body).hexdigest()
    assert node.read(eval_ro=pb.Eval(body=body)) == b"read here"
    assert node.read(eval_ro=pb.Eval(sha=sha)) == b"read here"
    assert node.read(script_exists=pb.ScriptExists(shas=[sha, "0" * 40])) == [1, 0]
    assert "NOSCRIPT" in error_text(node.run(eval=pb.Eval(sha=sha))), "apply never reads the node's cache"
    queued = node.run(transaction=pb.Transaction(commands=[pb.Command(eval_ro=pb.Eval(sha=sha))]))
    assert "NOSCRIPT" in error_text(queued[0]), "nor an EVALSHA_RO queued in MULTI (applied from the log)"
    node.run(script_flush=pb.ScriptFlush())
    assert "NOSCRIPT" in error_text(node.read(eval_ro=pb.Eval(sha=sha)))
    for j in range(script_read_cache.READ_CACHE_MAX + 1):
        node.read(eval_ro=pb.Eval(body=f"return {j}".encode()))
    assert "NOSCRIPT" in error_text(node.read(eval_ro=pb.Eval(sha=hashlib.sha1(b"return 0").hexdigest())))
    assert node.read(eval_ro=pb.Eval(sha=hashlib.sha1(b"return 1").hexdigest())) == 1


@pytest.mark.parametrize("version", [commands.SCRIPT_ERRORSTATS_VERSION - 1, commands.MAX_VERSION])
def test_a_raised_tables_metatable_is_not_asked_for_the_errorstats_field(node, version):
    """The field is read raw, and only for entries of version 19 on: a table raised with a
    strict metatable gives the reply the release before gave."""
    body = ("error(setmetatable({err = 'ERR x', line = 1}, "
            "{__index = function(t, k) error('strict: ' .. k) end}))")
    assert error_text(run(node, body, version=version)).startswith("ERR x script: ")


LIB_A = b"#!lua name=liba\nredis.register_function('fa', function() return 'a' end)"
LIB_B = b"#!lua name=libb\nredis.register_function('fb', function() return 'b' end)"


def test_function_dump_is_redis_payload_and_restore_takes_both_formats(node):
    """FUNCTION DUMP writes Redis 7's payload (RDB_OPCODE_FUNCTION2 + each library's code, the
    RDB version, CRC64) once the log runs version 19 (before, the format every release restores);
    FUNCTION RESTORE takes it from log version 19 on, an LZF-compressed code too (Redis
    compresses), with Redis's texts and join rules, and the payload raftcache dumped before."""
    for lib in (LIB_A, LIB_B):
        node.run(function_load=pb.FunctionLoad(code=lib))
    earlier = node.read(function_list=pb.FunctionList(what="dump"))
    assert earlier.startswith(b"RCFN"), "the log does not run version 19 yet"
    node.run(set_version=pb.SetVersion(version=commands.FUNCTION_DUMP_VERSION))
    payload = node.read(function_list=pb.FunctionList(what="dump"))
    assert sorted(rdb.decode_function_libraries(payload)) == [LIB_A, LIB_B]
    assert payload == rdb.function_libraries([LIB_A, LIB_B])
    node.run(function_flush=pb.FunctionFlush())
    old = commands.FUNCTION_DUMP_VERSION - 1

    def restore(data, policy="APPEND", version=commands.MAX_VERSION):
        node.index += 1
        return node.sm.apply(node.index, commands.encode_entry(pb.LogEntry(
            version=version, now_ms=node.now_ms,
            command=pb.Command(function_restore=pb.FunctionRestore(payload=data, policy=policy)))))
    assert error_text(restore(payload, version=old)) == "ERR payload version or checksum are wrong"
    assert restore(payload) == commands.OK and node.run(eval=pb.Eval(function="fb")) == b"b"
    assert error_text(restore(payload)) == "ERR Library liba already exists"
    corrupt = payload[:-1] + bytes([payload[-1] ^ 1])
    assert error_text(restore(corrupt, "REPLACE")) == "ERR DUMP payload version or checksum are wrong"
    assert error_text(restore(rdb.sealed(b"\x00\x01x"), "REPLACE")) == "ERR given type is not a function"
    assert error_text(restore(rdb.sealed(b"\xf5\x40"), "REPLACE")) == "ERR Failed loading library payload"
    assert error_text(restore(rdb.function_libraries([LIB_A, LIB_A]), "REPLACE")) == \
        "ERR Library 'liba' already exists"
    # REPLACE drops the libraries it replaces before it checks function names (payload order
    # does not matter): libb now registers fa, liba fx
    swapped = [LIB_B.replace(b"'fb'", b"'fa'"), LIB_A.replace(b"'fa'", b"'fx'")]
    assert restore(rdb.function_libraries(swapped), "REPLACE") == commands.OK
    assert node.run(eval=pb.Eval(function="fa")) == b"b" and node.run(eval=pb.Eval(function="fx")) == b"a"
    # Redis's own way of writing a code longer than 20 bytes: an LZF-compressed RDB string
    packed = b"\xc3" + _rdb_length(len(_LZF_LITERAL_OF_A)) + _rdb_length(len(LIB_A)) + _LZF_LITERAL_OF_A
    assert restore(rdb.sealed(bytes([rdb.FUNCTION2]) + packed), "FLUSH") == commands.OK
    assert node.run(eval=pb.Eval(function="fa")) == b"a"
    assert restore(earlier, "FLUSH", version=old) == commands.OK and node.run(eval=pb.Eval(function="fb")) == b"b"
    # that older payload's entries named by their code from log version 27: one whose name says
    # "libz" but whose code is liba's no longer replaces the stored liba under APPEND
    body = b"RCFN\x01" + msgpack.packb([["libz", LIB_A]], use_bin_type=True)
    mislabelled = body + struct.pack(">I", zlib.crc32(body))
    assert error_text(restore(mislabelled)) == "ERR Library liba already exists"
    assert restore(mislabelled, version=commands.SCRIPT_OBJECTS_VERSION - 1) == commands.OK   # (as before)
    # LZF's back-references can expand a string ~88 times: past functions.RESTORE_EXPANSION times
    # the payload (+ 1 MiB), refused before it is inflated
    bomb = b"\x00a" + b"\xe0\xff\x00" * 20_000   # one literal, then 264 bytes per 3-byte reference
    bomb_payload = rdb.sealed(bytes([rdb.FUNCTION2]) + b"\xc3" + b"\x80" + struct.pack(">I", len(bomb))
                              + b"\x80" + struct.pack(">I", 1 + 264 * 20_000) + bomb)
    assert error_text(restore(bomb_payload, "FLUSH")) == "ERR Failed loading library payload"
    # ... and from log version 28 all its codes together: many codes each within the bound
    many = rdb.sealed(b"".join(bytes([rdb.FUNCTION2]) + b"\xc3" + _rdb_length(5 + 3 * 50) + _rdb_length(4 + 264 * 50)
                               + b"\x03-- " + bytes([i]) + b"\xe0\xff\x00" * 50 for i in range(200)))
    assert error_text(restore(many, "FLUSH")) == "ERR library payload expands too far"   # 2.6 MB from 31 KB
    assert error_text(restore(many, "FLUSH", version=commands.RESTORE_BOUND_VERSION - 1)) != \
        "ERR library payload expands too far"   # (each code fits alone: it fails to load instead)
    body = b"RCFN\x01" + msgpack.packb([["huge", 1 << 62]], use_bin_type=True)   # a number as the code
    assert error_text(restore(body + struct.pack(">I", zlib.crc32(body)), "FLUSH", version=old)) == \
        "ERR Missing library metadata", "as n zero bytes were, without allocating them"


def _lzf_literals(data: bytes) -> bytes:
    """`data` as LZF literal runs only (valid LZF: a control byte 0-31 says 1-32 literal bytes)."""
    out = b""
    for i in range(0, len(data), 32):
        run = data[i:i + 32]
        out += bytes([len(run) - 1]) + run
    return out


def _rdb_length(n: int) -> bytes:
    """An RDB length below 16384 (6 or 14 bits)."""
    return bytes([n]) if n < 64 else bytes([0x40 | n >> 8, n & 0xFF])


_LZF_LITERAL_OF_A = _lzf_literals(LIB_A)


def test_a_scripts_random_picks_with_repeats_keep_their_releases_rules(node):
    """A script's SRANDMEMBER decides what it writes: every replica must pick alike (the n-th
    random choice of a run draws from the entry's seed; the builder's system seed made replicas
    differ), and an entry of an older log version picks as its release did (a seek per pick;
    from version 20, many picks of a large set come from one pass)."""
    run(node, "for i = 1, 200 do redis.call('SADD', KEYS[1], 'm' .. i) end", ["s"])
    body = "local m = redis.call('SRANDMEMBER', KEYS[1], ARGV[1]) redis.call('DEL', KEYS[2]) " \
           "redis.call('RPUSH', KEYS[2], unpack(m)) return #m"
    old, new = commands.RANDOM_PICKS_VERSION - 1, commands.RANDOM_PICKS_VERSION
    assert run(node, body, ["s", "old"], [-100], seed=11, version=old) == 100
    assert run(node, body, ["s", "new"], [-100], seed=11, version=new) == 100
    picked_old = node.read(lrange=pb.LRange(key=b"old", start=0, stop=-1))
    picked_new = node.read(lrange=pb.LRange(key=b"new", start=0, stop=-1))
    assert picked_old != picked_new   # the seed is the same, the rules are not
    assert run(node, body, ["s", "again"], [-100], seed=11, version=old) == 100
    assert node.read(lrange=pb.LRange(key=b"again", start=0, stop=-1)) == picked_old
    # two choices in one run differ; the same entry on another replica makes the same two
    twice = "return {redis.call('SRANDMEMBER', KEYS[1]), redis.call('HRANDFIELD', KEYS[2]), " \
            "redis.call('SRANDMEMBER', KEYS[1]), redis.call('HRANDFIELD', KEYS[2])}"
    run(node, "for i = 1, 200 do redis.call('HSET', KEYS[1], 'f' .. i, i) end", ["h"])
    first = run(node, twice, ["s", "h"], seed=5)
    assert first[0] != first[2] or first[1] != first[3]
    assert run(node, twice, ["s", "h"], seed=5) == first


def test_a_scripts_xread_plus_keeps_its_releases_rule(node):
    """XREAD's `+` (Redis 7.4) from a script: an entry of an older log version answers the
    invalid-id error that release's command builder gave, so the script fails as it did."""
    run(node, "redis.call('XADD', KEYS[1], '5-0', 'f', 'v')", ["s"])
    body = "local r = redis.call('XREAD', 'STREAMS', KEYS[1], '+') redis.call('SET', KEYS[2], r[1][2][1][1]) return 1"
    assert "Invalid stream ID" in error_text(run(node, body, ["s", "x"], version=commands.XREAD_LAST_VERSION - 1))
    assert node.get(b"x") is None
    assert run(node, body, ["s", "x"]) == 1 and node.get(b"x") == b"5-0"
    # the id that stands for `+` in a command, typed out by an older entry's script, is that id
    run(node, "redis.call('XADD', KEYS[1], '18446744073709551615-18446744073709551615', 'f', 'v')", ["m"])
    typed = "return redis.call('XREAD', 'STREAMS', KEYS[1], '18446744073709551615-18446744073709551614')[1][2][1][1]"
    assert run(node, typed, ["m"], version=commands.XREAD_LAST_VERSION - 1) == b"18446744073709551615-18446744073709551615"


def test_two_scripts_of_one_transaction_draw_their_own_numbers(node):
    """From log version 20 each command queued in a MULTI draws from its own seed (two scripts of
    one transaction drew the same numbers); an older entry draws as its release did."""
    draw = pb.Command(eval=pb.Eval(body=b"return math.random(1000000000)"))
    pick = pb.Command(srandmember=pb.SRandMember(key=b"s"))
    run(node, "for i = 1, 300 do redis.call('SADD', KEYS[1], i) end", ["s"])

    def apply(version):
        node.index += 1
        return node.sm.apply(node.index, commands.encode_entry(pb.LogEntry(
            version=version, now_ms=node.now_ms, seed=99, command=pb.Command(
                transaction=pb.Transaction(commands=[draw, draw, pick, pick])))))
    new = apply(commands.TXN_SEEDS_VERSION)
    assert new[0] != new[1] and new == apply(commands.TXN_SEEDS_VERSION)   # and the same on every replica
    old = apply(commands.TXN_SEEDS_VERSION - 1)
    assert old[0] == old[1] and old[2] == old[3]


def test_a_scripts_writes_charge_its_budget_by_the_bytes_they_store(node):
    """From log version 21 a write inside a script counts one instruction per
    budget.WRITE_BYTES_PER_INSTRUCTION bytes it stores: rewriting a large string again and again
    (each SETRANGE copies it whole) is stopped within the budget and rolled back, where the
    flat cost of a call let a thousand of them hold every replica for half a minute."""
    size = 4 << 20
    node.run(set_range=pb.SetRange(key=b"big", offset=size - 1, value=b"x"))
    body = "for i = 1, 50 do redis.call('SETRANGE', KEYS[1], i, 'y') end return 1"
    result = run(node, body, ["big"])
    assert "ran past its budget" in error_text(result)
    assert node.get(b"big")[1] == 0, "rolled back"
    # one write of a few MB fits easily, and an entry of the previous version keeps its rules
    assert run(node, "redis.call('SETRANGE', KEYS[1], 1, 'y') return 1", ["big"]) == 1
    assert run(node, body, ["big"], version=commands.SCRIPT_WRITE_BYTES_VERSION - 1) == 1
    assert node.get(b"big")[1:3] == b"yy"


def test_a_scripts_reads_charge_its_budget_by_what_they_read(node):
    """From log version 22 a command inside a script counts one instruction per
    budget.READ_BYTES_PER_INSTRUCTION bytes it reads and budget.READ_COST per record or element
    it reads (beyond what the call's own cost covers): a loop of STRLENs of a large string (each
    reads it whole) or of SINTERCARDs of two large sets is stopped within the budget, where the
    flat cost of a call let such a loop hold every replica for tens of seconds. Entries of
    version 21 keep their rules; a read this node serves is charged the same way."""
    node.run(set_range=pb.SetRange(key=b"big", offset=(4 << 20) - 1, value=b"x"))
    for key, start in ((b"s1", 0), (b"s2", 1000)):
        node.run(sadd=pb.SAdd(key=key, members=[b"m%d" % i for i in range(start, start + 3000)]))
    strlens = "for i = 1, 100 do redis.call('STRLEN', KEYS[1]) end return redis.call('INCR', 'n')"
    intersections = "for i = 1, 100 do redis.call('SINTERCARD', 2, KEYS[1], KEYS[2]) end return redis.call('INCR', 'n')"
    assert "ran past its budget" in error_text(run(node, strlens, ["big"]))
    assert "ran past its budget" in error_text(run(node, intersections, ["s1", "s2"]))
    assert node.get(b"n") is None, "rolled back"
    assert error_text(node.read(eval_ro=pb.Eval(body=strlens.split(" return")[0].encode(), keys=[b"big"]))) \
        .endswith("it was stopped")
    # a few of them fit, and the budget's other costs are as before: small reads count nothing
    # more, an LRANGE's elements count once (at 20 each, not again as reads)
    assert run(node, strlens.replace("100", "10"), ["big"]) == 1
    assert run(node, intersections.replace("100", "5"), ["s1", "s2"]) == 2
    node.run(push=pb.Push(key=b"list", values=[b"%d" % i for i in range(20_000)]))
    for version in (commands.SCRIPT_READ_BYTES_VERSION - 1, commands.SCRIPT_READ_BYTES_VERSION):
        assert run(node, "for i = 1, 900 do redis.call('GET', 'n') end return 1", version=version) == 1
        assert run(node, "for i = 1, 4 do redis.call('LRANGE', KEYS[1], 0, -1) end return 1", ["list"],
                   version=version) == 1
        assert "ran past its budget" in error_text(
            run(node, "for i = 1, 5 do redis.call('LRANGE', KEYS[1], 0, -1) end return 1", ["list"], version=version))
    old = commands.SCRIPT_READ_BYTES_VERSION - 1
    assert run(node, strlens, ["big"], version=old) == 3
    assert run(node, intersections, ["s1", "s2"], version=old) == 4
    # the bytes of a container's elements count too, and a SCAN step's records
    node.run(push=pb.Push(key=b"blobs", values=[b"%03d" % i + b"x" * (128 << 10) for i in range(130)]))   # itemized
    for body in ("for i = 1, 100 do redis.call('LRANGE', KEYS[1], 0, -1) end return 1",
                 "for i = 1, 100 do redis.call('SCAN', 0, 'COUNT', 100, 'MATCH', 'none') end return 1"):
        assert "ran past its budget" in error_text(run(node, body, ["blobs"]))
