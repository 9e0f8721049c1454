"""The node's HTTP port: the dashboard (/), /metrics (Prometheus), /health, /status and /cluster (JSON).

/health is 200 only when node/service/health.py judges the node healthy (a leader
with recent majority contact, or a follower with recent leader contact),
else 503; the JSON body gives role, healthy and the reason.

`/` is the dashboard page and /cluster the JSON it polls: every member's
/status gathered by this node (node/frontends/dashboard.py). Static files
carry an ETag (a matching If-None-Match gets 304) and `Cache-Control`; the
JSON answers are `no-store`.

A deliberately tiny asyncio HTTP/1.1 server (GET only, one request per
connection) so the node needs no web framework. Nothing here changes state.
With `--http-auth yes` and a cluster that needs a password, every path but
/health needs an ACL user's credentials (HTTP Basic). With TLS configured the
port speaks HTTPS only (node/service/tls.py).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging

from raftcache.node.frontends import dashboard
from raftcache.node.service import health, metrics
from raftcache.node.service.identity import AuthError

log = logging.getLogger(__name__)
MAX_REQUEST_BYTES = 8192
NO_STORE = "Cache-Control: no-store\r\n"
_REASONS = {200: "OK", 304: "Not Modified", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 500: "Internal Server Error", 503: "Service Unavailable"}
#: How long a browser may keep the dashboard's files before revalidating them (ETag).
ASSET_MAX_AGE_S = 300


def _jsonable(status: dict) -> dict:
    """/status: Service.status() with each member's HTTP address in place of its Peer."""
    out = dict(status)
    out["members"] = [dict({k: v for k, v in m.items() if k != "peer"},
                           http=f"{m['peer'].host}:{m['peer'].port('http')}") for m in status["members"]]
    for key in ("last_leader_contact_s", "quorum_contact_s"):
        if out.get(key) == float("inf"):
            out[key] = None  # never (JSON has no infinity)
    return out


def _header(head: bytes, wanted: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == wanted:
            return value.strip()
    return None


def _authorized(service, head: bytes, peer) -> bool:
    """Whether a request may read anything but /health (see the module docstring)."""
    identity = service.identity
    if service.config.frontend.http_auth != "yes" or not identity.auth_required:
        return True
    value = _header(head, b"authorization")
    if value is None:
        return False
    scheme, _, encoded = value.partition(b" ")
    try:
        user, sep, password = base64.b64decode(encoded.strip(), validate=True).partition(b":")
        if scheme.lower() != b"basic" or not sep:
            return False
        identity.authenticate(user or None, password, f"addr={peer} proto=http")
        return True
    except (binascii.Error, ValueError, AuthError):
        return False


async def start_server(service, host: str, port: int, ssl=None, ssl_client=None) -> asyncio.Server:
    """`ssl`: the port's server context (HTTPS only); `ssl_client`: () -> the context this
    node dials its peers' HTTP ports with for /cluster."""
    registry = metrics.registry_for(service.status, lambda: service.opstats.redis_port)
    contact_limit_s = health.contact_max_s(service.config.replication.election_timeout_max_s)
    assets = dashboard.load_assets()
    cluster = dashboard.ClusterView(lambda: _jsonable(service.status()), ssl_client)

    async def respond(path: str, head: bytes, peer) -> tuple[int, str, bytes, str]:
        """(code, content type, body, extra header lines)."""
        if path not in ("/health", "/healthz") and not _authorized(service, head, peer):
            return 401, "text/plain", b"credentials required: HTTP Basic with an ACL user\n", \
                'WWW-Authenticate: Basic realm="raftcache"\r\n'
        asset = assets.get(path)
        if asset is not None:
            cache = f"Cache-Control: public, max-age={ASSET_MAX_AGE_S}\r\nETag: {asset.etag}\r\n"
            if _header(head, b"if-none-match") == asset.etag.encode():
                return 304, asset.content_type, b"", cache
            return 200, asset.content_type, asset.body, cache
        if path == "/cluster":
            return 200, "application/json", await cluster.render(_header(head, b"authorization")), NO_STORE
        if path == "/metrics":
            return 200, metrics.CONTENT_TYPE, metrics.render(registry), NO_STORE
        if path in ("/health", "/healthz"):
            s = service.status()
            verdict = health.assess(s, contact_limit_s)
            body = json.dumps({"healthy": verdict.healthy, "role": s["role"], "reason": verdict.reason,
                               "leader_id": s["leader_id"], "term": s["term"]}).encode()
            return (200 if verdict.healthy else 503), "application/json", body, NO_STORE
        if path == "/status":
            return 200, "application/json", json.dumps(_jsonable(service.status())).encode(), NO_STORE
        return 404, "text/plain", b"not found\n", ""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            if method != "GET":
                code, ctype, body, extra = 405, "text/plain", b"method not allowed\n", ""
            else:
                code, ctype, body, extra = await respond(path, head, writer.get_extra_info("peername"))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ValueError):
            code, ctype, body, extra = 400, "text/plain", b"bad request\n", ""
        except Exception:
            log.exception("HTTP handler failed")
            code, ctype, body, extra = 500, "text/plain", b"internal error\n", ""
        try:
            writer.write(
                f"HTTP/1.1 {code} {_REASONS[code]}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n{extra}"
                f"Connection: close\r\n\r\n".encode() + body
            )
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port, limit=MAX_REQUEST_BYTES, ssl=ssl,
                                      ssl_handshake_timeout=10 if ssl is not None else None)
