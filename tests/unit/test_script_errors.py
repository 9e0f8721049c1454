"""A script's errors as Redis 7's (log semantics version 24), applied by real state machines on
a temporary LMDB: a script that returns an error reply ran to its end and keeps its writes;
Lua's `pcall` catches a failed redis.call as its message; an error table the script raises
keeps its text and gets the line it was raised at; a read-only script's write commands are
refused before their arguments are read, SORT included; SORT reads an empty element as 0.
Each rule is checked against an entry of version 23 too, which keeps the older behaviour
(every replica of an older release applies such entries alike)."""

from __future__ import annotations

import hashlib

import pytest

from raftcache.node import commands, scripting
from raftcache.node.errors import CommandError, ReplyError, failed
from raftcache.proto import commands_pb2 as pb
from tests.unit.test_scripting import error_text, run

scripting.install()

OLDER = commands.SCRIPT_ERRORS_VERSION - 1


def answers_alike(node, body: str, expected, versions=(commands.MAX_VERSION, OLDER)) -> None:
    """`body` answers `expected` (a str: text its error contains) at each of `versions` (the
    latest and 23, unless told)."""
    for version in versions:
        result = run(node, body, version=version)
        if isinstance(expected, str):
            assert expected in error_text(result), (version, result)
        else:
            assert result == expected, version


def sha_of(body: str) -> str:
    return hashlib.sha1(body.encode()).hexdigest()


@pytest.mark.parametrize("body, text", [
    ("redis.call('SET', KEYS[1], 'x') return redis.error_reply('boom')", "ERR boom"),
    ("redis.call('SET', KEYS[1], 'x') return {err='plain'}", "plain"),
    ("redis.call('SET', KEYS[1], 'x') return redis.pcall('INCR', KEYS[1])", "ERR value is not an integer or out of range"),
])
def test_a_returned_error_keeps_the_scripts_writes(node, body, text):
    changes = node.sm.changes
    reply = run(node, body, ["k"])
    assert isinstance(reply, ReplyError) and not failed(reply)
    assert error_text(reply) == text
    assert node.get(b"k") == b"x"
    assert node.sm.changes == changes + 1   # Redis's dirty counter counts the script's write

    older = run(node, body.replace("'x'", "'y'"), ["k2"], version=OLDER)
    assert error_text(older) == text and failed(older)
    assert node.get(b"k2") is None   # version 23: rolled back as a failed script


def test_a_raised_error_still_rolls_the_script_back(node):
    reply = run(node, "redis.call('SET', KEYS[1], 'x') return redis.call('INCR', KEYS[1])", ["k"])
    assert failed(reply) and "ERR value is not an integer" in error_text(reply)
    assert node.get(b"k") is None
    reply = run(node, "redis.call('SET', KEYS[1], 'x') error('stop')", ["k"])
    assert failed(reply) and node.get(b"k") is None


def test_a_returned_error_inside_multi_keeps_its_writes(node):
    queued = pb.Command(eval=pb.Eval(body=b"redis.call('SET', KEYS[1], 'x') return redis.error_reply('no')",
                                     keys=[b"k"]))
    results = node.run(transaction=pb.Transaction(commands=[queued, pb.Command(get=pb.Get(key=b"k"))]))
    assert error_text(results[0]) == "ERR no"
    assert results[1] == b"x" and node.get(b"k") == b"x"


PCALL = ("redis.call('SET', KEYS[1], 'hello') local ok, e = pcall(redis.call, 'INCR', KEYS[1]) "
         "return {tostring(ok), type(e), type(e) == 'table' and e.err or e}")


def test_pcall_catches_a_failed_call_as_its_message(node):
    assert run(node, PCALL, ["s"]) == [b"false", b"string", b"ERR value is not an integer or out of range"]
    assert run(node, PCALL, ["s"], version=OLDER) == [b"false", b"table",
                                                     b"ERR value is not an integer or out of range"]


@pytest.mark.parametrize("body, expected", [
    ("return {pcall(function() return 1, 2 end)}", [1, 1, 2]),
    ("local ok, e = pcall(error, 'plain') return {tostring(ok), e}", [b"false", b"plain"]),
    ("local ok, e = pcall(error, {err=7}) return {tostring(ok), e}", [b"false", 7]),
    ("local t = {} local ok, e, text = pcall(error, t) return {tostring(ok), tostring(e == t), tostring(text)}",
     [b"false", b"true", b"nil"]),
])
def test_pcall_otherwise_as_luas(node, body, expected):
    """Redis's pcall: what succeeds or raises a string is Lua's; a table with a text becomes the
    text; one without stays the table (then the missing text too)."""
    assert run(node, body) == expected


def test_a_raised_error_table_keeps_its_text_and_gets_its_line(node):
    body = "local x = 1\n\nerror({err='TBL err'})"
    assert error_text(run(node, body)) == f"TBL err script: {sha_of(body)}, on @user_script:3."
    nested = "local function f()\n  error({err='-DEEP inside'})\nend\nf()"
    assert error_text(run(node, nested)) == f"-DEEP inside script: {sha_of(nested)}, on @user_script:2."
    assert error_text(run(node, body, version=OLDER)) == f"ERR TBL err script: {sha_of(body)}, on @user_script:0."


