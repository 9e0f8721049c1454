"""Prometheus metrics of a node, collected from Service.status() at scrape time.

A custom collector: nothing is counted on the request path beyond the
service's own plain counters, so metrics cost nothing between scrapes.

Two families (docs/observability.md lists every name):

* `redis_*`: redis_exporter's names and labels wherever the meaning is the
  same (`redis_connected_clients`, `redis_commands_total{cmd}`,
  `redis_db_keys{db="db0"}`, …), so its dashboards and alerts work as they
  are. Like redis_exporter's they carry no node label: Prometheus's
  `instance` tells the nodes apart. Command counts are the Redis port's.
* `raftcache_*`: this node's Raft state and activity (term, indexes, lag per
  member, elections, snapshots, fsync latency, proposals in flight) and the
  latency of every protocol, labelled with `node` and `zone`.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, SummaryMetricFamily,
)

from raftcache.node.latency import Latency, bucket_of

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Histogram bucket bounds (µs): powers of two from 16 µs to about 16.8 s, edges of Latency's buckets.
BOUNDS_US = [1 << k for k in range(4, 25)]


def _histogram(family: HistogramMetricFamily, labels: list[str], latency: Latency) -> None:
    counts = latency.cumulative(BOUNDS_US)
    buckets = [(repr(b / 1e6), n) for b, n in zip(BOUNDS_US, counts)] + [("+Inf", latency.calls)]
    family.add_metric(labels, buckets, latency.usec / 1e6)


def _latency_of(snapshot: dict) -> Latency:
    """A Latency rebuilt from a snapshot (node/latency.py), for a histogram."""
    lat = Latency()
    lat.calls, lat.usec = snapshot["calls"], snapshot["usec"]
    for low, _high, n in snapshot["buckets"]:
        lat.buckets[bucket_of(low)] += n
    return lat


def redis_families(s: dict, redis_port: dict | None):
    """redis_exporter's names for what this node has (see the module docstring)."""
    def gauge(name, doc, value):
        g = GaugeMetricFamily(name, doc)
        g.add_metric([], value)
        return g

    def counter(name, doc, value):
        c = CounterMetricFamily(name, doc)
        c.add_metric([], value)
        return c

    role = "master" if s["role"] == "leader" else "slave"
    yield gauge("redis_up", "1: the node answered this scrape (as redis_exporter's)", 1)
    yield gauge("redis_memory_used_bytes", "logical size of the keyspace (INFO used_memory)", s["used_bytes"])
    yield gauge("redis_memory_max_bytes", "maxmemory", s["maxmemory_bytes"])
    yield counter("redis_keyspace_hits", "read lookups that found a live key", s["keyspace_hits"])
    yield counter("redis_keyspace_misses", "read lookups that found no key", s["keyspace_misses"])
    yield counter("redis_evicted_keys", "keys evicted to stay under maxmemory (applied here)", s["evicted_keys"])
    keys = GaugeMetricFamily("redis_db_keys", "keys per database", labels=["db"])
    expiring = GaugeMetricFamily("redis_db_keys_expiring", "keys with a deadline per database", labels=["db"])
    for db, (n, e) in enumerate(zip(s["keys_per_db"], s["expires_per_db"])):
        if n:
            keys.add_metric([f"db{db}"], n)
            expiring.add_metric([f"db{db}"], e)
    yield keys
    yield expiring
    yield gauge("redis_connected_slaves", "followers connected to this leader (0 elsewhere)",
                sum(1 for m in s["members"] if m["id"] != s["id"] and m["connected"]) if role == "master" else 0)
    yield gauge("redis_master_repl_offset", "the commit index (INFO master_repl_offset)", s["commit_index"])
    if redis_port is None:
        return
    st = redis_port["stats"]
    info = GaugeMetricFamily("redis_instance_info", "the node's Redis identity (the version INFO reports)",
                             labels=["role", "redis_version", "redis_mode", "run_id"])
    info.add_metric([role, redis_port["redis_version"], "standalone", s["id"]], 1)
    yield info
    yield gauge("redis_uptime_in_seconds", "seconds since the Redis port started",
                int(time.time() - redis_port["started_s"]))
    yield gauge("redis_connected_clients", "connections to the Redis port", redis_port["connected_clients"])
    yield gauge("redis_blocked_clients", "clients waiting in a blocking command", redis_port["blocked_clients"])
    yield counter("redis_connections_received", "connections accepted by the Redis port",
                  st.get("total_connections_received", 0))
    yield counter("redis_rejected_connections", "connections refused (maxclients)", st.get("rejected_connections", 0))
    yield counter("redis_commands_processed", "commands the Redis port answered", st.get("total_commands_processed", 0))
    calls = CounterMetricFamily("redis_commands", "calls per command (INFO commandstats)", labels=["cmd"])
    spent = CounterMetricFamily("redis_commands_duration_seconds", "seconds from taking each command to its "
                                "reply, Raft commit included (INFO commandstats usec)", labels=["cmd"])
    rejected = CounterMetricFamily("redis_commands_rejected_calls", "commands refused before they ran",
                                   labels=["cmd"])
    failed = CounterMetricFamily("redis_commands_failed_calls", "commands answered with an error", labels=["cmd"])
    for cmd, (n, usec, n_rejected, n_failed) in sorted(redis_port["cmdstats"].items()):
        calls.add_metric([cmd], n)
        spent.add_metric([cmd], usec / 1e6)
        rejected.add_metric([cmd], n_rejected)
        failed.add_metric([cmd], n_failed)
    yield from (calls, spent, rejected, failed)
    errors = CounterMetricFamily("redis_errors", "error replies by prefix (INFO errorstats)", labels=["err"])
    for prefix, n in sorted(redis_port["errorstats"].items()):
        errors.add_metric([prefix], n)
    yield errors


