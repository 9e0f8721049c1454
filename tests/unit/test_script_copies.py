"""What a script hands to Python counts in its budget (log semantics version 26,
node/scripting/copies.py): one long string handed over thousands of times (unpacked into a call,
walked by cjson or cmsgpack, returned as a reply) no longer makes gigabytes of copies or hours of
conversion on every replica; table.sort of long strings is counted; everyday scripts answer, and
fail, as they did at version 25."""

from __future__ import annotations

import json
import pathlib
import resource
import subprocess
import sys
import time

import pytest

from raftcache.node import commands, scripting
from raftcache.node.scripting import engine
from raftcache.node.scripting.sandbox import REGISTRY_HEADROOM, REGISTRY_SLOTS, Sandbox
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_script_errors import answers_alike
from tests.unit.test_scripting import error_text, run
from tests.unit.test_statemachine import Node

scripting.install()

OLDER = commands.SCRIPT_COPIES_VERSION - 1
ROOT = pathlib.Path(__file__).resolve().parents[2]
#: A table `t` of 8,000 references to one 1 MB string (8 GB once copied).
REFS = "local s = string.rep('a', 2^20) local t = {} for i = 1, 8000 do t[i] = s end "


def _max_rss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


@pytest.mark.parametrize("body", [
    REFS + "redis.log(redis.LOG_DEBUG, unpack(t, 1, 7000))",
    REFS + "return redis.pcall('ECHO', unpack(t, 1, 7000))",
    REFS + "redis.call('RPUSH', KEYS[1], unpack(t, 1, 7000))",
    REFS + "return redis.sha1hex(unpack(t, 1, 7000))",
    REFS + "return redis.acl_check_cmd('GET', unpack(t, 1, 7000))",
    REFS + "return #cjson.encode(t)",
    REFS + "local m = {} for i = 1, 8000 do m['k' .. i] = s end return #cjson.encode(m)",
    REFS + "return #cmsgpack.pack(t)",
    REFS + "return #cmsgpack.pack(unpack(t, 1, 7000))",
    REFS + "return #struct.pack(string.rep('c0', 7000), unpack(t, 1, 7000))",
    REFS + "return pcall(bit.band, unpack(t, 1, 7000))",
    # a reply: references, and tables nested in each other (2^40 values)
    REFS + "return t",
    "local t = {1} for i = 1, 40 do t = {t, t} end return t",
    "local t = {'x'} for i = 1, 20 do t = {t, t, t, t} end return {t}",
    # table.sort in C of long strings (1,000 references: each comparison reads 100 KB of NULs)
    "local s = string.rep('\\0', 100000) local t = {} for i = 1, 1000 do t[i] = s end "
    "for i = 1, 1e9 do table.sort(t) end",
])
def test_what_a_script_hands_to_python_is_bounded_by_its_budget(node, body):
    before = _max_rss_mb()
    started = time.monotonic()
    reply = run(node, body, ["k"])
    assert "ran past its budget" in error_text(reply)
    assert time.monotonic() - started < 5
    assert _max_rss_mb() - before < 1024   # (version 25: up to 16 GB for the first shapes)
    assert node.get(b"k") is None


def test_the_budget_error_says_the_reply_counted(node):
    text = error_text(run(node, REFS + "return t"))
    assert "its reply counted in it" in text and "its writes were rolled back" in text


