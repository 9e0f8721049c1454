"""A script's long strings weigh on its budget (log semantics version 25,
node/scripting/string_weights.py): single VM instructions whose time grows with a string
(comparing, arithmetic on a numeric string, a concatenation that allocates nothing) no longer
hold every replica's apply for minutes; scripts that hold no long string answer as before; the
sampling is the same on every replica."""

from __future__ import annotations

import time

import pytest

from raftcache.node import commands, scripting
from raftcache.node.scripting import string_weights
from raftcache.node.scripting.sandbox import Sandbox
from tests.unit.test_script_errors import answers_alike
from tests.unit.test_scripting import error_text, run
from tests.unit.test_statemachine import Node

scripting.install()

OLDER = commands.SCRIPT_STRINGS_VERSION - 1
MB = "2^20"


@pytest.mark.parametrize("body", [
    # each ~50 µs (strcmp of 1 MB, a string with itself too): ~30 s at version 24
    f"local s = string.rep('a', {MB}) local x for i = 1, 1e9 do x = s < s end",
    f"local s = string.rep('a', {MB}) local u = string.rep('a', {MB} - 1) .. 'b' local x "
    "for i = 1, 1e9 do x = s <= u end",
    # each ~5 ms (Lua compares NUL by NUL): ~50 min at version 24
    f"local s = string.rep('\\0', {MB}) local x for i = 1, 1e9 do x = s < s end",
    "local s = string.rep('a\\0', 2000) local x for i = 1, 1e9 do x = s <= s end",
    # each ~0.6 ms (strtod reads 1 MB of digits, or of blanks): ~6 min at version 24
    f"local s = string.rep('1', {MB}) local x for i = 1, 1e9 do x = s + 0 end",
    f"local s = string.rep(' ', {MB}) .. '7' local x for i = 1, 1e9 do x = -s end",
    f"local s = '1' .. string.rep(' ', {MB}) local x for i = 1, 1e9 do x = s * 2 end",
    f"local s = string.rep('1', {MB}) local x for i = 1, 1e9 do x = math.floor(s) end",
    # kept out of the registers between operations: sampled all the same
    f"local t = {{string.rep('9', {MB})}} local x for i = 1, 1e9 do x = t[1] % 7 end",
    f"local t = {{string.rep('a', {MB})}} local x for i = 1, 1e9 do x = t[1] < t[1] x = nil end",
    # a concatenation whose result the runtime holds: a copy and a compare, nothing allocated
    f"local s = string.rep('1', {MB}) local x for i = 1, 1e9 do x = '' .. s end",
    f"local s = string.rep('1', {MB}) local t = {{s, s:sub(1, 2^19), s:sub(2^19 + 1)}} s = nil local x "
    "for i = 1, 1e9 do x = t[2] .. t[3] x = nil end",
    # inside a coroutine, and against a long constant of the code, or of code loadstring compiled
    f"local s = string.rep('1', {MB}) coroutine.wrap(function() local x for i = 1, 1e9 do x = s + 0 end end)()",
    "local s = '" + "a" * 100_000 + "' local x for i = 1, 1e9 do x = s < '" + "a" * 99_999 + "b' end",
    "loadstring(\"local x for i = 1, 1e9 do x = '" + "1" * 100_000 + "' + 0 end\")()",
    # a value a command gave the run
    "local t = {redis.call('GET', KEYS[1])} local x for i = 1, 1e9 do x = t[1] + 0 end",
    # a Python library function that reads what it is given
    f"local s = string.rep('a', {MB}) for i = 1, 1e9 do local h = redis.sha1hex(s) end",
    # table.sort's comparisons (Lua 5.1's algorithm in the prelude's own Lua past 1,024 elements)
    "local s = string.rep('\\0', 100000) local t = {} for i = 1, 3000 do t[i] = s end table.sort(t)",
    # what the hook's own work grows with: a line of 50,000 operations, the code loadstring
    # compiled, the chunk name getinfo copies
    "local a, b = 1, 2 while true do local x = " + "+".join(["a", "b"] * 25_000) + " end",
    "while true do loadstring('return 1') end",
    "loadstring(string.rep(' ', 4e6) .. 'local n = 0 while true do n = n + 1 end')()",
])
def test_a_loop_of_instructions_on_a_long_string_is_stopped_by_the_budget(node, body):
    run(node, "redis.call('SET', KEYS[1], string.rep('7', 4 * 2^20))", ["big"])
    started = time.monotonic()
    assert "ran past its budget" in error_text(run(node, body, ["big"]))
    assert time.monotonic() - started < 5


