"""Mutual TLS on the Raft port, plaintext ports beside the TLS ones, and TLS 1.3 cipher suites.

One 3-node cluster for the module (tests/integration/secure_cluster.py, client certificates
optional) started with `--tls-ciphersuites TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256`
and `--tls-plaintext-port-offset 5`; the Raft port speaks mutual TLS (`--tls-replication yes`, the
default with TLS). The Raft port is checked with raw `ssl` sockets: a peer certificate from the
cluster's CA completes a handshake, no certificate, a certificate of another CA or plaintext is
closed. Written keys must reach every node (replication runs over those connections).
"""

from __future__ import annotations

import base64
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request

import grpc
import pytest
import redis
from pymemcache.client.base import Client as Memcache

from raftcache import certs
from raftcache.client import AuthenticationError, Client, TLSConfig
from raftcache.localcluster import wait_until
from raftcache.node.service.tls13 import set_ciphersuites
from raftcache.proto import admin_pb2, admin_pb2_grpc
from tests.integration.secure_cluster import PASSWORD, SecureCluster

SUITES = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
OFFSET = 5


@pytest.fixture(scope="module")
def tc(tmp_path_factory):
    cluster = SecureCluster(str(tmp_path_factory.mktemp("tlspeers")), 3, tls=True, auth_clients="optional",
                            extra_args=["--tls-ciphersuites", SUITES,
                                        "--tls-plaintext-port-offset", str(OFFSET)])
    try:
        cluster.start()
        other_ca = certs.make_ca(cluster.root)   # a CA the nodes do not trust
        cluster.pairs["forged"] = certs.make_cert(cluster.root, "forged", other_ca, ["127.0.0.1"])
        yield cluster
    except BaseException:
        print(cluster.tail_logs())
        raise
    finally:
        cluster.close()


def _raft_address(node) -> tuple[str, int]:
    return node.peer.host, node.peer.port("raft")


def _peer_context(tc, pair: str | None) -> ssl.SSLContext:
    """A TLS client context as a peer node's: the cluster's CA, and `pair`'s certificate if any."""
    ctx = ssl.create_default_context(cafile=tc.pairs["ca"].cert)
    if pair is not None:
        ctx.load_cert_chain(tc.pairs[pair].cert, tc.pairs[pair].key)
    return ctx


def _closed_by_server(sock: socket.socket, timeout_s: float = 10.0) -> bool:
    """Whether the server closes the connection (EOF, reset or a TLS alert) within `timeout_s`."""
    sock.settimeout(timeout_s)
    try:
        sock.sendall(b"\x10\x00\x00\x00" + b"x" * 16)   # a frame header and a few bytes
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not sock.recv(4096):
                return True
    except (ssl.SSLError, ConnectionError):
        return True
    except socket.timeout:
        return False
    return False


def test_writes_replicate_over_mutual_tls(tc):
    leader = tc.leader()
    r = tc.redis(leader)
    for i in range(20):
        assert r.set(f"rep:{i}", f"v{i}")
    for node in tc.followers():
        follower = tc.redis(node)
        wait_until(lambda: follower.get("rep:19") == b"v19", 15, f"rep:19 on {node.id}")
    # the Raft port is TLS: a peer certificate from the cluster's CA completes a handshake there
    with socket.create_connection(_raft_address(leader), timeout=10) as raw, \
            _peer_context(tc, tc.followers()[0].id).wrap_socket(raw, server_hostname=leader.peer.host) as s:
        assert s.version() == "TLSv1.3" and s.cipher()[0] in SUITES.split(":")
        assert (("commonName", leader.id),) in s.getpeercert()["subject"]


def test_a_restarted_follower_catches_up_over_tls(tc):
    """Reconnection (PySyncObj reuses its outgoing connection objects) and a large value: TLS
    records split it, and the sends wait for a writable socket (SSLWantWrite)."""
    follower = tc.followers()[1]
    tc.kill(follower)
    big = os.urandom(4 << 20)
    r = tc.redis(tc.leader())
    assert r.set("big", big) and r.set("while-down", "1")
    tc.restart(follower)
    again = tc.redis(follower)
    wait_until(lambda: again.get("while-down") == b"1", 30, f"while-down on the restarted {follower.id}")
    assert again.get("big") == big


