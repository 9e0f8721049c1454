"""CLIENT TRACKING, CACHING, GETREDIR and TRACKINGINFO: client-side caching over RESP.

The tracking itself (which keys, which modes, the invalidations of applied
writes) is node/service/tracking.py's; the connection's session carries its
`Tracking`. RESP3 clients get `invalidate` push frames; a RESP2 client names
a REDIRECT connection that SUBSCRIBEs to `__redis__:invalidate`.
"""

from __future__ import annotations

import bisect

from raftcache.node.commands import OK
from raftcache.node.frontends.resp_protocol import RespError, RespMap
from raftcache.node.service.tracking import INVALIDATION_CHANNEL, Tracking

#: CLIENT subcommands handled here, with Redis's arity (counting CLIENT and the subcommand).
SUBCOMMANDS = {"tracking": -3, "caching": 3, "getredir": 2, "trackinginfo": 2}


def invalidation_push(conn):
    """The function that writes one invalidation to `conn` (RESP3 push frame). A RESP2
    connection tracking without REDIRECT gets nothing, as in Redis: RESP2 has no pushes."""
    notice = _resp3_notice(conn)
    return lambda keys, index: notice([b"invalidate", keys])


def redirect_target(server):
    """For the Tracker: the client id -> send(keys) to that REDIRECT target, as Redis: an
    `invalidate` push to a RESP3 target, a `__redis__:invalidate` message to a RESP2 one
    subscribed to it (nothing to one that is not); None when no such client is connected."""
    def lookup(client_id: int):
        target = server.connections.get(client_id)
        if target is None:
            return None
        if target.proto >= 3:
            return lambda keys: target.push([b"invalidate", keys])
        subs = target.session.subscriptions
        if subs is None or INVALIDATION_CHANNEL not in subs.channels:
            return _nowhere
        return lambda keys: subs.push([b"message", INVALIDATION_CHANNEL, keys])
    return lookup


def _nowhere(keys) -> None:
    """A RESP2 REDIRECT target that is not subscribed to the invalidation channel gets nothing."""


def _resp3_notice(conn):
    def notice(frame: list) -> None:
        if conn.proto >= 3:
            conn.push(frame)
    return notice


def stop(conn) -> None:
    tracking = conn.session.tracking
    if tracking is not None:
        conn.service.tracking.stop(tracking)
        conn.session.tracking = None


def client(conn, sub: bytes, args: list[bytes]):
    if sub == b"tracking":
        return _tracking(conn, args)
    tracking = conn.session.tracking
    if sub == b"caching":
        value = args[2].lower()
        if value not in (b"yes", b"no"):
            raise RespError("ERR syntax error")
        if tracking is None or not (tracking.optin or tracking.optout):
            raise RespError("ERR CLIENT CACHING can be called only when the client is in tracking mode "
                            "with OPTIN or OPTOUT mode enabled")
        if (value == b"yes") != tracking.optin:
            raise RespError(f"ERR CLIENT CACHING {value.decode().upper()} is only valid when tracking is "
                            f"enabled in {'OPTIN' if value == b'yes' else 'OPTOUT'} mode.")
        tracking.caching = value == b"yes"
        return OK
    if sub == b"getredir":
        return -1 if tracking is None else tracking.redirect
    # trackinginfo
    if tracking is None:
        return RespMap([(b"flags", [b"off"]), (b"redirect", -1), (b"prefixes", [])])
    # BCAST without PREFIX tracks the prefix "" (every key), and Redis lists it so; in byte order
    prefixes = sorted(tracking.prefixes) or ([b""] if tracking.bcast else [])
    return RespMap([(b"flags", tracking.flags()), (b"redirect", tracking.redirect), (b"prefixes", prefixes)])


