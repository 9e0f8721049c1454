"""What a script gets from the libraries written in Python is only ever a Lua value: no Python
object (msgpack's Timestamp, decoded from extension type -1, once handed a script the whole
process through its attributes), no key Lua refuses inside lupa (a NaN key froze every thread
of the node for good), no integer lupa cannot convert (a Python error text). Every log version:
these were holes, not semantics. And from log version 27 nothing a script sees depends on where
Lua put an object in memory (`tostring`, the order of tables keyed by objects), which no two
replicas share."""

from __future__ import annotations

import json
import subprocess
import sys

import msgpack
import pytest

from raftcache.node import commands, scripting
from raftcache.proto import commands_pb2 as pb
from raftcache.node.scripting.sandbox import Sandbox
from tests.unit.test_script_copies import ROOT, _CHILD
from tests.unit.test_scripting import error_text, run
from tests.unit.test_statemachine import Node

scripting.install()

VERSIONS = [commands.MAX_VERSION, commands.SCRIPT_ERRORS_VERSION, commands.SCRIPT_COMPAT_VERSION]
#: cmsgpack's extension type -1 (a timestamp: 1 second)
TIMESTAMP = r"'\214\255\0\0\0\1'"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_decoded_extension_type_is_nil_never_a_python_object(node, version):
    body = (f"local ts = cmsgpack.unpack({TIMESTAMP}) "
            f"local n, tail = cmsgpack.unpack_limit({TIMESTAMP} .. '\\1', 1) "
            "return {type(ts), type(tail), n}")
    assert run(node, body, version=version) == [b"nil", b"nil", 6]


def test_python_objects_have_no_fields_in_the_runtime():
    """Defence in depth: were a Python object to reach a script, its attributes stay shut."""
    reach = Sandbox.for_thread().lua.eval(
        "function(o) local ok, e = pcall(function() return o.__class__ end) "
        "local set = pcall(function() o.seconds = 2 end) return ok, e, set end")
    ok, error, set_ok = reach(msgpack.Timestamp(1, 0))
    assert (ok, set_ok) == (False, False) and "no fields" in str(error)


def test_integers_past_64_bits_decode_as_lua_numbers(node):
    """From log version 27 (before, the Python error text that older entries keep)."""
    body = ("return {tostring(cjson.decode('1' .. string.rep('0', 30))), "
            r"tostring(cmsgpack.unpack('\207\255\255\255\255\255\255\255\255')), "
            "tostring(cjson.decode('[-9223372036854775809]')[1])}")
    assert run(node, body) == [b"1e+30", b"1.844674407371e+19", b"-9.2233720368548e+18"]
    assert "too large" in error_text(run(node, body, version=commands.SCRIPT_OBJECTS_VERSION - 1))


@pytest.mark.parametrize("version", VERSIONS)
def test_a_nan_key_is_luas_error_and_never_hangs_the_node(version):
    """A map with a NaN key (float64, float32; caught by pcall or not): Lua's own `table index
    is NaN`, as lua-cmsgpack raises it. Run in a child process: the code before froze every
    thread of the process for good."""
    bodies = [r"return cmsgpack.unpack('\129\203\127\248\0\0\0\0\0\0\1')",
              r"local ok, e = pcall(cmsgpack.unpack, '\129\202\127\192\0\0\1') return {tostring(ok), e}",
              r"return cmsgpack.unpack('\130\1\2\192\3')"]   # a nil key is dropped, as before
    child = subprocess.run([sys.executable, "-c", _CHILD, str(version)], input=json.dumps(bodies), text=True,
                           capture_output=True, timeout=60, cwd=ROOT)
    assert child.returncode == 0, child.stderr[-2000:]
    unpacked, caught, nil_key = json.loads(child.stdout)
    assert unpacked.startswith("ERR table index is NaN")
    assert caught == str([b"false", b"table index is NaN"])
    assert nil_key == str([2])


# ---------------------------------------------------------------- log version 27: no addresses

def test_tostring_names_objects_by_the_order_a_run_names_them(node):
    body = ("local a, b = {}, function() end "
            "local named = {tostring(b), tostring(a), tostring(b), tostring(coroutine.create(b)), tostring(cjson.null)} "
            "named[#named + 1] = tostring(setmetatable({}, {__tostring = function() return 'its own' end})) "
            "named[#named + 1] = tostring(nil) .. tostring(1.5) .. tostring(true) .. tostring('s') "
            "return named")
    first = run(node, body)
    assert first == [b"function: 0x00000001", b"table: 0x00000002", b"function: 0x00000001", b"thread: 0x00000003",
                     b"userdata: 0x00000004", b"its own", b"nil1.5trues"]
    assert run(node, body) == first   # every run names afresh
    assert error_text(run(node, "error(function() end)")).startswith("ERR function: 0x00000001 ")


