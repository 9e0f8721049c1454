"""Hooks on PySyncObj's peer connections (pysyncobj.tcp_connection.TcpConnection).

PySyncObj 0.3.17 (pinned; re-check on upgrade) keeps a connection's input and
output in `bytes` and re-slices them after every recv/send, and compresses
every message with zlib level 3. That is fine for small append-entries but
quadratic for a large one: a 50 MB value took minutes to reach a follower and
its proposal timed out. `install()` replaces four of its methods:

* `send`: zlib's stored form, not compressed (level 3 spent ~70% of the
  leader's time on a large incompressible value, and CPU, not bandwidth,
  bounds a node; the receiver inflates any level, so versions interoperate),
  written here (`stored_zlib`): zlib.compress at level 0 still sets up a
  deflate stream, ~10 µs for every message however small;
* `__processSend`, `__processRead`, `__processParseMessage`: `bytearray`
  buffers consumed in place, so a large message costs linear time;
  `__processRead` receives into a reusable buffer (a `recv` of the 1 MiB
  receive size made and shrank a 1 MiB bytes object for every message,
  ~12 µs on this project's machines) and, on a plain socket, stops at a
  short read (no second `recv` failing with EAGAIN, nor an SO_ERROR check,
  per message; a TLS read returns one record, so TLS reads on as before).

Reads and writes first complete a TLS handshake when the Raft port speaks
TLS (node/raft/peer_tls.py, which also wraps `__processConnection`); TLS's
"try again" answers are treated as EAGAIN. Message framing and encryption
are unchanged (wire compatible). The peer
cipher and the pickle protocol are set elsewhere (node/raft/raftnode.py).

Frame limits (the Raft port is reachable by anyone who can connect to it):
a connection is *unauthenticated* until one message on it has decrypted
with the cluster secret. Until then a length header above
`rc_first_frame_max_bytes` closes the connection at once, before any of the
body is read; afterwards the bound is `rc_frame_max_bytes` (what a node
legitimately sends, docs/operations.md "Raft port limits"). Both are
per-connection attributes, class defaults below, set from ReplicationConfig
by node/raft/peer_guard.py. `largest_frame_sent_bytes` records the largest frame
this process has sent (the measurement behind the bound).
"""

from __future__ import annotations

import errno
import logging
import ssl
import struct
import threading
import zlib

import pysyncobj.pickle as _ps_pickle
from pysyncobj.monotonic import monotonic as _monotonic
from pysyncobj.tcp_connection import TcpConnection

from raftcache.node.raft import peer_tls

_LENGTH = struct.Struct("i")
_STORED_HEADER = b"\x78\x01"        # a zlib stream: deflate, 32 KB window, no preset dictionary
_STORED_BLOCK = struct.Struct("<BHH")   # BFINAL and BTYPE 00 (stored), LEN, NLEN
_STORED_MAX = 0xFFFF                    # the most one stored block holds
_ADLER = struct.Struct(">I")

#: Before authentication: the first message is a 32-byte random key (~100 bytes encrypted).
FIRST_FRAME_MAX_BYTES = 4096
#: After authentication: append-entries carry <= 1 MiB of entries (larger
#: entries and snapshots go in <= 1 MiB pieces); 32x margin.
FRAME_MAX_BYTES = 32 << 20

#: Largest frame this process has sent (bytes on the wire after the length header).
largest_frame_sent_bytes = 0
_log = logging.getLogger(__name__)
_rejected = 0                # connections closed for an oversized frame (logged at most once a second)
_rejected_logged_at = -1.0
_scratch = threading.local()   # _read_scratch


def _buffer(conn: TcpConnection, name: str) -> bytearray:
    """The connection's buffer as a bytearray (PySyncObj resets it to bytes on disconnect)."""
    buf = getattr(conn, name)
    if type(buf) is not bytearray:
        buf = bytearray(buf)
        setattr(conn, name, buf)
    return buf


def stored_zlib(data: bytes) -> bytes:
    """`data` as a zlib stream of stored deflate blocks (RFC 1950/1951), which any inflater
    reads as it reads zlib.compress(data, 0)'s."""
    out = bytearray(_STORED_HEADER)
    end = len(data)
    start = 0
    while True:
        stop = min(start + _STORED_MAX, end)
        out += _STORED_BLOCK.pack(stop == end, stop - start, (stop - start) ^ 0xFFFF)
        out += data[start:stop]
        if stop == end:
            break
        start = stop
    out += _ADLER.pack(zlib.adler32(data))
    return out


def _send(self: TcpConnection, message) -> None:
    if self.sendRandKey:
        message = (self.sendRandKey, message)
    data = stored_zlib(_ps_pickle.dumps(message))
    if self.encryptor:
        data = self.encryptor.encrypt_at_time(data, int(_monotonic()))
    global largest_frame_sent_bytes
    if len(data) > largest_frame_sent_bytes:
        if len(data) > 2 * largest_frame_sent_bytes and len(data) > 1 << 16:
            _log.info("largest Raft frame sent so far: %d bytes (limit %d)", len(data), FRAME_MAX_BYTES)
        largest_frame_sent_bytes = len(data)
    out = _buffer(self, "_TcpConnection__writeBuffer")
    out += _LENGTH.pack(len(data))
    out += data
    self._TcpConnection__trySendBuffer()


