"""Requests answered per protocol and how long they took: the dashboard's ops/s and p50/p99.

Owns `OpStats`: one `Latency` (node/latency.py: a lock-free histogram) per
protocol plus the ports' live connection counts. Recording a request costs
two integer additions and one list-element bump, on the event loop thread;
a reader takes copies, so a scrape never stops the request path.

Must not touch: protocol parsing, Raft, the keyspace. The front ends call
`record`; node/service/metrics.py and the /status JSON read `snapshot`.
"""

from __future__ import annotations

from collections.abc import Callable

from raftcache.node.latency import Latency


class OpStats:
    """Per protocol ("resp", "memcache", "grpc"): requests answered and their latency,
    and the number of connected clients of the ports that have connections."""

    PROTOCOLS = ("resp", "memcache", "grpc")

    def __init__(self):
        self.latency = {name: Latency() for name in self.PROTOCOLS}
        self._clients: dict[str, Callable[[], int]] = {}
        #: The Redis port's counters for redis_exporter's metric names (RespServer.exporter_stats), once it runs.
        self.redis_port: Callable[[], dict] | None = None

    def count_clients(self, protocol: str, clients: Callable[[], int]) -> None:
        """A port's live connection count, read at snapshot time."""
        self._clients[protocol] = clients

    def clients(self, protocol: str) -> int | None:
        counter = self._clients.get(protocol)
        return counter() if counter is not None else None

    def snapshot(self) -> dict:
        """{protocol: {"calls", "usec", "buckets", "clients"}} for /status."""
        return {name: dict(lat.snapshot(), clients=self.clients(name)) for name, lat in self.latency.items()}
