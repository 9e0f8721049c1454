"""The Redis port's GETs that join a read round (resp_gets.py): a follower at linearizable or
lease answers a GET once the round's read index is applied, from the round's completion, in
request order with the replies around it; a failed round's GETs take the ordinary path.

The service is resp_fakes.FakeService with Service.gets's three answers: keys starting with
`r` join a round that completes a moment later, `f` a round that fails, every other key is
served at once (a burst of GETs read together goes by its first key). The connection is the
real resp.Connection.
"""

from __future__ import annotations

import asyncio

import pytest

from raftcache.node.service import stream
from raftcache.node.service.service import NOT_NOW
from tests.unit.resp_fakes import Client, FakeService, cmd


class RoundService(FakeService):
    """FakeService whose GETs of `r…` / `f…` keys wait for a read round (module docstring)."""

    def __init__(self, path: str):
        super().__init__(path)
        self.rounds_started = 0

    def gets(self, db, keys, consistency=None, floor=0, done=None):
        kind = keys[0][:1]
        if kind not in (b"r", b"f"):
            return super().gets(db, keys, consistency, floor, done)
        if done is None:   # the client is not reading its replies: no round
            return NOT_NOW
        self.rounds_started += 1
        loop = asyncio.get_running_loop()
        handle = loop.create_future()

        def complete() -> None:
            if handle.done():   # cancelled: the connection went away
                return
            handle.set_result(None)
            done(None if kind == b"f" else (self.sm.get_strings(db, keys, self.now_ms()),))

        loop.call_later(0.001, complete)
        return handle


async def _settle(client: Client) -> bytes:
    """Everything the connection wrote once its round and command loop are done."""
    for _ in range(200):
        await asyncio.sleep(0.002)
        if client.conn.task is None and not client.conn.pending:
            break
    await asyncio.sleep(0.002)
    out = b"".join(client.transport.writes)
    client.transport.writes.clear()
    return out


def _run(tmp_path, body) -> None:
    """Run `await body(service, client)` against a connection whose keys a, b, r1 and f1 hold
    v-a, v-b, v-r1 and v-f1 (their SETs' replies already taken)."""
    async def go():
        service = RoundService(str(tmp_path / "ks"))
        client = Client(service)
        try:
            for key in (b"a", b"b", b"r1", b"f1"):
                client.conn.data_received(cmd("SET", key, b"v-" + key))
            await _settle(client)
            await body(service, client)
        finally:
            service.close()

    asyncio.run(go())


def test_a_get_on_the_round_is_answered_from_its_completion(tmp_path):
    async def body(service, client):
        client.conn.data_received(cmd("GET", "r1"))
        assert client.conn.round_gets is not None, "joined the round"
        assert await _settle(client) == b"$4\r\nv-r1\r\n"
        assert client.conn.round_gets is None
        client.conn.data_received(cmd("GET", "rmissing"))
        assert await _settle(client) == b"$-1\r\n"
        assert service.rounds_started == 2
        assert client.state.cmdstats["get"][0] == 2, "each GET counted once"

    _run(tmp_path, body)


def test_a_rounds_answer_is_sent_from_its_completion_not_at_the_turns_end(tmp_path):
    """The round's completion sends its GETs' replies itself (under uvloop the turn's end comes
    only after the next poll): with the port's end-of-turn sends switched off they still arrive."""
    async def body(service, client):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(stream.Port, "flush_soon", lambda port, conn: None)
            client.conn.data_received(cmd("GET", "r1"))
            assert await _settle(client) == b"$4\r\nv-r1\r\n"

    _run(tmp_path, body)


def test_a_failed_rounds_get_takes_the_ordinary_path(tmp_path):
    async def body(service, client):
        client.conn.data_received(cmd("GET", "f1"))
        assert await _settle(client) == b"$4\r\nv-f1\r\n"
        assert client.state.cmdstats["get"][0] == 1, "counted once, by the ordinary path"
        assert client.state.stats["total_commands_processed"] == 5   # 4 SETs and the GET

    _run(tmp_path, body)


def test_a_pipeline_keeps_its_order_around_a_round(tmp_path):
    """PING, a GET served at once, a GET on the round, then commands after it: one reply each,
    in request order, whatever came back first."""
    async def body(service, client):
        client.conn.data_received(cmd("PING") + cmd("GET", "a") + cmd("GET", "r1") + cmd("ECHO", "x")
                                  + cmd("GET", "r1") + cmd("GET", "b") + cmd("SET", "q", "1") + cmd("GET", "q"))
        assert await _settle(client) == (b"+PONG\r\n$3\r\nv-a\r\n$4\r\nv-r1\r\n$1\r\nx\r\n$4\r\nv-r1\r\n"
                                         b"$3\r\nv-b\r\n+OK\r\n$1\r\n1\r\n")
        client.conn.data_received(cmd("PING") + cmd("GET", "f1") + cmd("GET", "b") + cmd("GET", "r1"))
        assert await _settle(client) == b"+PONG\r\n$4\r\nv-f1\r\n$3\r\nv-b\r\n$4\r\nv-r1\r\n"
        client.conn.data_received(cmd("GET", "r1") + cmd("ECHO", "x") + cmd("GET", "a") + cmd("PING"))
        assert await _settle(client) == b"$4\r\nv-r1\r\n$1\r\nx\r\n$3\r\nv-a\r\n+PONG\r\n"

    _run(tmp_path, body)


def test_commands_sent_while_a_round_is_out_wait_for_it(tmp_path):
    async def body(service, client):
        client.conn.data_received(cmd("GET", "r1"))
        client.conn.data_received(cmd("GET", "a") + cmd("GET", "r1"))
        client.conn.data_received(cmd("GET", "b"))
        assert await _settle(client) == b"$4\r\nv-r1\r\n$3\r\nv-a\r\n$4\r\nv-r1\r\n$3\r\nv-b\r\n"

    _run(tmp_path, body)


def test_resp3_nil_from_a_round_and_at_once(tmp_path):
    async def body(service, client):
        client.conn.data_received(cmd("HELLO", "3"))
        await _settle(client)
        client.conn.data_received(cmd("GET", "rmissing"))
        assert await _settle(client) == b"_\r\n"
        client.conn.data_received(cmd("GET", "missing"))
        assert await _settle(client) == b"_\r\n"

    _run(tmp_path, body)


def test_a_client_that_does_not_read_gets_no_round(tmp_path):
    """While the transport holds more than its high-water mark, a GET that would wait for a
    round goes the ordinary way (its reply waits for the client), as before this path."""
    async def body(service, client):
        client.conn.pause_writing()
        client.conn.data_received(cmd("GET", "r1"))
        assert service.rounds_started == 0 and client.conn.round_gets is None
        client.conn.resume_writing()
        assert await _settle(client) == b"$4\r\nv-r1\r\n"

    _run(tmp_path, body)


def test_a_connection_closed_during_its_round_is_sent_nothing(tmp_path):
    async def body(service, client):
        client.conn.data_received(cmd("GET", "r1"))
        client.conn.connection_lost(None)
        await asyncio.sleep(0.01)
        assert b"v-r1" not in b"".join(client.transport.writes)

    _run(tmp_path, body)
