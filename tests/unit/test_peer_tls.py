"""node/raft/peer_tls.py on PySyncObj's own connections and poller (no Raft): two TcpConnections on
loopback, one accepted by a TcpServer and wrapped as TLS server, one dialled and wrapped as TLS client
when its connect completes, as node/raft/peer_guard.py does. Messages queued before the handshake,
a message of several MiB (TLS records, sends that must wait for a writable socket), a client without
a certificate, and an idle connection that does not keep the poller busy."""

from __future__ import annotations

import socket
import time

import pytest
from pysyncobj.poller import createPoller
from pysyncobj.tcp_connection import CONNECTION_STATE, TcpConnection
from pysyncobj.tcp_server import TcpServer

from raftcache import certs
from raftcache.node.config import TlsConfig
from raftcache.node.raft import peer_tls, raft_wire
from raftcache.node.service.tls import TlsContexts

raft_wire.install()


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return certs.ensure(str(tmp_path_factory.mktemp("peertls")), ["n1", "n2"], ["127.0.0.1"])


def _tls(pairs, node: str) -> peer_tls.PeerTls:
    return TlsContexts(TlsConfig(cert_file=pairs[node].cert, key_file=pairs[node].key,
                                 ca_cert_file=pairs["ca"].cert)).peer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Link:
    """A TLS server connection and a TLS client connection on one poller."""

    def __init__(self, server_tls: peer_tls.PeerTls, client_tls: peer_tls.PeerTls):
        self.poller = createPoller("auto")
        self.received: list = []
        self.server_conn: TcpConnection | None = None
        port = _free_port()
        self.server = TcpServer(self.poller, "127.0.0.1", port, self._accepted, sendBufferSize=1 << 16,
                                recvBufferSize=1 << 16)
        self.server.bind()
        self.client = TcpConnection(self.poller, sendBufferSize=1 << 16, recvBufferSize=1 << 16, timeout=30)
        self.client.setOnConnectedCallback(self._connected)
        self.client_tls = client_tls
        self.server_tls = server_tls
        self.queued_before_handshake: list = []
        assert self.client.connect("127.0.0.1", port)

    def _accepted(self, conn: TcpConnection) -> None:
        if peer_tls.wrap_incoming(conn, self.server_tls):
            conn.setOnMessageReceivedCallback(self.received.append)
            self.server_conn = conn

    def _connected(self) -> None:
        assert peer_tls.wrap_outgoing(self.client, self.client_tls, "127.0.0.1")
        for message in self.queued_before_handshake:
            self.client.send(message)

    def run_until(self, condition, timeout_s: float = 20.0) -> int:
        """Poll until `condition()`; the number of poll rounds that had an event."""
        deadline = time.monotonic() + timeout_s
        busy = 0
        while not condition():
            assert time.monotonic() < deadline, "timed out"
            before = len(self.received)
            self.poller.poll(0.01)
            busy += len(self.received) != before
        return busy

    def close(self) -> None:
        self.client.disconnect()
        if self.server_conn is not None:
            self.server_conn.disconnect()
        self.server.unbind()


def test_messages_queued_before_the_handshake_and_a_large_one_arrive(pairs):
    link = Link(_tls(pairs, "n1"), _tls(pairs, "n2"))
    big = bytes(range(256)) * (24 << 10)   # 6 MiB: many TLS records, the 64 KiB socket buffers fill up
    link.queued_before_handshake = ["hello", {"n": 1}]
    try:
        link.run_until(lambda: len(link.received) == 2)
        assert link.received == ["hello", {"n": 1}]
        assert link.client.rc_tls_done and link.server_conn.rc_tls_done
        link.client.send(big)
        link.client.send("after")

        def flushed():
            if link.client.getSendBufferSize():
                link.client._TcpConnection__trySendBuffer()   # as PySyncObj's next send would
            return len(link.received) == 4

        link.run_until(flushed)
        assert link.received[2] == big and link.received[3] == "after"
    finally:
        link.close()


def test_an_idle_tls_connection_leaves_the_poller_idle(pairs):
    link = Link(_tls(pairs, "n1"), _tls(pairs, "n2"))
    link.queued_before_handshake = ["hello"]
    try:
        link.run_until(lambda: link.received == ["hello"])
        started, rounds = time.monotonic(), 0
        while time.monotonic() - started < 0.5:
            link.poller.poll(0.05)
            rounds += 1
        assert rounds <= 12   # each round waited its 50 ms: nothing is always ready
    finally:
        link.close()


def test_a_client_without_a_certificate_is_closed(pairs):
    import ssl

    no_cert = peer_tls.PeerTls(server=_tls(pairs, "n1").server,
                               client=ssl.create_default_context(cafile=pairs["ca"].cert))
    link = Link(_tls(pairs, "n1"), no_cert)
    link.queued_before_handshake = ["hello"]
    try:
        link.run_until(lambda: link.client.state == CONNECTION_STATE.DISCONNECTED and link.server_conn is not None
                       and link.server_conn.state == CONNECTION_STATE.DISCONNECTED)
        assert link.received == []
    finally:
        link.close()


def test_a_large_message_is_read_in_few_poll_rounds(pairs):
    """A TLS read returns one record (16 KiB at most): the connection reads on until TLS wants
    more, so a message of many records arrives in a few poll rounds, not one per record."""
    link = Link(_tls(pairs, "n1"), _tls(pairs, "n2"))
    big = bytes(range(256)) * (2 << 10)   # 512 KiB: 32 TLS records
    link.queued_before_handshake = ["hello"]
    try:
        link.run_until(lambda: link.received == ["hello"])
        rounds = 0
        for _ in range(4):
            link.client.send(big)
            expected = len(link.received) + 1
            while len(link.received) < expected:
                assert rounds < 1000, "timed out"
                if link.client.getSendBufferSize():
                    link.client._TcpConnection__trySendBuffer()   # as PySyncObj's next send would
                link.poller.poll(0.01)
                rounds += 1
        assert link.received[1:] == [big] * 4
        assert rounds <= 40, f"{rounds} poll rounds for 4 messages of 32 records"
    finally:
        link.close()
