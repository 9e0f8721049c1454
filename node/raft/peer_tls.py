"""Mutual TLS on the Raft port (`--tls-replication yes`), inside PySyncObj's own sockets.

PySyncObj 0.3.17 (pinned; re-check on upgrade) drives non-blocking TCP
sockets from its poller (select/poll, level-triggered) on the tick thread.
With TLS each peer socket becomes an `ssl.SSLSocket` in place, same file
descriptor, so the poller needs no change:

* incoming: wrapped at accept (node/raft/peer_guard.py), as TLS server,
  a client certificate signed by the CA required;
* outgoing: wrapped once the TCP connect completed, as TLS client with this
  node's certificate, the peer's checked against the CA and the peer's host
  (`--peers` address), as node-to-node gRPC does.

The handshake runs without blocking (`handshake`, called by the reads and
writes of node/raft/raft_wire.py before any data): SSLWantRead waits for the
socket to be readable, SSLWantWrite for it to be writable
(`rc_tls_want_write`); a failed handshake (no certificate, another CA, a
plaintext client) closes the connection. What the poller cannot see is
handled by `wrap_process_connection` (around PySyncObj's event handler):
while the handshake waits for the peer the socket is not watched for
writability (it always is writable: that would spin the tick thread);
bytes TLS has already decrypted (`SSLSocket.pending()`) are read at once,
since no poll event announces them; and messages queued during the
handshake are sent as soon as it completes.

The cluster secret's encryption (node/raft/peer_crypto.py) runs inside TLS,
unchanged: a peer needs both a certificate and the secret. Must not touch:
Raft state, message framing.
"""

from __future__ import annotations

import dataclasses
import logging
import ssl

from pysyncobj.poller import POLL_EVENT_TYPE
from pysyncobj.tcp_connection import CONNECTION_STATE, TcpConnection

log = logging.getLogger(__name__)

#: Passes over TLS-decrypted bytes per poll event (each one consumes bytes or closes the connection).
_MAX_PENDING_PASSES = 64
_failures = 0
_failure_logged_at = -1.0


@dataclasses.dataclass
class PeerTls:
    """The Raft port's TLS contexts (node/service/tls.py builds them, and replaces them whole
    when the files change: a connection takes whichever is current when it starts)."""

    server: ssl.SSLContext
    client: ssl.SSLContext


def _wrap(conn: TcpConnection, ctx: ssl.SSLContext, **kw) -> bool:
    sock = conn._TcpConnection__socket
    try:
        conn._TcpConnection__socket = ctx.wrap_socket(sock, do_handshake_on_connect=False, **kw)
    except (ssl.SSLError, OSError, ValueError) as e:
        log.warning("Raft port: cannot start TLS on a peer connection (%s)", e)
        conn.disconnect()
        return False
    conn.rc_tls_done = False
    conn.rc_tls_want_write = False
    return True


def wrap_incoming(conn: TcpConnection, tls: PeerTls) -> bool:
    """Make an accepted connection a TLS server; False (and closed) when it cannot."""
    return _wrap(conn, tls.server, server_side=True)


def wrap_outgoing(conn: TcpConnection, tls: PeerTls, host: str) -> bool:
    """Make a connected outgoing connection a TLS client of `host`; False (and closed) when it cannot."""
    return _wrap(conn, tls.client, server_side=False, server_hostname=host)


def handshake(conn: TcpConnection) -> bool:
    """Whether the connection may carry data: no TLS, or its handshake is done (advanced here)."""
    if conn.rc_tls_done:
        return True
    sock = conn._TcpConnection__socket
    if sock is None:
        return False
    try:
        sock.do_handshake()
    except ssl.SSLWantReadError:
        conn.rc_tls_want_write = False
        return False
    except ssl.SSLWantWriteError:
        conn.rc_tls_want_write = True
        return False
    except (ssl.SSLError, OSError, ValueError) as e:
        _log_failure(e)
        conn.disconnect()
        return False
    conn.rc_tls_done = True
    conn.rc_tls_want_write = False
    return True


def _log_failure(e: BaseException) -> None:
    from pysyncobj.monotonic import monotonic

    global _failures, _failure_logged_at
    _failures += 1
    now = monotonic()
    if now - _failure_logged_at >= 1.0:   # at most one line a second under a flood
        _failure_logged_at = now
        log.warning("Raft port: TLS handshake failed (%s); %d so far", e, _failures)


def _is_tls(conn: TcpConnection) -> bool:
    return isinstance(conn._TcpConnection__socket, ssl.SSLSocket)


def wrap_process_connection(original):
    """PySyncObj's event handler of a connection, plus the two TLS cases the module docstring names."""

    def process_connection(self: TcpConnection, descr, event_type):
        original(self, descr, event_type)
        if self.state == CONNECTION_STATE.DISCONNECTED or not _is_tls(self) or descr != self.fileno():
            return
        if not self.rc_tls_done:
            events = POLL_EVENT_TYPE.READ | POLL_EVENT_TYPE.ERROR
            if self.rc_tls_want_write:
                events |= POLL_EVENT_TYPE.WRITE
            self._TcpConnection__poller.subscribe(descr, self._TcpConnection__processConnection, events)
            return
        for _ in range(_MAX_PENDING_PASSES):
            sock = self._TcpConnection__socket
            if self.state != CONNECTION_STATE.CONNECTED or sock is None or not sock.pending():
                break
            original(self, descr, POLL_EVENT_TYPE.READ)
        if self.state == CONNECTION_STATE.CONNECTED and self.getSendBufferSize():
            # Messages queued during the handshake: send them now, and watch for writability
            # while some are left (PySyncObj re-subscribes only on a write event).
            self._TcpConnection__trySendBuffer()
            if self.state == CONNECTION_STATE.CONNECTED and self.getSendBufferSize():
                self._TcpConnection__poller.subscribe(
                    descr, self._TcpConnection__processConnection,
                    POLL_EVENT_TYPE.READ | POLL_EVENT_TYPE.WRITE | POLL_EVENT_TYPE.ERROR)

    return process_connection