@pytest.mark.parametrize("body", [
    "local t = {} for i = 1, 8 do t[{}] = i end for _, v in pairs(t) do redis.call('RPUSH', KEYS[1], v) end",
    "local t = {[tostring] = 1} return next(t)",
    "local t = {[cjson.null] = 1} table.foreach(t, function() end)",
])
def test_tables_keyed_by_objects_are_not_iterated(node, body):
    """Lua orders such keys by address: two replicas wrote the same entries in different orders."""
    text = error_text(run(node, body, keys=["l"]))
    assert "keyed by tables, functions, coroutines or userdata has no order every replica shares" in text
    assert run(node, "return redis.call('EXISTS', KEYS[1])", keys=["l"]) == 0   # nothing written


def test_tables_keyed_by_plain_values_iterate_as_before(node):
    body = ("local t, seen = {a = 1, [2] = 2, [true] = 3, [1.5] = 4}, {} local n = 0 "
            "for k, v in pairs(t) do n = n + v end for k, v in next, t do n = n + v end "
            "table.foreach(t, function(k, v) n = n + v end) "
            "seen[{}] = true return {n, pcall(cmsgpack.pack, {[{}] = 1})}")   # an object key held, not walked
    assert run(node, body) == [30, None, b"cmsgpack.pack: a table keyed by tables, functions, coroutines or "
                                          b"userdata has no order every replica shares"]
    assert run(node, "local ok, e = pcall(pairs) return e") == b"bad argument #1 to 'pairs' (table expected, got no value)"


def test_a_script_naming_objects_leaves_replicas_identical(tmp_path):
    body = ("redis.call('SET', KEYS[1], tostring({}) .. tostring(redis.call) .. tostring(coroutine.create(function() end))) "
            "return redis.call('GET', KEYS[1])")
    replies = []
    for name in ("a", "b"):
        replica = Node(str(tmp_path / name))
        run(replica, "return tostring({})")   # a history that differs: an earlier run on one only
        if name == "b":
            run(replica, "local t = {} for i = 1, 1000 do t[i] = {} end return #t")
        replies.append(run(replica, body, keys=["k"]))
    assert replies[0] == replies[1] == b"table: 0x00000001function: 0x00000002thread: 0x00000003"


@pytest.mark.parametrize("body, text", [
    ("return struct.pack('i', {})", "bad argument to 'pack'"),
    ("return struct.pack('d', 'x')", "bad argument to 'pack'"),
    ("return struct.unpack('i', 'abcd', 0/0)", "bad argument to 'unpack'"),
    ("return bit.tohex(1, 1e309)", "bad argument to 'tohex'"),
    ("return bit.lshift(1)", "bad argument to 'lshift'"),
    ("return cmsgpack.unpack_limit('\\145\\1', {})", "bad argument to 'unpack_limit'"),
    ("return cjson.decode('\"\\\\ud800\"')", "bad argument to 'decode'"),
    ("return cjson.decode('{\"a\":1')", "Expected value but found invalid token script"),
    ("return cmsgpack.unpack('\\221\\255\\255\\255\\255')", "Missing bytes in input. script"),
])
def test_a_librarys_argument_errors_carry_no_python_text(node, body, text):
    """From log version 27: Python's own texts (which differ between Python releases, and which a
    script could store) never reach a script; older entries keep them."""
    assert error_text(run(node, body)).startswith("ERR " + text)
    older = error_text(run(node, body, version=commands.SCRIPT_OBJECTS_VERSION - 1))
    assert not older.startswith("ERR " + text) and "bad argument to" not in older


def test_randomseed_takes_what_is_no_integer_as_zero(node):
    """Lua's C cast (Redis seeds with it): infinity, NaN and huge numbers seed as 0 from log
    version 27, where Python's error text was answered."""
    draws = "local out = {} for i = 1, 3 do out[i] = math.random(1000) end return out"
    zero = run(node, "math.randomseed(0) " + draws)
    for seed in ("1e999", "0/0", "-1e300", "'1e999'"):
        assert run(node, f"math.randomseed({seed}) " + draws) == zero
    assert "convert float" in error_text(run(node, "math.randomseed(1e999)", version=commands.SCRIPT_OBJECTS_VERSION - 1))


