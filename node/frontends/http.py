"""The node's HTTP port: /metrics (Prometheus), /health and /status (JSON).

/health is 200 only when node/service/health.py judges the node healthy (a leader
with recent majority contact, or a follower with recent leader contact),
else 503; the JSON body gives role, healthy and the reason.

A deliberately tiny asyncio HTTP/1.1 server (GET only, one request per
connection) so the node needs no web framework. Nothing here changes state.
With `--http-auth yes` and a cluster that needs a password, /metrics and
/status need an ACL user's credentials (HTTP Basic); /health never does. With
TLS configured the port speaks HTTPS only (node/service/tls.py).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging

from raftcache.node.service import health, metrics
from raftcache.node.service.identity import AuthError

log = logging.getLogger(__name__)
MAX_REQUEST_BYTES = 8192


def _jsonable(status: dict) -> dict:
    out = dict(status)
    out["members"] = [{k: v for k, v in m.items() if k != "peer"} for m in status["members"]]
    for key in ("last_leader_contact_s", "quorum_contact_s"):
        if out.get(key) == float("inf"):
            out[key] = None  # never (JSON has no infinity)
    return out


def _authorized(service, head: bytes, peer) -> bool:
    """Whether a request may read /metrics and /status (see the module docstring)."""
    identity = service.identity
    if service.config.frontend.http_auth != "yes" or not identity.auth_required:
        return True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"authorization":
            scheme, _, encoded = value.strip().partition(b" ")
            try:
                user, sep, password = base64.b64decode(encoded.strip(), validate=True).partition(b":")
                if scheme.lower() != b"basic" or not sep:
                    return False
                identity.authenticate(user or None, password, f"addr={peer} proto=http")
                return True
            except (binascii.Error, ValueError, AuthError):
                return False
    return False


async def start_server(service, host: str, port: int, ssl=None) -> asyncio.Server:
    registry = metrics.registry_for(service.status)
    contact_limit_s = health.contact_max_s(service.config.replication.election_timeout_max_s)

    def respond(path: str, head: bytes, peer) -> tuple[int, str, bytes]:
        if path in ("/metrics", "/status") and not _authorized(service, head, peer):
            return 401, "text/plain", b"credentials required: HTTP Basic with an ACL user\n"
        if path == "/metrics":
            return 200, metrics.CONTENT_TYPE, metrics.render(registry)
        if path in ("/health", "/healthz"):
            s = service.status()
            verdict = health.assess(s, contact_limit_s)
            body = json.dumps({"healthy": verdict.healthy, "role": s["role"], "reason": verdict.reason,
                               "leader_id": s["leader_id"], "term": s["term"]}).encode()
            return (200 if verdict.healthy else 503), "application/json", body
        if path == "/status":
            return 200, "application/json", json.dumps(_jsonable(service.status())).encode()
        return 404, "text/plain", b"not found\n"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            method, _, rest = head.split(b"\r\n", 1)[0].decode("latin-1").partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            if method != "GET":
                code, ctype, body = 405, "text/plain", b"method not allowed\n"
            else:
                code, ctype, body = respond(path, head, writer.get_extra_info("peername"))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ValueError):
            code, ctype, body = 400, "text/plain", b"bad request\n"
        except Exception:
            log.exception("HTTP handler failed")
            code, ctype, body = 500, "text/plain", b"internal error\n"
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error", 503: "Service Unavailable"}[code]
        try:
            challenge = 'WWW-Authenticate: Basic realm="raftcache"\r\n' if code == 401 else ""
            writer.write(
                f"HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n{challenge}"
                f"Connection: close\r\n\r\n".encode() + body
            )
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port, limit=MAX_REQUEST_BYTES, ssl=ssl,
                                      ssl_handshake_timeout=10 if ssl is not None else None)
