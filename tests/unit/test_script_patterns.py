"""Pattern matching in scripts bounded by the budget (log semantics version 24,
node/scripting/patterns.py): the Lua-written matcher gives Lua 5.1's own results and errors on
random patterns and subjects (compared with the C functions of the same runtime); a
backtracking pattern that held every replica's apply is stopped by the budget within
milliseconds; everyday patterns answer as before; entries of version 23 keep C's functions."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import time

import pytest
from lupa import lua51

from raftcache.node import scripting
from raftcache.node.scripting.patterns import PATTERNS, WORST_C_STEPS
from tests.unit.test_script_errors import OLDER
from tests.unit.test_scripting import error_text, run

scripting.install()


@pytest.fixture(scope="module")
def lua():
    """A runtime with the Lua-written functions (every call in Lua: no C shortcut) beside C's."""
    runtime = lua51.LuaRuntime(encoding=None, unpack_returned_tuples=False)
    g = runtime.globals()
    ours = runtime.execute(PATTERNS.replace(f"= {WORST_C_STEPS},", "= -1,", 1),
                           g.string, runtime.eval("function() end"), g.debug.getinfo)
    compare = runtime.execute(r"""
      local ours, c = ...
      local function pack(...) return {n = select("#", ...), ...} end
      local function call(f, ...)
        local r = pack(pcall(f, ...))
        if not r[1] then return {false, (tostring(r[2]):gsub("^[^:]*:%d+: ", ""))} end
        return r
      end
      local function all(f, s, p)
        local ok, it = pcall(f, s, p)
        if not ok then return {false, (tostring(it):gsub("^[^:]*:%d+: ", ""))} end
        local out = {}
        for i = 1, 50 do
          local r = call(it)
          if r[1] == false or r[2] == nil then out[#out + 1] = r break end
          out[#out + 1] = r
        end
        return out
      end
      local function same(a, b)
        if type(a) ~= type(b) then return false end
        if type(a) ~= "table" then return a == b end
        for k, v in pairs(a) do if not same(v, b[k]) then return false end end
        for k in pairs(b) do if a[k] == nil then return false end end
        return true
      end
      local function show(t)
        if type(t) ~= "table" then return tostring(t) end
        local parts = {}
        for i = 1, (t.n or #t) do parts[#parts + 1] = show(t[i]) end
        return "{" .. table.concat(parts, ", ") .. "}"
      end
      local repl_table = {a = "A", ab = false, b = 7}
      local function repl_fn(x, y) if x == "b" then return nil end return (x or "") .. "|" .. tostring(y) end
      return function(kind, s, p, init, extra)
        local mine, theirs
        if kind == "find" then mine, theirs = call(ours.find, s, p, init, extra), call(string.find, s, p, init, extra)
        elseif kind == "match" then mine, theirs = call(ours.match, s, p, init), call(string.match, s, p, init)
        elseif kind == "gmatch" then mine, theirs = all(ours.gmatch, s, p), all(string.gmatch, s, p)
        else
          local repl = ({extra, repl_table, repl_fn})[kind == "gsub" and 1 or kind == "gsub_table" and 2 or 3]
          mine, theirs = call(ours.gsub, s, p, repl, init), call(string.gsub, s, p, repl, init)
        end
        if same(mine, theirs) then return nil end
        return show(mine) .. " ~= C's " .. show(theirs)
      end
    """, ours, g.string)
    return compare


ITEMS = ["a", "b", "(", ")", ".", "%a", "%d", "%s", "%W", "[ab]", "[^a]", "[a-c]", "[%d)]", "%(", "%%", "%1",
         "%2", "%b()", "%f[a]", "%f[%W]", "()", "$", "^", "*", "+", "-", "?", "]", "[", "%", "\0", "%z"]


def random_pattern(rng: random.Random) -> bytes:
    parts = [rng.choice(ITEMS) for _ in range(rng.randint(0, 7))]
    if rng.random() < 0.3:
        parts.insert(0, "^")
    return "".join(parts).encode()


def random_subject(rng: random.Random) -> bytes:
    return "".join(rng.choice("ab()1 ab\0") for _ in range(rng.randint(0, 12))).encode()


@pytest.mark.parametrize("kind", ["find", "match", "gmatch", "gsub", "gsub_table", "gsub_function"])
def test_the_lua_matcher_answers_as_luas_own(lua, kind):
    rng = random.Random(kind)
    repls = [b"<%0>", b"%1-%2", b"x%%y", b"%", b"z", 5]
    differences = []
    for _ in range(4000):
        s, p = random_subject(rng), random_pattern(rng)
        init = rng.choice([None, None, 1, 2, -1, -3, 0, 20]) if kind in ("find", "match") else \
            rng.choice([None, None, 0, 1, 2]) if kind.startswith("gsub") else None
        extra = rng.choice([None, True]) if kind == "find" else rng.choice(repls)
        difference = lua(kind, s, p, init, extra)
        if difference is not None:
            differences.append((s, p, init, extra, difference))
    assert not differences, differences[:5]