def test_the_budget_error_says_long_strings_weighed_on_it(node):
    weighed = error_text(run(node, f"local s = string.rep('1', {MB}) local x for i = 1, 1e9 do x = s + 0 end"))
    assert "long strings it held counting for more" in weighed
    plain = error_text(run(node, "local n = 0 while true do n = n + 1 end"))
    assert "ran past its budget" in plain and "long strings" not in plain


@pytest.mark.parametrize("body, expected", [
    ("local s = string.rep('a', 8000) local n = 0 for i = 1, 100000 do n = n + 1 end return {n, #s}",
     [100_000, 8_000]),
    (f"local s = string.rep('{{', {MB}) return {{#s, s:sub(1, 2), s > 'b', s .. '' == s}}", [2**20, b"{{", 1, 1]),
    ("local s = string.rep('12', 100) return {s + 0 > 1e199, ('  5  ') * 2, 'x' .. 1}", [1, 10, b"x1"]),
    ("local t = {} for i = 1, 1000 do t[i] = string.rep('x', i) end return #table.concat(t)", 500_500),
])
def test_everyday_scripts_answer_as_before(node, body, expected):
    answers_alike(node, body, expected, versions=(commands.MAX_VERSION, OLDER))


def test_a_long_value_passed_through_costs_what_it_did(node):
    """GET a large value and store it elsewhere: a few instructions, whatever its size."""
    run(node, "redis.call('SET', KEYS[1], string.rep('x', 4 * 2^20))", ["big"])
    body = "local v = redis.call('GET', KEYS[1]) redis.call('SET', KEYS[2], v) return #v"
    assert run(node, body, ["big", "copy"]) == 4 << 20
    assert node.get(b"copy") == b"x" * (4 << 20)


@pytest.mark.parametrize("seed", [1, 2, 3, 1 << 62])
def test_the_same_entry_stops_at_the_same_point_on_two_replicas(tmp_path, seed):
    """The sampling is drawn from the entry's seed: two state machines, whatever else they ran
    before, write the same and answer the same, the budget's stop included."""
    body = ("local s = string.rep('1', 40000) local n = 0 "
            "for i = 1, 1e9 do if i % 7 == 0 then n = n + s end redis.call('SET', KEYS[1], i) end")
    a, b = Node(str(tmp_path / "a")), Node(str(tmp_path / "b"))
    run(a, f"local s = string.rep('1', {MB}) for i = 1, 100 do local x = s + i end")   # another history
    first, second = run(a, body, ["k"], seed=seed), run(b, body, ["k"], seed=seed)
    assert first == second and "ran past its budget" in error_text(first)
    assert a.get(b"k") is None and b.get(b"k") is None
    counted = "local s = string.rep('1', 40000) local n = 0 for i = 1, 3000 do n = n + s % 3 end return n"
    assert run(a, counted, seed=seed) == run(b, counted, seed=seed)


def test_math_random_draws_alike_on_two_replicas_and_not_the_seed_itself(tmp_path):
    a, b = Node(str(tmp_path / "a")), Node(str(tmp_path / "b"))
    body = "return {math.random(1000000), math.random(1000000)}"
    assert run(a, body, seed=42) == run(b, body, seed=42)
    assert run(a, body, seed=42) != run(a, body, seed=42, version=OLDER)   # from a hash of it


@pytest.mark.parametrize("value, expected", [
    (b"7" * 512, 0.0),
    (b"7" * 1024, 8.0),
    (b" " * 1023 + b"1", 8.0),
    (b"1" + b" " * 1023, 8.0),
    (b"0x" + b"f" * 1022, 8.0),
    (b"nan(" + b"a" * 1019 + b")", 8.0),
    (b"abc" + b"1" * 1021, 0.0),
    (b"-" + b"1" * 1023 + b"e+99", (1024 + 4 - 512) / 64),
    (b"x" * 40_960, 32.0),
    (b"1" * 40_960, (40_960 - 512) / 64 + 32.0),
    (b"\0" * 300, (300 - 64) / 8),
    (b"a\0" * 64, 0.0),
    (b"a\0" * 1000, (1000 - 64) / 8),
])
def test_a_strings_weight_is_what_strtod_or_a_compare_would_read(value, expected):
    assert string_weights.weight(value) == pytest.approx(expected)


