"""Prometheus metrics of a node, collected from Service.status() at scrape time.

A custom collector: nothing is counted on the request path beyond the
service's own plain counters, so metrics cost nothing between scrapes.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class NodeCollector:
    def __init__(self, status):
        self._status = status  # () -> dict, as Service.status()

    def collect(self):
        s = self._status()
        labels = ["node", "zone"]
        values = [s["id"], s["zone"]]

        def gauge(name, doc, value):
            g = GaugeMetricFamily(f"raftcache_{name}", doc, labels=labels)
            g.add_metric(values, value)
            return g

        yield gauge("is_leader", "1 when this node is the Raft leader", 1.0 if s["role"] == "leader" else 0.0)
        yield gauge("raft_term", "current Raft term", s["term"])
        yield gauge("raft_commit_index", "highest log index known committed", s["commit_index"])
        yield gauge("raft_applied_index", "highest log index applied to the keyspace", s["applied_index"])
        yield gauge("raft_last_index", "last index in the local log", s["last_index"])
        yield gauge("leader_contact_age_seconds", "seconds since the leader was last heard", s["last_leader_contact_s"])
        yield gauge("keys", "keys in all databases (expired but not yet deleted included)", s["keys"])
        yield gauge("used_bytes", "logical size of the keyspace", s["used_bytes"])
        yield gauge("maxmemory_bytes", "size past which writes evict (or are refused under noeviction)",
                    s["maxmemory_bytes"])
        lag = GaugeMetricFamily("raftcache_member_lag_entries", "leader's view of each member's lag", labels=["node", "member"])
        connected = GaugeMetricFamily("raftcache_member_connected", "1 when the member is connected", labels=["node", "member"])
        for m in s["members"]:
            connected.add_metric([s["id"], m["id"]], 1.0 if m["connected"] else 0.0)
            if s["role"] == "leader" and m["id"] != s["id"]:
                lag.add_metric([s["id"], m["id"]], max(s["last_index"] - m["match_index"], 0))
        yield lag
        yield connected
        lookups = CounterMetricFamily("raftcache_keyspace_lookups", "read commands' key lookups that found a "
                                      "live key (hit) or not (miss), as Redis's keyspace_hits/misses",
                                      labels=["node", "result"])
        lookups.add_metric([s["id"], "hit"], s["keyspace_hits"])
        lookups.add_metric([s["id"], "miss"], s["keyspace_misses"])
        yield lookups
        evicted = CounterMetricFamily("raftcache_evicted_keys", "keys evicted to stay under maxmemory (applied "
                                      "here; the same on every replica), by the policy that chose them "
                                      "(memcached-lru: the memcached port's own)", labels=["node", "policy"])
        for policy, count in sorted(s.get("evicted_by_policy", {}).items()):
            evicted.add_metric([s["id"], policy], count)
        yield evicted
        counter = CounterMetricFamily("raftcache_requests", "requests by kind", labels=["node", "kind"])
        for kind, count in s["stats"].items():
            counter.add_metric([s["id"], kind], count)
        yield counter


def registry_for(status) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(status))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
