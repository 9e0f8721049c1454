"""The RESP front end fed raw bytes (no sockets): a fake transport drives
resp.Connection over a real StateMachine + Keyspace (tests/unit/resp_fakes.py).

Covers framing (multibulk, inline, pipelining, split frames), Redis's exact
protocol/arity/unknown-command errors and where the connection closes,
RESP2 vs RESP3 replies, AUTH/HELLO, MULTI/EXEC/WATCH, and hostile input.
"""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raftcache.node.frontends.resp_protocol import DoubleText, RespMap, RespSet, Verbatim, encode
from raftcache.node.frontends.resp_requests import ProtocolError, RequestParser, leading_sets, only_gets, split_args, whole_frames
from raftcache.node.service import stream
from tests.unit.resp_fakes import Client, cmd


def run(coro):
    return asyncio.run(coro)


def test_ping_inline_and_multibulk(service):
    async def go():
        c = Client(service)
        assert await c.send(b"PING\r\n") == b"+PONG\r\n"
        assert await c.send(b"ping hello\n") == b"$5\r\nhello\r\n"
        assert await c.send(cmd("PING")) == b"+PONG\r\n"
        assert await c.send(b"\r\n") == b""  # an empty inline line is ignored
    run(go())


def test_pipeline_is_answered_in_order_in_one_write(service):
    async def go():
        c = Client(service)
        data = b"".join(cmd("SET", f"k{i}", i) for i in range(500)) + cmd("GET", "k499") + cmd("INCR", "k0")
        c.conn.data_received(data)
        while c.conn.task is not None:
            await asyncio.sleep(0)
        await asyncio.sleep(0)   # the end of the turn, when replies are sent
        assert len(c.transport.writes) == 1
        assert c.transport.writes[0] == b"+OK\r\n" * 500 + b"$3\r\n499\r\n:1\r\n"
    run(go())


def test_frames_split_byte_by_byte(service):
    async def go():
        c = Client(service)
        out = b""
        for b in cmd("SET", "a", "hello world") + cmd("GET", "a"):
            out += await c.send(bytes([b]))
        assert out == b"+OK\r\n$11\r\nhello world\r\n"
    run(go())


