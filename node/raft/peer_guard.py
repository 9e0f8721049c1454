"""Who may hold a connection to the Raft port, and for how long without authenticating.

Owns `GuardedTransport`, PySyncObj's TCPTransport (0.3.17, pinned; re-check
on upgrade) with three limits from ReplicationConfig:

* at most `peer_max_connections` incoming connections, of which at most
  `peer_max_pending` not yet identified (no message decrypted with the
  cluster secret and no node address received): an excess connection is
  closed at accept. The pending cap keeps room for real peers while
  strangers hold connections open;
* a pending connection is closed once it is `peer_auth_timeout_s` old
  (slowloris: a partial first frame trickled byte by byte);
* the per-connection frame limits that node/raft/raft_wire.py enforces
  (`peer_first_frame_max_bytes` before authentication,
  `peer_frame_max_bytes` after).

With `--tls-replication yes` it also starts TLS on every peer connection
(node/raft/peer_tls.py): at accept, and when an outgoing connect completes.
A connection still in its TLS handshake counts as pending, so the
authentication deadline closes one that never finishes it.

Must not touch: Raft state, message contents, the cipher.
"""

from __future__ import annotations

import logging
import time

from pysyncobj.transport import TCPTransport

from raftcache.node.raft import peer_tls

logger = logging.getLogger(__name__)


class GuardedTransport(TCPTransport):
    """TCPTransport with connection caps and an authentication deadline.

    Reads its limits from `syncObj.rc_peer_limits` (a ReplicationConfig),
    set by RaftNode before PySyncObj builds the transport.
    """

    def __init__(self, syncObj, selfNode, otherNodes):  # noqa: N803 (PySyncObj's names)
        self._rc_limits = syncObj.rc_peer_limits
        self._rc_tls = getattr(syncObj, "rc_peer_tls", None)   # node/raft/peer_tls.PeerTls, or None: no TLS
        self._rc_incoming: dict = {}   # TcpConnection -> time.monotonic() at accept
        self.rc_refused = 0            # connections closed at accept (caps)
        self.rc_timed_out = 0          # pending connections closed at the authentication deadline
        self._rc_timeout_logged_at = -1.0
        super().__init__(syncObj, selfNode, otherNodes)

    def _apply_limits(self, conn) -> None:
        limits = self._rc_limits
        conn.rc_first_frame_max_bytes = limits.peer_first_frame_max_bytes
        conn.rc_frame_max_bytes = limits.peer_frame_max_bytes

    def addNode(self, node):  # PySyncObj's name
        super().addNode(node)
        conn = self._connections.get(node)
        if conn is not None:
            self._apply_limits(conn)  # our outgoing connection to it

    def _onNewIncomingConnection(self, conn):  # PySyncObj's name
        limits = self._rc_limits
        self._forget_closed()
        pending = len(self._unknownConnections)
        if len(self._rc_incoming) >= limits.peer_max_connections or pending >= limits.peer_max_pending:
            self.rc_refused += 1
            if self.rc_refused in (1, 10, 100) or self.rc_refused % 1000 == 0:
                logger.warning("Raft port: refused an incoming connection (%d incoming, %d pending; "
                               "caps %d/%d; %d refused so far)", len(self._rc_incoming), pending,
                               limits.peer_max_connections, limits.peer_max_pending, self.rc_refused)
            conn.disconnect()
            return
        if self._rc_tls is not None and not peer_tls.wrap_incoming(conn, self._rc_tls):
            return
        self._apply_limits(conn)
        self._rc_incoming[conn] = time.monotonic()
        super()._onNewIncomingConnection(conn)

    def _onOutgoingConnected(self, conn):  # PySyncObj's name
        if self._rc_tls is not None:
            node = self._connToNode(conn)
            if node is None or not peer_tls.wrap_outgoing(conn, self._rc_tls, node.host):
                conn.disconnect()
                return
        super()._onOutgoingConnected(conn)

    def _onDisconnected(self, conn):  # PySyncObj's name
        self._rc_incoming.pop(conn, None)
        super()._onDisconnected(conn)

    def _forget_closed(self) -> None:
        from pysyncobj.tcp_connection import CONNECTION_STATE

        for conn in [c for c in self._rc_incoming if c.state == CONNECTION_STATE.DISCONNECTED]:
            self._rc_incoming.pop(conn, None)
            self._unknownConnections.discard(conn)

    def _onTick(self):  # PySyncObj's name
        super()._onTick()
        if not self._unknownConnections:
            return
        horizon = time.monotonic() - self._rc_limits.peer_auth_timeout_s
        for conn in list(self._unknownConnections):
            opened = self._rc_incoming.get(conn)
            if opened is not None and opened < horizon:
                self.rc_timed_out += 1
                now = time.monotonic()
                if now - self._rc_timeout_logged_at >= 1.0:  # at most one line a second
                    self._rc_timeout_logged_at = now
                    logger.warning("Raft port: closing a connection that did not identify itself within %.1f s "
                                   "(%d so far)", self._rc_limits.peer_auth_timeout_s, self.rc_timed_out)
                conn.disconnect()
                self._unknownConnections.discard(conn)
                self._rc_incoming.pop(conn, None)
