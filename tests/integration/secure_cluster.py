"""A test cluster whose nodes need a password and, optionally, speak TLS only (tests/cluster.py's Cluster,
with credentials on its own gRPC calls), and clients of every port that log in.

The default user's password reaches the nodes through RAFTCACHE_REDIS_PASSWORD (never a command
line or a file); with `tls=True`, DATA/tls holds a throwaway CA, one certificate all nodes share,
and client certificates (raftcache/certs.py), and every node runs with the flags `raftcache up --tls`
gives but with client certificates required (Redis's default, and the only way the gRPC port asks
for one) plus `--tls-auth-clients-user CN`; the clients here present DATA/tls/client.crt (CN
`client`, no such user: they still log in with a password).
"""

from __future__ import annotations

import os
import socket
import ssl

import grpc
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from raftcache import certs
from raftcache.client.auth import TLSConfig, basic_metadata
from raftcache.proto import admin_pb2, admin_pb2_grpc, cache_pb2
from tests.cluster import SECRET_METADATA, Cluster, Node

PASSWORD = "default-pw-7f3a91"


class SecureCluster(Cluster):
    def __init__(self, root: str, n: int = 3, *, password: str = PASSWORD, tls: bool = False,
                 auth_clients: str = "yes", extra_args: list[str] | None = None):
        self.password = password
        self.pairs = None
        args = list(extra_args or [])
        if tls:
            self.pairs = certs.ensure(os.path.join(root, "tls"), ["node"], ["127.0.0.1"])
            args += ["--tls-cert-file", self.pairs["node"].cert, "--tls-key-file", self.pairs["node"].key,
                     "--tls-ca-cert-file", self.pairs["ca"].cert, "--tls-auth-clients", auth_clients,
                     "--tls-auth-clients-user", "CN"]
        super().__init__(root, n, extra_args=args, env={"RAFTCACHE_REDIS_PASSWORD": password} if password else {})

    # ------------------------------------------------------------ gRPC with credentials

    @property
    def tls(self) -> TLSConfig | None:
        if self.pairs is None:
            return None
        return TLSConfig(ca=self.pairs["ca"].cert, cert=self.pairs["client"].cert, key=self.pairs["client"].key)

    def channel(self, node: Node) -> grpc.Channel:
        ch = self._channels.get(node.id)
        if ch is None:
            options = [("grpc.max_receive_message_length", 1 << 30)]
            if self.pairs is not None:
                ch = grpc.secure_channel(node.grpc_address, self.tls.channel_credentials(), options=options)
            else:
                ch = grpc.insecure_channel(node.grpc_address, options=options)
            self._channels[node.id] = ch
        return ch

    def status(self, node: Node, timeout_s: float = 2.0) -> admin_pb2.StatusReply:
        return admin_pb2_grpc.AdminStub(self.channel(node)).Status(
            admin_pb2.StatusRequest(), timeout=timeout_s, metadata=((SECRET_METADATA, self.secret),))

    def execute(self, node: Node, command, level: str | None = None, timeout_s: float = 10.0, **fields):
        req = cache_pb2.Request(command=command, **fields)
        metadata = (basic_metadata(None, self.password),) if self.password else None
        return self.cache(node).Execute(req, timeout=timeout_s, metadata=metadata)

    # ------------------------------------------------------------ clients of the other ports

    def redis(self, node: Node, username: str | None = None, password: str | None = "default", **kw) -> redis.Redis:
        """redis-py on `node` (RESP2), logged in as `username` (the default user's password by default)."""
        if password == "default":
            password = self.password
        if self.pairs is not None:
            kw = {"ssl": True, "ssl_ca_certs": self.pairs["ca"].cert, "ssl_certfile": self.pairs["client"].cert,
                  "ssl_keyfile": self.pairs["client"].key, **kw}
        host, port = node.redis_address
        # No retries: redis-py retries an AuthenticationError (a ConnectionError) with back-off.
        return redis.Redis(host, port, username=username, password=password, socket_timeout=10,
                           retry=Retry(NoBackoff(), 0), **kw)

    def ssl_context(self, client_cert: str | None = "client") -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.pairs["ca"].cert)
        if client_cert:
            pair = self.pairs[client_cert]
            ctx.load_cert_chain(pair.cert, pair.key)
        return ctx


def memcached_exchange(address: tuple[str, int], data: bytes, expect_lines: int, ssl_context=None,
                       timeout_s: float = 10.0) -> bytes:
    """Send raw memcached text and read until `expect_lines` lines came back."""
    sock = socket.create_connection(address, timeout=timeout_s)
    if ssl_context is not None:
        sock = ssl_context.wrap_socket(sock, server_hostname=address[0])
    with sock:
        sock.sendall(data)
        out = b""
        while out.count(b"\r\n") < expect_lines:
            chunk = sock.recv(65536)
            if not chunk:
                break
            out += chunk
        return out
