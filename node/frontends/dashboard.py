"""The dashboard on the HTTP port: its static files and the whole-cluster JSON it polls.

`GET /` serves one page (node/frontends/dashboard_assets/: HTML, CSS and a
small script with its own canvas line chart; nothing from another host) with
an ETag and `Cache-Control`, so a browser revalidates instead of downloading.
The page polls `GET /cluster` every second: this node's /status and every
other member's, fetched by this node from the members' HTTP ports at the same
time (at most FETCH_TIMEOUT_S each; a member that does not answer is listed
with the reason). The node aggregates, rather than the browser fetching each
member, so the browser needs to reach only the node it opened (no CORS, one
origin, the same credentials: the request's Authorization header is passed
on, and with TLS the node dials its peers with its own certificate).

Must not touch: node state (it reads Service.status() only) or anything the
request path uses.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from importlib import resources

#: How long one member's /status may take before it is shown as unreachable.
FETCH_TIMEOUT_S = 1.0
#: A member's /status bigger than this is refused (a status is a few kB).
MAX_STATUS_BYTES = 1 << 20
#: Browsers polling at once share one aggregate this young.
CACHE_S = 0.5

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


class Asset:
    """One static file: its bytes, type and ETag."""

    def __init__(self, name: str, body: bytes):
        self.body = body
        self.content_type = _TYPES.get(name[name.rfind("."):], "application/octet-stream")
        self.etag = '"%s"' % hashlib.sha256(body).hexdigest()[:16]


def load_assets() -> dict[str, Asset]:
    """URL path -> Asset for every file of the dashboard ("/" is index.html)."""
    folder = resources.files("raftcache.node.frontends") / "dashboard_assets"
    out = {}
    for entry in folder.iterdir():
        if entry.is_file() and not entry.name.startswith("."):
            out["/" + entry.name] = Asset(entry.name, entry.read_bytes())
    out["/"] = out["/index.html"]
    return out


async def fetch_status(host: str, port: int, auth: bytes | None, ssl=None) -> dict:
    """A member's /status JSON; raises OSError, asyncio.TimeoutError or ValueError."""
    reader, writer = await asyncio.open_connection(host, port, ssl=ssl, limit=MAX_STATUS_BYTES)
    try:
        head = f"GET /status HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
        if auth:
            head += "Authorization: " + auth.decode("latin-1") + "\r\n"
        writer.write(head.encode("latin-1") + b"\r\n")
        await writer.drain()
        raw = await reader.read(MAX_STATUS_BYTES + 1)
        while len(raw) <= MAX_STATUS_BYTES:
            more = await reader.read(MAX_STATUS_BYTES + 1 - len(raw))
            if not more:
                break
            raw += more
    finally:
        writer.close()
    if len(raw) > MAX_STATUS_BYTES:
        raise ValueError("status too large")
    head, _, body = raw.partition(b"\r\n\r\n")
    code = head.split(b" ", 2)[1:2]
    if code != [b"200"]:
        raise ValueError("HTTP " + (code[0].decode("latin-1") if code else "reply unreadable"))
    return json.loads(body)


class ClusterView:
    """GET /cluster: every member's /status, as one JSON object (see the module docstring)."""

    def __init__(self, own_status, ssl_client=None):
        self._own_status = own_status      # () -> this node's /status dict (JSON-ready)
        self._ssl = ssl_client             # () -> ssl.SSLContext for the peers, or None
        self._cached: tuple[float, bytes | None, bytes] | None = None

    async def render(self, auth: bytes | None) -> bytes:
        now = time.monotonic()
        cached = self._cached
        if cached is not None and cached[1] == auth and now - cached[0] < CACHE_S:
            return cached[2]
        body = json.dumps(await self.collect(auth)).encode()
        self._cached = (time.monotonic(), auth, body)
        return body

    async def collect(self, auth: bytes | None) -> dict:
        own = self._own_status()
        ssl = self._ssl() if self._ssl is not None else None

        async def one(member: dict) -> dict:
            entry = {"id": member["id"], "zone": member["zone"], "http": member["http"]}
            if member["id"] == own["id"]:
                return dict(entry, reachable=True, status=own)
            host, _, port = member["http"].rpartition(":")
            try:
                status = await asyncio.wait_for(fetch_status(host, int(port), auth, ssl), FETCH_TIMEOUT_S)
                return dict(entry, reachable=True, status=status)
            except asyncio.TimeoutError:
                return dict(entry, reachable=False, error=f"no answer within {FETCH_TIMEOUT_S:g} s")
            except (OSError, ValueError) as e:
                return dict(entry, reachable=False, error=str(e) or type(e).__name__)

        members = await asyncio.gather(*(one(m) for m in own["members"]))
        return {"served_by": own["id"], "time": time.time(), "members": list(members)}
