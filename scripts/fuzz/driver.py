"""Sends the actions of scripts/fuzz/strategies.py to a real cluster, through the real clients.

A command error is a normal outcome. What counts as a problem (returned by
`run_batch`, and failing the fuzz test) is what a hostile client must never
cause on its own request:

- a well-formed request that gets no answer within REQUEST_TIMEOUT_S;
- the server dropping a redis-py or pymemcache connection after a well-formed
  request that does not ask for it (QUIT, RESET, CLIENT KILL, ...);
- a gRPC call failing with UNKNOWN (an exception escaped the servicer);
- a raw connection left open REQUEST_TIMEOUT_S after the client half-closed it.

Raw frames are written, then the write side is shut down: the server sees
EOF and must close; the reply (if any) is read until then, within the
deadline, never with a fixed sleep.
"""

from __future__ import annotations

import dataclasses
import socket
import time

import grpc
import redis
from google.protobuf import text_format
from pymemcache.client.base import Client as MemcacheClient
from pymemcache import exceptions as mc_errors

from raftcache.proto import cache_pb2
from raftcache.localcluster import LocalCluster
from scripts.fuzz.strategies import resp_frame, varint

REQUEST_TIMEOUT_S = 10.0
#: How long a raw connection waits for its sentinel's reply (a frame left open swallows it).
SENTINEL_WAIT_S = 2.0
#: A request appended to raw bytes, and the reply that shows everything before it was answered.
_SENTINELS = {"redis": (b"\r\nPING\r\n", b"+PONG\r\n"), "memcached": (b"\r\nmn\r\n", b"MN\r\n")}
#: Requests that may legitimately end the connection (or the client's view of it).
_MAY_CLOSE = {b"quit", b"reset", b"client", b"hello", b"auth", b"multi", b"exec", b"watch"}
#: Requests after whose reply the server closes the connection (QUIT, with any arguments, as
#: Redis 7.2+): the next request opens another.
_CLOSES = {b"quit"}
#: Their replies are pub/sub frames, which redis-py's Connection hands to its pub/sub handler and
#: then waits for another reply (against Redis too): sent on a raw socket instead.
_PUSH_REPLIES = {b"subscribe", b"psubscribe", b"ssubscribe", b"unsubscribe", b"punsubscribe", b"sunsubscribe"}


@dataclasses.dataclass
class Problem:
    action: tuple
    what: str

    def __str__(self) -> str:
        return f"{self.what}: {describe(self.action)}"


def describe(action: tuple) -> str:
    """A short, copy-pasteable rendering of one action (gRPC requests also as protobuf text)."""
    kind, node, payload = action[0], action[1], action[2]
    if kind == "grpc":
        return f"{kind}@n{node + 1} {payload!r}  # {_request_text(payload)}"
    if kind == "grpc_pipeline":
        return f"{kind}@n{node + 1} {payload!r}  # {' | '.join(_request_text(r) for r in payload)}"
    return f"{kind}@n{node + 1} {payload!r}"


def _request_text(data: bytes) -> str:
    try:
        return text_format.MessageToString(cache_pb2.Request.FromString(data), as_one_line=True)
    except Exception as e:  # noqa: BLE001 - raw bytes need not decode
        return f"(does not decode: {e.__class__.__name__})"


