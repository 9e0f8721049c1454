"""A test cluster whose nodes need a password and, optionally, speak TLS only, and clients of
every port that log in.

The launcher (raftcache/localcluster.py) gives the default user's password to the nodes through
RAFTCACHE_REDIS_PASSWORD (never a command line or a file) and sends it on its own calls; with
`tls=True`, ROOT/tls holds a throwaway CA, each node's certificate and client certificates
(raftcache/certs.py), client certificates are required (Redis's default, and the only way the gRPC
port asks for one) and `--tls-auth-clients-user CN` is on; the clients here present
ROOT/tls/client.crt (CN `client`, no such user: they still log in with a password).
"""

from __future__ import annotations

import socket
import ssl

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from raftcache.localcluster import Node
from tests.cluster import Cluster

PASSWORD = "default-pw-7f3a91"


class SecureCluster(Cluster):
    """A Cluster (raftcache/localcluster.py) whose default user needs `password`; with `tls`, TLS only,
    client certificates as `auth_clients` says, and `--tls-auth-clients-user CN`."""

    def __init__(self, root: str, n: int = 3, *, password: str = PASSWORD, tls: bool = False,
                 auth_clients: str = "yes", extra_args: list[str] | None = None):
        args = list(extra_args or []) + (["--tls-auth-clients-user", "CN"] if tls else [])
        super().__init__(root, n, extra_args=args, password=password, tls=auth_clients if tls else "")

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
