"""Client-side caching (CLIENT TRACKING) on one node: which client may hold which key, and
the invalidation messages of the writes this node applies.

Every node applies every write, so a client tracking on any node is told when
any node's write changes a key it read: the state machine hands on, for each
applied write, the keys it touched and its log index ("invalidate", index,
keys; keys None for a flush: every key), and `Tracker.invalidate` sends them.

Modes, as Redis's: default (the keys the client read, each forgotten once
invalidated), BCAST with PREFIXes (every key under them, read or not), OPTIN
(only reads right after CLIENT CACHING yes), OPTOUT (all but those after
CLIENT CACHING no), NOLOOP (not the client's own writes: its write's index
tells its own invalidation from another's at the same key), REDIRECT (the
messages go to another connection of this node, as `__redis__:invalidate`
pub/sub messages). The key table is bounded (TABLE_MAX_KEYS, Redis's
tracking-table-max-keys): past it, keys are invalidated early to make room.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)

#: Keys remembered for default-mode clients at most (Redis's tracking-table-max-keys default).
TABLE_MAX_KEYS = 1_000_000
#: The channel of a REDIRECT target (RESP2 clients: it SUBSCRIBEs to it).
INVALIDATION_CHANNEL = b"__redis__:invalidate"


@dataclasses.dataclass(eq=False)   # identity: a client is itself, whatever its settings
class Tracking:
    """One connection's CLIENT TRACKING settings and what it is owed."""

    push: Callable[[list | None, int], None]   # push(keys | None, index): render and write one invalidation
    bcast: bool = False
    prefixes: tuple[bytes, ...] = ()
    optin: bool = False
    optout: bool = False
    noloop: bool = False
    redirect: int = 0                      # client id; 0: this connection
    #: notice(frame): an out-of-band push to this connection itself (RESP3 only), e.g. tracking-redir-broken
    notice: Callable[[list], None] = lambda frame: None
    broken_redirect: bool = False          # the REDIRECT target was gone when an invalidation was due
    caching: bool | None = None            # CLIENT CACHING yes/no, for the next command only
    #: NOLOOP: keys of this client's writes still waiting for their outcome -> invalidations held back
    own_pending: dict[bytes, list[int]] = dataclasses.field(default_factory=dict)
    #: NOLOOP: key -> the index of this client's last write of it
    own_written: dict[bytes, int] = dataclasses.field(default_factory=dict)

    def flags(self) -> list[bytes]:
        out = [b"on"]
        out += [name for name, on in ((b"bcast", self.bcast), (b"optin", self.optin), (b"optout", self.optout),
                                      (b"noloop", self.noloop)) if on]
        if self.caching is not None:
            out.append(b"caching-yes" if self.caching else b"caching-no")
        if self.broken_redirect:
            out.append(b"broken_redirect")
        return out

    def wants_read_tracked(self) -> bool:
        """Whether the read now being served puts its keys in the table (and consumes CLIENT CACHING)."""
        if self.bcast:
            return False
        caching, self.caching = self.caching, None
        if self.optin:
            return caching is True
        if self.optout:
            return caching is not False
        return True