@pytest.mark.parametrize("frame, error", [
    (b"*abc\r\n", b"invalid multibulk length"),
    (b"*1\r\n$abc\r\n", b"invalid bulk length"),
    (b"*1\r\n$-5\r\n", b"invalid bulk length"),
    (b"*1\r\nx3\r\nabc\r\n", b"expected '$', got 'x'"),
    (b"*2000000\r\n", b"invalid multibulk length"),
    (b"*1\r\n$999999999999\r\n", b"invalid bulk length"),
    # lengths as Redis's string2ll reads them: no leading zero, no "-0" (a frame received whole
    # is split without the parser: it must refuse them too)
    (b"*2\r\n$3\r\nGET\r\n$01\r\nk\r\n", b"invalid bulk length"),
    (b"*2\r\n$03\r\nGET\r\n$1\r\nk\r\n", b"invalid bulk length"),
    (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0000000001\r\nv\r\n", b"invalid bulk length"),
    (b"*02\r\n$3\r\nGET\r\n$1\r\nk\r\n", b"invalid multibulk length"),
    (b"*1\r\n$-0\r\n\r\n", b"invalid bulk length"),
    (b"*-0\r\n", b"invalid multibulk length"),
    # the byte found shown as Redis shows it: CR and LF as spaces (a reply holds no line break)
    (b"*1\r\n\r\n", b"expected '$', got ' '"),
    (b"*1\r\n\n\r\n", b"expected '$', got ' '"),
    (b"*1\r\n\xe9\r\n", b"expected '$', got '\xe9'"),
    (b'SET "a b\r\n', b"unbalanced quotes in request"),
    (b"x" * (70 * 1024), b"too big inline request"),
    (b"*1\r\n" + b"$" + b"1" * (70 * 1024), b"too big bulk count string"),
])
def test_protocol_errors_reply_and_close(service, frame, error):
    async def go():
        c = Client(service)
        out = await c.send(cmd("PING") + frame)
        assert out == b"+PONG\r\n-ERR Protocol error: " + error + b"\r\n"
        assert c.transport.closed
        assert await c.send(cmd("PING")) == b""  # nothing more is read
    run(go())


def test_command_errors_keep_the_connection(service):
    async def go():
        c = Client(service)
        assert await c.send(cmd("GET")) == b"-ERR wrong number of arguments for 'get' command\r\n"
        assert await c.send(cmd("FOO", "a", "b")) == \
            b"-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n"
        assert await c.send(cmd("INCRBY", "x", "1.5")) == b"-ERR value is not an integer or out of range\r\n"
        assert await c.send(cmd("SET", "x", "1", "EX", "0")) == b"-ERR invalid expire time in 'set' command\r\n"
        assert await c.send(cmd("SET", "x", "1", "NX", "XX")) == b"-ERR syntax error\r\n"
        assert await c.send(cmd("HSET", "h", "f", "v")) == b":1\r\n"
        assert await c.send(cmd("GET", "h")) == \
            b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
        assert await c.send(cmd("SELECT", "16")) == b"-ERR DB index is out of range\r\n"
        assert not c.transport.closed
    run(go())


def test_resp3_types(service):
    async def go():
        c = Client(service)
        assert await c.send(cmd("GET", "missing")) == b"$-1\r\n"
        hello = await c.send(cmd("HELLO", "3", "SETNAME", "me"))
        assert hello.startswith(b"%7\r\n")
        assert await c.send(cmd("GET", "missing")) == b"_\r\n"
        await c.send(cmd("ZADD", "z", "1.5", "a"))
        assert await c.send(cmd("ZSCORE", "z", "a")) == b",1.5\r\n"
        await c.send(cmd("HSET", "h", "f", "v"))
        assert await c.send(cmd("HGETALL", "h")) == b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n"
        assert await c.send(cmd("CLIENT", "GETNAME")) == b"$2\r\nme\r\n"
        assert await c.send(cmd("HELLO", "4")) == b"-NOPROTO unsupported protocol version\r\n"
    run(go())


def test_auth(service):
    async def go():
        c = Client(service, password="s3cret")
        assert await c.send(cmd("GET", "a")) == b"-NOAUTH Authentication required.\r\n"
        assert (await c.send(cmd("AUTH", "nope"))).startswith(b"-WRONGPASS")
        assert await c.send(cmd("AUTH", "s3cret")) == b"+OK\r\n"
        assert await c.send(cmd("GET", "a")) == b"$-1\r\n"
        c2 = Client(service, password="s3cret")
        assert (await c2.send(cmd("HELLO", "3", "AUTH", "default", "s3cret"))).startswith(b"%")
        c3 = Client(service, password="s3cret")  # unauthenticated clients get small frames only
        assert await c3.send(b"*20\r\n") == b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    run(go())


def test_multi_exec_watch(service):
    async def go():
        c = Client(service)
        assert await c.send(cmd("MULTI")) == b"+OK\r\n"
        assert await c.send(cmd("SET", "a", "1")) == b"+QUEUED\r\n"
        assert await c.send(cmd("INCR", "a")) == b"+QUEUED\r\n"
        assert await c.send(cmd("LPUSH", "a", "x")) == b"+QUEUED\r\n"
        assert await c.send(cmd("PING")) == b"+QUEUED\r\n"
        out = await c.send(cmd("EXEC"))
        assert out == b"*4\r\n+OK\r\n:2\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n+PONG\r\n"
        # a queue-time error aborts EXEC
        await c.send(cmd("MULTI"))
        assert await c.send(cmd("GET")) == b"-ERR wrong number of arguments for 'get' command\r\n"
        assert await c.send(cmd("EXEC")) == b"-EXECABORT Transaction discarded because of previous errors.\r\n"
        # a bad argument is not a queue-time error: EXEC runs the rest and reports it in place
        await c.send(cmd("MULTI"))
        assert await c.send(cmd("SET", "b", "1", "EX", "0")) == b"+QUEUED\r\n"
        assert await c.send(cmd("SELECT", "99")) == b"+QUEUED\r\n"
        assert await c.send(cmd("SET", "b", "2")) == b"+QUEUED\r\n"
        assert await c.send(cmd("EXEC")) == (b"*3\r\n-ERR invalid expire time in 'set' command\r\n"
                                             b"-ERR DB index is out of range\r\n+OK\r\n")
        assert await c.send(cmd("GET", "b")) == b"$1\r\n2\r\n"
        # WATCH: another client's write aborts EXEC
        other = Client(service)
        assert await c.send(cmd("WATCH", "a")) == b"+OK\r\n"
        await other.send(cmd("SET", "a", "changed"))
        await c.send(cmd("MULTI"))
        await c.send(cmd("SET", "a", "mine"))
        assert await c.send(cmd("EXEC")) == b"*-1\r\n"
        assert await c.send(cmd("GET", "a")) == b"$7\r\nchanged\r\n"
        assert await c.send(cmd("EXEC")) == b"-ERR EXEC without MULTI\r\n"
        assert await c.send(cmd("DISCARD")) == b"-ERR DISCARD without MULTI\r\n"
    run(go())


def test_half_closed_connection_gets_its_replies(service):
    async def go():
        c = Client(service)
        c.conn.data_received(cmd("SET", "a", "1") + cmd("GET", "a"))
        c.conn.eof_received()
        while c.conn.task is not None:
            await asyncio.sleep(0)
        assert b"".join(c.transport.writes) == b"+OK\r\n$1\r\n1\r\n"
        assert c.transport.closed
    run(go())


def test_hostile_input_changes_nothing(service):
    async def go():
        setup = Client(service)
        await setup.send(cmd("SET", "keep", "value") + cmd("RPUSH", "list", "a", "b"))
        before = len(service.executed)
        rng = random.Random(1)
        for _ in range(200):
            c = Client(service)
            junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
            # never a well-formed write: prefix a byte that cannot start a command we run
            await c.send(b"\x00" + junk)
        for frame in [b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nshort", b"*1\r\n$2147483648\r\n",
                      b"*" + b"9" * 30 + b"\r\n", b"*1\r\n*1\r\n*1\r\n*1\r\n" * 1000,
                      cmd("DEL", *[f"k{i}" for i in range(10_000)]).replace(b"DEL", b"XXX")]:
            c = Client(service)
            await c.send(frame)
        executed = service.executed[before:]
        assert all(commands_is_read(x) for x in executed), executed[:3]
        assert await setup.send(cmd("GET", "keep") + cmd("LRANGE", "list", "0", "-1")) == \
            b"$5\r\nvalue\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    run(go())


def commands_is_read(command) -> bool:
    from raftcache.node import commands

    return commands.is_read(command)


def test_ten_thousand_arguments(service):
    async def go():
        c = Client(service)
        keys = [f"k{i}" for i in range(10_000)]
        assert await c.send(cmd("DEL", *keys)) == b":0\r\n"
        assert await c.send(cmd("SADD", "s", *keys)) == b":10000\r\n"
        assert await c.send(cmd("SCARD", "s")) == b":10000\r\n"
    run(go())


def test_split_args_quoting():
    assert split_args(b'set "a b" \'c\\\'d\' "\\x41\\n"') == [b"set", b"a b", b"c'd", b"A\n"]
    assert split_args(b'"abc"def') is None
    assert split_args(b"  ") == []


def test_parser_returns_good_frames_before_the_error():
    p = RequestParser()
    p.feed(cmd("PING") + b"*x\r\n")
    assert p.parse() == [[b"PING"]]
    with pytest.raises(ProtocolError):
        p.parse()


def test_subcommand_errors_and_auth_without_a_password_match_redis(service):
    async def go():
        c = Client(service)
        assert await c.send(cmd("CLIENT", "foo")) == b"-ERR unknown subcommand 'foo'. Try CLIENT HELP.\r\n"
        assert await c.send(cmd("CLIENT", "setname")) == b"-ERR wrong number of arguments for 'client|setname' command\r\n"
        assert await c.send(cmd("OBJECT", "encoding")) == b"-ERR wrong number of arguments for 'object|encoding' command\r\n"
        assert await c.send(cmd("COMMAND", "count", "x")) == b"-ERR wrong number of arguments for 'command|count' command\r\n"
        assert await c.send(cmd("CONFIG", "foo")) == b"-ERR unknown subcommand 'foo'. Try CONFIG HELP.\r\n"
        assert await c.send(cmd("CONFIG", "get")) == b"-ERR wrong number of arguments for 'config|get' command\r\n"
        # no password configured: the default user is `nopass`, as in Redis
        assert (await c.send(cmd("AUTH", "x"))).startswith(b"-ERR AUTH <password> called without any password")
        assert await c.send(cmd("AUTH", "default", "anything")) == b"+OK\r\n"
        assert (await c.send(cmd("AUTH", "other", "x"))).startswith(b"-WRONGPASS")
        assert (await c.send(cmd("HELLO", "3", "AUTH", "default", "anything"))).startswith(b"%")
    run(go())


def test_expire_with_xx_and_lt_needs_an_existing_expiry(service):
    async def go():
        c = Client(service)
        await c.send(cmd("SET", "k", "v"))
        assert await c.send(cmd("EXPIRE", "k", "100", "XX", "LT")) == b":0\r\n"  # no expiry yet: XX says no
        assert await c.send(cmd("EXPIRE", "k", "100", "LT")) == b":1\r\n"        # LT alone: none is infinite
        assert await c.send(cmd("EXPIRE", "k", "50", "LT", "XX")) == b":1\r\n"
        assert await c.send(cmd("EXPIRE", "k", "80", "XX", "LT")) == b":0\r\n"   # not earlier
        assert await c.send(cmd("EXPIRE", "k", "500", "XX", "GT")) == b":1\r\n"
    run(go())


@pytest.mark.parametrize("data, frames", [
    (b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", [[b"GET", b"k"]]),
    (b"*2\r\n$3\r\ngEt\r\n$0\r\n\r\n", [[b"gEt", b""]]),
    (b"*2\r\n$3\r\nget\r\n$4\r\na\r\nb\r\n", [[b"get", b"a\r\nb"]]),  # binary-safe: the length decides
    (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nvv\r\n", [[b"SET", b"k", b"vv"]]),
    (b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*1\r\n$4\r\nPING\r\n",
     [[b"GET", b"k"], [b"SET", b"k", b"v"], [b"PING"]]),                  # a pipeline received whole
    (b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$3\r\nGET\r\n$1\r\n", None),  # its last frame cut short
    (b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nGET k\r\n", None),           # then an inline command
    (b"*2\r\n$3\r\nGET\r\n$2\r\nk\r\n", None),    # truncated
    (b"*2\r\n$3\r\nGET\r\n$1\r\nkXY", None),      # bad terminator: the parser's business
    (b"*2\r\n$3\r\nGET\r\n$-1\r\n\r\n", None),
    (b"*2\r\n$3\r\nGET\r\n$+1\r\nk\r\n", None),
    (b"*2\r\n$3\r\nGET\r\n:1\r\n", None),
    (b"*0\r\n", None),
    (b"*-1\r\n", None),
    (b"*65\r\n" + b"$1\r\nx\r\n" * 65, None),           # long commands: the parser
    (b"*2\r\n$3\r\nSET\r\n$11\r\nhello world\r\n", None),  # over max_bulk_bytes (10)
    (b"*2\r\n$3\r\nGET\r\n$01\r\nk\r\n", None),      # leading zeros: the parser refuses them
    (b"*02\r\n$3\r\nGET\r\n$1\r\nk\r\n", None),
    (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0001\r\nv\r\n", None),
    (b"GET k\r\n", None),                              # inline
])
def test_whole_frames_recognised_exactly(data, frames):
    assert whole_frames(data, max_bulk_bytes=10) == frames


@given(st.binary(max_size=8), st.binary(max_size=8), st.integers(min_value=0, max_value=60),
       st.sampled_from([b"", b"0", b"-", b"\r", b"\n", b"\r\n", b"$", b"*", b"3", b"01"]),
       st.integers(min_value=0, max_value=2), st.sampled_from([1, 2, 3, 5, 8, 1 << 20]))
def test_only_sets_agrees_with_whole_frames_on_damaged_frames(key, value, at, piece, drop, max_bulk):
    """A SET frame with bytes put in or taken out anywhere (a header's digits, its CR LF, the
    name), read under any bulk limit: only_sets takes it exactly when the general splitter reads
    it as SET frames of a key and a value."""
    data = b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value)
    at = min(at, len(data))
    data = data[:at] + piece + data[at + drop:]
    frames = whole_frames(data, max_bulk_bytes=max_bulk)
    assert only_sets(data, max_bulk_bytes=max_bulk) == (frames if _all_plain_sets(frames) else None)


def only_sets(data: bytes, max_bulk_bytes: int) -> list[list[bytes]] | None:
    """What the Redis port takes as a read of nothing but SETs (resp.Connection.data_received)."""
    frames, end = leading_sets(data, max_bulk_bytes)
    assert (whole_frames(data, max_bulk_bytes, end) is None) == (whole_frames(data, max_bulk_bytes) is None)
    if whole_frames(data, max_bulk_bytes) is not None:   # the SETs read first, then the rest from there
        assert frames + whole_frames(data, max_bulk_bytes, end) == whole_frames(data, max_bulk_bytes)
    return frames if frames and end == len(data) else None


def _all_plain_sets(frames: list[list[bytes]] | None) -> bool:
    return bool(frames) and all(len(frame) == 3 and frame[0].lower() == b"set" for frame in frames)


@pytest.mark.parametrize("data, gets", [
    (b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", ([b"GET"], [b"k"])),
    (b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$3\r\ngEt\r\n$0\r\n\r\n*2\r\n$3\r\nget\r\n$2\r\nab\r\n",
     ([b"GET", b"gEt", b"get"], [b"k", b"", b"ab"])),
    (b"*2\r\n$3\r\nGET\r\n$4\r\na\r\nb\r\n", ([b"GET"], [b"a\r\nb"])),   # binary-safe: the length decides
    (b"*2\r\n$3\r\nGET\r\n$21\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n",   # one key that looks like two
     ([b"GET"], [b"a\r\n*2\r\n$3\r\nGET\r\n$1\r\nb"])),
    (b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$3\r\nGET\r\n$4\r\na\r\nb\r\n", None),  # CR LF in a pipeline's
    (b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$3\r\nSET\r\n$1\r\nk\r\n", None),  # not only GETs
    (b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$3\r\nGET\r\n$1\r\n", None),  # the last cut short
    (b"*2\r\n$3\r\nGET\r\n$2\r\nk\r\n", None),
    (b"*2\r\n$3\r\nGET\r\n$01\r\nk\r\n", None),      # the parser's business
    (b"*2\r\n$3\r\nGET\r\n$+1\r\nk\r\n", None),
    (b"*2\r\n$3\r\nGET\r\n$-1\r\n\r\n", None),
    (b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nGET k\r\n", None),
    (b"*3\r\n$3\r\nGET\r\n$1\r\nk\r\n$1\r\nx\r\n", None),
    (b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n\r\n", None),
    (b"GET k\r\n", None),
    (b"", None),
    (b"*2\r\n$3\r\nGET\r\n$33\r\n" + b"k" * 33 + b"\r\n", None),     # over max_bulk_bytes (32)
    (b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$3\r\nGET\r\n$33\r\n" + b"k" * 33 + b"\r\n", None),
])
def test_only_gets_recognised_exactly(data, gets):
    assert only_gets(data, max_bulk_bytes=32) == gets


@given(st.lists(st.tuples(st.sampled_from([b"GET", b"get", b"GeT", b"SET", b"GETX"]),
                          st.binary(max_size=12) | st.lists(st.sampled_from(
                              [b"a", b"\r", b"\n", b"\r\n", b"*2", b"$3", b"GET", b"$1"]), max_size=6).map(b"".join),
                          st.sampled_from([0, 1, -1])), max_size=6),
       st.integers(min_value=0, max_value=3))
def test_only_gets_agrees_with_whole_frames(frames, cut):
    """Whatever only_gets accepts, the general splitter reads as the same GETs."""
    data = b"".join(b"*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(name), name, len(key) + skew, key)
                    for name, key, skew in frames)
    data = data[:len(data) - cut]
    gets = only_gets(data, max_bulk_bytes=1 << 20)
    if gets is not None:
        assert [list(frame) for frame in zip(*gets)] == whole_frames(data, max_bulk_bytes=1 << 20)
        assert all(name.lower() == b"get" for name in gets[0])


@pytest.mark.parametrize("data, expected", [
    (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", [b"SET", b"k", b"v"]),
    (b"*3\r\n$3\r\nsEt\r\n$0\r\n\r\n$0\r\n\r\n", [b"sEt", b"", b""]),
    (b"*3\r\n$3\r\nSET\r\n$4\r\na\r\nb\r\n$3\r\nv\r\n\r\n", [b"SET", b"a\r\nb", b"v\r\n"]),   # binary-safe
    (b"*3\r\n$3\r\nSET\r\n$12\r\nk\r\n$1\r\nxyzab\r\n$1\r\nv\r\n", [b"SET", b"k\r\n$1\r\nxyzab", b"v"]),
    (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$8\r\na\r\n$1\r\nb\r\n", [b"SET", b"k", b"a\r\n$1\r\nb"]),
    (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*1\r\n$4\r\nPING\r\n", None),   # not only SETs
    (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*3\r\n$3\r\nset\r\n$2\r\nk2\r\n$0\r\n\r\n",
     [[b"SET", b"k", b"v"], [b"set", b"k2", b""]]),   # a pipeline of them
    (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n", None),  # cut
    (b"*3\r\n$3\r\nGET\r\n$1\r\nk\r\n$1\r\nv\r\n", None),
    (b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nNX\r\n", None),   # options: the general way
    (b"*3\r\n$3\r\nSET\r\n$01\r\nk\r\n$1\r\nv\r\n", None),   # the parser's business
    (b"*3\r\n$3\r\nSET\r\n$2\r\nk\r\n$1\r\nv\r\n", None),
    (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv", None),   # cut short
    (b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$33\r\n" + b"v" * 33 + b"\r\n", None),   # over max_bulk_bytes (32)
    (b"SET k v\r\n", None),
])
def test_only_sets_recognised_exactly(data, expected):
    if expected is not None and type(expected[0]) is bytes:
        expected = [expected]
    assert only_sets(data, max_bulk_bytes=32) == expected


@given(st.lists(st.tuples(
    st.sampled_from([b"SET", b"set", b"GET", b"SETX"]),
    st.lists(st.binary(max_size=12) | st.lists(st.sampled_from(
        [b"a", b"\r", b"\n", b"\r\n", b"*3", b"$3", b"$1", b"$0", b"SET"]), max_size=6).map(b"".join),
        min_size=2, max_size=2),
    st.tuples(st.sampled_from([0, 1, -1]), st.sampled_from([0, 1, -1]))), min_size=1, max_size=4),
    st.integers(min_value=0, max_value=3))
def test_only_sets_agrees_with_whole_frames(frames, cut):
    """only_sets takes exactly the reads the general splitter reads as SETs of a key and a
    value, one or a pipeline of them (binary-safe: a key or value that looks like a header is
    split by its length)."""
    data = b"".join(b"*3\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
        len(name), name, len(key) + key_skew, key, len(value) + value_skew, value)
        for name, (key, value), (key_skew, value_skew) in frames)
    data = data[:len(data) - cut]
    split = whole_frames(data, max_bulk_bytes=1 << 20)
    assert only_sets(data, max_bulk_bytes=1 << 20) == (split if _all_plain_sets(split) else None)


def test_lone_get_keeps_redis_semantics(service, tmp_path):
    """The GET hot path answers as the ordinary path would, and steps aside where it must."""
    async def go():
        c = Client(service)
        get = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        assert await c.send(get) == b"$-1\r\n"
        assert await c.send(cmd("SET", "k", "v\r\n")) == b"+OK\r\n"
        assert await c.send(get) == b"$3\r\nv\r\n\r\n"
        executed = len(service.executed)
        assert await c.send(get) == b"$3\r\nv\r\n\r\n"
        assert len(service.executed) == executed      # served without a Command
        assert (await c.send(cmd("HELLO", "3"))).startswith(b"%")
        assert await c.send(cmd("GET", "missing")) == b"_\r\n"
        assert await c.send(cmd("HSET", "h", "f", "v")) == b":1\r\n"
        assert await c.send(cmd("GET", "h")) == b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
        assert await c.send(cmd("SELECT", "1")) == b"+OK\r\n"
        assert await c.send(get) == b"_\r\n"          # the selected database
        assert await c.send(cmd("MULTI")) == b"+OK\r\n"
        assert await c.send(get) == b"+QUEUED\r\n"    # queued, not answered
        assert await c.send(cmd("EXEC")) == b"*1\r\n_\r\n"
        long_key = b"k" * (service.limits.max_key_bytes + 1)
        assert (await c.send(cmd("GET", long_key))).startswith(b"-ERR")  # the ordinary path's error
        assert not c.transport.closed

        locked = Client(service, password="secret")
        assert await locked.send(get) == b"-NOAUTH Authentication required.\r\n"
    run(go())


def test_an_answer_given_by_a_callback_is_sent_at_once(service, monkeypatch):
    """A lone write's reply and a pipeline of plain SETs' replies, given by their futures'
    callbacks, go to the transport in that callback, not at the end of a later loop turn
    (under uvloop, after the next poll's I/O callbacks): with the port's end-of-turn sends
    switched off they still arrive; a reply given while a command is read still waits for
    the turn's end."""
    monkeypatch.setattr(stream.Port, "flush_soon", lambda port, conn: None)

    async def go():
        c = Client(service)
        assert await c.send(cmd("SET", "k", "v")) == b"+OK\r\n"
        assert await c.send(cmd("INCR", "n")) == b":1\r\n"
        assert await c.send(cmd("SET", "a", "1") + cmd("SET", "b", "2")) == b"+OK\r\n+OK\r\n"
        assert await c.send(cmd("PING")) == b"", "answered inline: sent at the turn's end"
    run(go())


_LONE_SET_STATES = {   # state -> (its set-up, whether the SET path takes the SETs there)
    "plain": ([], True),
    "resp3": ([cmd("HELLO", "3")], True),
    "tracking": ([cmd("HELLO", "3"), cmd("CLIENT", "TRACKING", "ON", "BCAST")], True),
    "tracking noloop": ([cmd("HELLO", "3"), cmd("CLIENT", "TRACKING", "ON", "BCAST", "NOLOOP")], True),
    "multi": ([cmd("MULTI")], False),
    "subscribed": ([cmd("SUBSCRIBE", "ch")], False),
    "subscribed resp3": ([cmd("HELLO", "3"), cmd("SUBSCRIBE", "ch")], False),
    "restricted": ([cmd("ACL", "SETUSER", "u", "on", ">p", "~*", "+get"), cmd("AUTH", "u", "p")], False),
    "restricted but allowed": ([cmd("ACL", "SETUSER", "u", "on", ">p", "~*", "+@all", "-flushall"),
                                cmd("AUTH", "u", "p")], False),
    "deleted user": ([cmd("ACL", "SETUSER", "u", "on", ">p", "~*", "+@all"), cmd("AUTH", "u", "p")], False),
    "reply off": ([cmd("CLIENT", "REPLY", "OFF")], False),
    "reply skip": ([cmd("CLIENT", "REPLY", "SKIP")], False),
    "not authenticated": ([], None),   # (not even tried: the parser answers -NOAUTH)
    "follower": ([], "pipelines"),   # (a pipeline's SETs are forwarded as one batch; a lone SET is not taken)
    "paused": ([cmd("CLIENT", "PAUSE", "200", "WRITE")], False),
    "paused all": ([cmd("CLIENT", "PAUSE", "200", "ALL")], False),
    "key too long": ([], True),
}


@pytest.mark.parametrize("count", [1, 3])
@pytest.mark.parametrize("state", list(_LONE_SET_STATES))
def test_set_frames_answer_as_the_ordinary_path_in_every_connection_state(tmp_path, state, count):
    """`SET key value` frames alone in a read (-P 1's SET, or a pipeline's SETs: proposed from
    data_received in the plain state) answer, store and count exactly what the same SETs sent
    inline (which always take the parser and the ordinary path) do, in each state a connection
    can be in: their replies, whether they waited, the value stored, commandstats, errorstats,
    the commands counted, CLIENT LIST's `cmd`, the slow log's entries, the latency histograms
    and MONITOR's lines."""
    from tests.unit.resp_fakes import FakeService

    setup, fast = _LONE_SET_STATES[state]

    async def outcome(inline: bool, path) -> tuple:
        service = FakeService(str(path))
        c = Client(service, password="secret" if state == "not authenticated" else "")
        admin = Client(service, password="secret" if state == "not authenticated" else "")
        if state == "not authenticated":
            await admin.send(cmd("AUTH", "secret"))
        watcher = Client(service, password="secret" if state == "not authenticated" else "")
        if state == "not authenticated":
            await watcher.send(cmd("AUTH", "secret"))
        await watcher.send(cmd("MONITOR"))
        watcher.transport.writes.clear()
        key = "k" * (service.limits.max_key_bytes + 1) if state == "key too long" else "k"
        for data in setup:
            await c.send(data)
        if state == "deleted user":
            await admin.send(cmd("ACL", "DELUSER", "u"))
        reached = {"multi": lambda: c.conn.multi is not None,
                   "subscribed": lambda: c.conn.session.subscriptions is not None,
                   "subscribed resp3": lambda: c.conn.session.subscriptions is not None and c.conn.proto == 3,
                   "tracking": lambda: c.conn.session.tracking is not None,
                   "tracking noloop": lambda: c.conn.session.tracking is not None,
                   "restricted": lambda: c.conn.session.user == "u",
                   "restricted but allowed": lambda: c.conn.session.user == "u",
                   "reply off": lambda: c.conn.reply_off, "reply skip": lambda: c.conn.reply_skip_next,
                   "paused": lambda: c.conn.server.pause.active(), "paused all": lambda: c.conn.server.pause.all,
                   "not authenticated": lambda: c.conn.session.user is None}.get(state, lambda: True)
        assert reached(), f"the connection is {state}"
        service.is_leader = state != "follower"
        service.diagnostics.slowlog.slower_than_usec = 0   # every command enters the slow log
        service.diagnostics.slowlog._entries.clear()         # (the set-up's, on a slow machine)
        taken = []
        answer = c.conn._answer_sets
        c.conn._answer_sets = lambda frames: taken.append(answer(frames)) or taken[-1]
        started = time.monotonic()
        values = [f"v{i}" for i in range(count)] if count > 1 else ["v"]
        reply = await c.send(b"".join(b"SET %s %s\r\n" % (key.encode(), value.encode()) if inline
                                      else cmd("SET", key, value) for value in values))
        for _ in range(200):   # a paused write answers once the pause is over
            if reply or state in ("reply off", "reply skip"):
                break
            await asyncio.sleep(0.005)
            reply += b"".join(c.transport.writes)
            c.transport.writes.clear()
        waited = time.monotonic() - started >= 0.04
        last_cmd = c.conn.last_cmd
        for _ in range(20):
            await asyncio.sleep(0)
        monitored = [line.split(b" ", 1)[1] for line in b"".join(watcher.transport.writes).split(b"\r\n") if line]
        slowlog = [entry[3:] for entry in service.diagnostics.slowlog._entries]
        histograms = {name: h.calls for name, h in service.diagnostics.histograms.items()}
        stat = [n for i, n in enumerate(c.conn.server.cmdstats.get("set", [])) if i != 1]   # (not its µs)
        errors = dict(c.conn.server.errorstats)
        processed = c.conn.server.stats["total_commands_processed"]
        stored = await admin.send(cmd("GET", key))
        service.close()
        return taken, (reply, waited, last_cmd, monitored, slowlog, histograms, stat, errors, processed, stored)

    async def go():
        taken_inline, ordinary = await outcome(True, tmp_path / "inline")
        taken, lone = await outcome(False, tmp_path / "frame")
        assert lone == ordinary
        taken_here = count > 1 if fast == "pipelines" else fast
        assert taken_inline == [] and taken == ([] if taken_here is None else [taken_here]), \
            "the SET path is taken exactly in the plain state"
        if state == "plain":
            last = b"$1\r\nv\r\n" if count == 1 else b"$2\r\nv%d\r\n" % (count - 1)
            assert lone[0] == b"+OK\r\n" * count and lone[-1] == last and lone[6][0] == count and lone[2] == "set"
            assert len(lone[3]) == len(lone[4]) == count and lone[5]["set"] == count
        if state.startswith("paused"):
            assert lone[1], "the paused write waited"

    run(go())


def test_set_frames_step_aside_in_cluster_mode_and_behind_a_write_in_flight(service):
    """In cluster mode the ordinary path decides -MOVED / -ASK: the lone SET path declines; a
    SET frame arriving while the connection's last write is still in flight waits behind it in
    order, as the ordinary path queues it."""
    async def go():
        c = Client(service)
        c.conn.server.cluster = object()
        assert c.conn._answer_sets([[b"SET", b"k", b"v"]]) is False and c.conn.task is None
        c.conn.server.cluster = None
        c.conn.data_received(cmd("SET", "k", "1"))
        assert c.conn.task is not None   # in flight
        c.conn.data_received(cmd("SET", "k", "2"))
        c.conn.data_received(cmd("GET", "k"))
        for _ in range(50):
            await asyncio.sleep(0)
        assert b"".join(c.transport.writes) == b"+OK\r\n+OK\r\n$1\r\n2\r\n"
        assert c.conn.server.cmdstats["set"][0] == 2

    run(go())


def test_set_frames_answered_after_the_connection_closed_write_nothing(service):
    """A pipeline of SETs in flight when the client hangs up: the writes go on (they were sent),
    the connection writes nothing and stays closed; a read of more SET frames than a pipeline may
    have in flight takes the command loop, which answers them all in order."""
    from raftcache.node.service.session import MAX_IN_FLIGHT

    async def go():
        c = Client(service)
        c.conn.data_received(cmd("SET", "gone", "1") + cmd("SET", "gone", "2"))
        assert c.conn.task is not None   # in flight
        c.conn.connection_lost(None)
        for _ in range(50):
            await asyncio.sleep(0)
        assert c.transport.writes == [] and c.conn.task is None
        assert await Client(service).send(cmd("GET", "gone")) == b"$1\r\n2\r\n"

        c = Client(service)
        taken = []
        answer = c.conn._answer_sets
        c.conn._answer_sets = lambda frames: taken.append(answer(frames)) or taken[-1]
        many = MAX_IN_FLIGHT + 1
        reply = await c.send(b"".join(cmd("SET", f"many{i}", i) for i in range(many)))
        for _ in range(200):
            if reply.count(b"+OK") == many:
                break
            await asyncio.sleep(0.005)
            reply += b"".join(c.transport.writes)
            c.transport.writes.clear()
        assert taken == [False] and reply == b"+OK\r\n" * many

    run(go())


def test_ping_and_echo_are_answered_at_once_as_the_command_loop_answers_them(service):
    """PING and ECHO with nothing before them are answered from data_received itself (no task),
    with the replies, refusals, counts and order the command loop gives."""
    async def go():
        c = Client(service)
        for data, reply in [(cmd("PING"), b"+PONG\r\n"), (cmd("PING", "hi"), b"$2\r\nhi\r\n"),
                            (cmd("ECHO", "e"), b"$1\r\ne\r\n"),
                            (cmd("PING", "a", "b"), b"-ERR wrong number of arguments for 'ping' command\r\n"),
                            (cmd("ECHO"), b"-ERR wrong number of arguments for 'echo' command\r\n")]:
            c.conn.data_received(data)
            assert c.conn.task is None, data   # nothing left for the command loop
            await asyncio.sleep(0)
            assert b"".join(c.transport.writes) == reply
            c.transport.writes.clear()
        stats = c.conn.server.cmdstats
        ping, echo = stats["ping"], stats["echo"]
        assert (ping[0], ping[2], ping[3], echo[0], echo[2]) == (3, 0, 1, 1, 1)   # calls, rejected, failed
        # in a pipeline, in order (the command loop); inside MULTI, queued
        assert await c.send(cmd("INCR", "n") + cmd("PING") + cmd("ECHO", "x")) == b":1\r\n+PONG\r\n$1\r\nx\r\n"
        # answered inline, then a lone write refused at once: the replies in the commands' order
        assert await c.send(cmd("PING") + cmd("SET", "k")) == \
            b"+PONG\r\n-ERR wrong number of arguments for 'set' command\r\n"
        assert await c.send(cmd("GET", "n") + cmd("SET", "k", "v", "EX", "abc")) == \
            b"$1\r\n1\r\n-ERR value is not an integer or out of range\r\n"
        assert await c.send(cmd("MULTI") + cmd("PING")) == b"+OK\r\n+QUEUED\r\n"
        assert await c.send(cmd("EXEC")) == b"*1\r\n+PONG\r\n"
        locked = Client(service, password="secret")
        assert await locked.send(cmd("PING")) == b"-NOAUTH Authentication required.\r\n"
    run(go())


def test_an_argument_echoed_in_an_error_cannot_forge_a_reply(service):
    """An error that quotes a client's argument is one line, whether the command ran alone
    or queued in MULTI: a CR/LF in the argument cannot end it and add a reply of its own."""
    async def go():
        c = Client(service)
        forged = b"x\r\n+OK"
        line = b"-ERR Unsupported option x  +OK\r\n"
        assert await c.send(cmd("EXPIRE", "k", "10", forged)) == line
        assert await c.send(cmd("MULTI") + cmd("EXPIRE", "k", "10", forged)) == b"+OK\r\n+QUEUED\r\n"
        assert await c.send(cmd("EXEC")) == b"*1\r\n" + line
        assert not c.transport.closed
    run(go())


def test_commandstats_count_every_path(service):
    """The GET fast path, inline reads, lone writes, the command loop and refusals all count."""
    async def go():
        c = Client(service)
        await c.send(cmd("SET", "k", "v"))                                 # a lone write
        await c.send(cmd("GET", "k"))                                      # the GET fast path
        await c.send(cmd("GET", "k") + cmd("GET", "k") + cmd("PING"))     # a pipeline: the command loop
        await c.send(cmd("HSET", "k", "f"))                                # wrong arity: rejected
        await c.send(cmd("HGET", "k", "f"))                                # WRONGTYPE: failed
        stats = c.conn.server.cmdstats
        assert stats["set"][0] == 1 and stats["get"][0] == 3 and stats["ping"][0] == 1
        assert stats["hset"][:1] + stats["hset"][2:] == [0, 1, 0]
        assert stats["hget"][0] == 1 and stats["hget"][3] == 1
        info = (await c.send(cmd("INFO", "commandstats"))).decode()
        assert "cmdstat_get:calls=3," in info and "rejected_calls=1" in info

        locked = Client(service, password="secret")
        await locked.send(cmd("GET", "k"))
        assert locked.conn.server.cmdstats["get"][2] == 1                  # NOAUTH: rejected
    run(go())


def test_unfinished_bytes_count_the_command_being_received():
    p = RequestParser(1 << 20)
    p.feed(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\n" + b"x" * 60)
    assert p.parse() == []
    assert p.unfinished_bytes == (3 + 48) + (1 + 48) + 60   # two arguments parsed, 60 bytes of the third
    p.feed(b"x" * 40 + b"\r\n")
    assert p.parse() == [[b"SET", b"k", b"x" * 100]]
    assert p.unfinished_bytes == 0


@pytest.mark.parametrize("args", [
    ("COPY", "a", "b", "DB", "4611686018427387904"), ("COPY", "a", "b", "DB", "2147483648"),
    ("MOVE", "a", "4294967296"), ("SWAPDB", "0", "9223372036854775807"), ("SWAPDB", "4294967296", "0"),
])
def test_database_numbers_past_the_command_fields_are_out_of_range(service, args):
    """Found by tests/fuzz: COPY ... DB 4611686018427387904 made protobuf raise ValueError
    while building the command, and the connection was dropped."""
    async def go():
        c = Client(service)
        assert await c.send(cmd("SET", "a", "1")) == b"+OK\r\n"
        assert await c.send(cmd(*args)) == b"-ERR DB index is out of range\r\n"
        assert await c.send(cmd("GET", "a")) == b"$1\r\n1\r\n"
        assert not c.transport.closed
    run(go())


def test_object_idletime_and_freq_follow_the_policy_and_the_access_table(service):
    from raftcache.node.service.access import AccessTable

    service.sm.access = table = AccessTable(0)

    async def go():
        c = Client(service)
        assert await c.send(cmd("SET", "k", "v")) == b"+OK\r\n"
        table.record(0, b"k", time.time_ns() // 1_000_000 - 7_500)
        assert await c.send(cmd("OBJECT", "IDLETIME", "k")) == b":7\r\n"
        assert (await c.send(cmd("OBJECT", "FREQ", "k"))).startswith(b"-ERR An LFU maxmemory policy is not selected")
        assert await c.send(cmd("OBJECT", "IDLETIME", "missing")) == b"$-1\r\n"
        assert await c.send(cmd("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")) == b"+OK\r\n"
        assert await c.send(cmd("OBJECT", "FREQ", "k")) == b":5\r\n"      # a new key starts at LFU_INIT_VAL
        assert (await c.send(cmd("OBJECT", "IDLETIME", "k"))).startswith(b"-ERR An LFU maxmemory policy is selected")
        info = await c.send(cmd("INFO", "memory"))
        assert b"maxmemory_policy:allkeys-lfu" in info and b"mem_fragmentation_ratio:" in info
        assert b"evicted_keys:" in await c.send(cmd("INFO", "stats"))
    run(go())


def test_a_pipeline_of_gets_read_together_answers_each_as_a_lone_get(service):
    """GETs served in one read (Service.gets of a burst): values, misses, WRONGTYPE and an
    expired key answer as one at a time would, in order, and each is counted."""
    async def go():
        c = Client(service)
        assert await c.send(cmd("SET", "a", "1") + cmd("HSET", "h", "f", "v") + cmd("SET", "gone", "x", "PX", "1")
                            ) == b"+OK\r\n:1\r\n+OK\r\n"
        service.skew_ms = 10   # "gone" has expired
        gets = [cmd("GET", k) for k in ("a", "missing", "h", "gone", "a")]
        one_by_one = [await c.send(g) for g in gets]
        assert one_by_one == [b"$1\r\n1\r\n", b"$-1\r\n", b"-WRONGTYPE Operation against a key holding the wrong kind "
                              b"of value\r\n", b"$-1\r\n", b"$1\r\n1\r\n"]
        assert await c.send(b"".join(gets)) == b"".join(one_by_one)
        stats = (await c.send(cmd("INFO", "commandstats"))).decode()
        assert "cmdstat_get:calls=10," in stats and "failed_calls=2" in stats
        # more GETs than one burst takes (session.MAX_READS_IN_FLIGHT), and GETs behind a write
        assert await c.send(b"".join(gets * 8)) == b"".join(one_by_one * 8)
        assert await c.send(cmd("SET", "a", "2") + b"".join(gets[:2])) == b"+OK\r\n$1\r\n2\r\n$-1\r\n"
        c.conn.data_received(cmd("SET", "a", "3"))
        assert c.conn.task is not None            # the write is in flight: the GETs wait behind it
        c.conn.data_received(b"".join(gets[:2]))
        assert await c.send(b"") == b"+OK\r\n$1\r\n3\r\n$-1\r\n"
    run(go())


def test_a_value_sent_apart_from_its_header_is_never_run_as_commands(service):
    """A client (redis-py does it past 6,000 bytes) may send a command's value in its own write:
    when that value looks like RESP commands it is still the value, not commands to run."""
    async def go():
        c = Client(service)
        value = cmd("SET", "victim", "injected")
        assert await c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % len(value)) == b""
        assert await c.send(value) == b""
        assert await c.send(b"\r\n") == b"+OK\r\n"
        assert await c.send(cmd("GET", "k")) == b"$%d\r\n%s\r\n" % (len(value), value)
        assert await c.send(cmd("EXISTS", "victim")) == b":0\r\n"
    run(go())


_ELEMENTS = st.one_of(
    st.binary(max_size=40), st.binary(min_size=1020, max_size=1030), st.builds(bytearray, st.binary(max_size=8)),
    st.builds(DoubleText, st.sampled_from([b"1.5", b"inf"])), st.builds(Verbatim, st.binary(max_size=8)),
    st.integers(-5, 5), st.none(), st.text(max_size=5), st.lists(st.binary(max_size=4), max_size=3))


_PLAIN_ELEMENTS = st.one_of(st.binary(max_size=40), st.builds(bytearray, st.binary(max_size=8)))
#: mostly plain bytes (the one-join path), at times one element of another kind among them
_AGGREGATES = st.one_of(
    st.lists(_ELEMENTS, max_size=40),
    st.lists(_PLAIN_ELEMENTS, max_size=40),
    st.tuples(st.lists(_PLAIN_ELEMENTS, min_size=9, max_size=40), _ELEMENTS, st.integers(0, 40)).map(
        lambda t: t[0][:t[2]] + [t[1]] + t[0][t[2]:]))


@given(_AGGREGATES, st.sampled_from([2, 3]))
def test_an_aggregate_is_encoded_as_its_elements_one_by_one(items, proto):
    """Arrays and sets of many elements are encoded in one join when every element is plain
    bytes, maps pair by pair: byte for byte what encoding each element alone gives, in both
    protocols."""
    one_by_one = b"".join(encode(item, proto) for item in items)
    assert encode(items, proto) == b"*%d\r\n" % len(items) + one_by_one
    assert encode(RespSet(items), proto) == (b"~" if proto == 3 else b"*") + b"%d\r\n" % len(items) + one_by_one
    pairs = RespMap(zip(items[::2], items[1::2]))
    flat = b"".join(encode(k, proto) + encode(v, proto) for k, v in pairs)
    head = b"%%%d\r\n" % len(pairs) if proto == 3 else b"*%d\r\n" % (2 * len(pairs))
    assert encode(pairs, proto) == head + flat


def test_an_integer_past_64_bits_is_sent_as_redis_long_long():
    """A stream's delivery count can pass 2^63 (XCLAIM's RETRYCOUNT): Redis replies it as its
    long long, never as a RESP integer no client can read."""
    assert encode(1 << 63, 2) == b":-9223372036854775808\r\n"
    assert encode((1 << 64) + 5, 3) == b":5\r\n"
    assert encode([-(1 << 63), (1 << 63) - 1], 2) == b"*2\r\n:-9223372036854775808\r\n:9223372036854775807\r\n"
