"""memcached front end: raw bytes in, raw bytes out, no sockets.

The protocol object gets a fake transport (httpcore's mock-stream style) and
the `FakeService` of resp_fakes.py, whose execute() applies commands to a real
StateMachine + Keyspace in a temporary directory, numbering log entries itself (no Raft).
Expected replies follow memcached 1.6's protocol.txt and, for bad input, what
a real memcached 1.6.18 answered to the same bytes.
"""

from __future__ import annotations

import asyncio
import base64
import time

import pytest

from raftcache.node import commands
from raftcache.node.commands import memcache_ops, statemachine, strings
from raftcache.node.config import FrontendConfig
from raftcache.node.frontends import memcache
from raftcache.node.frontends.memcache import MemcacheProtocol, ServerState
from raftcache.node.service.identity import Identity
from raftcache.node.service.service import ReadConsistency
from raftcache.proto import commands_pb2 as pb


class FakeTransport:
    def __init__(self):
        self.data = bytearray()
        self.closed = False
        self.paused = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.data += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def get_extra_info(self, name, default=None):
        return default


@pytest.fixture(autouse=True)
def _merged_handlers(monkeypatch):
    # The state machine dispatches over strings' table plus the memcached
    # handlers (node/commands/memcache_ops.py docstring); patch it in until it does.
    merged = {**strings.HANDLERS, **memcache_ops.HANDLERS}
    if statemachine.HANDLERS.get("set") is not memcache_ops.HANDLERS["set"]:
        monkeypatch.setattr(statemachine, "HANDLERS", merged)


class Client:
    def __init__(self, state: ServerState):
        self.transport = FakeTransport()
        self.proto = MemcacheProtocol(state)
        self.proto.connection_made(self.transport)

    async def send(self, data: bytes) -> bytes:
        """Feed `data` and return every reply byte written in response."""
        start = len(self.transport.data)
        self.proto.data_received(data)
        await self.proto.wait_idle()
        return bytes(self.transport.data[start:])


@pytest.fixture
def state(service):
    return ServerState(service, FrontendConfig(memcached_item_size_max_bytes=4096), 11211)


@pytest.fixture
def client(state):
    return Client(state)



# The tests are async; each builds its client inside the running loop.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def mc(state, *exchanges):
    """Run (request, expected reply) pairs on one connection; returns the client."""
    async def go():
        c = Client(state)
        for request, expected in exchanges:
            got = await c.send(request)
            assert got == expected, f"{request!r}: got {got!r}, want {expected!r}"
        return c
    return asyncio.run(go())


def cas_of(reply: bytes) -> int:
    return int(reply.split(b"\r\n")[0].split()[4])


# ------------------------------------------------------------------ storage and retrieval

def test_set_get_with_flags(state):
    mc(state,
       (b"set a 5 0 3\r\nabc\r\n", b"STORED\r\n"),
       (b"get a\r\n", b"VALUE a 5 3\r\nabc\r\nEND\r\n"),
       (b"get a missing a\r\n", b"VALUE a 5 3\r\nabc\r\nVALUE a 5 3\r\nabc\r\nEND\r\n"),
       (b"set a 4294967295 0 0\r\n\r\n", b"STORED\r\n"),
       (b"get a\r\n", b"VALUE a 4294967295 0\r\n\r\nEND\r\n"),
       (b"set bin 0 0 4\r\n\r\n\x00\n\r\n", b"STORED\r\n"),
       (b"get bin\r\n", b"VALUE bin 0 4\r\n\r\n\x00\n\r\nEND\r\n"))


def test_add_replace_append_prepend(state):
    mc(state,
       (b"add k 0 0 1\r\nx\r\n", b"STORED\r\n"),
       (b"add k 0 0 1\r\ny\r\n", b"NOT_STORED\r\n"),
       (b"replace nope 0 0 1\r\nx\r\n", b"NOT_STORED\r\n"),
       (b"replace k 0 0 1\r\nz\r\n", b"STORED\r\n"),
       (b"append k 9 9 2\r\n>>\r\n", b"STORED\r\n"),
       (b"prepend k 9 9 2\r\n<<\r\n", b"STORED\r\n"),
       (b"append nope 0 0 1\r\nx\r\n", b"NOT_STORED\r\n"),
       (b"prepend nope 0 0 1\r\nx\r\n", b"NOT_STORED\r\n"),
       (b"get k\r\n", b"VALUE k 0 5\r\n<<z>>\r\nEND\r\n"))


