"""What a stream connection (Redis or memcached) does with its socket, once for both protocols.

Owns admission (a port's connection limit, refused with the protocol's own
line), the login of a TLS client certificate (`tls-auth-clients-user CN`:
node/service/tls.py), half-close (a client that shuts its write side still gets every
answer, then the close), back-pressure (a client that stops reading its
replies stops being read; one that sends faster than it is answered is
paused until it is), idle timeouts (CONFIG `timeout`) and the registry of a
port's connections. A front end subclasses `StreamConnection`: it parses
what `data_received` brings, runs it through `self.session`
(node/service/session.py), writes replies with `write`, and says when it is
`busy` (a command still running) and when it is `saturated` (too much
received and not yet answered).

Replies are sent once per event-loop turn (Redis writes its clients' replies
before it sleeps, not one by one): `write` queues them and the port sends
every connection's queue in one `transport.write` each after the turn's
callbacks have run (at once past COALESCE_BYTES). A client on loopback that sleeps between replies is
woken once per turn instead of once per reply, and that wake-up, not the
command, was most of a GET's CPU at -P 1 (docs/performance-log.md). An answer a
future's callback gives (a lone write's or read's, a pipeline of plain SETs', a read
round's GETs) is sent at once (`send_now`): under uvloop the turn's end comes only after
the next poll's I/O callbacks. Replies the command loop writes from its task, and the
memcached front end's, still wait for the turn's end.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable

from raftcache.node.service.session import Session
from raftcache.node.service.tls import peer_common_name

log = logging.getLogger(__name__)

#: Replies queued past this many bytes go to the transport at once, not at the end of the
#: turn: its back-pressure (pause_writing) then sees them when they are written.
COALESCE_BYTES = 64 * 1024

#: A TLS client must finish its handshake within this long.
TLS_HANDSHAKE_TIMEOUT_S = 10.0


def tls_options(tls) -> dict:
    """create_server's keyword arguments for a port that speaks TLS only (`tls`: node/service/
    tls.TlsContexts), or none for plaintext."""
    if tls is None:
        return {}
    return {"ssl": tls.server_context, "ssl_handshake_timeout": TLS_HANDSHAKE_TIMEOUT_S}


class Port:
    """One listening port's connections: their registry, the connection limit and the idle sweep."""

    def __init__(self, max_connections: Callable[[], int], idle_timeout_s: Callable[[], float], refusal: bytes,
                 cn_login: bool = False):
        self.connections: dict[int, StreamConnection] = {}
        self.cn_login = cn_login         # a verified client certificate's CN is the connection's ACL user
        self.max_connections = max_connections
        self.idle_timeout_s = idle_timeout_s
        self.refusal = refusal           # the line a client past the limit gets before the close
        self.stats = collections.Counter()
        self.server: asyncio.AbstractServer | None = None
        self._unflushed: list[StreamConnection] = []   # connections with replies queued this turn

    def flush_soon(self, conn: StreamConnection) -> None:
        """Send `conn`'s queued replies at the end of this event-loop turn, with every other
        connection's of the port."""
        if not self._unflushed:
            asyncio.get_running_loop().call_soon(self._flush)
        self._unflushed.append(conn)

    def _flush(self) -> None:
        conns, self._unflushed = self._unflushed, []
        for conn in conns:
            conn.send_now()   # (one broken transport drops its connection, not the others' replies)

    def admit(self, conn: StreamConnection) -> bool:
        self.stats["total_connections_received"] += 1
        if len(self.connections) >= self.max_connections():
            self.stats["rejected_connections"] += 1
            return False
        self.connections[conn.session.id] = conn
        return True

    def close_idle(self, now: float) -> None:
        """Close the connections idle longer than the timeout (0 = never, Redis's default)
        that have no command running."""
        timeout_s = self.idle_timeout_s()
        if timeout_s <= 0:
            return
        for conn in list(self.connections.values()):
            if now - conn.session.last_s > timeout_s and not conn.busy():
                conn.close()

    async def check_loop(self, interval_s: float, checks: Callable[[float], None] | None = None) -> None:
        """Every `interval_s` while the server serves: `checks(now)` (the protocol's own, e.g.
        output buffer limits), then the idle sweep. A failing check is logged, never fatal."""
        while self.server is None or self.server.is_serving():
            await asyncio.sleep(interval_s)
            now = time.monotonic()
            try:
                if checks is not None:
                    checks(now)
                self.close_idle(now)
            except Exception:
                log.exception("connection checks failed")