def test_a_node_whose_certificate_is_from_another_ca_gets_no_raft_traffic(tc):
    """A member restarted with a certificate the CA did not sign (cluster secret and data dir
    unchanged): the others refuse its handshakes and it misses the writes; with its own certificate
    back it catches up."""
    leader = tc.leader()
    node = tc.followers()[0]
    others = [n for n in tc.nodes if n is not node]
    good_argv, own, forged = list(node.argv), tc.pairs[node.id], tc.pairs["forged"]
    tc.kill(node)
    log_offsets = {n.id: os.path.getsize(n.log_path) for n in others}

    def refusals() -> str:
        text = ""
        for n in others:
            with open(n.log_path, errors="replace") as f:
                f.seek(log_offsets[n.id])
                text += f.read()
        return text

    node.argv = [{own.cert: forged.cert, own.key: forged.key}.get(a, a) for a in good_argv]
    try:
        tc.spawn(node)
        assert tc.redis(leader).set("cut-off", "1")   # (tc.leader() would ask the forged node too)
        wait_until(lambda: "TLS handshake failed" in refusals(), 30, "the others to refuse its handshake")
        stranger = redis.Redis(*node.redis_address, password=PASSWORD, ssl=True, ssl_cert_reqs="none",
                               ssl_certfile=tc.pairs["client"].cert, ssl_keyfile=tc.pairs["client"].key,
                               socket_timeout=10)
        wait_until(lambda: stranger.ping(), 30, f"{node.id} to serve with the forged certificate")
        stranger.execute_command("CLIENT", "CONSISTENCY", "any")
        assert stranger.get("cut-off") is None
    finally:
        tc.kill(node)
        node.argv = good_argv
    tc.restart(node)
    back = tc.redis(node)
    wait_until(lambda: back.get("cut-off") == b"1", 30, f"{node.id} to catch up with its own certificate")


@pytest.mark.parametrize("who", ["plaintext", "no certificate", "another CA"])
def test_the_raft_port_closes_a_peer_without_a_valid_certificate(tc, who):
    node = tc.followers()[0]
    raw = socket.create_connection(_raft_address(node), timeout=10)
    if who == "plaintext":
        assert _closed_by_server(raw)
        raw.close()
        return
    ctx = _peer_context(tc, None if who == "no certificate" else "forged")
    try:
        s = ctx.wrap_socket(raw, server_hostname=node.peer.host)
    except (ssl.SSLError, ConnectionError):
        raw.close()
        return   # refused during the handshake
    with s:
        assert _closed_by_server(s)   # TLS 1.3: the client learns of the refusal at its first read
    assert tc.redis(tc.leader()).set("after-refusal", who)   # the cluster is unharmed


def test_a_connection_that_never_finishes_its_handshake_is_closed(tc):
    """A stranger holding the Raft port open without a ClientHello counts as pending: closed
    at the peer authentication deadline (5 s)."""
    with socket.create_connection(_raft_address(tc.nodes[2]), timeout=20) as raw:
        started = time.monotonic()
        assert raw.recv(1) == b""
        assert time.monotonic() - started < 15


def test_optional_client_certificates(tc):
    """`--tls-auth-clients optional`: no certificate is fine, a certificate is verified when given and its
    CN logs in on the Redis and memcached ports; the gRPC port does not ask for one (grpcio)."""
    node = tc.nodes[2]
    tls_dir = os.path.dirname(tc.pairs["ca"].cert)
    tc.pairs["certuser"] = certs.make_cert(tls_dir, "certuser", tc.pairs["ca"], server=False)
    tc.redis(tc.leader()).execute_command("ACL", "SETUSER", "certuser", "on", "~cert:*", "+@all")
    wait_until(lambda: "certuser" in tc.redis(node).acl_users(), 15, "the user on every node")
    by_cert = tc.redis(node, password=None, ssl_certfile=tc.pairs["certuser"].cert,
                       ssl_keyfile=tc.pairs["certuser"].key)
    assert by_cert.acl_whoami() == "certuser"
    assert tc.redis(node, ssl_certfile=None, ssl_keyfile=None).acl_whoami() == "default"   # password, no cert
    with pytest.raises(redis.ConnectionError):
        tc.redis(node, ssl_certfile=tc.pairs["forged"].cert, ssl_keyfile=tc.pairs["forged"].key).ping()
    mc = Memcache(node.memcached_address, tls_context=tc.ssl_context("certuser"), timeout=10)
    assert mc.set("cert:m", "v", noreply=False) and mc.get("cert:m") == b"v"   # no auth set: the certificate
    cert_only = TLSConfig(ca=tc.pairs["ca"].cert, cert=tc.pairs["certuser"].cert, key=tc.pairs["certuser"].key)
    with Client([node.grpc_address], tls=cert_only) as sdk:
        with pytest.raises(AuthenticationError):
            sdk.get("cert:m")