def test_cas(state):
    async def go():
        c = Client(state)
        assert await c.send(b"cas k 0 0 1 1\r\nx\r\n") == b"NOT_FOUND\r\n"
        await c.send(b"set k 0 0 1\r\nx\r\n")
        unique = cas_of(await c.send(b"gets k\r\n"))
        assert await c.send(b"cas k 0 0 1 %d\r\ny\r\n" % (unique + 7)) == b"EXISTS\r\n"
        assert await c.send(b"cas k 0 0 1 %d\r\ny\r\n" % unique) == b"STORED\r\n"
        assert await c.send(b"cas k 0 0 1 %d\r\nz\r\n" % unique) == b"EXISTS\r\n"
        reply = await c.send(b"gets k\r\n")
        assert reply.startswith(b"VALUE k 0 1 ") and reply.endswith(b"\r\ny\r\nEND\r\n")
        assert cas_of(reply) > unique
        # touch keeps the CAS unique, as memcached's does
        assert await c.send(b"touch k 100\r\n") == b"TOUCHED\r\n"
        assert cas_of(await c.send(b"gets k\r\n")) == cas_of(reply)
        assert await c.send(b"cas k 0 0 1 %d noreply\r\nw\r\n" % cas_of(reply)) == b""
        assert await c.send(b"get k\r\n") == b"VALUE k 0 1\r\nw\r\nEND\r\n"
    asyncio.run(go())