class StreamConnection(asyncio.Protocol):
    """A client connection of a stream protocol: the transport's side of its session."""

    def __init__(self, port: Port, session: Session):
        self.port = port
        self.session = session
        self.transport: asyncio.Transport | None = None
        self.addr = self.laddr = "?"
        self.closing = False
        self.eof = False                 # the client half-closed: answer what it sent, then close
        self.reading = True
        self._write_paused: asyncio.Future | None = None
        self._unsent: list[bytes] = []   # replies written this turn, sent by the port's flush
        self._unsent_bytes = 0
        self.tls = False                 # over TLS: asyncio's TLS transports cannot half-close

    # ------------------------------------------------------------ what the front end says

    def busy(self) -> bool:
        """A command of this connection is still running (its reply is not written yet)."""
        raise NotImplementedError

    def saturated(self) -> bool:
        """Enough is received and not yet answered: stop reading until it is."""
        return False

    # ------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername") or ("?", 0)
        sock = transport.get_extra_info("sockname") or ("?", 0)
        self.addr, self.laddr = f"{peer[0]}:{peer[1]}", f"{sock[0]}:{sock[1]}"
        self.session.addr = self.addr
        self.tls = transport.get_extra_info("sslcontext") is not None
        if not self.port.admit(self):
            transport.write(self.port.refusal)
            self.close()
            return
        if self.port.cn_login:
            cn = peer_common_name(transport)
            if cn is not None:
                self.login(self.session.service.identity.certificate_user(cn))

    def login(self, user: str | None) -> None:
        """Act as ACL user `user` from now on (None: not authenticated)."""
        self.session.user = user

    def connection_lost(self, exc) -> None:
        self.closing = True
        self._unsent, self._unsent_bytes = [], 0
        self.port.connections.pop(self.session.id, None)
        if self._write_paused is not None and not self._write_paused.done():
            self._write_paused.set_result(None)

    def eof_received(self) -> bool:
        self.eof = True
        if not self.busy():
            self.close()
        elif self.tls:
            # asyncio has no TLS half-close: the transport closes when this returns, so the
            # replies queued this turn go to it now (those of the command still running are lost,
            # as they always were over TLS)
            self.flush()
        # Keep the write side open until every answer is out.
        return not self.tls

    def pause_writing(self) -> None:
        if self._write_paused is None or self._write_paused.done():
            self._write_paused = asyncio.get_running_loop().create_future()
        self.update_reading()  # a client that does not read its replies is not read either

    def resume_writing(self) -> None:
        if self._write_paused is not None and not self._write_paused.done():
            self._write_paused.set_result(None)
        self.update_reading()

    # ------------------------------------------------------------ for the front end

    def touch(self) -> None:
        """Bytes arrived: the connection is not idle."""
        self.session.last_s = time.monotonic()

    def write_paused(self) -> bool:
        """The transport holds more than its high-water mark of unsent replies."""
        return self._write_paused is not None and not self._write_paused.done()

    async def writable(self) -> None:
        """Wait until the client reads what was written (back-pressure)."""
        if self._write_paused is not None:
            await self._write_paused

    def write(self, data: bytes) -> bool:
        """Queue `data` for this turn's send unless the transport is closed (a reply decided
        before the close, such as QUIT's, still goes: `close` sends the queue first);
        whether it was queued."""
        if data and self.transport is not None and not self.transport.is_closing():
            if not self._unsent:
                self.port.flush_soon(self)
            self._unsent.append(data)
            self._unsent_bytes += len(data)
            if self._unsent_bytes >= COALESCE_BYTES:   # big replies gain nothing by waiting
                self.flush()
            return True
        return False

    def send_now(self) -> None:
        """flush(), a transport that fails dropping the connection: at the turn's end (the port's
        flush), or at once for an answer a future's callback gave (under uvloop the turn's end
        comes only after the next poll's I/O callbacks)."""
        try:
            self.flush()
        except Exception:  # the client's reply is lost with its connection
            log.exception("client id=%d: sending replies failed", self.session.id)
            self.drop()

    def flush(self) -> None:
        """Hand the replies queued this turn to the transport, in one write."""
        unsent = self._unsent
        if unsent:
            self._unsent, self._unsent_bytes = [], 0
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.write(unsent[0] if len(unsent) == 1 else b"".join(unsent))
                self.flushed()

    def flushed(self) -> None:
        """Replies were handed to the transport (a front end checks its output limits here)."""

    def output_bytes(self) -> int:
        """Replies not yet sent: queued this turn and held by the transport."""
        transport = self.transport
        return self._unsent_bytes + (transport.get_write_buffer_size() if transport is not None else 0)

    def update_reading(self) -> None:
        """Read while replies are taken by the client and the connection is not saturated."""
        want = (not self.closing and (self._write_paused is None or self._write_paused.done())
                and not self.saturated())
        transport = self.transport
        if want != self.reading and transport is not None and not transport.is_closing():
            self.reading = want
            if want:
                transport.resume_reading()
            else:
                transport.pause_reading()

    def ran_dry(self) -> None:
        """Every command received is answered: close a half-closed connection, else read on."""
        if self.eof:
            self.close()
        else:
            self.update_reading()

    def close(self) -> None:
        """Close once the replies written so far are sent."""
        if not self.closing:
            self.closing = True
            self.shut()

    def shut(self) -> None:
        """Close the transport after the replies written so far (`closing` is already set)."""
        self.flush()
        if self.transport is not None:
            self.transport.close()

    def drop(self) -> None:
        """Disconnect now, discarding unsent replies (a limit was exceeded)."""
        self.closing = True
        self._unsent, self._unsent_bytes = [], 0
        if self.transport is not None:
            self.transport.abort()
