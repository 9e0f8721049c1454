"""TLS on every client port (tests/integration/secure_cluster.py: client certificates required, a
password, `--tls-auth-clients-user CN`, `--http-auth yes`): handshakes on the Redis, memcached, gRPC
and HTTP ports, plaintext refused, client certificates as ACL identities, certificates reloaded
without a restart. One 3-node cluster for the module; `raftcache up --tls` itself, with the clients
the issue names (no client certificate), in test_up_tls.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import urllib.error
import urllib.request

import grpc
import pytest
import redis
from pymemcache.client.base import Client as Memcache

from raftcache import certs
from raftcache.client import Client, PermissionDeniedError, TLSConfig
from raftcache.proto import admin_pb2, admin_pb2_grpc
from raftcache.localcluster import free_base_port, wait_until
from tests.integration.secure_cluster import PASSWORD, SecureCluster, memcached_exchange


@pytest.fixture(scope="module")
def tc(tmp_path_factory):
    cluster = SecureCluster(str(tmp_path_factory.mktemp("tls")), 3, tls=True, extra_args=["--http-auth", "yes"])
    try:
        cluster.start()
        tls_dir = os.path.dirname(cluster.pairs["ca"].cert)
        for name in ("alice", "stranger"):
            cluster.pairs[name] = certs.make_cert(tls_dir, name, cluster.pairs["ca"], server=False)
        other_ca = certs.make_ca(cluster.root)  # a CA the nodes do not trust
        cluster.pairs["forged"] = certs.make_cert(cluster.root, "alice-forged", other_ca, server=False)
        cluster.redis(cluster.leader()).execute_command("ACL", "SETUSER", "alice", "on", "~app:*", "+@read",
                                                        "+@write", "-@dangerous", "+acl|whoami")
        yield cluster
    except BaseException:
        print(cluster.tail_logs())
        raise
    finally:
        cluster.close()


def _https(tc, node, path: str, auth: str | None = None) -> tuple[int, bytes]:
    host, port = node.http_address
    request = urllib.request.Request(f"https://{host}:{port}{path}")
    if auth is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10, context=tc.ssl_context()) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_every_port_speaks_tls(tc):
    node = tc.followers()[0]
    r = tc.redis(node)
    assert r.set("k", "over tls") and r.get("k") == b"over tls"   # a write forwarded to the leader: mutual TLS
    mc = Memcache(node.memcached_address, tls_context=tc.ssl_context())
    assert mc.set("auth", f"default {PASSWORD}") and mc.set("m", "v") and mc.get("m") == b"v"
    with Client([node.grpc_address], password=PASSWORD, tls=tc.tls) as sdk:
        assert sdk.get("k") == b"over tls"
    assert _https(tc, node, "/health")[0] == 200


def test_plaintext_is_refused_on_every_port(tc):
    node = tc.nodes[0]
    for (host, port), hello, answer in [(node.redis_address, b"PING\r\n", b"PONG"),
                                        (node.redis_address, b"AUTH " + PASSWORD.encode() + b"\r\n", b"OK"),
                                        (node.memcached_address, b"version\r\n", b"VERSION"),
                                        (node.http_address, b"GET /health HTTP/1.0\r\n\r\n", b"HTTP/")]:
        with socket.create_connection((host, port), timeout=10) as s:
            s.sendall(hello)
            reply = b""
            try:
                while chunk := s.recv(4096):
                    reply += chunk
            except ConnectionResetError:
                pass
        assert answer not in reply, (port, reply)
    channel = grpc.insecure_channel(node.grpc_address)
    with pytest.raises(grpc.RpcError) as e:
        admin_pb2_grpc.AdminStub(channel).Status(admin_pb2.StatusRequest(), timeout=5)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_client_certificate_logs_in_as_the_user_its_cn_names(tc):
    node = tc.nodes[1]
    alice = tc.pairs["alice"]
    r = tc.redis(node, password=None, ssl_certfile=alice.cert, ssl_keyfile=alice.key)
    assert r.acl_whoami() == "alice"
    assert r.set("app:cert", "1")
    with pytest.raises(redis.exceptions.NoPermissionError):
        r.flushall()
    mc_ctx = tc.ssl_context("alice")
    assert memcached_exchange(node.memcached_address, b"set app:mc 0 0 1\r\nv\r\nflush_all\r\n", 2, mc_ctx) == \
        b"STORED\r\nCLIENT_ERROR NOPERM User alice has no permissions to run the 'flushdb' command\r\n"
    cert_only = TLSConfig(ca=tc.pairs["ca"].cert, cert=alice.cert, key=alice.key)
    with Client([node.grpc_address], tls=cert_only) as sdk:
        assert sdk.set("app:grpc", "1")
        with pytest.raises(PermissionDeniedError):
            sdk.flushall()
    # a certificate whose CN is no user: the default user, who needs a password
    stranger = tc.redis(node, password=None, ssl_certfile=tc.pairs["stranger"].cert,
                        ssl_keyfile=tc.pairs["stranger"].key)
    with pytest.raises(redis.AuthenticationError):
        stranger.get("k")


def test_no_certificate_or_one_from_another_ca_is_refused(tc):
    forged = tc.pairs["forged"]
    for kw in ({"ssl_certfile": forged.cert, "ssl_keyfile": forged.key}, {"ssl_certfile": None, "ssl_keyfile": None}):
        with pytest.raises(redis.ConnectionError):
            tc.redis(tc.nodes[0], **kw).ping()
    with Client([tc.nodes[0].grpc_address], password=PASSWORD, tls=TLSConfig(ca=tc.pairs["ca"].cert),
                timeout_s=3) as sdk:
        with pytest.raises(Exception):
            sdk.get("k")


def test_http_status_needs_credentials_health_does_not(tc):
    node = tc.nodes[2]
    assert _https(tc, node, "/health")[0] == 200
    assert _https(tc, node, "/status")[0] == 401
    assert _https(tc, node, "/metrics", "default:wrong")[0] == 401
    code, body = _https(tc, node, "/status", f"default:{PASSWORD}")
    assert code == 200 and b"leader_id" in body


def test_the_dashboard_needs_credentials_and_reaches_every_member_over_tls(tc):
    node = tc.nodes[0]
    assert _https(tc, node, "/")[0] == 401
    assert _https(tc, node, "/cluster")[0] == 401
    code, body = _https(tc, node, "/", f"default:{PASSWORD}")
    assert code == 200 and b"dashboard.js" in body
    # the node asks its peers over HTTPS with its own certificate, passing the credentials on
    code, body = _https(tc, node, "/cluster", f"default:{PASSWORD}")
    assert code == 200
    members = json.loads(body)["members"]
    assert [m["id"] for m in members if not m["reachable"]] == [], members
    assert {m["status"]["id"] for m in members} == {n.id for n in tc.nodes}


def test_ctl_over_tls(tc):
    env = dict(os.environ, RAFTCACHE_PASSWORD=PASSWORD, RAFTCACHE_TLS_CA=tc.pairs["ca"].cert,
               RAFTCACHE_TLS_CERT=tc.pairs["client"].cert, RAFTCACHE_TLS_KEY=tc.pairs["client"].key)
    out = subprocess.run([sys.executable, "-m", "raftcache", "ctl", "--endpoint", tc.nodes[0].grpc_address, "get",
                          "k"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "over tls", out.stderr


def _served_serial(tc, address: tuple[str, int], alpn: list[str] | None = None) -> int:
    ctx = tc.ssl_context()
    ctx.check_hostname = False
    if alpn:
        ctx.set_alpn_protocols(alpn)
    with socket.create_connection(address, timeout=10) as raw, ctx.wrap_socket(raw) as s:
        from cryptography import x509
        return x509.load_der_x509_certificate(s.getpeercert(binary_form=True)).serial_number


def test_certificates_are_reloaded_without_a_restart(tc):
    node = tc.nodes[0]
    host = node.peer.host
    ports = {"redis": (host, node.peer.port("redis")), "memcached": (host, node.peer.port("memcached")),
             "http": (host, node.peer.port("http")), "grpc": (host, node.peer.port("grpc")),
             "raft": (host, node.peer.port("raft"))}   # mutual TLS: the client certificate is from the CA
    before = {name: _served_serial(tc, addr, ["h2"] if name == "grpc" else None) for name, addr in ports.items()}
    tls_dir = os.path.dirname(tc.pairs[node.id].cert)
    new = certs.make_cert(tls_dir, f"{node.id}-next", tc.pairs["ca"], ["127.0.0.1"])
    os.replace(new.key, tc.pairs[node.id].key)
    os.replace(new.cert, tc.pairs[node.id].cert)
    for name, addr in ports.items():
        wait_until(lambda: _served_serial(tc, addr, ["h2"] if name == "grpc" else None) != before[name], 15,
                   f"the new certificate on the {name} port")
    pids = [n.pid for n in tc.nodes]
    assert tc.redis(node).set("after-reload", "1")               # old and new clients keep working
    with Client([node.grpc_address], password=PASSWORD, tls=tc.tls) as sdk:
        assert sdk.get("after-reload") == b"1"
    assert [n.pid for n in tc.nodes] == pids and all(n.alive for n in tc.nodes)


def test_up_tls_serves_the_standard_clients_over_tls(tmp_path):
    """`raftcache up --tls`: the clients the issue names connect with the CA alone."""
    base = free_base_port(nodes=1)
    data = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-m", "raftcache", "up", "--tls", "--nodes", "1", "--base-port",
                             str(base), "--data-dir", str(data)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        ready = proc.stdout.readline()
        assert ready.startswith("raftcache ready") and "--tls --cacert" in ready, ready
        ca = str(data / "tls" / "ca.crt")
        for name in ("ca.key", "client.key", "n1.key"):
            assert stat.S_IMODE(os.stat(data / "tls" / name).st_mode) == 0o600
        if shutil.which("redis-cli"):
            out = subprocess.run(["redis-cli", "--tls", "--cacert", ca, "-p", str(base + 1), "SET", "a", "1"],
                                 capture_output=True, text=True, timeout=30)
            assert out.stdout.strip() == "OK", out
        r = redis.Redis("127.0.0.1", base + 1, ssl=True, ssl_ca_certs=ca)
        assert r.incr("a") in (1, 2)
        mc = Memcache(("127.0.0.1", base + 2), tls_context=ssl.create_default_context(cafile=ca))
        assert mc.set("m", "v", noreply=False) and mc.get("m") == b"v"
        with urllib.request.urlopen(f"https://127.0.0.1:{base + 4}/health", timeout=10,
                                    context=ssl.create_default_context(cafile=ca)) as response:
            assert response.status == 200
        ctl = subprocess.run([sys.executable, "-m", "raftcache", "ctl", "--data-dir", str(data), "get", "m"],
                             capture_output=True, text=True, timeout=60)
        assert ctl.stdout.strip() == "v", ctl.stderr
        with Client([f"127.0.0.1:{base}"], tls=TLSConfig(ca=ca)) as sdk:
            assert sdk.get("m") == b"v"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
