"""TLS for a node's ports: the contexts, the gRPC credentials, and reloading certificates without a restart.

With `--tls-cert-file`/`--tls-key-file` every client port speaks TLS only:
the Redis, memcached and HTTP ports through one `ssl.SSLContext`
(`server_context`), the gRPC port through gRPC's dynamic server credentials.
Redis's parameters (node/config.py TlsConfig): client certificates
required, optional or not asked for (`tls-auth-clients`), the CAs that sign
them, the protocol versions, TLS 1.2 ciphers and TLS 1.3 suites
(node/service/tls13.py). The Raft port's contexts (`--tls-replication yes`,
node/raft/peer_tls.py) always require a peer certificate signed by the CA.

Reload: `reload_if_changed` (every `reload_interval_s`, `run_reloader`) looks
at the files' modification times and sizes; when one changed, the new
certificate and key are loaded into the same context (new connections get
them, open ones keep theirs) and gRPC's credential fetcher hands gRPC the
new configuration at its next handshake. A bad new file is logged and the
old certificate kept. New CA certificates are added to those trusted (a CA
that was removed stays trusted until the node restarts). The Raft port's
contexts are made anew and swapped in instead (the Raft thread makes
connections from them meanwhile), so there the CA files are read afresh.

Node-to-node gRPC (forwarding, membership) dials the peers' TLS ports with
`channel_credentials`: the CA file to check the peer, this node's
certificate as its client certificate.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl

import grpc

from raftcache.node.config import TlsConfig
from raftcache.node.errors import ConfigError
from raftcache.node.raft.peer_tls import PeerTls
from raftcache.node.service.tls13 import TlsSuitesError, set_ciphersuites

log = logging.getLogger(__name__)

_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
_VERIFY = {"yes": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "no": ssl.CERT_NONE}


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


class TlsContexts:
    """One node's TLS material and the contexts made from it (see the module docstring)."""

    def __init__(self, config: TlsConfig):
        self.config = config
        self.cn_login = config.auth_clients_user.lower() == "cn"
        self.server_context = self._new_server_context()
        server, client = self._new_peer_contexts()
        # The Raft port's (node/raft/peer_tls.py); replaced whole at a reload, never changed in place:
        # the Raft thread makes connections from them while the reload runs on the event loop.
        self.peer = PeerTls(server=server, client=client) if server is not None else None
        self._stamp = self._file_stamp()
        self.generation = 0
        self._grpc_generation = -1
        self._load_pem()

    # ------------------------------------------------------------ files

    def _files(self) -> list[str]:
        c = self.config
        return [p for p in (c.cert_file, c.key_file, c.ca_cert_file) if p]

    def _file_stamp(self) -> tuple:
        out = []
        for path in self._files():
            try:
                st = os.stat(path)
                out.append((path, st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((path, None, None))
        return tuple(out)

    def _load_pem(self) -> None:
        c = self.config
        self.cert_pem, self.key_pem = _read(c.cert_file), _read(c.key_file)
        self.ca_pem = _read(c.ca_cert_file) if c.ca_cert_file else None

    def _new_context(self, protocol: int, verify_mode: ssl.VerifyMode) -> ssl.SSLContext:
        """A context with this node's versions, ciphers, suites, certificate and CAs."""
        c = self.config
        ctx = ssl.SSLContext(protocol)
        versions = [_VERSIONS[v] for v in c.protocols.split()] or [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3]
        ctx.minimum_version, ctx.maximum_version = min(versions), max(versions)
        if c.ciphers:
            try:
                ctx.set_ciphers(c.ciphers)
            except ssl.SSLError:
                raise ConfigError(f"--tls-ciphers {c.ciphers!r}: OpenSSL knows no such cipher") from None
        if c.prefer_server_ciphers == "yes":
            ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
        ctx.load_cert_chain(c.cert_file, c.key_file)
        ctx.verify_mode = verify_mode
        if c.ca_cert_file or c.ca_cert_dir:
            ctx.load_verify_locations(cafile=c.ca_cert_file or None, capath=c.ca_cert_dir or None)
        if c.ciphersuites:
            try:
                set_ciphersuites(ctx, c.ciphersuites)
            except TlsSuitesError as e:
                raise ConfigError(str(e)) from None
        return ctx

    def _new_server_context(self) -> ssl.SSLContext:
        return self._new_context(ssl.PROTOCOL_TLS_SERVER, _VERIFY[self.config.auth_clients])

    def _new_peer_contexts(self) -> tuple[ssl.SSLContext, ssl.SSLContext] | tuple[None, None]:
        """The Raft port's contexts (`--tls-replication yes`): as server, a client certificate
        signed by the CA is required whatever `tls-auth-clients` says; as client, this node's
        certificate is presented and the peer's checked (CA and host name)."""
        if not self.config.peers_use_tls:
            return None, None
        client = self._new_context(ssl.PROTOCOL_TLS_CLIENT, ssl.CERT_REQUIRED)
        return self._new_context(ssl.PROTOCOL_TLS_SERVER, ssl.CERT_REQUIRED), client


    # ------------------------------------------------------------ reload

    def reload_if_changed(self) -> bool:
        """Load the files again if any changed since the last look; whether they were loaded."""
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        c = self.config
        try:
            # Check the whole set in a scratch context first: a half-written or mismatched
            # pair must not replace a working certificate.
            self._new_server_context()
            peer_server, peer_client = self._new_peer_contexts()
            self.server_context.load_cert_chain(c.cert_file, c.key_file)
            if c.ca_cert_file or c.ca_cert_dir:
                self.server_context.load_verify_locations(cafile=c.ca_cert_file or None, capath=c.ca_cert_dir or None)
            if self.peer is not None:
                self.peer.server, self.peer.client = peer_server, peer_client
            self._load_pem()
        except (OSError, ssl.SSLError, ValueError) as e:
            log.error("TLS files changed but cannot be loaded (%s); keeping the current certificate", e)
            return False
        self.generation += 1
        log.info("TLS certificate reloaded from %s", c.cert_file)
        return True

    async def run_reloader(self) -> None:
        while True:
            await asyncio.sleep(self.config.reload_interval_s)
            try:
                self.reload_if_changed()
            except Exception:  # noqa: BLE001 - a reload must never stop the node
                log.exception("TLS reload failed")

    # ------------------------------------------------------------ gRPC

    def _grpc_configuration(self):
        return grpc.ssl_server_certificate_configuration([(self.key_pem, self.cert_pem)],
                                                         root_certificates=self.ca_pem)

    def grpc_server_credentials(self) -> grpc.ServerCredentials:
        """The gRPC port's credentials; gRPC asks `fetch` for a newer certificate at each handshake.

        gRPC's Python API can require a client certificate or not ask for one:
        `tls-auth-clients optional` does not ask on the gRPC port."""
        self._grpc_generation = self.generation

        def fetch():
            if self._grpc_generation == self.generation:
                return None
            self._grpc_generation = self.generation
            return self._grpc_configuration()

        return grpc.dynamic_ssl_server_credentials(self._grpc_configuration(), fetch,
                                                   require_client_authentication=self.config.auth_clients == "yes")

    def client_context(self) -> ssl.SSLContext:
        """A node's context for dialling its peers' HTTPS ports (the dashboard's /cluster):
        it trusts the cluster's CA and shows this node's certificate."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.config.ca_cert_file or None,
                                         capath=self.config.ca_cert_dir or None)
        ctx.load_cert_chain(self.config.cert_file, self.config.key_file)
        return ctx

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """A node's credentials for dialling its peers' gRPC ports (mutual TLS)."""
        return grpc.ssl_channel_credentials(root_certificates=self.ca_pem, private_key=self.key_pem,
                                            certificate_chain=self.cert_pem)


def peer_common_name(transport) -> str | None:
    """The CN of the verified client certificate of a TLS stream connection, or None."""
    cert = transport.get_extra_info("peercert") if transport is not None else None
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None