def test_incr_decr(state):
    mc(state,
       (b"incr n 1\r\n", b"NOT_FOUND\r\n"),
       (b"set n 0 0 2\r\n10\r\n", b"STORED\r\n"),
       (b"incr n 5\r\n", b"15\r\n"),
       (b"decr n 100\r\n", b"0\r\n"),
       (b"incr n 18446744073709551615\r\n", b"18446744073709551615\r\n"),
       (b"incr n 2\r\n", b"1\r\n"),
       (b"incr n abc\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\n"),
       (b"incr n -1\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\n"),
       (b"incr n 18446744073709551616\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\n"),
       (b"incr n 1 noreply\r\n", b""),
       (b"get n\r\n", b"VALUE n 0 1\r\n2\r\nEND\r\n"),
       (b"set t 0 0 3\r\nabc\r\n", b"STORED\r\n"),
       (b"incr t 1\r\n", b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
       (b"incr\r\n", b"ERROR\r\n"))


def test_delete_touch_gat(state):
    async def go():
        c = Client(state)
        await c.send(b"set k 0 0 1\r\nx\r\n")
        assert await c.send(b"touch k 10\r\ntouch zz 10\r\ntouch k abc\r\n") == \
            b"TOUCHED\r\nNOT_FOUND\r\nCLIENT_ERROR invalid exptime argument\r\n"
        assert await c.send(b"gat 100 k zz\r\n") == b"VALUE k 0 1\r\nx\r\nEND\r\n"
        reply = await c.send(b"gats 0 k\r\n")
        assert reply.startswith(b"VALUE k 0 1 ") and reply.endswith(b"\r\nx\r\nEND\r\n")
        assert await c.send(b"gat abc k\r\ngat 10\r\n") == b"CLIENT_ERROR invalid exptime argument\r\nERROR\r\n"
        assert await c.send(b"delete k 5\r\n") == \
            b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
        assert await c.send(b"delete k\r\ndelete k\r\ndelete k 0\r\ndelete k noreply\r\ndelete\r\n") == \
            b"DELETED\r\nNOT_FOUND\r\nNOT_FOUND\r\nERROR\r\n"
    asyncio.run(go())


def test_expiry_rules(state, service):
    async def go():
        c = Client(state)
        now = int(time.time())
        assert await c.send(b"set never 0 0 1\r\nx\r\nset rel 0 100 1\r\nx\r\n") == b"STORED\r\nSTORED\r\n"
        assert await c.send(b"set abs 0 %d 1\r\nx\r\n" % (now + 100)) == b"STORED\r\n"
        assert await c.send(b"set past 0 %d 1\r\nx\r\n" % (now - 100)) == b"STORED\r\n"
        assert await c.send(b"set neg 0 -1 1\r\nx\r\n") == b"STORED\r\n"
        assert await c.send(b"get never rel abs past neg\r\n") == \
            b"VALUE never 0 1\r\nx\r\nVALUE rel 0 1\r\nx\r\nVALUE abs 0 1\r\nx\r\nEND\r\n"
        t = await c.send(b"mg rel t\r\nmg abs t\r\nmg never t\r\n")
        lines = t.split(b"\r\n")
        assert 99 <= int(lines[0][4:]) <= 100 and 99 <= int(lines[1][4:]) <= 100 and lines[2] == b"HD t-1"
        service.skew_ms = 101_000           # 101 s later
        assert await c.send(b"get never rel abs\r\n") == b"VALUE never 0 1\r\nx\r\nEND\r\n"
        # a negative touch expires the item
        assert await c.send(b"touch never -1\r\nget never\r\n") == b"TOUCHED\r\nEND\r\n"
    asyncio.run(go())


def test_noreply_everywhere(state):
    mc(state,
       (b"set a 0 0 1 noreply\r\nx\r\nadd a 0 0 1 noreply\r\ny\r\nreplace a 0 0 1 noreply\r\nz\r\n"
        b"append a 0 0 1 noreply\r\n1\r\nprepend a 0 0 1 noreply\r\n0\r\nincr a 1 noreply\r\nset a 0 0 1 noreply\r\nxyz\r\n"
        b"delete a 5 noreply\r\nset a 0 0 abc noreply\r\n"
        b"touch a 0 noreply\r\nverbosity 1 noreply\r\nflush_all noreply\r\nset b 0 0 1 noreply\r\nq\r\n"
        b"delete b noreply\r\nmn\r\n", b"ERROR\r\nMN\r\n"),
       (b"get a b\r\n", b"END\r\n"))


def test_flush_all(state):
    async def go():
        c = Client(state)
        await c.send(b"set a 0 0 1\r\nx\r\n")
        assert await c.send(b"flush_all\r\nget a\r\n") == b"OK\r\nEND\r\n"
        await c.send(b"set a 0 0 1\r\nx\r\n")
        assert await c.send(b"flush_all 1\r\nget a\r\n") == b"OK\r\nVALUE a 0 1\r\nx\r\nEND\r\n"
        deadline = time.monotonic() + 5
        while await c.send(b"get a\r\n") != b"END\r\n":
            assert time.monotonic() < deadline, "delayed flush_all never ran"
            await asyncio.sleep(0.05)
        assert await c.send(b"flush_all x\r\nflush_all -1\r\n") == b"CLIENT_ERROR invalid exptime argument\r\nOK\r\n"
    asyncio.run(go())


def test_misc_commands(state):
    async def go():
        c = Client(state)
        assert (await c.send(b"version\r\n")).startswith(b"VERSION 1.6")
        assert await c.send(b"verbosity\r\nverbosity 1\r\nverbosity x\r\n") == \
            b"ERROR\r\nOK\r\nCLIENT_ERROR bad command line format\r\n"
        stats = await c.send(b"stats\r\n")
        assert stats.startswith(b"STAT pid ") and b"STAT curr_connections 1\r\n" in stats and stats.endswith(b"END\r\n")
        assert b"STAT item_size_max 4096\r\n" in await c.send(b"stats settings\r\n")
        assert (await c.send(b"stats items\r\n")).startswith(b"STAT items:1:number ")
        assert await c.send(b"stats nonsense\r\n") == b"ERROR\r\n"
        assert await c.send(b"quit\r\nversion\r\n") == b""
        assert c.transport.closed
    asyncio.run(go())


# ------------------------------------------------------------------ bad input

def test_bad_input_matches_memcached(state):
    long_key = b"k" * 251
    mc(state,
       (b"set a 0 0 1\r\nx\r\n", b"STORED\r\n"),
       # a data block longer than declared: bad data chunk, then the rest is a line
       (b"set a 0 0 1\r\nxyz\r\nget a\r\n", b"CLIENT_ERROR bad data chunk\r\nERROR\r\nVALUE a 0 1\r\nx\r\nEND\r\n"),
       (b"bogus\r\n\r\nGET a\r\n", b"ERROR\r\nERROR\r\nERROR\r\n"),
       (b"set a 0 0 abc\r\nx\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
       (b"set a 0 0 -1\r\nget a\r\n", b"CLIENT_ERROR bad command line format\r\nVALUE a 0 1\r\nx\r\nEND\r\n"),
       (b"set a 4294967296 0 1\r\nx\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
       (b"set " + long_key + b" 0 0 1\r\nx\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
       (b"get " + long_key + b"\r\n", b"CLIENT_ERROR bad command line format\r\n"),
       (b"set a\x01b 0 0 1\r\nx\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
       (b"set a 0 0\r\nget\r\n", b"ERROR\r\nERROR\r\n"),
       (b"cas a 0 0 1\r\nx\r\n", b"ERROR\r\nERROR\r\n"),
       (b"cas a 0 0 1 abc\r\nx\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
       (b"get a\n", b"VALUE a 0 1\r\nx\r\nEND\r\n"))


def test_too_large_value_is_swallowed(state):
    async def go():
        c = Client(state)
        await c.send(b"set a 0 0 1\r\nx\r\n")
        big = b"y" * 5000
        # the block arrives in pieces; none of it may be read as commands
        assert await c.send(b"set a 0 0 5000\r\n" + big[:100]) == b"SERVER_ERROR object too large for cache\r\n"
        assert await c.send(big[100:4000]) == b""
        assert await c.send(big[4000:] + b"\r\nget a\r\n") == b"VALUE a 0 1\r\nx\r\nEND\r\n"
        assert await c.send(b"ms a 5000 T0\r\n" + big + b"\r\nmn\r\n") == \
            b"SERVER_ERROR object too large for cache\r\nMN\r\n"
        # a huge declared length is swallowed, not buffered
        assert await c.send(b"set a 0 0 2000000000\r\n" + b"z" * 10000) == b"SERVER_ERROR object too large for cache\r\n"
        assert c.proto._swallow > 0 and len(c.proto._buf) == 0
        c = Client(state)
        assert await c.send(b"set a 0 0 5000 noreply\r\n" + big + b"\r\nmn\r\n") == b"MN\r\n"
    asyncio.run(go())


def test_truncated_block_waits_then_completes(state):
    async def go():
        c = Client(state)
        assert await c.send(b"set a 0 0 10\r\n01234") == b""
        assert await c.send(b"56789\r") == b""
        assert await c.send(b"\nget a\r\n") == b"STORED\r\nVALUE a 0 10\r\n0123456789\r\nEND\r\n"
    asyncio.run(go())


def test_long_line_without_newline_closes(state):
    async def go():
        c = Client(state)
        assert await c.send(b"x" * 3000) == b""
        assert c.transport.closed
        c2 = Client(state)
        assert await c2.send(b"x" * 3000 + b"\r\nversion\r\n") == b"ERROR\r\nVERSION 1.6.21\r\n"
    asyncio.run(go())


def test_random_garbage_keeps_data(state):
    import random
    rng = random.Random(6)

    async def go():
        good = Client(state)
        await good.send(b"set keep 0 0 4\r\ndata\r\n")
        for _ in range(200):
            c = Client(state)
            junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600)))
            await c.send(junk)
        assert await good.send(b"get keep\r\n") == b"VALUE keep 0 4\r\ndata\r\nEND\r\n"
    asyncio.run(go())


def test_pipelining_answers_in_order(state):
    requests = b"".join(b"set k%d 0 0 %d\r\n%d\r\n" % (i, len(b"%d" % i), i) for i in range(200))
    requests += b"".join(b"get k%d\r\n" % i for i in range(200))
    expected = b"STORED\r\n" * 200 + b"".join(
        b"VALUE k%d 0 %d\r\n%d\r\nEND\r\n" % (i, len(b"%d" % i), i) for i in range(200))

    async def go():
        c = Client(state)
        got = bytearray()
        for i in range(0, len(requests), 7):       # awkward chunk boundaries
            got += await c.send(requests[i:i + 7])
        assert bytes(got) == expected
    asyncio.run(go())


# ------------------------------------------------------------------ meta protocol

def test_meta_get_set(state):
    async def go():
        c = Client(state)
        reply = await c.send(b"ms m 2 T0 F5 c\r\nhi\r\n")
        assert reply.startswith(b"HD c")
        cas = int(reply[4:-2])
        assert await c.send(b"mg m v f c s t k O123 h l\r\n") == \
            b"VA 2 f5 c%d s2 t-1 km O123 h0 l0\r\nhi\r\n" % cas
        assert await c.send(b"mg m\r\nmg zz v\r\nmg zz v q\r\nmg m q\r\nmn\r\n") == b"HD\r\nEN\r\nHD\r\nMN\r\n"
        assert await c.send(b"ms m 2 MX\r\nhi\r\nmg m Zx\r\n") == \
            b"CLIENT_ERROR invalid mode for ms M token\r\nCLIENT_ERROR invalid flag\r\n"
        assert await c.send(b"mg m v O" + b"o" * 33 + b"\r\n") == b"CLIENT_ERROR opaque token too long\r\n"
        assert await c.send(b"ms m S2\r\nhi\r\nms m\r\nmg\r\nmd\r\nma\r\n") == \
            b"CLIENT_ERROR bad command line format\r\nERROR\r\nCLIENT_ERROR bad command line format\r\n" \
            b"ERROR\r\nERROR\r\nERROR\r\n"
        assert await c.send(b"ms m 3\r\nhi\r\nmg m v\r\n") == b"CLIENT_ERROR bad data chunk\r\nERROR\r\n"
        assert await c.send(b"mg m v c T30 t\r\n") == b"VA 2 c%d t30\r\nhi\r\n" % cas
    asyncio.run(go())


def test_meta_set_modes_and_cas(state):
    async def go():
        c = Client(state)
        assert await c.send(b"ms m 2 q\r\nhi\r\nms m 2 q ME\r\nhi\r\nmn\r\n") == b"NS\r\nMN\r\n"
        assert await c.send(b"ms m 1 MA\r\n>\r\nms m 1 MP\r\n<\r\nmg m v\r\n") == b"HD\r\nHD\r\nVA 4\r\n<hi>\r\n"
        assert await c.send(b"ms nope 1 MR\r\nx\r\nms nope 1 MA\r\nx\r\n") == b"NS\r\nNS\r\n"
        cas = int((await c.send(b"mg m c\r\n"))[4:-2])
        assert await c.send(b"ms m 1 C%d\r\nx\r\n" % (cas + 1)) == b"EX\r\n"
        assert (await c.send(b"ms m 1 C%d c\r\nx\r\n" % cas)).startswith(b"HD c")
        assert await c.send(b"ms nope 1 C5\r\nx\r\n") == b"NF\r\n"
        assert await c.send(b"ms m 2 F4294967296\r\nhi\r\nmn\r\n") == b"CLIENT_ERROR bad token in command line format\r\nMN\r\n"
    asyncio.run(go())


def test_meta_delete_and_arithmetic(state):
    async def go():
        c = Client(state)
        assert await c.send(b"md zz q\r\nms m 1\r\nx\r\nmd m q\r\nmd m\r\nmn\r\n") == b"NF\r\nHD\r\nNF\r\nMN\r\n"
        await c.send(b"ms m 1\r\nx\r\n")
        cas = int((await c.send(b"mg m c\r\n"))[4:-2])
        assert await c.send(b"md m C%d Oab k\r\n" % (cas + 1)) == b"EX Oab km\r\n"
        assert await c.send(b"md m C%d\r\nmg m\r\n" % cas) == b"HD\r\nEN\r\n"
        assert await c.send(b"ma zz\r\nma zz N0 J10 v\r\nma zz v\r\n") == b"NF\r\nVA 2\r\n10\r\nVA 2\r\n11\r\n"
        reply = await c.send(b"ma zz MD D100 v t c\r\n")
        assert reply.startswith(b"VA 1 t-1 c") and reply.endswith(b"\r\n0\r\n")
        assert await c.send(b"ms t 1\r\nx\r\nma t\r\n") == \
            b"HD\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
        assert await c.send(b"ma zz Dabc\r\nma zz MX\r\n") == \
            b"CLIENT_ERROR invalid numeric delta argument\r\nCLIENT_ERROR invalid mode for ma M token\r\n"
        cas = int((await c.send(b"mg zz c\r\n"))[4:-2])
        assert await c.send(b"ma zz C%d D5 v\r\nma zz C%d v\r\n" % (cas, cas)) == b"VA 1\r\n5\r\nEX\r\n"
        assert await c.send(b"ma zz q\r\nmg zz v\r\n") == b"VA 1\r\n6\r\n"
    asyncio.run(go())


def test_meta_base64_vivify_and_debug(state):
    async def go():
        c = Client(state)
        key = base64.b64encode(b"bin\x00key")
        assert await c.send(b"ms %s 2 b\r\nhi\r\n" % key) == b"HD\r\n"
        assert await c.send(b"mg %s b k v\r\n" % key) == b"VA 2 k%s b\r\nhi\r\n" % key
        assert await c.send(b"mg !!! b v\r\n") == b"CLIENT_ERROR error decoding key\r\n"
        reply = await c.send(b"me %s b\r\n" % key)
        assert reply.startswith(b"ME %s exp=-1 la=0 cas=" % key)
        assert await c.send(b"me nope\r\n") == b"EN\r\n"
        reply = await c.send(b"mg viv N30 v c t\r\n")
        assert reply.startswith(b"VA 0 c") and b" W\r\n" in reply
        again = await c.send(b"mg viv N30 v\r\n")
        assert again == b"VA 0 Z\r\n\r\n"   # a win was sent: the others see Z
        assert await c.send(b"mg x v P/foo L/bar E5 u\r\n") == b"EN\r\n"
    asyncio.run(go())


def test_consistency_knobs(state, service):
    async def go():
        c = Client(state)
        assert await c.send(b"consistency\r\n") == b"CONSISTENCY default\r\n"
        service.consistencies.clear()
        await c.send(b"get a\r\n")
        assert service.consistencies == [None]
        assert await c.send(b"consistency any\r\nconsistency\r\n") == b"OK\r\nCONSISTENCY any\r\n"
        service.consistencies.clear()
        await c.send(b"get a\r\nmg a v Q\r\nmg a v Qbounded:250\r\n")
        assert service.consistencies == [ReadConsistency("any"), ReadConsistency("linearizable"),
                                         ReadConsistency("bounded", bound_ms=250)]
        bad = (b"CLIENT_ERROR unknown read level 'bogus': use linearizable, lease, bounded:<ms>, any, "
               b"min_index:<n> or default\r\n")
        assert await c.send(b"consistency bogus\r\nmg a Qbogus\r\n") == bad + bad
        assert await c.send(b"consistency bounded 100\r\nconsistency\r\n") == b"OK\r\nCONSISTENCY bounded:100\r\n"
        assert await c.send(b"consistency default\r\nconsistency\r\n") == b"OK\r\nCONSISTENCY default\r\n"
    asyncio.run(go())


def test_service_errors_become_server_errors(state, service):
    from raftcache.node.errors import UnavailableError

    async def failing(*args, **kwargs):
        raise UnavailableError("no leader")

    def failing_write(*args, **kwargs):
        fut = asyncio.get_running_loop().create_future()
        fut.set_exception(UnavailableError("no leader"))
        return fut, False

    async def go():
        c = Client(state)
        service.execute = failing
        service.start_write = failing_write
        assert await c.send(b"get a\r\nset a 0 0 1\r\nx\r\n") == \
            b"SERVER_ERROR unavailable: no leader\r\nSERVER_ERROR unavailable: no leader\r\n"
    asyncio.run(go())


def test_shared_keyspace_with_redis_types(state, service):
    from raftcache.proto import commands_pb2 as pb

    async def go():
        c = Client(state)
        await c.send(b"set s 3 0 2\r\n12\r\n")
        assert await service.execute(pb.Command(db=0, get=pb.Get(key=b"s"))) == (b"12", service.index)
        result, _ = await service.execute(pb.Command(db=0, set=pb.Set(key=b"r", value=b"from-redis")))
        assert await c.send(b"get r\r\n") == b"VALUE r 0 10\r\nfrom-redis\r\nEND\r\n"
    asyncio.run(go())


def test_pipelined_sets_on_the_leader_overlap_and_are_answered_in_order(service, state):
    """On the leader, a pipeline of set/add/replace/cas is proposed back to back
    (one Raft round for all, not one each); replies keep the request order, a
    get waits for the writes before it, append runs alone."""
    running, most = 0, 0
    execute = service.execute

    async def slow_execute(command, consistency=None, client_id="", sequence=0, floor=0):
        nonlocal running, most
        if not commands.is_read(command):
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.01)  # the commit round trip
            running -= 1
        return await execute(command, consistency, client_id, sequence, floor)

    start_write = service.start_write

    def slow_start_write(command, client_id="", sequence=0, forward=True):
        """A proposal whose commit takes a round trip: its future completes later."""
        nonlocal running, most
        running += 1
        most = max(most, running)
        done, _ = start_write(command, client_id, sequence, forward)
        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def commit() -> None:
            nonlocal running
            running -= 1
            fut.set_result(done.result())

        loop.call_later(0.01, commit)
        return fut, True

    service.execute = slow_execute
    service.start_write = slow_start_write
    sets = b"".join(b"set k%d 0 0 2\r\n%02d\r\n" % (i, i) for i in range(20))

    async def go():
        c = Client(state)
        reply = await c.send(sets + b"add k0 0 0 1\r\nx\r\nget k19\r\nappend k19 0 0 1\r\n!\r\nget k19\r\n")
        assert reply == b"STORED\r\n" * 20 + b"NOT_STORED\r\n" + b"VALUE k19 0 2\r\n19\r\nEND\r\n" \
            + b"STORED\r\n" + b"VALUE k19 0 3\r\n19!\r\nEND\r\n"
        assert most == 21, "the sets and the add were in flight together"
        assert await c.send(b"set n 0 0 1 noreply\r\n1\r\nset n 0 0 1 noreply\r\n2\r\nget n\r\n") == \
            b"VALUE n 0 1\r\n2\r\nEND\r\n"

    asyncio.run(go())


def test_get_key_count_and_line_length_are_capped(state):
    async def go():
        c = Client(state)
        keys = b" ".join(b"k%d" % i for i in range(memcache.GET_MAX_KEYS + 1))
        assert await c.send(b"get " + keys + b"\r\nversion\r\n") == memcache.TOO_MANY_KEYS + b"VERSION 1.6.21\r\n"
        assert await c.send(b"gats 10 " + keys + b"\r\n") == memcache.TOO_MANY_KEYS
        c2 = Client(state)
        assert await c2.send(b"get " + b"k " * (memcache.GET_LINE_MAX_BYTES // 2)) == memcache.LINE_TOO_LONG
        assert c2.transport.closed
    asyncio.run(go())


def test_a_get_of_many_keys_streams_every_value_in_order(state):
    async def go():
        c = Client(state)
        for i in range(0, 250, 2):
            assert await c.send(b"set k%d %d 0 %d\r\n%s\r\n" % (i, i, len(b"v%d" % i), b"v%d" % i)) == b"STORED\r\n"
        reply = await c.send(b"get " + b" ".join(b"k%d" % i for i in range(250)) + b"\r\n")
        expected = b"".join(b"VALUE k%d %d %d\r\nv%d\r\n" % (i, i, len(b"v%d" % i), i) for i in range(0, 250, 2))
        assert reply == expected + b"END\r\n"
    asyncio.run(go())


def test_huge_exptimes_do_not_drop_the_connection(state):
    """Found by tests/fuzz: an absolute exptime whose milliseconds do not fit an int64
    (touch k 9223372036854775807) raised ValueError in expiry() and closed the connection;
    a 19-digit exptime beyond int64 was accepted by parse_int."""
    mc(state,
       (b"set k 0 0 1\r\nx\r\n", b"STORED\r\n"),
       (b"touch k 9223372036854775807\r\n", b"TOUCHED\r\n"),
       (b"gat 9223372036854775807 k\r\n", b"VALUE k 0 1\r\nx\r\nEND\r\n"),
       (b"set j 0 9223372036854775807 1\r\ny\r\nget j\r\n", b"STORED\r\nVALUE j 0 1\r\ny\r\nEND\r\n"),
       (b"ms j 1 T9223372036854775807\r\nz\r\nmg j v\r\n", b"HD\r\nVA 1\r\nz\r\n"),
       (b"touch k 9999999999999999999\r\n", b"CLIENT_ERROR invalid exptime argument\r\n"),
       (b"get k\r\n", b"VALUE k 0 1\r\nx\r\nEND\r\n"))


# ---------------------------------------------------------------- anti-stampede flags, stats, eviction mode

def test_recache_hands_one_win_then_z_until_the_item_is_replaced(state):
    async def go():
        c = Client(state)
        assert await c.send(b"ms k 1 T100\r\nv\r\n") == b"HD\r\n"
        assert await c.send(b"mg k v R30\r\n") == b"VA 1\r\nv\r\n"        # 100 s left: no win
        assert await c.send(b"mg k v R300\r\n") == b"VA 1 W\r\nv\r\n"
        assert await c.send(b"mg k v R300\r\nmg k s\r\n") == b"VA 1 Z\r\nv\r\nHD s1 Z\r\n"
        assert await c.send(b"ms k 2\r\nv2\r\nmg k v R300\r\n") == b"HD\r\nVA 2\r\nv2\r\n"   # replaced
    asyncio.run(go())


def test_invalidate_marks_stale_and_the_next_reader_alone_wins(state):
    async def go():
        c = Client(state)
        assert await c.send(b"ms k 1\r\nv\r\n") == b"HD\r\n"
        cas = int((await c.send(b"mg k c\r\n"))[4:-2])
        assert await c.send(b"md k I T30\r\n") == b"HD\r\n"
        reply = await c.send(b"mg k c t v\r\n")
        new_cas = int(reply.split(b" ")[2][1:])
        assert new_cas > cas and reply.endswith(b" t30 X W\r\nv\r\n")
        assert (await c.send(b"mg k v\r\n")) == b"VA 1 Z X\r\nv\r\n"
        # a late set with the old CAS is stored, stale; one with the current CAS is a fresh item
        assert await c.send(b"ms k 4 C%d I\r\nlate\r\n" % cas) == b"HD\r\n"
        assert await c.send(b"mg k v\r\n") == b"VA 4 Z X\r\nlate\r\n"
        cas = int((await c.send(b"mg k c\r\n")).split(b" ")[1][1:])
        assert await c.send(b"ms k 5 C%d I s\r\nfresh\r\n" % cas) == b"HD s5\r\n"
        assert await c.send(b"mg k v\r\n") == b"VA 5\r\nfresh\r\n"
        assert await c.send(b"md nope I\r\n") == b"NF\r\n"
    asyncio.run(go())


def test_ms_s_returns_the_size_stored_and_the_new_size_on_append(state):
    mc(state, (b"ms k 3 s\r\nabc\r\n", b"HD s3\r\n"), (b"ms k 2 MA s\r\nde\r\n", b"HD s5\r\n"))


def test_an_http_request_line_closes_the_connection_unanswered(state):
    async def go():
        c = Client(state)
        assert await c.send(b"get a\r\nGET / HTTP/1.0\r\nget b\r\n") == b"END\r\n"
        assert c.transport.closed
    asyncio.run(go())


def test_malformed_numbers_get_memcacheds_replies(state):
    mc(state,
       (b"set k abc 0 1\r\n", b"CLIENT_ERROR bad command line format\r\n"),
       (b"x\r\n", b"ERROR\r\n"),
       (b"set k 0 0 1x\r\n", b"CLIENT_ERROR bad command line format\r\n"),
       (b"incr k 1a\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\n"),
       (b"touch k 1a\r\n", b"CLIENT_ERROR invalid exptime argument\r\n"))


def test_stats_count_items_stored_and_report_evictions_and_the_limit(state, service):
    async def go():
        c = Client(state)
        await c.send(b"set a 0 0 1\r\nx\r\nset b 0 0 1\r\ny\r\nadd a 0 0 1\r\nz\r\nms c 1\r\nw\r\n")
        stats = await c.send(b"stats\r\n")
        assert b"STAT total_items 3\r\n" in stats and b"STAT curr_items 3\r\n" in stats
        assert b"STAT evictions 0\r\n" in stats and b"STAT limit_maxbytes %d\r\n" % (64 << 20) in stats
        assert b"STAT evictions on\r\n" in await c.send(b"stats settings\r\n")
        await c.send(b"stats reset\r\n")
        assert b"STAT total_items 0\r\n" in await c.send(b"stats\r\n")
    asyncio.run(go())


def test_writes_carry_the_ports_eviction_mode(service):
    for evictions, mode in ((True, pb.EVICT_LRU), (False, pb.EVICT_NEVER)):
        seen = []
        run = service._run

        def spy(command):
            seen.append(command.eviction)
            return run(command)

        service._run = spy
        s = ServerState(service, FrontendConfig(memcached_disable_evictions=not evictions), 11211)
        mc(s, (b"set a 0 0 1\r\nx\r\n", b"STORED\r\n"), (b"ms b 1\r\ny\r\n", b"HD\r\n"))
        assert seen == [mode, mode]
        assert (b"STAT evictions off\r\n" in asyncio.run(Client(s).send(b"stats settings\r\n"))) != evictions
        service._run = run


def test_tuning_commands_and_huge_lengths_answer_as_memcached(state):
    """What memcached 1.6.18 answered to the same bytes: a declared length past INT_MAX - 2
    is a bad line (the block is then read as commands, nothing is swallowed), and the
    sub-commands of slabs / lru / lru_crawler / stats detail / cache_memlimit."""
    mc(state,
       (b"set k 0 0 2147483647\r\nhello\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
       (b"set k 0 0 2147483646\r\nget k\r\n", b"CLIENT_ERROR bad command line format\r\nEND\r\n"),
       (b"slabs automove invalid\r\n", b"CLIENT_ERROR bad command line format\r\n"),
       (b"slabs automove 1\r\nslabs automove 3\r\nslabs automove 1 noreply\r\nslabs automove\r\n",
        b"OK\r\nERROR\r\nERROR\r\n"),
       (b"slabs reassign 1 2\r\nslabs reassign 1 1\r\nslabs reassign 1 40\r\nslabs reassign x 2\r\n",
        b"NOSPARE source class has no spare pages\r\nSAME src and dst class are identical\r\n"
        b"BADCLASS invalid src or dst class id\r\nCLIENT_ERROR bad command line format\r\n"),
       (b"slabs reassign 1 2 3\r\nslabs foo\r\nslabs\r\n", b"ERROR\r\nERROR\r\nERROR\r\n"),
       (b"lru tune 10 25 0.1 2\r\nlru mode segmented\r\nlru mode bogus\r\nlru temp_ttl 10\r\nlru bogus\r\n",
        b"OK\r\nOK\r\nERROR\r\nOK\r\nERROR\r\n"),
       (b"lru mode flat noreply\r\nlru tune 1 2\r\n", b"ERROR\r\n"),
       (b"lru_crawler crawl 1,2\r\nlru_crawler crawl x\r\nlru_crawler sleep 10\r\nlru_crawler sleep x\r\n",
        b"OK\r\nBADCLASS invalid class id\r\nOK\r\nCLIENT_ERROR bad command line format\r\n"),
       (b"lru_crawler sleep 2000000\r\nlru_crawler bogus 1\r\nlru_crawler\r\n",
        b"CLIENT_ERROR sleep must be one second or less\r\nERROR\r\nERROR\r\n"),
       (b"stats detail on\r\nstats detail dump\r\nstats detail bogus\r\n",
        b"OK\r\nEND\r\nCLIENT_ERROR usage: stats detail on|off|dump\r\n"),
       (b"cache_memlimit 100\r\ncache_memlimit 0\r\ncache_memlimit 100 noreply\r\nmn\r\n",
        b"OK\r\nMEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\nMN\r\n"))


# ---------------------------------------------------------------- authentication (memcached 1.6 -Y, ACL users)

@pytest.fixture
def locked(service):
    """A memcached port of a node whose default user needs a password, with a user `alice` who may
    read and write keys app:* (node/frontends/memcache_auth.py)."""
    from raftcache.node.commands import acl

    service.identity = Identity("s3cret", service.sm.users, {"acllog-max-len": "128", "requirepass": ""}.__getitem__)
    service.sm.on_users_change[:] = [service.identity.users_changed]
    set_user = commands.Command(acl_set_user=commands.pb.AclSetUser(
        name="alice", rules=acl.hash_rules([b"on", b">apw", b"~app:*", b"+@read", b"+@write", b"-flushdb"])))
    service._run(set_user)
    return ServerState(service, FrontendConfig(memcached_item_size_max_bytes=4096), 11211)


def test_nothing_but_auth_version_and_quit_before_authenticating(locked, service):
    mc(locked,
       (b"get app:1\r\n", b"CLIENT_ERROR unauthenticated\r\n"),
       (b"flush_all\r\n", b"CLIENT_ERROR unauthenticated\r\n"),
       (b"version\r\n", b"VERSION 1.6.21\r\n"),
       (b"set auth 0 0 11\r\nalice wrong\r\n", b"CLIENT_ERROR authentication failure\r\n"),
       (b"set auth 0 0 5\r\nalice\r\n", b"CLIENT_ERROR bad authentication token format\r\n"),
       (b"set auth 0 0 9\r\nalice apw\r\n", b"STORED\r\n"),
       (b"set app:1 0 0 1\r\nv\r\n", b"STORED\r\n"),
       (b"get app:1\r\n", b"VALUE app:1 0 1\r\nv\r\nEND\r\n"),
       (b"set other 0 0 1\r\nv\r\n", b"CLIENT_ERROR NOPERM No permissions to access a key\r\n"),
       (b"flush_all\r\n", b"CLIENT_ERROR NOPERM User alice has no permissions to run the 'flushdb' command\r\n"),
       (b"flush_all 60\r\n", b"CLIENT_ERROR NOPERM User alice has no permissions to run the 'flushdb' command\r\n"))
    with service.keyspace.reader() as txn:
        assert txn.get(0, b"other", 0) is None and txn.get(0, b"auth", 0) is None


def test_the_default_user_s_password_opens_the_port(locked):
    mc(locked,
       (b"set x 0 0 14\r\ndefault s3cret\r\n", b"STORED\r\n"),
       (b"set other 0 0 1\r\nv\r\n", b"STORED\r\n"))


def test_memcached_auth_can_be_turned_off(locked, service):
    open_state = ServerState(service, FrontendConfig(memcached_item_size_max_bytes=4096, memcached_auth="no"), 11211)
    mc(open_state, (b"set k 0 0 1\r\nv\r\n", b"STORED\r\n"))
