"""Client buffer limits of the Redis port: the CONFIG values as the connections apply them.

Pure (no sockets, no service): `from_settings` turns the node's CONFIG
values into one frozen `ClientLimits`, which node/frontends/resp.py reads on
every connection. The rules, documented in docs/redis-compat.md "Client
buffers" and docs/operations.md "Memory of client connections":

- `client-query-buffer-limit` (Redis's 1gb by default) bounds the command a
  client is still sending (its arguments so far and the unparsed bytes).
  It is capped at `2 * proto-max-bulk-len + 1 MiB`: a command never needs
  more (one value of the largest size, its key and a second value), and a
  node must be able to hold it.
- `client-output-buffer-limit` (`normal` class; there is no pub/sub here, so
  the `pubsub` class is stored and checked but no client belongs to it):
  a client whose unsent replies exceed the hard limit, or stay above the
  soft limit for the soft seconds, is disconnected. 0 = no such limit, as in
  Redis. A MONITOR connection is held to the `replica` (`slave`) class
  (256mb hard, 64mb for 60 s soft by default): a monitor that does not read
  is disconnected rather than buffered without end.
- Back-pressure, always on: a connection whose unsent replies are above
  `output_high_water_bytes` is no longer read (nor answered) until the
  client reads. The mark sits above the class's limits so those still
  trigger; with Redis's default `normal 0 0 0` it is BACKPRESSURE_BYTES, so a
  client that stops reading holds at most about that much output, plus one
  reply, plus BACKLOG_BYTES of commands it sent.
- `maxmemory-clients` (bytes, or `N%` of maxmemory; default 25%; 0 = off):
  when the Redis port's connections together hold more, the biggest are
  disconnected until the total is back under it. It is never below the
  query-buffer cap plus the back-pressure mark, so one client sending a
  command of the largest size is never evicted for it alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from raftcache.node.config import settings
from raftcache.node.config.values import parse_maxmemory_clients, parse_output_limits
from raftcache.node.errors import ConfigError

#: Unsent output above which a connection of an unlimited class is no longer read.
BACKPRESSURE_BYTES = 1 << 20
#: Received commands not yet answered above which a connection is no longer read.
BACKLOG_BYTES = 4 << 20
#: Extra room of the query buffer cap over two values of the largest size.
QUERY_SLACK_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True, slots=True)
class OutputLimit:
    """One class of `client-output-buffer-limit`; 0 = that limit is off."""

    hard_bytes: int = 0
    soft_bytes: int = 0
    soft_s: int = 0

    def validate(self) -> None:
        if self.hard_bytes < 0 or self.soft_bytes < 0 or self.soft_s < 0:
            raise ConfigError("output buffer limits must be non-negative")

    @property
    def high_water_bytes(self) -> int:
        """Back-pressure mark: above the limits (so they can be reached), at least BACKPRESSURE_BYTES."""
        return max(BACKPRESSURE_BYTES, self.hard_bytes + 1, self.soft_bytes + 1)

    def over(self, size: int, over_soft_since: float | None, now: float) -> tuple[bool, float | None]:
        """(disconnect?, new over-soft-since time) for `size` bytes of unsent output at `now`."""
        if self.hard_bytes and size > self.hard_bytes:
            return True, over_soft_since
        if self.soft_bytes and size > self.soft_bytes:
            if over_soft_since is None:
                return False, now
            return now - over_soft_since > self.soft_s, over_soft_since
        return False, None


@dataclasses.dataclass(frozen=True, slots=True)
class ClientLimits:
    """The limits in force on one node's Redis port (see the module docstring)."""

    query_buffer_bytes: int = 2 * (64 << 20) + QUERY_SLACK_BYTES
    normal: OutputLimit = OutputLimit()
    pubsub: OutputLimit = OutputLimit(32 << 20, 8 << 20, 60)
    #: Redis's `replica` (`slave`) class: here it bounds MONITOR connections (node/frontends/resp_diag.py).
    replica: OutputLimit = OutputLimit(256 << 20, 64 << 20, 60)
    maxmemory_clients_bytes: int = 256 << 20   # 0 = off

    def validate(self) -> None:
        if self.query_buffer_bytes < 1 << 20:
            raise ConfigError("the query buffer limit must be at least 1 MiB")
        if self.maxmemory_clients_bytes < 0:
            raise ConfigError("maxmemory-clients must be non-negative")
        self.normal.validate()
        self.pubsub.validate()
        self.replica.validate()


def from_settings(values: Mapping[str, str], max_value_bytes: int, maxmemory_bytes: int) -> ClientLimits:
    """The limits for a node's CONFIG `values` (all of them: node/config/settings.py), its
    value limit and its maxmemory. A class the output limits do not name keeps its default."""
    query = min(int(values["client-query-buffer-limit"]), 2 * max_value_bytes + QUERY_SLACK_BYTES)
    classes = {**parse_output_limits(settings.DEFAULT_OUTPUT_LIMITS),
               **parse_output_limits(values["client-output-buffer-limit"])}
    normal, pubsub = OutputLimit(*classes["normal"]), OutputLimit(*classes["pubsub"])
    clients = parse_maxmemory_clients(values["maxmemory-clients"], maxmemory_bytes)
    if clients:
        clients = max(clients, query + normal.high_water_bytes)
    limits = ClientLimits(query, normal, pubsub, replica=OutputLimit(*classes["slave"]),
                          maxmemory_clients_bytes=clients)
    limits.validate()
    return limits
