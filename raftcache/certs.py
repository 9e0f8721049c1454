"""Throwaway certificates for a local cluster (`raftcache up --tls`), made with `cryptography`.

`ensure(tls_dir, node_ids, hosts)` keeps, in DATA_DIR/tls/ (0700):

    ca.crt ca.key            a local CA (ECDSA P-256), valid one year
    <node>.crt <node>.key    each node's certificate: server and client (peers use it
                             for mutual TLS), for localhost, 127.0.0.1, ::1 and `hosts`
    client.crt client.key    a client certificate (CN `client`) for clusters that require one

Keys are written 0600; files already there are kept (a restarted cluster
keeps its CA). Not for production: use your own CA there (docs/security.md).
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 365
CLIENT_NAME = "client"


@dataclasses.dataclass(frozen=True)
class Pair:
    cert: str
    key: str


def _write(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path + ".tmp", mode)
    os.replace(path + ".tmp", path)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "raftcache local"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: str, issuer: x509.Name, public_key, days: int = VALID_DAYS) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days)))


def make_ca(directory: str) -> Pair:
    pair = Pair(os.path.join(directory, "ca.crt"), os.path.join(directory, "ca.key"))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_builder("raftcache local CA", _name("raftcache local CA"), key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    _write(pair.key, _key_pem(key), 0o600)
    _write(pair.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return pair


def make_cert(directory: str, name: str, ca: Pair, hosts: list[str] = (), server: bool = True,
              days: int = VALID_DAYS) -> Pair:
    """A certificate for `name` signed by `ca`: server and client when `server`, else client only."""
    with open(ca.key, "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    with open(ca.cert, "rb") as f:
        ca_cert = x509.load_pem_x509_certificate(f.read())
    key = ec.generate_private_key(ec.SECP256R1())
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH] + ([ExtendedKeyUsageOID.SERVER_AUTH] if server else [])
    builder = (_builder(name, ca_cert.subject, key.public_key(), days)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False))
    if server:
        alt: list[x509.GeneralName] = []
        for host in dict.fromkeys(["localhost", "127.0.0.1", "::1", *hosts]):
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(host.strip("[]"))))
            except ValueError:
                alt.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    pair = Pair(os.path.join(directory, f"{name}.crt"), os.path.join(directory, f"{name}.key"))
    _write(pair.key, _key_pem(key), 0o600)
    _write(pair.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return pair


def ensure(tls_dir: str, node_ids: list[str], hosts: list[str] = ()) -> dict[str, Pair]:
    """The CA, each node's pair and the client pair in `tls_dir`, made where missing:
    {"ca": …, "client": …, node id: …}."""
    os.makedirs(tls_dir, mode=0o700, exist_ok=True)
    os.chmod(tls_dir, 0o700)
    ca = Pair(os.path.join(tls_dir, "ca.crt"), os.path.join(tls_dir, "ca.key"))
    if not (os.path.exists(ca.cert) and os.path.exists(ca.key)):
        ca = make_ca(tls_dir)
    out = {"ca": ca}
    for name, server in [(CLIENT_NAME, False), *((node_id, True) for node_id in node_ids)]:
        pair = Pair(os.path.join(tls_dir, f"{name}.crt"), os.path.join(tls_dir, f"{name}.key"))
        if not (os.path.exists(pair.cert) and os.path.exists(pair.key)):
            pair = make_cert(tls_dir, name, ca, list(hosts), server=server)
        out[name] = pair
    return out