def _process_send(self: TcpConnection) -> bool:
    if not (self.rc_tls_done or peer_tls.handshake(self)):   # (handshake's own first test, inlined)
        return False
    out = _buffer(self, "_TcpConnection__writeBuffer")
    if not out:
        return False
    try:
        sent = self._TcpConnection__socket.send(out)
    except ssl.SSLWantWriteError:
        return False
    except ssl.SSLWantReadError:
        return False
    except OSError as e:
        if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
            self.disconnect()
        return False
    if sent < 0:
        self.disconnect()
        return False
    if sent == 0:
        return False
    del out[:sent]
    return bool(out)   # all sent: PySyncObj's loop need not call again to find out


def _read_scratch(size: int) -> memoryview:
    """This thread's receive buffer of `size` bytes (Raft runs on one thread per node; test
    processes run several nodes on threads of their own)."""
    view = getattr(_scratch, "view", None)
    if view is None or len(view) != size:
        view = _scratch.view = memoryview(bytearray(size))
    return view


def _process_read(self: TcpConnection) -> bool:
    if not (self.rc_tls_done or peer_tls.handshake(self)):
        return False
    sock = self._TcpConnection__socket
    view = _read_scratch(self._TcpConnection__recvBufferSize)
    try:
        got = sock.recv_into(view)
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return False
    except OSError as e:
        if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
            self.disconnect()
        return False
    if not got:
        self.disconnect()
        return False
    buf = _buffer(self, "_TcpConnection__readBuffer")
    buf += view[:got]
    if not _frame_allowed(self, buf):
        return False
    if not self.rc_authenticated and len(buf) > 4 + self.rc_first_frame_max_bytes:
        return False  # parse the first frame before reading more (the poller calls again)
    # A short read drained a plain socket: no second recv (an exception) to learn it; the poller
    # is level-triggered and calls again when more comes. A TLS read returns one record (16 KiB
    # at most) whatever is waiting: it reads on until SSLWantReadError, as before.
    return got == len(view) or isinstance(sock, ssl.SSLSocket)


def _frame_allowed(self: TcpConnection, buf: bytearray) -> bool:
    """False (and the connection closed) when the frame at the head of `buf`
    announces more than this connection may send."""
    if len(buf) < 4:
        return True
    length = _LENGTH.unpack_from(buf)[0]
    limit = self.rc_frame_max_bytes if self.rc_authenticated else self.rc_first_frame_max_bytes
    if 0 <= length <= limit:
        return True
    global _rejected, _rejected_logged_at
    _rejected += 1
    now = _monotonic()
    if now - _rejected_logged_at >= 1.0:  # at most one line a second under a flood
        _rejected_logged_at = now
        _log.warning("closing a Raft connection: %s frame of %d bytes announced (limit %d); "
                     "%d rejected so far", "authenticated" if self.rc_authenticated else "unauthenticated",
                     length, limit, _rejected)
    self.rc_rejected = True
    self.disconnect()
    return False


def _process_parse_message(self: TcpConnection):
    buf = _buffer(self, "_TcpConnection__readBuffer")
    if len(buf) < 4:
        return None
    if not _frame_allowed(self, buf):
        return None
    length = _LENGTH.unpack_from(buf)[0]
    if len(buf) - 4 < length:
        return None
    with memoryview(buf) as view:   # one copy, not a slice copied again (released before the del below)
        data = bytes(view[4:4 + length])
    try:
        if self.encryptor:
            timestamp = self.encryptor.extract_timestamp(data)
            if timestamp < self.recvLastTimestamp:
                raise ValueError("replayed or reordered message")
            self.recvLastTimestamp = timestamp
            data = self.encryptor.decrypt(data)
        message = _ps_pickle.loads(zlib.decompress(data))
        if self.recvRandKey:
            rand_key, message = message
            if rand_key != self.recvRandKey:
                raise ValueError("wrong connection key")
    except Exception:  # a bad or forged message drops the connection, as PySyncObj does
        self.disconnect()
        return None
    self.rc_authenticated = True  # it decrypted with the cluster secret
    del buf[:4 + length]
    return message


_original_disconnect = TcpConnection.disconnect


def _disconnect(self: TcpConnection) -> None:
    self.rc_authenticated = False  # an outgoing connection object is reused on reconnect
    self.rc_tls_done = True        # its next socket is plain until node/raft/peer_tls.py wraps it
    _original_disconnect(self)


def install() -> None:
    """Replace the methods (idempotent; call before any connection exists)."""
    TcpConnection.send = _send
    TcpConnection._TcpConnection__processSend = _process_send
    TcpConnection._TcpConnection__processRead = _process_read
    TcpConnection._TcpConnection__processParseMessage = _process_parse_message
    TcpConnection.disconnect = _disconnect
    if not hasattr(TcpConnection, "rc_original_process_connection"):
        TcpConnection.rc_original_process_connection = TcpConnection._TcpConnection__processConnection
        TcpConnection._TcpConnection__processConnection = peer_tls.wrap_process_connection(
            TcpConnection.rc_original_process_connection)
    TcpConnection.rc_tls_done = True
    TcpConnection.rc_tls_want_write = False
    TcpConnection.rc_authenticated = False
    TcpConnection.rc_rejected = False
    TcpConnection.rc_first_frame_max_bytes = FIRST_FRAME_MAX_BYTES
    TcpConnection.rc_frame_max_bytes = FRAME_MAX_BYTES