def test_argument_errors_are_luas(lua):
    for args in [(None, b"a"), (b"a", None), (b"a", b"a", b"x"), (5, 5)]:
        for kind in ("find", "match", "gsub"):
            assert lua(kind, *args, b"r") is None, (kind, args)


@pytest.mark.parametrize("body", [
    "return string.find(string.rep('a', 16), string.rep('a*', 16) .. 'b')",
    "return string.find(string.rep('a', 100000), '.-b')",
    "return string.match(string.rep('a', 100000), '(a*)(a*)b')",
    "return select(2, string.gsub(string.rep('ab', 50000), '(a-)b%1', 'x'))",
    "for w in string.gmatch(string.rep('a', 100000), 'a*b') do end",
])
def test_a_backtracking_pattern_is_stopped_by_the_budget(node, body):
    started = time.monotonic()
    assert "ran past its budget" in error_text(run(node, body))
    assert time.monotonic() - started < 5   # (the C matcher: 11 s to minutes, on every replica)


@pytest.mark.parametrize("body, expected", [
    ("return string.match(KEYS[1], '^user:(%d+)$')", b"42"),
    ("return {string.find(KEYS[1], ':', 1, true)}", [5, 5]),
    ("local t = {} for k, v in string.gmatch('a=1, b=22', '(%w+)=(%w+)') do t[#t+1] = k .. v end return t",
     [b"a1", b"b22"]),
    ("return {string.gsub('hello world', '(%w+)', '<%1>')}", [b"<hello> <world>", 2]),
    ("return {KEYS[1]:gsub('%d', {['4'] = 'four'})}", [b"user:four2", 2]),
    ("return string.rep('x', 3):upper()", b"XXX"),
    ("local s = string.rep('k1=v1;', 2000) local n = 0 for _ in s:gmatch('[^;]+') do n = n + 1 end return n", 2000),
])
def test_everyday_patterns_answer_as_before(node, body, expected):
    assert run(node, body, ["user:42"]) == expected
    assert run(node, body, ["user:42"], version=OLDER) == expected


def test_pattern_errors_name_the_scripts_line(node):
    body = "local x = 1\nlocal y = string.find('a', '%')"
    assert re.match(r"ERR user_script:2: malformed pattern \(ends with '%'\) script: [0-9a-f]+, on @user_script:2\.$",
                    error_text(run(node, body)))
    body = "local x = 1\nlocal y = ('a'):gsub('a', true)"
    assert "user_script:2: bad argument #2 to 'gsub' (string/function/table expected)" in error_text(run(node, body))


def test_an_older_entry_keeps_cs_functions(node):
    """Version 23's scripts ran the C matcher, unbounded: the same pattern finishes there (a
    small one: C takes ~50 ms), where version 24's counted matcher stops it."""
    body = "return string.find(string.rep('a', 12), string.rep('a*', 12) .. 'b')"
    assert run(node, body, version=OLDER) is None
    assert "ran past its budget" in error_text(run(node, body))


def test_a_deeply_nested_pattern_stops_in_the_budget_not_the_stack():
    """C's matcher recurses once per quantified item with no bound of its own: 100,000 of them
    on an empty subject overflowed the process's stack (every replica crashed on the entry, again
    at each replay). Run in a process of its own: a crash must fail this test, not end the run."""
    code = ("import sys, tempfile; sys.path.insert(0, '.'); "
            "from tests.unit.test_scripting import run, error_text; "
            "from tests.unit.test_statemachine import Node; from raftcache.node import scripting; "
            "scripting.install(); node = Node(tempfile.mkdtemp()); "
            "print(error_text(run(node, \"return string.find('', string.rep('a*', 100000))\"))); "
            "print(error_text(run(node, \"local s = 'xyz' return s:find(string.rep('a-', 500000), 4)\")))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("ran past its budget") == 2, done.stdout


@pytest.mark.parametrize("body, expected", [
    ("return {string.find('abc', 'b', 2^63)}", [2, 2]),   # C's cast: INT64_MIN, from the start
    ("return {string.find('abc', 'b', 1e300)}", [2, 2]),
    ("return {string.gsub('abc', '%w', string.upper, 2^32)}", [b"abc", 0]),   # C's int: 0
    ("return {string.gsub('abc', '%w', string.upper, 2^32 + 1)}", [b"Abc", 1]),
    ("local co = coroutine.wrap(function() return string.gsub('abc', '%w', coroutine.yield) end) "
     "local ok, e = pcall(co) return e", b"attempt to yield across metamethod/C-call boundary"),
    ("local t = {} for i = 1, 10 do t[i] = i end local ok, e = pcall(table.sort, t, math.max) return e",
     b"bad argument #1 to '?' (number expected, got nil)"),
])
def test_edges_answer_as_lua_51(node, body, expected):
    assert run(node, body) == expected
    assert run(node, body, version=OLDER) == expected