class Tracker:
    """The node's tracking table and the delivery of invalidations."""

    def __init__(self, on_change: Callable[[bool], object] = lambda active: None,
                 table_max_keys: int = TABLE_MAX_KEYS):
        self._keys: dict[bytes, set[Tracking]] = {}
        self._bcast: dict[bytes, set[Tracking]] = {}    # prefix (b"" = every key) -> clients
        self._clients: set[Tracking] = set()
        self._on_change = on_change   # whether the state machine must report writes (it syncs with apply)
        self.table_max_keys = table_max_keys   # tracking-table-max-keys; 0: no limit
        self._redirects: Callable[[int], Callable[[list | None], None] | None] = lambda client_id: None
        self.invalidations = 0

    def route_redirects(self, lookup: Callable[[int], Callable[[list | None], None] | None]) -> None:
        """`lookup(client id)` -> send(keys) to that REDIRECT target (node/frontends/resp_tracking.py),
        or None when it is gone."""
        self._redirects = lookup

    @property
    def active(self) -> bool:
        return bool(self._clients)

    def stats(self) -> dict[str, int]:
        """INFO's tracking fields, as Redis counts them: clients tracking, keys in the table, the
        (key, client) pairs they hold, and BCAST prefixes."""
        return {"tracking_clients": len(self._clients), "tracking_total_keys": len(self._keys),
                "tracking_total_items": sum(len(members) for members in self._keys.values()),
                "tracking_total_prefixes": len(self._bcast)}

    def start(self, tracking: Tracking) -> None:
        self._clients.add(tracking)
        for prefix in tracking.prefixes or ((b"",) if tracking.bcast else ()):
            self._bcast.setdefault(prefix, set()).add(tracking)
        if len(self._clients) == 1:
            self._on_change(True)

    def stop(self, tracking: Tracking) -> None:
        if tracking not in self._clients:
            return
        self._clients.discard(tracking)
        for prefix in list(self._bcast):
            members = self._bcast[prefix]
            members.discard(tracking)
            if not members:
                del self._bcast[prefix]
        for key in [k for k, members in self._keys.items() if tracking in members]:
            self._forget(key, tracking)
        if not self._clients:
            self._on_change(False)

    def _forget(self, key: bytes, tracking: Tracking) -> None:
        members = self._keys.get(key)
        if members is not None:
            members.discard(tracking)
            if not members:
                del self._keys[key]

    # ------------------------------------------------------------ reads and own writes

    def remember(self, tracking: Tracking, keys: Iterable[bytes]) -> None:
        """A read the client made: its keys are tracked for it (default, OPTIN, OPTOUT modes)."""
        if not tracking.wants_read_tracked():
            return
        for key in keys:
            self._keys.setdefault(key, set()).add(tracking)
        if 0 < self.table_max_keys < len(self._keys):
            self._make_room()

    def limit(self, table_max_keys: int) -> None:
        """tracking-table-max-keys changed (0: no limit): past the new bound, keys go at once."""
        self.table_max_keys = table_max_keys
        if 0 < table_max_keys < len(self._keys):
            self._make_room()

    def _make_room(self) -> None:
        """Redis's rule past tracking-table-max-keys: invalidate keys early (their holders drop them)."""
        victims = random.sample(list(self._keys), len(self._keys) - self.table_max_keys)
        for key in victims:
            for tracking in self._keys.pop(key, ()):
                self._send(tracking, [key], 0)

    def writing(self, tracking: Tracking, keys: Iterable[bytes]) -> None:
        """NOLOOP: the client sent a write of `keys`; their invalidations wait for its outcome."""
        for key in keys:
            tracking.own_pending.setdefault(key, [])

    def written(self, tracking: Tracking, keys: Iterable[bytes], index: int) -> None:
        """NOLOOP: the client's write of `keys` finished at `index` (0: it failed or changed nothing
        visible); the invalidations held back for them go out, except the write's own."""
        for key in keys:
            held = tracking.own_pending.pop(key, [])
            if index:
                tracking.own_written[key] = index
            others = [i for i in held if i != index]
            if others:
                self._send(tracking, [key], max(others))
        if len(tracking.own_written) > 10_000:
            tracking.own_written.clear()   # bounded; a stale entry costs at most one missed own-skip

    # ------------------------------------------------------------ invalidation

    def invalidate(self, index: int, keys: list[bytes] | None) -> None:
        """The writes applied at `index` changed `keys` (None: a flush, every key)."""
        if keys is None:
            self._keys.clear()
            for tracking in list(self._clients):
                self._send(tracking, None, index)
            return
        # One message per client for its read keys, and, as Redis's BCAST, one per client and
        # matching prefix (a key under two of a client's prefixes is in both messages).
        owed: dict[tuple[Tracking, bytes | None], list[bytes]] = {}
        for key in keys:
            for tracking in self._keys.pop(key, ()):
                owed.setdefault((tracking, None), []).append(key)
            for prefix, members in self._bcast.items():
                if key.startswith(prefix):
                    for tracking in members:
                        owed.setdefault((tracking, prefix), []).append(key)
        for (tracking, _), owed_keys in owed.items():
            if tracking.noloop:
                owed_keys = self._not_own(tracking, owed_keys, index)
            if owed_keys:
                self._send(tracking, owed_keys, index)

    @staticmethod
    def _not_own(tracking: Tracking, keys: list[bytes], index: int) -> list[bytes]:
        out = []
        for key in keys:
            if key in tracking.own_pending:
                tracking.own_pending[key].append(index)     # decided when its own write answers
            elif tracking.own_written.get(key) != index:
                out.append(key)
        return out

    def _send(self, tracking: Tracking, keys: list[bytes] | None, index: int) -> None:
        self.invalidations += 1
        try:
            if tracking.redirect:
                push = self._redirects(tracking.redirect)
                if push is None:   # the target is gone: the client is told instead, as Redis does
                    tracking.broken_redirect = True
                    tracking.notice([b"tracking-redir-broken", tracking.redirect])
                else:
                    push(keys)
                return
            tracking.push(keys, index)
        except Exception:  # one broken client must not cost the others their invalidations
            log.exception("sending an invalidation failed")
