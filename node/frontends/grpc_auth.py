"""Who a gRPC call (Cache, Admin) is: the ACL user of its credentials.

A call carries `authorization: Basic base64(username:password)` metadata
(RFC 7617's encoding; the SDK and `ctl` send it), or comes over TLS with a
client certificate whose CN names the user (`--tls-auth-clients-user CN`).
Without either it is the default user when that user needs no password, and
is refused UNAUTHENTICATED otherwise. On the Admin API, the cluster secret
(`x-raftcache-secret`, which its operator verbs require anyway) identifies a
member or an operator too (`CLUSTER`); it opens no Cache call. Wrong credentials are refused
UNAUTHENTICATED and recorded in the ACL LOG, as a failed AUTH is.
The health service needs no credentials; Internal calls carry the cluster
secret instead (node/frontends/grpc.py).
"""

from __future__ import annotations

import base64
import binascii
import hmac

from raftcache.node.errors import RaftcacheError, Reason
from raftcache.node.service import grpc_codec
from raftcache.node.service.identity import AuthError
from raftcache.node.service.forwarding import SECRET_METADATA

AUTH_METADATA = "authorization"
_NEEDED = ("authentication required: send an ACL user's credentials (authorization: Basic metadata) or a "
           "client certificate (docs/security.md)")
#: Verified credentials remembered per distinct metadata value (skips re-hashing every call).
_CACHE_MAX = 1024
#: The identity of an Admin call that carries the cluster secret and no user (not an ACL user).
CLUSTER = "(cluster secret)"


class Login:
    """Finds the user of each call (see the module docstring)."""

    def __init__(self, identity, cn_login: bool = False, secret: str = ""):
        self._identity = identity
        self._cn_login = cn_login
        self._secret = secret.encode()
        self._verified: dict[str, tuple[int, str]] = {}   # metadata value -> (users generation, user)

    async def user(self, context, secret_ok: bool = False) -> str:
        """The call's ACL user (or CLUSTER when `secret_ok` and it carries the cluster secret);
        aborts the call UNAUTHENTICATED when there is none."""
        metadata = context.invocation_metadata() or ()
        if secret_ok and self._secret and not any(k == AUTH_METADATA for k, _ in metadata) and any(
                k == SECRET_METADATA and hmac.compare_digest(v.encode(), self._secret) for k, v in metadata):
            return CLUSTER
        try:
            user = self.identify(metadata, context)
        except AuthError as e:
            user, message = None, e.message
        else:
            message = _NEEDED
        if user is None:
            status = grpc_codec.error_status(RaftcacheError(message, Reason.UNAUTHENTICATED))
            await context.abort(status.code, status.details, status.trailing_metadata)
        return user

    def identify(self, metadata, context=None) -> str | None:
        identity = self._identity
        for key, value in metadata:
            if key == AUTH_METADATA:
                return self._basic(value, context)
        if self._cn_login and context is not None:
            names = (context.auth_context() or {}).get("x509_common_name") or []
            if names:
                return identity.certificate_user(names[0].decode("utf-8", "replace"))
        return identity.login_user()

    def _basic(self, value: str, context) -> str:
        identity = self._identity
        cached = self._verified.get(value)
        if cached is not None and cached[0] == identity.generation:
            return cached[1]
        scheme, _, encoded = value.partition(" ")
        try:
            if scheme.lower() != "basic":
                raise ValueError
            username, sep, password = base64.b64decode(encoded.strip(), validate=True).partition(b":")
            if not sep:
                raise ValueError
        except (ValueError, binascii.Error):
            raise AuthError("malformed authorization metadata: use Basic base64(username:password)") from None
        peer = context.peer() if context is not None else ""
        user = identity.authenticate(username or None, password, f"addr={peer} proto=grpc")
        if len(self._verified) >= _CACHE_MAX:
            self._verified.clear()
        self._verified[value] = (identity.generation, user)
        return user