def test_a_failed_calls_line_and_a_lua_errors_text_are_unchanged(node):
    body = "local x = 1\nreturn redis.call('INCR', KEYS[1]) + 0"
    run(node, "redis.call('SET', KEYS[1], 'a')", ["k"])
    for version in (commands.MAX_VERSION, OLDER):
        assert error_text(run(node, body, ["k"], version=version)) == \
            f"ERR value is not an integer or out of range script: {sha_of(body)}, on @user_script:2."
        assert error_text(run(node, "\nerror('boom')", version=version)) == \
            f"ERR user_script:2: boom script: {sha_of(chr(10) + 'error(' + chr(39) + 'boom' + chr(39) + ')')}, " \
            f"on @user_script:2."


def test_a_functions_raised_error_table_gets_its_line(node):
    code = "#!lua name=lib\nredis.register_function('f', function(keys, args)\n  error({err='FN err'})\nend)"
    assert node.run(function_load=pb.FunctionLoad(code=code.encode())) == b"lib"
    assert error_text(node.run(eval=pb.Eval(function="f"))) == "FN err script: f, on @user_function:3."


@pytest.mark.parametrize("body", [
    "return redis.pcall('INCRBY', KEYS[1], 'abc')",   # its argument is not read: its flags refuse it first
    "return redis.pcall('SORT', KEYS[1], 'ALPHA')",   # SORT is a write command (STORE), as Redis flags it
])
def test_a_read_only_script_is_refused_write_commands_first(node, body):
    run(node, "redis.call('RPUSH', KEYS[1], 'b', 'a')", ["l"])
    refused = node.read(eval_ro=pb.Eval(body=body.encode(), keys=[b"l"]))
    assert error_text(refused) == "ERR Write commands are not allowed from read-only scripts."
    assert node.read(eval_ro=pb.Eval(body=b"return redis.pcall('SORT_RO', KEYS[1], 'ALPHA')", keys=[b"l"])) \
        == [b"a", b"b"]


def test_sort_reads_an_empty_element_as_zero(node):
    run(node, "redis.call('RPUSH', KEYS[1], '3', '', '1')", ["l"])
    assert node.read(sort=pb.Sort(key=b"l")) == [b"", b"1", b"3"]
    store = pb.Command(sort_store=pb.Sort(key=b"l", store=b"out"))
    for version, expected in ((commands.MAX_VERSION, 3), (OLDER, None)):
        node.index += 1
        result = node.sm.apply(node.index, commands.encode_entry(pb.LogEntry(version=version, now_ms=node.now_ms,
                                                                              command=store)))
        if expected is None:
            assert isinstance(result, CommandError) and "can't be converted into double" in result.message
        else:
            assert result == expected


@pytest.mark.parametrize("raised", [
    "setmetatable({}, {__index = function() while true do end end})",
    "{err = setmetatable({}, {__tostring = function() while true do end end})}",
    "setmetatable({err = 'x'}, {__index = function() while true do end end})",
])
def test_reading_a_raised_table_runs_none_of_its_code(node, raised):
    """The error is read after the budget is disarmed: a metatable's code must not run then
    (it would hold every replica's apply for ever)."""
    text = error_text(run(node, f"error({raised})"))
    assert "script:" in text and ("(error object is not a string)" in text or text.startswith("x script"))


def test_a_raised_tables_own_line_is_replaced_by_where_it_was_raised(node):
    body = "local x = 1\nerror({err='x', line=7})"
    assert error_text(run(node, body)) == f"x script: {sha_of(body)}, on @user_script:2."
    odd = "error({err='x', line='abc'})"
    assert error_text(run(node, odd)) == f"x script: {sha_of(odd)}, on @user_script:1."
    older = error_text(run(node, odd, version=OLDER))   # as that release: its own line, unreadable: 0
    assert older == f"x script: {sha_of(odd)}, on @user_script:0."


def test_pcall_of_a_table_whose_err_is_not_text_gives_it_as_a_third_value(node):
    assert run(node, "local t = {err = true} local ok, e, v = pcall(error, t) "
                     "return {tostring(ok), tostring(e == t), tostring(v)}") == [b"false", b"true", b"true"]


def test_a_read_only_script_is_refused_commands_that_may_replicate(node):
    refused = node.read(eval_ro=pb.Eval(body=b"return redis.pcall('PFCOUNT', KEYS[1], KEYS[2])", keys=[b"a", b"b"]))
    assert error_text(refused) == "ERR Write commands are not allowed from read-only scripts."


def test_an_older_no_writes_script_at_apply_checks_as_before(node):
    """A `no-writes` script applied from an entry of version 23 reads a write's arguments first,
    and runs a SORT without STORE, as the release before 24 did on every replica."""
    run(node, "redis.call('RPUSH', KEYS[1], 'b', 'a')", ["l"])
    flagged = "#!lua flags=no-writes\n"
    assert error_text(run(node, flagged + "return redis.pcall('INCRBY', KEYS[1], 'abc')", ["l"], version=OLDER)) \
        == "ERR value is not an integer or out of range"
    assert run(node, flagged + "return redis.pcall('SORT', KEYS[1], 'ALPHA')", ["l"], version=OLDER) == [b"a", b"b"]
    assert error_text(run(node, flagged + "return redis.pcall('SORT', KEYS[1], 'ALPHA')", ["l"])) \
        == "ERR Write commands are not allowed from read-only scripts."
