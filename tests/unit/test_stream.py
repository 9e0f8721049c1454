"""The stream connections' shared mechanics (node/service/stream.py) over real loopback sockets:
admission, half-close, back-pressure and the idle sweep, with a minimal line protocol on top."""

from __future__ import annotations

import asyncio
import socket

import pytest

from raftcache.node.service.session import Session
from raftcache.node.service.stream import Port, StreamConnection


class LineEcho(StreamConnection):
    """Answers every line with the line, after `delay_s` (a command that takes time)."""

    delay_s = 0.0

    def __init__(self, port: Port):
        super().__init__(port, Session(service=None, protocol="test"))
        self.buf = b""
        self.task: asyncio.Task | None = None

    def busy(self) -> bool:
        return self.task is not None and not self.task.done()

    def saturated(self) -> bool:
        return len(self.buf) > 1 << 16

    def data_received(self, data: bytes) -> None:
        self.touch()
        self.buf += data
        if not self.busy():
            self.task = asyncio.get_running_loop().create_task(self.answer())
        else:
            self.update_reading()

    async def answer(self) -> None:
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            await asyncio.sleep(self.delay_s)
            self.write(line + b"\n")
            await self.writable()
        self.ran_dry()


async def serve(port: Port, factory=LineEcho):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: factory(port), "127.0.0.1", 0)
    port.server = server
    return server, server.sockets[0].getsockname()[1]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_a_client_past_the_limit_gets_the_refusal_line_and_the_close():
    async def go():
        port = Port(max_connections=lambda: 1, idle_timeout_s=lambda: 0, refusal=b"FULL\r\n")
        server, number = await serve(port)
        _, w1 = await asyncio.open_connection("127.0.0.1", number)
        r2, w2 = await asyncio.open_connection("127.0.0.1", number)
        assert await r2.read() == b"FULL\r\n"
        assert port.stats["rejected_connections"] == 1 and len(port.connections) == 1
        w1.close()
        w2.close()
        server.close()
    run(go())


def test_a_half_closed_client_gets_every_answer_then_the_close():
    async def go():
        port = Port(max_connections=lambda: 10, idle_timeout_s=lambda: 0, refusal=b"")

        class Slow(LineEcho):
            delay_s = 0.05

        server, number = await serve(port, Slow)
        reader, writer = await asyncio.open_connection("127.0.0.1", number)
        writer.write(b"a\nb\nc\n")
        writer.write_eof()
        assert await reader.read() == b"a\nb\nc\n"  # read() returns at the server's close
        server.close()
    run(go())


def test_a_client_that_does_not_read_its_replies_is_not_read_either():
    async def go():
        port = Port(max_connections=lambda: 10, idle_timeout_s=lambda: 0, refusal=b"")
        server, number = await serve(port)
        sock = socket.create_connection(("127.0.0.1", number))
        sock.setblocking(False)
        line = b"x" * 1000 + b"\n"
        sent = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while loop.time() < deadline:   # write until the server stops reading us
            try:
                sent += sock.send(line * 64)
            except BlockingIOError:
                await asyncio.sleep(0.2)
                try:
                    sent += sock.send(line)
                except BlockingIOError:
                    break
            await asyncio.sleep(0)
        conn = next(iter(port.connections.values()))
        assert not conn.reading, "the server still reads a client that takes none of its replies"
        assert sent < 64 << 20, "every buffer has a bound"
        sock.close()
        server.close()
    run(go())


def test_idle_clients_are_closed_after_the_timeout_and_busy_ones_are_not():
    async def go():
        timeout = {"s": 0}
        port = Port(max_connections=lambda: 10, idle_timeout_s=lambda: timeout["s"], refusal=b"")

        class Slow(LineEcho):
            delay_s = 3.0

        server, number = await serve(port, Slow)
        idle_r, idle_w = await asyncio.open_connection("127.0.0.1", number)
        busy_r, busy_w = await asyncio.open_connection("127.0.0.1", number)
        busy_w.write(b"working\n")
        checks = asyncio.ensure_future(port.check_loop(0.05))
        timeout["s"] = 1
        assert await asyncio.wait_for(idle_r.read(), 5) == b""   # closed by the sweep
        assert await asyncio.wait_for(busy_r.readline(), 5) == b"working\n"
        checks.cancel()
        busy_w.close()
        server.close()
    run(go())