@pytest.mark.parametrize("body, expected", [
    # calls with ordinary arguments, and with large ones handed over once
    ("redis.call('SET', 'v', string.rep('v', 100000)) return redis.call('STRLEN', 'v')", 100_000),
    ("redis.call('DEL', 'l') return redis.call('RPUSH', 'l', unpack({'a', 'b', 'c', 'd', 'e', 'f'}))", 6),
    ("local t = {} for i = 1, 300 do t[i] = 'm' .. i end redis.call('DEL', 's') "
     "return redis.call('SADD', 's', unpack(t))", 300),
    ("redis.log(redis.LOG_DEBUG, 'a', 1, string.rep('x', 10000)) return redis.sha1hex('abc')",
     b"a9993e364706816aba3e25717850c26c9cd0d89d"),
    ("redis.setresp(3) return redis.acl_check_cmd('GET', 'x')", 1),
    # the libraries, on small and large values
    ("return cjson.encode({a = {1, 2, 'x\\n/\"'}, b = string.rep('y', 9000)}):len()", 9028),
    ("return cjson.decode('[1, \"two\", {\"x\": 3}]')[3].x", 3),
    ("return #cmsgpack.pack({1, 'abc', {x = string.rep('z', 70000)}})", 70_014),
    ("return {cmsgpack.unpack(cmsgpack.pack(1, 'a', 2.5))}", [1, b"a", 2]),
    ("return {bit.band(0xff, 0x0f), bit.tohex(255, 4), struct.unpack('>I', struct.pack('>I', 7))}",
     [15, b"00ff", 7, 5]),
    # table.sort: short strings and numbers in C, long strings in Lua: the same order
    ("local t = {'pear', 'apple', 'fig', 'kiwi'} table.sort(t) return t", [b"apple", b"fig", b"kiwi", b"pear"]),
    ("local t = {5, 3, 9, 1} table.sort(t) return t", [1, 3, 5, 9]),
    ("local t = {} for i = 1, 500 do t[i] = string.rep(string.char(97 + i * 7 % 26), 70) .. i end "
     "table.sort(t) return {t[1], t[250], t[500]}",
     [b"a" * 70 + b"104", b"m" * 70 + b"76", b"z" * 70 + b"89"]),
    ("local t = {string.rep('b', 100), string.rep('a', 100), 'c'} table.sort(t, function(x, y) return x > y end) "
     "return {#t[1], #t[2], #t[3]}", [1, 100, 100]),
    # a reply of many values, and of long ones
    ("local t = {} for i = 1, 50000 do t[i] = i end return #t", 50_000),
    ("local t = {} for i = 1, 20000 do t[i] = 'value' .. i end return t[20000]", b"value20000"),
    ("local s = string.rep('r', 2^20) return {s, s, s}", [b"r" * (1 << 20)] * 3),
])
def test_everyday_scripts_answer_as_at_version_25(node, body, expected):
    answers_alike(node, body, expected, versions=(commands.MAX_VERSION, OLDER))


def test_a_reply_of_many_values_still_fits(node):
    """50,000 list elements through a script's reply: under the budget, as before."""
    run(node, "local t = {} for i = 1, 50000 do t[i] = i end "
              "for i = 1, 50000, 1000 do redis.call('RPUSH', KEYS[1], unpack(t, i, i + 999)) end", ["list"])
    reply = run(node, "return redis.call('LRANGE', KEYS[1], 0, -1)", ["list"])
    assert len(reply) == 50_000 and reply[-1] == b"50000"


TABLES = "local t = {} for i = 1, %d do t[i] = {} end return t"


def test_a_reply_of_tables_counts_what_converting_it_costs(node):
    """From log version 28, and in a read this node serves, a table of a script's reply counts
    what its conversion costs (~6 µs: 122 instructions with its value), so the budget stops a
    reply of 20,000 tables; at version 27 a table counted 30 (a read-only script's 15) and a
    reply of tables nested in each other held a node 0.3-0.8 s before it was stopped."""
    def read(body):
        return node.read(eval_ro=pb.Eval(body=body.encode()))

    assert len(run(node, TABLES % 10_000)) == len(read(TABLES % 10_000)) == 10_000
    for reply in (run(node, TABLES % 20_000), read(TABLES % 20_000)):
        assert "its reply counted in it" in error_text(reply)
    assert len(run(node, TABLES % 20_000, version=commands.SCRIPT_REPLY_COSTS_VERSION - 1)) == 20_000


@pytest.mark.parametrize("reply, values", [
    ([b"0", [b"a", b"b", b"c"]], 4),   # a SCAN step: its page's values
    ([b"0", []], 2),                   # an empty page is still a table to build
    ([[], [], []], 3),
    ([(b"f", b"1"), (b"g", b"2")], 4),  # a map's pairs
    ([b"x", [b"y", [b"z", []]]], 4),
])
def test_a_replys_values_count_its_nested_lists(reply, values):
    assert engine._values(reply) == values


def test_a_long_script_and_its_reply_beat(node, beats):
    """A leader's heartbeats go on through a script at apply, or one this node serves (the same
    thread): every redis.call beats, and every table of its reply (node/pulse.py)."""
    assert run(node, "for i = 1, 50 do redis.call('INCR', 'n') end return 1") == 1
    assert len(beats) >= 50
    del beats[:]
    assert len(node.read(eval_ro=pb.Eval(body=(TABLES % 300).encode()))) == 300
    assert len(beats) >= 300