def test_tls13_suites_are_those_configured(tc):
    node = tc.nodes[0]
    host = node.peer.host
    ports = {"redis": node.peer.port("redis"), "memcached": node.peer.port("memcached"),
             "http": node.peer.port("http"), "raft": node.peer.port("raft")}
    for suite, accepted in (("TLS_CHACHA20_POLY1305_SHA256", True), ("TLS_AES_128_GCM_SHA256", False)):
        for name, port in ports.items():
            ctx = _peer_context(tc, "client" if name != "raft" else tc.nodes[1].id)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            set_ciphersuites(ctx, suite)
            with socket.create_connection((host, port), timeout=10) as raw:
                if accepted:
                    with ctx.wrap_socket(raw, server_hostname=host) as s:
                        assert s.cipher()[0] == suite, name
                else:
                    with pytest.raises(ssl.SSLError):
                        ctx.wrap_socket(raw, server_hostname=host)


def test_plaintext_ports_beside_the_tls_ones(tc):
    node = tc.followers()[0]
    host = node.peer.host
    plain = redis.Redis(host, node.peer.port("redis") + OFFSET, password=PASSWORD, socket_timeout=10)
    assert plain.set("plain:k", "1") and plain.get("plain:k") == b"1"        # forwarded to the leader
    assert tc.redis(node).get("plain:k") == b"1"                               # and seen over TLS
    mc = Memcache((host, node.peer.port("memcached") + OFFSET), timeout=10)
    assert mc.set("auth", f"default {PASSWORD}", noreply=False) and mc.set("plain:m", "v", noreply=False)
    assert mc.get("plain:m") == b"v"
    # gRPC: a plain channel (the SDK would move on to the TLS endpoints the topology names)
    login = [("authorization", "Basic " + base64.b64encode(f"default:{PASSWORD}".encode()).decode())]
    with grpc.insecure_channel(f"{host}:{node.peer.port('grpc') + OFFSET}") as channel:
        status = admin_pb2_grpc.AdminStub(channel).Status(admin_pb2.StatusRequest(), timeout=10, metadata=login)
        assert status.id == node.id
    with urllib.request.urlopen(f"http://{host}:{node.peer.port('http') + OFFSET}/health", timeout=10) as response:
        assert response.status == 200
    # the TLS ports stay TLS only
    with pytest.raises(redis.ConnectionError):
        redis.Redis(host, node.peer.port("redis"), password=PASSWORD, socket_timeout=3).ping()
    channel = grpc.insecure_channel(node.grpc_address)
    with pytest.raises(grpc.RpcError):
        admin_pb2_grpc.AdminStub(channel).Status(admin_pb2.StatusRequest(), timeout=3)



def test_a_bad_suite_name_stops_the_node_at_start(tc, tmp_path):
    node = tc.nodes[0]
    out = subprocess.run([sys.executable, "-m", "raftcache", "node", "--id", "x", "--base-port", "1",
                          "--cluster-secret", "s", "--data-dir", str(tmp_path),
                          "--tls-cert-file", tc.pairs[node.id].cert, "--tls-key-file", tc.pairs[node.id].key,
                          "--tls-ca-cert-file", tc.pairs["ca"].cert, "--tls-ciphersuites", "TLS_NULL_SHA256"],
                         capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert out.returncode != 0
    assert "unknown TLS 1.3 cipher suite TLS_NULL_SHA256" in out.stderr + out.stdout