@pytest.mark.parametrize("limit", [0, 3])
def test_the_limit_is_read_at_every_connection(limit):
    port = Port(max_connections=lambda: limit, idle_timeout_s=lambda: 0, refusal=b"")
    admitted = [port.admit(LineEcho(port)) for _ in range(5)]
    assert admitted == [True] * limit + [False] * (5 - limit)


class Burst(StreamConnection):
    """Answers every line of a read with its own write; `bye` closes after its answer. Counts
    the writes that reach the transport (sent_at_once: those made before data_received returned)."""

    def __init__(self, port: Port):
        super().__init__(port, Session(service=None, protocol="test"))
        self.transport_writes = 0
        self.sent_at_once = 0

    def busy(self) -> bool:
        return False

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        write = transport.write

        def counted(data) -> None:
            self.transport_writes += 1
            write(data)
        transport.write = counted

    def data_received(self, data: bytes) -> None:
        for line in data.splitlines():
            self.write(line + b"\n" if line != b"big" else b"b" * (256 * 1024) + b"\n")
            if line == b"bye":
                self.close()
        self.sent_at_once = self.transport_writes


def _read_until(sock: socket.socket, size: int) -> bytes:
    got = b""
    while len(got) < size:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        got += chunk
    return got


def test_the_replies_of_one_turn_reach_the_transport_in_one_write_in_order():
    async def go():
        port = Port(lambda: 10, lambda: 0, b"")
        server, number = await serve(port, Burst)
        lines = b"".join(b"line %d\n" % i for i in range(200))
        with socket.create_connection(("127.0.0.1", number)) as sock:
            sock.sendall(lines)
            got = await asyncio.to_thread(_read_until, sock, len(lines))
            conn = next(iter(port.connections.values()))
            assert got == lines
            assert conn.sent_at_once == 0         # queued while the turn ran
            assert conn.transport_writes <= 2     # one per read of the 200 lines (TCP may split them)
        server.close()
    run(go())


def test_a_big_reply_goes_out_at_once_and_a_close_sends_what_was_queued_first():
    async def go():
        port = Port(lambda: 10, lambda: 0, b"")
        server, number = await serve(port, Burst)
        with socket.create_connection(("127.0.0.1", number)) as sock:
            sock.sendall(b"big\n")
            got = await asyncio.to_thread(_read_until, sock, 256 * 1024 + 1)
            conn = next(iter(port.connections.values()))
            assert len(got) == 256 * 1024 + 1
            assert conn.sent_at_once == 1         # past COALESCE_BYTES: not held to the turn's end
            sock.sendall(b"one\nbye\n")
            rest = await asyncio.to_thread(_read_until, sock, 1 << 30)   # until the close
            assert rest == b"one\nbye\n"
        server.close()
    run(go())


class AnswerThenWork(StreamConnection):
    """Answers a request at once, then keeps a command running for a while (a GET, then a write)."""

    def __init__(self, port: Port):
        super().__init__(port, Session(service=None, protocol="test"))
        self.task: asyncio.Task | None = None

    def busy(self) -> bool:
        return self.task is not None and not self.task.done()

    def data_received(self, data: bytes) -> None:
        self.write(b"answered-now\n")

        async def work() -> None:
            await asyncio.sleep(0.3)
            self.ran_dry()
        self.task = asyncio.get_running_loop().create_task(work())


def _tls_request_then_close_notify(port: int) -> bytes:
    """Send one request and TLS's close_notify in one segment; what comes back before the close."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                raw.sendall(outgoing.read())
                incoming.write(raw.recv(65536))
        raw.sendall(outgoing.read())
        tls.write(b"cmd\n")
        try:
            tls.unwrap()
        except ssl.SSLWantReadError:
            pass
        raw.sendall(outgoing.read())
        got = b""
        while data := raw.recv(65536):
            incoming.write(data)
            try:
                got += tls.read(65536)
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                pass
        return got


def test_over_tls_a_client_that_closes_right_after_asking_gets_the_replies_already_decided(tmp_path):
    import ssl

    from raftcache import certs

    ca = certs.make_ca(str(tmp_path))
    pair = certs.make_cert(str(tmp_path), "server", ca)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pair.cert, pair.key)

    async def go():
        port = Port(lambda: 10, lambda: 0, b"")
        server = await asyncio.get_running_loop().create_server(lambda: AnswerThenWork(port), "127.0.0.1", 0,
                                                                ssl=context)
        got = await asyncio.to_thread(_tls_request_then_close_notify, server.sockets[0].getsockname()[1])
        server.close()
        return got
    assert run(go()) == b"answered-now\n"
