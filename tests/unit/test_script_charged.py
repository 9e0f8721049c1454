"""Library functions charged by their work (log semantics version 24,
node/scripting/charged.py): what a loop of them could hold every replica's apply for (hours)
is stopped by the budget; everyday calls answer, and fail, as before."""

from __future__ import annotations

import time

import pytest

from raftcache.node import scripting
from tests.unit.test_script_errors import answers_alike
from tests.unit.test_scripting import error_text, run

scripting.install()


@pytest.mark.parametrize("body", [
    # ~1 ms each (strtod reads 1 MB of blanks): ~80 min for 16 MB, before
    "local s = string.rep(' ', 1000000) .. '1' local n = 0 for i = 1, 3000 do n = n + tonumber(s) end return n",
    # ~120 ms each: ~3 h over the budget, before
    "local t = {} for i = 1, 100000 do t[i] = i end local n = 0 for i = 1, 1000 do n = n + #cjson.encode(t) end",
    # the same result each time, held already: no memory grows, ~1 ms a call
    "local s = string.rep('a', 1000000) for i = 1, 100000 do local u = s:upper() end",
    "local s = string.rep('a', 1000000) for i = 1, 100000 do local u = s:sub(1, -1) end",
    "local t = {} for i = 1, 100000 do t[i] = 'x' end for i = 1, 10000 do local u = table.concat(t) end",
    "local t = {} for i = 1, 100000 do t[i] = i end for i = 1, 100000 do table.insert(t, 1, 0) table.remove(t, 1) end",
    "local t = {} for i = 1, 100000 do t[i] = i end for i = 1, 10000 do local m = table.maxn(t) end",
    "local s = cjson.encode(string.rep('a', 1000000)) for i = 1, 10000 do local u = cjson.decode(s) end",
    "local s = cmsgpack.pack(string.rep('a', 1000000)) for i = 1, 10000 do local u = cmsgpack.unpack(s) end",
    "local f = string.rep('b', 100000) for i = 1, 10000 do local n = struct.size(f) end",
    # charged as they go: a failing encode too (its function at the end), and packing past the first value
    "local t = {} for i = 1, 100000 do t[i] = i end t[100001] = function() end "
    "for i = 1, 1000 do pcall(cjson.encode, t) end",
    "local s = string.rep('a', 1000000) for i = 1, 10000 do local p = struct.pack('Bs', 1, s) end",
    "local t = {} for i = 1, 100000 do t[i] = i end for i = 1, 1000 do pcall(table.insert, t, 2^32 + 1, 0) "
    "table.remove(t, 2^32 + 1) end",
])
def test_a_loop_of_long_library_calls_is_stopped_by_the_budget(node, body):
    started = time.monotonic()
    assert "ran past its budget" in error_text(run(node, body))
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("body, expected", [
    ("return {string.upper('abc'), ('AbC'):lower(), ('abc'):reverse()}", [b"ABC", b"abc", b"cba"]),
    ("return {tonumber('  12 '), tonumber('ff', 16), tostring(tonumber('x')), tonumber(7)}", [12, 255, b"nil", 7]),
    ("return table.concat({1, 2, 3}, '-', 2)", b"2-3"),
    ("local s = 'hello' return {s:sub(2), s:sub(-3, -2), s:sub(0), s:sub(4, 2), s:sub(-100, 100), s:sub('2', 3.7)}",
     [b"ello", b"ll", b"hello", b"", b"hello", b"el"]),
    ("local x = string.sub('abc')", "user_script:1: bad argument #2 to 'sub' (number expected, got no value)"),
    ("local t = {1, 2} table.insert(t, 1, 0) table.insert(t, 9) return t", [0, 1, 2, 9]),
    ("local t = {1, 2, 3} local x = table.remove(t, 1) local y = table.remove(t) return {x, y, #t}", [1, 3, 1]),
    ("return table.maxn({1, 2, [10] = 3, x = 4})", 10),
    ("return cjson.decode(cjson.encode({1, 'a', {b = 2}}))[3].b", 2),
    ("return cmsgpack.unpack(cmsgpack.pack({1, 2, 3}))", [1, 2, 3]),
    ("return {struct.unpack('>I2', struct.pack('>I2', 513))}", [513, 3]),
    ("local ok, e = pcall(string.upper) return e", b"bad argument #1 to '?' (string expected, got no value)"),
    ("local x = string.upper()", "user_script:1: bad argument #1 to 'upper' (string expected, got no value)"),
    ("local x = table.concat({1, {}, 3})", "user_script:1: invalid value (table) at index 2 in table for 'concat'"),
    ("local x = table.insert({}, 1, 2, 3)", "user_script:1: wrong number of arguments to 'insert'"),
    ("local x = cjson.decode('[')", "Expected value but found invalid token"),
    ("local x = struct.pack('>I2')", "bad argument to 'pack' (no value)"),
    ("local x = tonumber()", "user_script:1: bad argument #1 to 'tonumber' (value expected)"),
    ("local x = tonumber('1', 99)", "user_script:1: bad argument #2 to 'tonumber' (base out of range)"),
    ("local x = tonumber({}, 16)", "user_script:1: bad argument #1 to 'tonumber' (string expected, got table)"),
    ("local t = {1, 2, 3} table.insert(t, 2^32 + 1, 0) local x = table.remove(t, 2^32 + 1) return {x, #t}", [0, 3]),
    ("return table.concat({1, 2, 3}, '', 1, 2^32 + 2)", b"12"),
    ("local x = table.concat(nil, {})", "bad argument #2 to 'concat' (string expected, got table)"),
    ("local t = {1, 2, 3} local x = table.remove(t, -1e12) return {tostring(x), #t}", [b"nil", 3]),
    ("local s = cmsgpack.pack(1, 2, 3) local a, x = cmsgpack.unpack_one(s) local b, y = cmsgpack.unpack_one(s, a) "
     "return {a, x, b, y}", [1, 1, 2, 2]),
    ("return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}", [2, 1, 2]),
])
def test_everyday_calls_answer_as_before(node, body, expected):
    answers_alike(node, body, expected)
