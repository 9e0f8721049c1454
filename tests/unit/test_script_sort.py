"""table.sort in scripts bounded by the budget (log semantics version 24,
node/scripting/table_sort.py): the Lua-written sort is Lua 5.1's algorithm (the same result and
the same comparisons in the same order as the C sort, on random arrays with ties and with
comparators); a large sort is counted by the budget; small ones and those with a Lua
comparator answer as before; entries of version 23 keep C's sort."""

from __future__ import annotations

import random
import time

import pytest
from lupa import lua51

from raftcache.node import scripting
from raftcache.node.scripting.patterns import PATTERNS
from raftcache.node.scripting.table_sort import SMALL_N, SORT
from tests.unit.test_script_errors import OLDER, answers_alike
from tests.unit.test_scripting import error_text, run

scripting.install()


@pytest.fixture(scope="module", params=[0, 1], ids=["v24", "v26"])
def compare(request):
    """(array, comparator kind) -> None when the Lua-written sort (forced for every call; log
    version 24's or 26's table.sort) and C's leave the same array after the same comparisons,
    else both."""
    runtime = lua51.LuaRuntime(encoding=None, unpack_returned_tuples=False)
    g = runtime.globals()
    noop = runtime.eval("function() end")
    patterns = runtime.execute(PATTERNS, g.string, noop, g.debug.getinfo)
    forced = SORT.replace(f"= {SMALL_N},", "= -1,", 1).replace('getinfo(f, "S").what == "Lua"', "false", 1)
    ours = runtime.execute(forced, g.table, noop, g.debug.getinfo, patterns["raise"], patterns.arg_error, patterns.mark,
                           patterns.check_table)[request.param]
    check = runtime.execute(r"""
      local ours = ...
      local function run(sort, values, kind)
        local t, log = {}, {}
        for i, v in ipairs(values) do t[i] = v end
        local f
        if kind == "desc" then f = function(a, b) log[#log + 1] = a .. ">" .. b return a > b end
        elseif kind == "mod" then f = function(a, b) log[#log + 1] = a .. "%" .. b return a % 7 < b % 7 end
        elseif kind == "bad" then f = function(a, b) return true end end
        local ok, e = pcall(sort, t, f)
        return table.concat(t, ","), table.concat(log, " "), ok, ok or tostring(e):gsub("^[^:]*:%d+: ", "")
      end
      return function(values, kind)
        local a = {run(ours, values, kind)}
        local b = {run(table.sort, values, kind)}
        for i = 1, 4 do if a[i] ~= b[i] then return tostring(a[i]) .. " ~= C's " .. tostring(b[i]) end end
        return nil
      end
    """, ours)
    return lambda values, kind: check(runtime.table_from(values), kind)


@pytest.mark.parametrize("kind", [None, "desc", "mod", "bad"])
def test_the_lua_sort_is_luas_own(compare, kind):
    rng = random.Random(str(kind))
    differences = []
    for _ in range(1500):
        values = [rng.randint(0, rng.choice([3, 20, 1000])) for _ in range(rng.randint(0, 40))]
        difference = compare(values, kind)
        if difference is not None:
            differences.append((values, difference))
    assert not differences, differences[:3]


def test_a_large_sort_is_counted_by_the_budget(node):
    body = "local t = {} for i = 1, 300000 do t[i] = i end table.sort(t) return t[1]"
    started = time.monotonic()
    assert "ran past its budget" in error_text(run(node, body))
    assert time.monotonic() - started < 5
    assert run(node, body, version=OLDER) == 1   # version 23: C's sort, uncounted


@pytest.mark.parametrize("body, expected", [
    ("local t = {5, 3, 1, 4} table.sort(t) return t", [1, 3, 4, 5]),
    ("local t = {'b', 'a', 'c'} table.sort(t, function(x, y) return x > y end) return t", [b"c", b"b", b"a"]),
    ("local t = {} for i = 1, 1000 do t[i] = (i * 7919) % 1009 end table.sort(t) return {t[1], t[1000]}", [1, 1008]),
    ("local t = {} for i = 1, 5000 do t[i] = (i * 7919) % 5003 end table.sort(t, function(a, b) return a < b end) "
     "return {t[1], t[5000]}", [1, 5002]),
    ("local t = {3, 'a', 1} table.sort(t) return t", "attempt to compare"),
    ("table.sort(nil)", "bad argument #1 to 'sort' (table expected, got nil)"),
    ("local t = {} for i = 1, 300 do t[i] = i % 10 end\ntable.sort(t, function() return true end)",
     "user_script:2: invalid order function for sorting"),
])
def test_sorts_answer_as_before(node, body, expected):
    answers_alike(node, body, expected)
