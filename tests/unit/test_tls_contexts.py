"""node/service/tls.py's contexts and node/service/tls13.py: what each port's context enforces,
checked on the contexts themselves and with a real handshake over a socket pair."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

from raftcache import certs
from raftcache.node.config import TlsConfig
from raftcache.node.errors import ConfigError
from raftcache.node.service.tls import TlsContexts
from raftcache.node.service.tls13 import set_ciphersuites, tls13_suites


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("tlsctx"))
    return certs.ensure(d, ["n1"], ["127.0.0.1"])


def _config(pairs, **kw) -> TlsConfig:
    return TlsConfig(cert_file=pairs["n1"].cert, key_file=pairs["n1"].key, ca_cert_file=pairs["ca"].cert, **kw)


def test_suites_are_set_on_every_python_context(pairs):
    tls = TlsContexts(_config(pairs, auth_clients="optional", ciphersuites="TLS_CHACHA20_POLY1305_SHA256"))
    for ctx in (tls.server_context, tls.peer.server, tls.peer.client):
        assert tls13_suites(ctx) == ["TLS_CHACHA20_POLY1305_SHA256"]
    assert tls13_suites(TlsContexts(_config(pairs)).server_context) == \
        tls13_suites(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))   # unset: OpenSSL's default


def test_the_raft_contexts_require_a_peer_certificate_whatever_clients_need(pairs):
    tls = TlsContexts(_config(pairs, auth_clients="no"))
    assert tls.server_context.verify_mode == ssl.CERT_NONE
    assert tls.peer.server.verify_mode == ssl.CERT_REQUIRED
    assert tls.peer.client.verify_mode == ssl.CERT_REQUIRED and tls.peer.client.check_hostname
    assert TlsContexts(_config(pairs, replication="no")).peer is None


def test_unknown_tls12_ciphers_stop_the_node_with_a_clear_error(pairs):
    with pytest.raises(ConfigError, match="--tls-ciphers 'NO-SUCH-CIPHER'"):
        TlsContexts(_config(pairs, ciphers="NO-SUCH-CIPHER"))


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> str:
    """The TLS 1.3 suite a handshake over a socket pair agreed on (SSLError when none)."""
    a, b = socket.socketpair()
    result: dict = {}

    def serve():
        try:
            with server_ctx.wrap_socket(a, server_side=True) as s:
                result["suite"] = s.cipher()[0]
        except (ssl.SSLError, OSError) as e:
            result["error"] = e

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_ctx.wrap_socket(b, server_hostname="127.0.0.1") as s:
            return s.cipher()[0]
    finally:
        b.close()
        thread.join(10)


def test_a_handshake_agrees_only_on_a_configured_suite(pairs):
    server = TlsContexts(_config(pairs, auth_clients="no", ciphersuites="TLS_AES_256_GCM_SHA384")).server_context
    client = ssl.create_default_context(cafile=pairs["ca"].cert)
    assert _handshake(server, client) == "TLS_AES_256_GCM_SHA384"
    set_ciphersuites(client, "TLS_AES_128_GCM_SHA256")
    client.minimum_version = ssl.TLSVersion.TLSv1_3
    with pytest.raises(ssl.SSLError):
        _handshake(server, client)