class Driver:
    """One batch's connections to every node, opened lazily, closed by close()."""

    def __init__(self, cluster: LocalCluster, timeout_s: float = REQUEST_TIMEOUT_S):
        self.cluster = cluster
        self.timeout_s = timeout_s
        self._resp: dict[int, redis.Connection] = {}
        self._mc: dict[int, MemcacheClient] = {}
        self.sent = 0

    def close(self) -> None:
        for conn in self._resp.values():
            conn.disconnect()
        for client in self._mc.values():
            client.close()
        self._resp.clear()
        self._mc.clear()

    def _node(self, i: int):
        return self.cluster.nodes[i]

    # ------------------------------------------------------------ RESP

    def _resp_conn(self, i: int) -> redis.Connection:
        conn = self._resp.get(i)
        if conn is None:
            host, port = self._node(i).redis_address
            conn = self._resp[i] = redis.Connection(host=host, port=port, socket_timeout=self.timeout_s,
                                                    socket_connect_timeout=self.timeout_s)
        return conn

    def resp(self, action) -> str | None:
        _, i, args = action
        if args and args[0].lower() in _PUSH_REPLIES:
            return self.raw(("resp_raw", i, resp_frame(args)), "redis")
        conn = self._resp_conn(i)
        try:
            conn.send_command(*args)
            conn.read_response()
        except redis.ResponseError:
            return None
        except redis.TimeoutError:
            self._drop_resp(i)
            return f"no RESP reply within {self.timeout_s:.0f}s"
        except (redis.ConnectionError, OSError) as e:
            self._drop_resp(i)
            if args and args[0].lower() in _MAY_CLOSE:
                return None
            return f"RESP connection dropped ({e.__class__.__name__}: {e})"
        except (redis.DataError, ValueError, UnicodeDecodeError):
            self._drop_resp(i)  # the client could not parse a reply: resync by reconnecting
        else:
            if args and args[0].lower() in _CLOSES:
                self._drop_resp(i)
        return None

    def _drop_resp(self, i: int) -> None:
        conn = self._resp.pop(i, None)
        if conn is not None:
            conn.disconnect()

    # ------------------------------------------------------------ raw sockets

    def raw(self, action, port_name: str) -> str | None:
        """Send raw bytes and a sentinel request; read until the sentinel's reply, EOF or
        SENTINEL_WAIT_S (a malformed frame may swallow the sentinel: not a problem); then
        half-close, and the server must close within the request timeout."""
        _, i, data = action
        node = self._node(i)
        address = node.redis_address if port_name == "redis" else node.memcached_address
        sentinel, answer = _SENTINELS[port_name]
        with socket.create_connection(address, timeout=self.timeout_s) as s:
            try:
                s.sendall(data + sentinel)
            except OSError:
                return None  # the server closed first (it may refuse early): fine
            seen = b""
            deadline = time.monotonic() + SENTINEL_WAIT_S
            while answer not in seen and time.monotonic() < deadline:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                except OSError:
                    return None
                if not chunk:
                    return None  # closed by the server (a protocol error): fine
                seen = (seen + chunk)[-4096:]
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                return None
            deadline = time.monotonic() + self.timeout_s
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return f"raw {port_name} connection still open {self.timeout_s:.0f}s after EOF"
                s.settimeout(remaining)
                try:
                    if not s.recv(65536):
                        return None
                except socket.timeout:
                    continue
                except OSError:
                    return None

    # ------------------------------------------------------------ memcached

    def mc(self, action) -> str | None:
        _, i, (method, args, kwargs) = action
        client = self._mc.get(i)
        if client is None:
            client = self._mc[i] = MemcacheClient(self._node(i).memcached_address, timeout=self.timeout_s,
                                                  connect_timeout=self.timeout_s, allow_unicode_keys=True)
        try:
            getattr(client, method)(*args, **kwargs)
        except (mc_errors.MemcacheClientError, mc_errors.MemcacheServerError, ValueError, TypeError):
            return None
        except socket.timeout:
            self._drop_mc(i)
            return f"no memcached reply within {self.timeout_s:.0f}s"
        except (mc_errors.MemcacheUnexpectedCloseError, OSError) as e:
            self._drop_mc(i)
            return f"memcached connection dropped ({e.__class__.__name__}: {e})"
        except mc_errors.MemcacheUnknownError:
            self._drop_mc(i)
        return None

    def _drop_mc(self, i: int) -> None:
        client = self._mc.pop(i, None)
        if client is not None:
            client.close()

    # ------------------------------------------------------------ gRPC

    def _call(self, i: int, method: str, stream: bool = False):
        channel = self.cluster.channel(self._node(i))
        make = channel.stream_stream if stream else channel.unary_unary
        return make(f"/raftcache.v1.Cache/{method}", request_serializer=None, response_deserializer=None)

    def grpc(self, action) -> str | None:
        _, i, data = action
        try:
            self._call(i, "Execute")(data, timeout=self.timeout_s)
        except grpc.RpcError as e:
            return self._grpc_problem(e)
        return None

    def grpc_pipeline(self, action) -> str | None:
        _, i, requests = action
        # RequestBatch.requests = 1 (repeated Request), built from the serialized requests
        batch = b"".join(b"\x0a" + varint(len(r)) + r for r in requests)
        try:
            for _ in self._call(i, "Pipeline", stream=True)(iter([batch]), timeout=self.timeout_s):
                pass
        except grpc.RpcError as e:
            return self._grpc_problem(e)
        return None

    def _grpc_problem(self, e: grpc.RpcError) -> str | None:
        code = e.code()
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return f"no gRPC reply within {self.timeout_s:.0f}s"
        if code == grpc.StatusCode.UNKNOWN:
            return f"gRPC UNKNOWN (servicer exception): {e.details()}"
        return None

    # ------------------------------------------------------------ dispatch

    def send(self, action) -> str | None:
        """Send one action; a description of the problem it caused, or None."""
        self.sent += 1
        try:
            return self._send(action)
        except OSError as e:  # cannot even connect: the node is gone or refuses
            node = self._node(action[1])
            return f"cannot reach {node.id} (process alive: {node.alive}): {e.__class__.__name__}: {e}"

    def _send(self, action) -> str | None:
        kind = action[0]
        if kind == "resp":
            return self.resp(action)
        if kind == "resp_raw":
            return self.raw(action, "redis")
        if kind == "mc":
            return self.mc(action)
        if kind == "mc_raw":
            return self.raw(action, "memcached")
        if kind in ("grpc", "grpc_raw"):
            return self.grpc(action)
        if kind == "grpc_pipeline":
            return self.grpc_pipeline(action)
        raise AssertionError(f"unknown action kind {kind!r}")


def run_batch(cluster: LocalCluster, actions: list[tuple]) -> list[Problem]:
    """Send every action in order; the problems found (empty when all went as allowed)."""
    driver = Driver(cluster)
    problems = []
    try:
        for action in actions:
            what = driver.send(action)
            if what is not None:
                problems.append(Problem(action, what))
    finally:
        driver.close()
    return problems
