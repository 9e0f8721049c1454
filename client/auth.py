"""Credentials and TLS of the client: who the calls are (an ACL user) and how the channel is secured.

    Client(["node1:7000"], username="app", password="…", tls=TLSConfig(ca="ca.crt"))

A username/password travels as `authorization: Basic base64(user:pass)`
metadata on every call (RFC 7617's encoding; the node checks it against its
ACL users: docs/security.md); `TLSConfig` makes gRPC TLS channel credentials
(the CA that signed the nodes' certificates and, for clusters that require
client certificates, this client's certificate and key). `from_environment`
reads the same from RAFTCACHE_USERNAME / RAFTCACHE_PASSWORD /
RAFTCACHE_TLS_CA / RAFTCACHE_TLS_CERT / RAFTCACHE_TLS_KEY, or a TOML file
with the keys username, password, tls_ca, tls_cert, tls_key. No I/O but
reading those files.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import tomllib
from collections.abc import Mapping

import grpc
from raftcache.client.errors import ConfigError

AUTH_METADATA = "authorization"
_KEYS = ("username", "password", "tls_ca", "tls_cert", "tls_key")


@dataclasses.dataclass(frozen=True)
class TLSConfig:
    """TLS to the nodes' gRPC ports: `ca` verifies them; `cert`/`key` are this client's, for
    clusters started with --tls-auth-clients yes. Paths to PEM files."""

    ca: str | None = None            # None: the system's trusted CAs
    cert: str | None = None
    key: str | None = None
    server_name: str | None = None   # the name the nodes' certificates carry, when not their address

    def channel_credentials(self) -> grpc.ChannelCredentials:
        if bool(self.cert) != bool(self.key):
            raise ConfigError("TLSConfig needs both cert and key, or neither")
        try:
            return grpc.ssl_channel_credentials(root_certificates=_read(self.ca), private_key=_read(self.key),
                                                certificate_chain=_read(self.cert))
        except OSError as e:
            raise ConfigError(f"cannot read a TLS file: {e}") from None

    def channel_options(self) -> tuple:
        return (("grpc.ssl_target_name_override", self.server_name),) if self.server_name else ()


def _read(path: str | None) -> bytes | None:
    if not path:
        return None
    with open(path, "rb") as f:
        return f.read()


def basic_metadata(username: str | None, password: str) -> tuple[str, str]:
    """The metadata pair a call carries for `username` (None: the default user) and `password`."""
    token = base64.b64encode(f"{username or ''}:{password}".encode()).decode()
    return AUTH_METADATA, f"Basic {token}"


def from_environment(env: Mapping[str, str] = os.environ, path: str | None = None) -> dict:
    """Client keyword arguments (username, password, tls) from a TOML file (`path`, else
    RAFTCACHE_CLIENT_CONFIG) overlaid with RAFTCACHE_USERNAME, RAFTCACHE_PASSWORD,
    RAFTCACHE_TLS_CA, RAFTCACHE_TLS_CERT, RAFTCACHE_TLS_KEY; only what is set."""
    values: dict = {}
    path = path or env.get("RAFTCACHE_CLIENT_CONFIG")
    if path:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"cannot read the client config {path}: {e}") from None
        unknown = set(data) - set(_KEYS)
        if unknown:
            raise ConfigError(f"unknown keys in {path}: {', '.join(sorted(unknown))}")
        values.update({k: str(v) for k, v in data.items()})
    for key in _KEYS:
        if env.get(f"RAFTCACHE_{key.upper()}"):
            values[key] = env[f"RAFTCACHE_{key.upper()}"]
    out: dict = {k: values[k] for k in ("username", "password") if k in values}
    if any(k in values for k in ("tls_ca", "tls_cert", "tls_key")):
        out["tls"] = TLSConfig(ca=values.get("tls_ca"), cert=values.get("tls_cert"), key=values.get("tls_key"))
    return out
