"""Hooks on PySyncObj's peer connections (pysyncobj.tcp_connection.TcpConnection).

PySyncObj 0.3.17 (pinned; re-check on upgrade) keeps a connection's input and
output in `bytes` and re-slices them after every recv/send, and compresses
every message with zlib level 3. That is fine for small append-entries but
quadratic for a large one: a 50 MB value took minutes to reach a follower and
its proposal timed out. `install()` replaces four of its methods:

* `send`: zlib level 0, i.e. stored, not compressed (level 3 spent ~70% of
  the leader's time on a large incompressible value, and CPU, not bandwidth,
  bounds a node; the receiver inflates any level, so versions interoperate);
* `__processSend`, `__processRead`, `__processParseMessage`: `bytearray`
  buffers consumed in place, so a large message costs linear time.

Message framing and encryption are unchanged (wire compatible). The peer
cipher and the pickle protocol are set elsewhere (node/raftnode.py).
"""

from __future__ import annotations

import errno
import socket
import struct
import zlib

import pysyncobj.pickle as _ps_pickle
from pysyncobj.monotonic import monotonic as _monotonic
from pysyncobj.tcp_connection import TcpConnection

_LENGTH = struct.Struct("i")
_COMPRESSION_LEVEL = 0


def _buffer(conn: TcpConnection, name: str) -> bytearray:
    """The connection's buffer as a bytearray (PySyncObj resets it to bytes on disconnect)."""
    buf = getattr(conn, name)
    if type(buf) is not bytearray:
        buf = bytearray(buf)
        setattr(conn, name, buf)
    return buf


def _send(self: TcpConnection, message) -> None:
    if self.sendRandKey:
        message = (self.sendRandKey, message)
    data = zlib.compress(_ps_pickle.dumps(message), _COMPRESSION_LEVEL)
    if self.encryptor:
        data = self.encryptor.encrypt_at_time(data, int(_monotonic()))
    out = _buffer(self, "_TcpConnection__writeBuffer")
    out += _LENGTH.pack(len(data))
    out += data
    self._TcpConnection__trySendBuffer()


def _process_send(self: TcpConnection) -> bool:
    out = _buffer(self, "_TcpConnection__writeBuffer")
    if not out:
        return False
    try:
        sent = self._TcpConnection__socket.send(out)
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
    return True


def _process_read(self: TcpConnection) -> bool:
    sock = self._TcpConnection__socket
    try:
        incoming = sock.recv(self._TcpConnection__recvBufferSize)
    except OSError as e:
        if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
            self.disconnect()
        return False
    if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) or not incoming:
        self.disconnect()
        return False
    _buffer(self, "_TcpConnection__readBuffer").extend(incoming)
    return True


def _process_parse_message(self: TcpConnection):
    buf = _buffer(self, "_TcpConnection__readBuffer")
    if len(buf) < 4:
        return None
    length = _LENGTH.unpack_from(buf)[0]
    if len(buf) - 4 < length:
        return None
    data = bytes(buf[4:4 + length])
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
    del buf[:4 + length]
    return message


def install() -> None:
    """Replace the methods (idempotent; call before any connection exists)."""
    TcpConnection.send = _send
    TcpConnection._TcpConnection__processSend = _process_send
    TcpConnection._TcpConnection__processRead = _process_read
    TcpConnection._TcpConnection__processParseMessage = _process_parse_message