@pytest.mark.parametrize("setup, call, calls", [
    # a SCAN's page: from version 28 its values count, not its two parts (cursor, page)
    ("local t = {} for i = 1, 5000 do t[i] = 'm' .. i end redis.call('SADD', 's', unpack(t))",
     "redis.call('SSCAN', 's', 0, 'COUNT', 10000)", 30),   # fit: 19; 47 before
    # DUMP of a large hash: each field and value read counts as Python serializes them
    ("for i = 1, 2500, 500 do local t = {} for j = i, i + 499 do t[#t + 1] = 'f' .. j t[#t + 1] = j end "
     "redis.call('HSET', 'h', unpack(t)) end", "redis.call('DUMP', 'h')", 100),   # 44; 438
    # PFCOUNT of several keys: each key's registers merged and counted
    ("local t = {} for i = 1, 3000 do t[i] = 'e' .. i end redis.call('PFADD', 'p1', unpack(t)) "
     "for i = 1, 3000 do t[i] = 'f' .. i end redis.call('PFADD', 'p2', unpack(t))",
     "redis.call('PFCOUNT', 'p1', 'p2')", 400),   # 192; 825
])
def test_a_calls_whole_work_counts_from_version_28(node, setup, call, calls):
    """Commands whose work the budget saw a part of held every replica's apply 0.3-3.6 s before
    a loop of them was stopped (a loop of HSCANs, DUMPs, PFCOUNTs of several keys): from log
    version 28, and in a read this node serves, `calls` of them no longer fit; in an older entry
    they still do."""
    assert run(node, setup) is None
    loop = f"for i = 1, {calls} do {call} end return 1"
    assert run(node, loop, version=commands.SCRIPT_REPLY_COSTS_VERSION - 1) == 1
    assert "ran past its budget" in error_text(run(node, loop))
    if "PFCOUNT" not in call:   # (a write, as in Redis: it may store the count)
        assert "ran past its budget" in error_text(node.read(eval_ro=pb.Eval(body=loop.encode())))


@pytest.mark.parametrize("body", [
    "return bit.band('x')",
    "return struct.pack('>I')",
    "return cjson.decode('{')",
    "return cmsgpack.unpack(1)",
    "return redis.sha1hex()",
    "return redis.setresp(4)",
    "return redis.log(9, 'x')",
    "return redis.acl_check_cmd('NOPE')",
    "return redis.call('SET', KEYS[1])",
    "return redis.call()",
    "return table.sort(1)",
    "return table.sort({string.rep('a', 100), 1})",
    "local t = {} table.sort(t, 3)",
    "local ok, e = pcall(redis.call, 'INCR', 'x', 'y') return e",
    "local ok, e = pcall(cjson.encode, function() end) return e",
])
def test_a_librarys_errors_read_as_at_version_25(node, body):
    """The same text, the same line: version 26's wrappers add no frame a script's error sees."""
    newer = run(node, "\n" + body, ["k"], version=commands.SCRIPT_COPIES_VERSION)
    older = run(node, "\n" + body, ["k"], version=OLDER)
    assert type(newer) is type(older)
    if isinstance(older, bytes):
        assert newer == older
    else:
        assert error_text(newer).replace("\n", "") == error_text(older).replace("\n", "")


def test_the_same_entry_stops_alike_on_two_replicas(tmp_path):
    """Charged by bytes and values only: two state machines, whatever they ran before, answer the
    same, at the edge of the budget too."""
    a, b = Node(str(tmp_path / "a")), Node(str(tmp_path / "b"))
    run(a, REFS + "redis.log(redis.LOG_DEBUG, unpack(t, 1, 100))")   # another history
    for n in (10, 1000, 1900, 2000, 2100, 4000):
        body = f"local s = string.rep('q', 65536) local t = {{}} for i = 1, {n} do t[i] = s end return t"
        first, second = run(a, body, seed=n), run(b, body, seed=n)
        assert first == second, n
    assert isinstance(run(a, body), list) is False   # (4,000 x 64 KB: past the budget)


@pytest.mark.parametrize("body", [
    # reply tables whose error or status text is one long string, referenced thousands of times
    "local e = {err = string.rep('a', 2^20)} local t = {} for i = 1, 2000 do t[i] = e end return t",
    "local e = {ok = string.rep('a', 2^20)} local t = {} for i = 1, 2000 do t[i] = e end return t",
    # strings cjson must escape (control bytes: six times as long, each escaped)
    "local s = string.rep('\\1', 4096) local t = {} for i = 1, 1000 do t[i] = s end "
    "local u = {} for i = 1, 100 do u[i] = t end return #cjson.encode(u)",
    "local s = string.rep('\\1', 2^20) local t = {} for i = 1, 40 do t[i] = s end return #cjson.encode(t)",
    "local s = string.rep('1', 2^20) local r = math.randomseed for i = 1, 1e7 do pcall(r, s) end",
])
def test_what_python_makes_of_it_is_counted_too(node, body):
    before = _max_rss_mb()
    started = time.monotonic()
    assert "ran past its budget" in error_text(run(node, body))
    assert time.monotonic() - started < 5
    assert _max_rss_mb() - before < 1024


