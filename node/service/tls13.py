"""TLS 1.3 cipher suites on an `ssl.SSLContext` (Redis's `tls-ciphersuites`).

Python's `ssl` sets TLS <= 1.2 ciphers (`set_ciphers`) but has no call for
TLS 1.3 suites, which OpenSSL keeps apart (`SSL_CTX_set_ciphersuites`).
`set_ciphersuites` calls that function of the very OpenSSL the `_ssl`
module is linked with (looked up through `_ssl`'s own handle, never another
libssl on the system) on the context's `SSL_CTX`, which CPython keeps as the
first field after the object header. Before it writes anything it checks
that pointer: OpenSSL must report the verify mode and the options the
context reports (in OpenSSL's encoding). Afterwards it checks the result through `get_ciphers()`:
the TLS 1.3 suites enabled must be exactly those asked for. Any mismatch
raises TlsSuitesError, so the node refuses to start rather than run with
suites other than its configuration says.

Names are checked before (node/config/values.py `tls_ciphersuites`).
"""

from __future__ import annotations

import ctypes
import ssl

import _ssl


class TlsSuitesError(RuntimeError):
    """The TLS 1.3 cipher suites could not be set as configured."""


def _libssl() -> ctypes.CDLL:
    lib = ctypes.CDLL(_ssl.__file__)
    for name, argtypes, restype in (("SSL_CTX_set_ciphersuites", [ctypes.c_void_p, ctypes.c_char_p], ctypes.c_int),
                                    ("SSL_CTX_get_verify_mode", [ctypes.c_void_p], ctypes.c_int),
                                    ("SSL_CTX_get_options", [ctypes.c_void_p], ctypes.c_uint64)):
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = argtypes, restype
    return lib


def tls13_suites(ctx: ssl.SSLContext) -> list[str]:
    """The TLS 1.3 suites `ctx` enables, in order."""
    return [c["name"] for c in ctx.get_ciphers() if c.get("protocol") == "TLSv1.3"]


def set_ciphersuites(ctx: ssl.SSLContext, suites: str) -> None:
    """Enable exactly `suites` (colon-separated RFC 8446 names) for TLS 1.3 on `ctx`."""
    try:
        lib = _libssl()
    except (OSError, AttributeError) as e:
        raise TlsSuitesError(f"--tls-ciphersuites: this Python's OpenSSL cannot set TLS 1.3 suites ({e})") from None
    ssl_ctx = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
    # OpenSSL's verify mode: SSL_VERIFY_PEER (1), with FAIL_IF_NO_PEER_CERT (2) for CERT_REQUIRED
    verify = {ssl.CERT_NONE: 0, ssl.CERT_OPTIONAL: 1, ssl.CERT_REQUIRED: 3}[ctx.verify_mode]
    if not ssl_ctx or lib.SSL_CTX_get_verify_mode(ssl_ctx) & 3 != verify or \
            lib.SSL_CTX_get_options(ssl_ctx) != int(ctx.options):
        raise TlsSuitesError("--tls-ciphersuites: cannot reach this Python's TLS context (unsupported Python build)")
    wanted = [s for s in suites.split(":") if s]
    if lib.SSL_CTX_set_ciphersuites(ssl_ctx, ":".join(wanted).encode()) != 1:
        raise TlsSuitesError(f"--tls-ciphersuites {suites!r}: refused by OpenSSL {ssl.OPENSSL_VERSION}")
    got = tls13_suites(ctx)
    if sorted(got) != sorted(wanted):
        raise TlsSuitesError(f"--tls-ciphersuites {suites!r}: OpenSSL {ssl.OPENSSL_VERSION} enabled "
                             f"{':'.join(got) or 'none'}")