def _tracking(conn, args: list[bytes]):
    mode = args[2].lower()
    if mode == b"off":
        stop(conn)
        return OK
    if mode != b"on":
        raise RespError("ERR syntax error")
    options = {"bcast": False, "optin": False, "optout": False, "noloop": False}
    redirect, prefixes = 0, []
    i = 3
    while i < len(args):
        word = args[i].lower().decode(errors="replace")
        if word in options:
            options[word] = True
        elif word == "redirect" and i + 1 < len(args):
            i += 1
            try:
                redirect = int(args[i])
            except ValueError:
                raise RespError("ERR value is not an integer or out of range") from None
            if redirect != conn.id and redirect not in conn.server.connections:
                raise RespError("ERR The client ID you want redirect to does not exist")
        elif word == "prefix" and i + 1 < len(args):
            i += 1
            prefixes.append(args[i])
        else:
            raise RespError("ERR syntax error")
        i += 1
    if options["optin"] and options["optout"]:
        raise RespError("ERR You can't use both OPTIN and OPTOUT")
    if (options["optin"] or options["optout"]) and options["bcast"]:
        raise RespError("ERR OPTIN and OPTOUT are not compatible with BCAST")
    if prefixes and not options["bcast"]:
        raise RespError("ERR PREFIX option requires BCAST mode to be enabled")
    current = conn.session.tracking
    if current is not None and current.bcast != options["bcast"]:
        raise RespError("ERR You can't switch BCAST mode on/off before disabling tracking for this client, "
                        "and then re-enabling it with a different mode.")
    kept = (current.prefixes or (b"",)) if current is not None and current.bcast else ()
    _check_prefix_collisions(kept, prefixes)
    # as Redis: turning BCAST on again adds prefixes, and BCAST without PREFIX adds "" (every key)
    merged = list(dict.fromkeys([*kept, *(prefixes or ([b""] if options["bcast"] else []))]))
    prefixes = [] if merged == [b""] else merged   # () stands for "" alone
    stop(conn)
    tracking = Tracking(invalidation_push(conn), notice=_resp3_notice(conn), prefixes=tuple(prefixes),
                        redirect=redirect if redirect != conn.id else 0, **options)
    conn.session.tracking = tracking
    conn.service.tracking.start(tracking)
    return OK


def _check_prefix_collisions(kept: tuple[bytes, ...], new: list[bytes]) -> None:
    """Redis's rule: no two BCAST prefixes of one client may both match a key (one starts the
    other). The error names the collision Redis's own check finds first (the new prefixes in
    order; for each, the client's prefixes in byte order, then the first later new one), found
    in O(n log n) (a sort, then one pass) rather than Redis's pairwise scan (10,000 prefixes held
    a node for seconds)."""
    existing = sorted(kept)   # never overlapping each other, but for "" (BCAST without PREFIX adds it)
    order = sorted(range(len(new)), key=new.__getitem__)
    # A prefix overlaps another new one iff one starts the other: in byte order, the one just
    # after it starts with it, or one before it is its prefix (then the chain of prefixes, each
    # starting the next, that ends before it is not empty).
    overlapping = [False] * len(new)
    chain: list[bytes] = []
    for rank, i in enumerate(order):
        prefix = new[i]
        while chain and not prefix.startswith(chain[-1]):
            chain.pop()
        overlapping[i] = bool(chain) or (rank + 1 < len(order) and new[order[rank + 1]].startswith(prefix))
        chain.append(prefix)
    for i, prefix in enumerate(new):
        # The client's prefix just before it in byte order may start it (one between them would
        # overlap it), the one from it on may start with it; Redis names the first in byte order.
        k = bisect.bisect_right(existing, prefix)
        found = existing[k - 1] if k and prefix.startswith(existing[k - 1]) else None
        if existing and existing[0] == b"":
            found = b""   # it starts every prefix, and comes first in byte order
        if found is None and k < len(existing) and existing[k].startswith(prefix):
            found = existing[k]
        if found is not None:
            raise RespError(f"ERR Prefix '{prefix.decode(errors='replace')}' overlaps with an existing prefix "
                            f"'{found.decode(errors='replace')}'. Prefixes for a single client must not overlap.")
        if overlapping[i]:   # the first new prefix that overlaps another: every such other comes later
            other = next(p for p in new[i + 1:] if p.startswith(prefix) or prefix.startswith(p))
            raise RespError(f"ERR Prefix '{prefix.decode(errors='replace')}' overlaps with another provided "
                            f"prefix '{other.decode(errors='replace')}'. Prefixes for a single client must not "
                            f"overlap.")