def test_what_each_line_of_a_chunk_reads_is_read_from_its_dump():
    """The sampling hook weighs only the registers (and constants) that a line's comparisons,
    arithmetic, concatenations and calls read, with what each reads of them."""
    box = Sandbox()
    chunk, _ = box.compile("user_script", b"local a = 'top' local function f() local g = function() return 'deep' end "
                                          b"return {'mid', 1.5, true, nil} end return f")
    constants = {c for f in string_weights.dump_functions(box._dump(chunk)) for c in f[6] if isinstance(c, bytes)}
    assert constants == {b"top", b"deep", b"mid"}
    long = "1" * 1024
    chunk, _ = box.compile("user_script", (
        "local s, t = KEYS[1], KEYS[2]\n"            # registers 0 and 1
        "local x = s < t\n"                           # a compare: length and NULs
        "local y = s .. t\n"                          # a copy: length
        f"local z = s + 1 + '{long}'\n"               # arithmetic: numbers, a constant's too
        "local n = #s\n"                              # nothing long
        "return f(s)").encode())                     # a call: length and number
    lines = string_weights.chunk_lines(box._dump(chunk))[b"@user_script"][0][0]
    LEN, NUL, NUM = string_weights.LEN, string_weights.NUL, string_weights.NUM
    assert lines[2][1:] == [0, LEN | NUL, 1, LEN | NUL]
    assert set(zip(lines[3][1::2], lines[3][2::2])) == {(3, LEN), (4, LEN)}   # (copies of s and t)
    assert lines[4][0] == pytest.approx((1024 - 512) / 64) and (0, NUM) in set(zip(lines[4][1::2], lines[4][2::2]))
    assert 5 not in lines
    assert (LEN | NUM) in lines[6][2::2]
    assert string_weights.heaviest_constant(box._dump(chunk)) == pytest.approx((1024 - 512) / 64)


def test_a_long_string_held_while_a_loop_runs_costs_nothing_more(node):
    """A script that keeps long strings in its locals (Redis's own cmsgpack smoke test) and loops
    over other things is charged for its instructions only."""
    body = ("local big, blob = string.rep('x', 100000), string.rep('\\0', 100000)\nlocal t = {}\n"
            "for i = 1, 100000 do t[i] = i end\nlocal n = 0\nfor i = 1, 100000 do n = n + t[i] end\n"
            "return {n, #big, #blob}")   # (lines apart: a line is weighed by what any of its operations reads)
    assert run(node, body) == [5_000_050_000, 100_000, 100_000]


@pytest.mark.parametrize("depth", [150, 196, 199])
def test_a_loop_nested_deep_in_pcalls_is_stopped(node, depth):
    """About 200 C calls deep the debug library cannot call the hook (each firing raised "C stack
    overflow" instead); a script catching that error ran uncounted for ever. From version 25 a
    stack overflow caught by pcall / xpcall / coroutine.resume ends the run as its budget does."""
    body = ("local function loop() local x = 0 while true do x = x + 1 end end "
            "local function r(n) if n == 0 then while true do pcall(loop) end end "
            "local ok, v = pcall(r, n - 1) return v end "
            f"return r({depth})")
    started = time.monotonic()
    assert "ran past its budget" in error_text(run(node, body))
    assert time.monotonic() - started < 5
    deep = "local function f() return 1 + f() end local ok, e = pcall(f) return e"
    assert "stack overflow" in run(node, deep, version=OLDER).decode()
    assert "ran past its budget" in error_text(run(node, deep))



def test_a_loop_nested_deep_in_xpcalls_is_stopped_whatever_its_handler_returns(node):
    body = ("local function loop() local x = 0 while true do x = x + 1 end end "
            "local function quiet() return 'fine' end "
            "local function r(n) if n == 0 then while true do xpcall(loop, quiet) end end "
            "local ok, v = xpcall(function() return r(n - 1) end, quiet) return v end "
            "return r(196)")   # (the bottom loop runs 199 C calls deep: the hook cannot)
    started = time.monotonic()
    assert "ran past its budget" in error_text(run(node, body))
    assert time.monotonic() - started < 5
    assert run(node, "return {xpcall(function() error('x') end, function(e) return 'handled' end)}") == [None, b"handled"]