def filled_then(probe: str, setup: str = "", small_below: int = 10) -> str:
    """A script that fills its memory to the last bytes (strings doubled, then smaller ones added
    while they fit) and, once the strings it adds are under 2^`small_below` bytes, runs `probe`
    (the body of a Lua function) after each."""
    return f"""
{setup}
local keep = {{}}
for i = 1, 3000 do keep[i] = false end
local strs = {{}}
for k = 1, 40 do strs[k] = false end
local function cat(a, b) return a .. b end
local function catn(a, n) return a .. n end
local cur, top = 'x', 0
for k = 1, 30 do
  local ok, v = pcall(cat, cur, cur)
  if not ok then break end
  cur = v; top = k; strs[k] = v
end
local function probe() {probe} end
local i, k = 0, top
while k >= 1 and i < 2900 do
  local ok, v = pcall(catn, strs[k], i)
  if ok then i = i + 1; keep[i] = v else k = k - 1 end
  if k <= {small_below} then probe() end
end
return 1
"""


# then errors raised by Python in a loop: lupa allocates each error (hung at every version
# before errors were given room)
FILLED_THEN_ERRORS = filled_then("for j = 1, 50 do pcall(cjson.decode, 'x') end")
# ... raised by cjson's depth settings (hung at version 24 before they were guarded)
FILLED_THEN_DEPTH_ERRORS = filled_then("for j = 1, 50 do pcall(cjson.decode_max_depth, 0) end")
# then a Python function called with more table arguments each time: lupa takes a registry
# reference for each before Python code runs, and the registry grew at the memory edge (hung
# at version 24 before the registry was grown ahead)
FILLED_THEN_TABLE_ARGUMENTS = filled_then(
    "pcall(redis.log, 0, unpack(tabs, 1, n)) if n < 16000 then n = n * 2 end",
    setup="local tabs = {} for i = 1, 20000 do tabs[i] = {} end local n = 64", small_below=12)

_CHILD = """
import json, sys, tempfile
from raftcache.node import scripting
from tests.unit.test_scripting import run
from tests.unit.test_statemachine import Node
scripting.install()
node = Node(tempfile.mkdtemp() + "/ks")
print(json.dumps([str(run(node, body, version=int(sys.argv[1]))) for body in json.loads(sys.stdin.read())]))
"""


@pytest.mark.parametrize("version", [commands.MAX_VERSION, commands.SCRIPT_STRINGS_VERSION,
                                     commands.SCRIPT_ERRORS_VERSION])
def test_a_result_past_the_memory_bound_fails_and_never_hangs(version):
    """A Python function's result that Lua cannot hold, or its table arguments at the memory
    edge: Lua's memory error (its writes rolled back), not a thread hung for good (lupa 2.8 hangs
    when Lua refuses memory while Python code called by a script runs, is handed a table, or
    hands its result back: every version before these fixes)."""
    bodies = [
        # cmsgpack / cjson building ~290 MB from 4 KB strings (each charged little)
        "local s = string.rep('a', 4096) local t = {} for i = 1, 1000 do t[i] = s end "
        "local u = {} for i = 1, 70 do u[i] = t end return #cmsgpack.pack(u)",
        # decoding a document into tables when most of the memory is taken
        "local big = {} for i = 1, 15 do big[i] = string.rep(string.char(96 + i), 16 * 2^20) end "
        "local doc = '[' .. string.rep('[1,2,3,4,5,6,7,8],', 200000) .. '[]]' return #cjson.decode(doc)",
        FILLED_THEN_ERRORS,
        FILLED_THEN_DEPTH_ERRORS,
        FILLED_THEN_TABLE_ARGUMENTS,
    ]
    child = subprocess.run([sys.executable, "-c", _CHILD, str(version)], input=json.dumps(bodies), text=True,
                           capture_output=True, timeout=120, cwd=ROOT)
    assert child.returncode == 0, child.stderr[-2000:]
    for outcome in json.loads(child.stdout):
        assert "bytes of Lua memory" in outcome or "ran past its budget" in outcome, outcome


def _registry_length(box: Sandbox) -> int:
    return box.lua.eval("#debug.getregistry()")


def test_python_holding_many_tables_grows_the_registry_ahead_of_them(node):
    """Tables Python builds for a run (cjson.decode's, a command's nested reply) each hold a
    registry reference until that Python function returns: past what the registry has room
    for, it grows first, while the run has room for it, never while lupa takes a reference;
    references handed back to Lua are not counted again (many small decodes grow nothing)."""
    box = Sandbox.for_thread()
    assert _registry_length(box) >= box._ref_capacity >= REGISTRY_SLOTS
    capacity = box._ref_capacity
    small = "local n = 0 for i = 1, 20000 do n = n + #cjson.decode('[{},{}]') end return n"
    assert run(node, small) == 40000
    assert box._ref_capacity == capacity
    wide = capacity - REGISTRY_HEADROOM + 1000
    doc = "[" + "{}," * (wide - 1) + "{}]"
    assert run(node, f"return #cjson.decode('{doc}')") == wide
    assert box._ref_capacity == 2 * capacity
    assert _registry_length(box) >= box._ref_capacity