def raftcache_families(s: dict):
    labels = ["node", "zone"]
    values = [s["id"], s["zone"]]

    def gauge(name, doc, value):
        g = GaugeMetricFamily(f"raftcache_{name}", doc, labels=labels)
        g.add_metric(values, value)
        return g

    def counter(name, doc, value):
        c = CounterMetricFamily(f"raftcache_{name}", doc, labels=labels)
        c.add_metric(values, value)
        return c

    raft = s["raft"]
    yield gauge("is_leader", "1 when this node is the Raft leader", 1.0 if s["role"] == "leader" else 0.0)
    yield gauge("raft_term", "current Raft term", s["term"])
    yield gauge("raft_commit_index", "highest log index known committed", s["commit_index"])
    yield gauge("raft_applied_index", "highest log index applied to the keyspace", s["applied_index"])
    yield gauge("raft_last_index", "last index in the local log", s["last_index"])
    yield gauge("raft_apply_lag_entries", "entries committed but not yet applied here",
                max(s["commit_index"] - s["applied_index"], 0))
    yield gauge("raft_proposals_in_flight", "writes proposed by this node and not yet committed",
                raft["proposals_in_flight"])
    yield counter("raft_elections", "elections this node stood in (pre-vote won or leadership handed to it)",
                  raft["elections_started"])
    yield gauge("raft_voters", "voting members in the configuration", len(s["members"]))
    yield gauge("leader_contact_age_seconds", "seconds since the leader was last heard", s["last_leader_contact_s"])
    yield gauge("keys", "keys in all databases (expired but not yet deleted included)", s["keys"])
    yield gauge("used_bytes", "logical size of the keyspace", s["used_bytes"])
    yield gauge("maxmemory_bytes", "size past which writes evict (or are refused under noeviction)",
                s["maxmemory_bytes"])
    snapshots = SummaryMetricFamily("raftcache_raft_snapshot_duration_seconds", "snapshots written (log "
                                    "compaction) and installed (from the leader), and the seconds they took",
                                    labels=labels + ["kind"])
    last = GaugeMetricFamily("raftcache_raft_snapshot_last_duration_seconds", "the latest snapshot's seconds",
                             labels=labels + ["kind"])
    for kind, t in sorted(raft["snapshots"].items()):
        snapshots.add_metric(values + [kind], t["count"], t["seconds"])
        last.add_metric(values + [kind], t["last_seconds"])
    yield snapshots
    yield last
    if raft["fsync"] is not None:
        fsync = HistogramMetricFamily("raftcache_raft_fsync_duration_seconds", "flushes of the Raft journal "
                                      "(msync + fsync) that wrote something", labels=labels)
        _histogram(fsync, values, _latency_of(raft["fsync"]))
        yield fsync
    requests = HistogramMetricFamily("raftcache_request_duration_seconds", "requests answered per protocol, "
                                     "from taking each to its reply", labels=labels + ["protocol"])
    clients = GaugeMetricFamily("raftcache_connected_clients", "connections per protocol port",
                                labels=labels + ["protocol"])
    for protocol, snap in sorted(s["protocols"].items()):
        _histogram(requests, values + [protocol], _latency_of(snap))
        if snap["clients"] is not None:
            clients.add_metric(values + [protocol], snap["clients"])
    yield requests
    yield clients
    lag = GaugeMetricFamily("raftcache_member_lag_entries", "leader's view of each member's lag",
                            labels=["node", "member"])
    contact = GaugeMetricFamily("raftcache_member_contact_age_seconds", "leader's view: seconds since what each "
                                "member last acknowledged was sent", labels=["node", "member"])
    connected = GaugeMetricFamily("raftcache_member_connected", "1 when the member is connected",
                                  labels=["node", "member"])
    for m in s["members"]:
        connected.add_metric([s["id"], m["id"]], 1.0 if m["connected"] else 0.0)
        if s["role"] == "leader" and m["id"] != s["id"]:
            lag.add_metric([s["id"], m["id"]], max(s["last_index"] - m["match_index"], 0))
            if m.get("contact_s") is not None:
                contact.add_metric([s["id"], m["id"]], m["contact_s"])
    yield lag
    yield contact
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
    counter_ = CounterMetricFamily("raftcache_requests", "requests by kind", labels=["node", "kind"])
    for kind, count in s["stats"].items():
        counter_.add_metric([s["id"], kind], count)
    yield counter_


class NodeCollector:
    def __init__(self, status, redis_port=None):
        self._status = status          # () -> dict, as Service.status()
        self._redis_port = redis_port  # () -> RespServer.exporter_stats() or None before the port runs

    def collect(self):
        s = self._status()
        port = self._redis_port() if self._redis_port is not None else None
        yield from redis_families(s, port() if port is not None else None)
        yield from raftcache_families(s)


def registry_for(status, redis_port=None) -> CollectorRegistry:
    """`status`: () -> Service.status(); `redis_port`: () -> the Redis port's exporter_stats
    callable (OpStats.redis_port), or None."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(status, redis_port))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
