"""The Redis port's shared state: what every connection of one node's Redis port shares.

Owns the port (node/service/stream.py's Port: the connections table,
maxclients, the idle timeout), the client buffer limits of
node/frontends/client_limits.py followed through CONFIG changes,
maxmemory-clients (the biggest clients dropped first), the port's CLIENT
PAUSE state (resp_pause.py), and the port's INFO commandstats / errorstats and latency
(every command counted once, with the commands scripts called). The
connections themselves are node/frontends/resp.py's.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time

from raftcache.node.config import FrontendConfig
from raftcache.node.frontends import client_limits, resp_admin, resp_blocking, resp_pause
from raftcache.node.service.stream import Port

log = logging.getLogger(__name__)

#: How often the server checks idle clients, soft output limits and maxmemory-clients.
CHECK_INTERVAL_S = 0.25


class RespServer:
    """Shared state of every connection of one node's Redis port."""

    def __init__(self, service, config: FrontendConfig, host: str, port: int, cn_login: bool = False):
        self.service = service
        self.config = config
        self.host, self.port_number = host, port
        self.port = Port(max_connections=lambda: int(service.setting("maxclients")),
                         idle_timeout_s=lambda: int(service.setting("timeout")),
                         refusal=b"-ERR max number of clients reached\r\n", cn_login=cn_login)
        self.connections = self.port.connections   # id -> resp.Connection
        #: Cluster mode: the slot owners (node/service/cluster.py); None when not sharded.
        self.cluster = service.cluster
        self.started_s = time.time()
        self.stats = self.port.stats
        #: INFO commandstats: command name -> [calls, usec, rejected_calls, failed_calls]
        self.cmdstats: dict[str, list[int]] = {}
        #: INFO errorstats: error prefix (ERR, WRONGTYPE, NOGROUP…) -> error replies
        self.errorstats: collections.Counter = collections.Counter()
        #: The node's per-protocol latency (node/service/opstats.py): every call counted here too.
        self.latency = service.opstats.latency["resp"]
        service.opstats.count_clients("resp", lambda: len(self.connections))
        service.opstats.redis_port = self.exporter_stats
        self._checks_task: asyncio.Task | None = None
        self.limits = client_limits.ClientLimits()
        self.pause = resp_pause.Pause()              # CLIENT PAUSE (this node's clients)
        self._limits_from: tuple | None = None
        self.refresh_limits()

    def refresh_limits(self) -> None:
        """Recompute the client buffer limits when a CONFIG value they depend on changed."""
        service = self.service
        values = {name: service.setting(name)
                  for name in ("client-query-buffer-limit", "client-output-buffer-limit", "maxmemory-clients")}
        key = (tuple(values.values()), service.limits.max_value_bytes, service.limits.maxmemory_bytes)
        if key == self._limits_from:
            return
        self.limits = client_limits.from_settings(values, key[1], key[2])
        self._limits_from = key
        for conn in list(self.connections.values()):
            conn.apply_write_limits()

    def clients_memory(self) -> int:
        return sum(conn.memory_bytes() for conn in self.connections.values())

    def check_clients_memory(self) -> None:
        """maxmemory-clients: disconnect the biggest clients until the total fits (Redis 7's client eviction)."""
        limit = self.limits.maxmemory_clients_bytes
        if not limit:
            return
        sizes = [(conn.memory_bytes(), conn) for conn in self.connections.values()]
        total = sum(size for size, _ in sizes)
        if total <= limit:
            return
        sizes.sort(key=lambda pair: pair[0], reverse=True)
        for size, conn in sizes:
            if total <= limit or size == 0:
                break
            log.warning("client id=%d addr=%s evicted: clients use %d bytes, maxmemory-clients is %d",
                        conn.id, conn.addr, total, limit)
            self.stats["evicted_clients"] += 1
            conn.drop()
            total -= size

    def exporter_stats(self) -> dict:
        """What /metrics exports under redis_exporter's names (node/service/metrics.py): copies."""
        return {"connected_clients": len(self.connections), "blocked_clients": resp_blocking.blocked_clients(),
                "started_s": self.started_s, "stats": dict(self.stats), "redis_version": resp_admin.REDIS_VERSION,
                "cmdstats": self.command_stats(),
                "errorstats": self.error_stats()}

    def error_stats(self) -> dict[str, int]:
        """INFO errorstats (a copy): the error replies sent here and the errors of commands in
        scripts that no reply carried (as Redis counts those too)."""
        merged = collections.Counter(self.errorstats)
        merged.update(self.service.script_error_stats())
        return dict(merged)

    def command_stats(self) -> dict[str, list[int]]:
        """INFO commandstats (copies): the commands clients sent here and those scripts called
        (as Redis, a command a script calls is counted under its own name too)."""
        merged = {name: list(stat) for name, stat in list(self.cmdstats.items())}
        for name, stat in self.service.script_call_stats().items():
            mine = merged.setdefault(name, [0, 0, 0, 0])
            for i, n in enumerate(stat):
                mine[i] += n
        return merged

    def _cmdstat(self, name: str) -> list[int]:
        stat = self.cmdstats.get(name)
        if stat is None:
            stat = self.cmdstats[name] = [0, 0, 0, 0]
        return stat

    def count_call(self, name: str, usec: int, reply: bytes, timed: bool = True) -> None:
        """One command answered: `usec` is the time from taking it to its reply, Raft commit
        included (Redis counts only its own execution: nothing here waits for replicas).
        `timed=False`: a command run inside EXEC (counted, its time is EXEC's)."""
        stat = self._cmdstat(name)
        stat[0] += 1
        stat[1] += usec
        if timed:
            self.latency.add(usec)
        if reply[:1] == b"-":
            self._count_error(stat, reply)

    def count_calls(self, name: str, usec: int, replies: list[bytes]) -> None:
        """`count_call` for commands answered together, `usec` each."""
        stat = self.cmdstats.get(name) or self._cmdstat(name)
        stat[0] += len(replies)
        stat[1] += usec * len(replies)
        self.latency.add(usec, len(replies))
        for reply in replies:
            if reply[:1] == b"-":
                self._count_error(stat, reply)

    def _count_error(self, stat: list[int], reply: bytes) -> None:
        stat[3] += 1
        self.errorstats[reply[1:].split(b" ", 1)[0].strip().decode(errors="replace")] += 1

    def count_rejected(self, name: str, prefix: str = "ERR") -> None:
        """Refused before it ran (wrong arity, not authenticated), as Redis's rejected_calls."""
        self.errorstats[prefix] += 1
        self._cmdstat(name)[2] += 1

    def leads(self) -> bool:
        """Whether this node is the leader: a write the fast paths start here is proposed at once,
        in order (a follower's go through the forwarder)."""
        return bool(getattr(self.service, "is_leader", False))

    def start_checks(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run check_connections every CHECK_INTERVAL_S, with the port's idle sweep."""
        self._checks_task = loop.create_task(self.port.check_loop(CHECK_INTERVAL_S, self.check_connections))

    def check_connections(self, now: float) -> None:
        """Every CHECK_INTERVAL_S (with the idle sweep, node/service/stream.py): follow CONFIG
        changes of the buffer limits, apply the soft output limits and maxmemory-clients."""
        try:
            self.refresh_limits()
        except Exception:  # a bad value must not stop the checks: keep the limits in force
            log.exception("cannot apply the client buffer limits")
        for conn in list(self.connections.values()):
            conn.check_output(now)
        self.check_clients_memory()
