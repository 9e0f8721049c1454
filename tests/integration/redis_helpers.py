"""Helpers shared by the redis-py modules (tests/integration/test_redis_*.py).

A client per node and protocol, reply normalisers where redis-py's RESP2 and
RESP3 shapes differ (the values must not), error-text helpers, and the
replica check (every live node answers the same with a linearizable read).

Checking the expectations against real Redis: with
RAFTCACHE_COMPARE_REDIS=host:port every client connects to that server
instead of the cluster's nodes (start one with
`redis-server --port 6399 --save '' --appendonly no`), and the
raftcache-only steps (CLIENT CONSISTENCY, INFO's raftcache fields) are
skipped. Tests that need several nodes then talk to the one server, which
is still a valid check of the replies.
"""

from __future__ import annotations

import os
import socket

import pytest
import redis

PROTOCOLS = [2, 3]
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "value is not an integer or out of range"
_COMPARE = os.environ.get("RAFTCACHE_COMPARE_REDIS", "")
COMPARING_WITH_REDIS = bool(_COMPARE)
_flushed_for: list[str] = [""]  # the test whose start flushed the comparison server


def client(node, protocol: int, **kwargs) -> redis.Redis:
    """A redis-py client of `node`'s Redis port speaking RESP`protocol`."""
    if not _COMPARE:
        host, port = node.redis_address
        return redis.Redis(host=host, port=port, protocol=protocol, socket_timeout=10, **kwargs)
    host, _, port = _COMPARE.rpartition(":")
    r = redis.Redis(host=host or "127.0.0.1", port=int(port), protocol=protocol, socket_timeout=10, **kwargs)
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
    if _flushed_for[0] != test:  # the cluster fixture flushes the cluster, not this server
        _flushed_for[0] = test
        r.flushall()
    return r


def url(node) -> str:
    """`node`'s Redis URL, for libraries that take one (the comparison server's instead,
    flushed at a test's first use as client() flushes it)."""
    if not _COMPARE:
        host, port = node.redis_address
        return f"redis://{host}:{port}"
    client(node, 2).close()
    host, _, port = _COMPARE.rpartition(":")
    return f"redis://{host or '127.0.0.1'}:{port}"


def leader_and_follower(cluster):
    leader = cluster.leader()
    return leader, next(n for n in cluster.alive_nodes() if n is not leader)


def linearizable(r: redis.Redis) -> redis.Redis:
    """Make `r`'s reads linearizable (raftcache's CLIENT CONSISTENCY); returns r."""
    if not _COMPARE:
        assert r.execute_command("CLIENT", "CONSISTENCY", "linearizable") in (True, b"OK")
    return r


def replica_clients(cluster, protocol: int) -> list[redis.Redis]:
    """One linearizable-read client per live node."""
    return [linearizable(client(node, protocol)) for node in cluster.alive_nodes()]


def same_on_every_node(cluster, protocol: int, read) -> object:
    """`read(r)` on every live node; asserts the answers are equal and returns it."""
    answers = [read(r) for r in replica_clients(cluster, protocol)]
    assert all(a == answers[0] for a in answers), answers
    return answers[0]


class RawConnection:
    """One connection of `r`'s pool, kept for a sequence of commands (MULTI … EXEC):
    each call returns the reply without redis-py's per-command callbacks, and an error
    reply as the exception object instead of raising it."""

    def __init__(self, r: redis.Redis):
        self._pool = r.connection_pool
        self.conn = self._pool.get_connection()

    def __call__(self, *args):
        self.conn.send_command(*args)
        try:
            return self.conn.read_response()
        except (redis.ResponseError, redis.AuthenticationError) as e:
            return e

    def close(self, disconnect: bool = False) -> None:
        """Give the connection back; `disconnect` first when the commands changed its
        state (SELECT, HELLO, RESET, …), so the pool never hands that state on."""
        if disconnect:
            self.conn.disconnect()
        self._pool.release(self.conn)


def raw(r: redis.Redis, *args):
    """One command's reply without redis-py's callback (PING msg, COMMAND DOCS, …)."""
    conn = RawConnection(r)
    try:
        reply = conn(*args)
    finally:
        conn.close()
    if isinstance(reply, Exception):
        raise reply
    return reply


def error(r: redis.Redis, *args) -> str:
    """The error text of a command, as redis-py shows it ("ERR " dropped, other prefixes kept).

    Sent on a pooled connection directly: redis-py retries an AuthenticationError (a
    ConnectionError) with back-off, which would cost seconds per NOAUTH/WRONGPASS."""
    conn = RawConnection(r)
    try:
        reply = conn(*args)
    finally:
        conn.close()
    if not isinstance(reply, Exception):
        pytest.fail(f"{args!r} replied {reply!r}, not an error")
    return str(reply)


def arity(name: str) -> str:
    return f"wrong number of arguments for '{name}' command"


def assert_arity_errors(r: redis.Redis, commands: list[list]) -> None:
    """Each command (name first) is refused with Redis's arity error text."""
    for args in commands:
        assert error(r, *args) == arity(args[0].lower()), args


def assert_wrongtype(r: redis.Redis, commands: list[list]) -> None:
    for args in commands:
        assert error(r, *args) == WRONGTYPE, args


def pairs(reply, cast=None) -> list[tuple]:
    """[(a, b), …] from a flat [a, b, …] (RESP2) or nested [[a, b], …] (RESP3) reply;
    `cast` converts each second item (scores arrive as bytes in some RESP2 replies)."""
    if reply and all(isinstance(x, (list, tuple)) for x in reply):
        out = [tuple(x) for x in reply]
    else:
        out = list(zip(reply[0::2], reply[1::2]))
    return [(a, cast(b)) for a, b in out] if cast else out


def wire(r: redis.Redis, *commands: list) -> bytes:
    """The raw RESP2 bytes answering `commands` on a fresh socket to `r`'s server, for
    distinctions redis-py erases (a nil bulk string and a nil array both read as None)."""
    kwargs = r.connection_pool.connection_kwargs
    out = b""
    for args in [*commands, ["PING", "end-of-replies"]]:
        out += b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in map(_arg, args))
    sentinel = b"$14\r\nend-of-replies\r\n"
    with socket.create_connection((kwargs["host"], kwargs["port"]), timeout=10) as s:
        s.sendall(out)
        data = b""
        while not data.endswith(sentinel):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.endswith(sentinel), data
    return data[: -len(sentinel)]


def _arg(a) -> bytes:
    return a if isinstance(a, bytes) else str(a).encode()


class Resp:
    """A raw RESP connection (hiredis's parser): replies and push frames, in arrival order."""

    def __init__(self, node, resp3: bool = True):
        import hiredis

        self.sock = socket.create_connection(node.redis_address, timeout=10)
        self.reader = hiredis.Reader()
        if resp3:
            self.call("HELLO", "3")

    def send(self, *args) -> None:
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.sock.sendall(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))

    def frame(self, timeout_s: float = 10.0):
        """The next frame, or None when none arrives within timeout_s."""
        self.sock.settimeout(timeout_s)
        while (item := self.reader.gets()) is False:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return None
            assert data, "the node closed the connection"
            self.reader.feed(data)
        return item

    def call(self, *args):
        self.send(*args)
        return self.frame()

    def close(self) -> None:
        self.sock.close()