def test_next_refuses_to_hand_out_an_object_key_and_clears_tables_in_linear_time(node):
    only = "local t = {} for i = 1, 7 do t[{}] = i end local k = next(t) return 1"
    assert "next: a table keyed by" in error_text(run(node, only))
    # walked from a plain key, the first object key handed out is refused, wherever it lies
    walked = ("local t = {x = 0} for i = 1, 7 do t[{}] = i end local k, n = 'x', 0 "
              "repeat k = next(t, k) n = n + 1 until k == nil return n")
    result = run(node, walked)
    assert result == 1 or "next: a table keyed by" in error_text(result)   # 1: 'x' came last
    clear = ("local t = {} for i = 1, 4000 do t['k' .. i] = i end "
             "while next(t) do t[next(t)] = nil end return next(t) == nil")
    assert run(node, clear) == 1   # within the budget: a check per step, not a scan of the table


def test_an_error_through_coroutine_wrap_names_its_object(node):
    body = "local ok, e = pcall(coroutine.wrap(function() error({}) end)) return e"
    assert run(node, body) == b"table: 0x00000001"


# a delivery count past 2^63 (XCLAIM's RETRYCOUNT, then one more delivery): XPENDING's reply
# holds an integer lupa cannot convert
PAST_INT64 = ("redis.call('XADD', 's', '1-1', 'f', 'v') redis.call('XGROUP', 'CREATE', 's', 'g', '0') "
              "redis.call('XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', 's', '>') "
              "redis.call('XCLAIM', 's', 'g', 'c', '0', '1-1', 'RETRYCOUNT', '9223372036854775807') "
              "redis.call('XCLAIM', 's', 'g', 'c', '0', '1-1') return 'ok'")
PENDING = "local ok, e = pcall(redis.pcall, 'XPENDING', 's', 'g', '-', '+', '10') "


def test_no_script_reaches_the_metatable_of_python_objects(node):
    """An error Python raised reached a script as a Python object (an integer past 64 bits in a
    reply, before version 27); its metatable, shared by every Python object, was the script's to
    change: `__call` replaced, every later run's calls into Python ran the script's function."""
    assert run(node, PAST_INT64) == b"ok"
    older = run(node, PENDING + "return {type(e), tostring(getmetatable(e))}",
                version=commands.SCRIPT_OBJECTS_VERSION - 1)
    assert older == [b"userdata", b"false"]
    # from version 27 the count arrives as Redis replies it (C's cast), no error at all
    assert run(node, PENDING + "return e") == [[b"1-1", b"c", 0, -(1 << 63)]]
    assert run(node, "redis.call('SET', KEYS[1], 'v1') return redis.call('GET', KEYS[1])", ["k"]) == b"v1"


@pytest.mark.parametrize("body, reply", [
    ("local m = {} for i = 1, 6 do m[{i}] = i end return {map = m}", "map reply"),
    ("local s = {} s[{}] = true s[tostring] = true return {set = s}", "set reply"),
])
def test_a_map_or_set_reply_keyed_by_objects_is_refused(node, body, reply):
    """Converted in address order, two replicas recorded different replies (dedup records)."""
    assert error_text(run(node, "redis.setresp(3) " + body)).startswith(f"ERR {reply}: a table keyed by")


def test_register_function_with_a_table_keyed_by_objects_is_refused_alike(tmp_path):
    """Its entries were read in address order: which of two errors came first differed."""
    library = "#!lua name=l1\nredis.register_function{function_name = 1, [{}] = 2, callback = function() end}"
    for name, history in (("fresh", ""), ("used", "local t = {} for i = 1, 1000 do t[i] = {} end return #t")):
        replica = Node(str(tmp_path / name))
        if history:
            run(replica, history)
        text = str(replica.run(function_load=pb.FunctionLoad(code=library.encode())))
        assert "named argument key given to redis.register_function is not a string" in text, name


def test_the_redis_helpers_argument_errors_carry_no_python_text(node):
    assert run(node, "local ok, e = pcall(redis.sha1hex, 'a', 'b') return e") == b"bad argument to 'sha1hex'"
    assert run(node, "local ok, e = pcall(redis.setresp, 3, 4) return e") == b"bad argument to 'setresp'"


def test_struct_unpack_refuses_an_offset_outside_its_data(node):
    """lua-struct's check (log version 27); before, a negative offset read from the end."""
    body = "return {struct.unpack('i1', 'abcd', %s)}"
    assert run(node, body % 4) == [100, 5]
    for offset in (-5, 0, 6):
        assert "offset out of bounds" in error_text(run(node, body % offset)), offset
    assert run(node, body % -1, version=commands.SCRIPT_OBJECTS_VERSION - 1) == [99, 0]   # 'c', Python's -2
