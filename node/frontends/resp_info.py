"""INFO on the Redis port: Redis 7's sections and fields, with raftcache's own.

Every section Redis 7.4 has that applies here (server, clients, memory,
persistence, stats, replication, cpu, commandstats, latencystats,
errorstats, cluster, keyspace), named and ordered as Redis's so that tools
parsing INFO (redis_exporter, redis-cli --stat, client libraries) read it,
plus raftcache's fields (`raftcache_*`: the Raft role, term and indexes,
ReadIndex rounds, script effects…), each about the node asked.
docs/redis-compat.md lists what differs. Must not touch the keyspace.
"""

from __future__ import annotations

import os
import resource
import time
from itertools import repeat

from raftcache import __version__
from raftcache.node.frontends import resp_admin, resp_blocking, resp_client
from raftcache.node.frontends.resp_protocol import Verbatim


def bytes_to_human(n: int) -> str:
    """Redis's INFO `*_human` form of a byte count: 200B, 32.00K, 1.05M, 2.00G, ..."""
    if n < 1024:
        return f"{n}B"
    for unit, scale in (("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("T", 1 << 40), ("P", 1 << 50)):
        if n < scale << 10:
            return f"{n / scale:.2f}{unit}"
    return f"{n}B"


def _script_memory(usage: dict[str, int]) -> list[tuple[str, object]]:
    """INFO memory's scripting fields, named and ordered as Redis 7's. One Lua runtime runs
    both EVAL scripts and functions here (Redis keeps two): its bytes are the `eval` VM's,
    `used_memory_vm_functions` is 0 (docs/scripting.md)."""
    lua = usage.get("used_memory_vm_eval", 0)
    scripts = usage.get("used_memory_scripts_eval", 0)
    stored = scripts + usage.get("used_memory_functions", 0)
    return [
        ("used_memory_lua", lua), ("used_memory_vm_eval", lua), ("used_memory_lua_human", bytes_to_human(lua)),
        ("used_memory_scripts_eval", scripts),
        *((name, usage.get(name, 0)) for name in ("number_of_cached_scripts", "number_of_functions",
                                                  "number_of_libraries")),
        ("used_memory_vm_functions", 0), ("used_memory_vm_total", lua),
        ("used_memory_vm_total_human", bytes_to_human(lua)),
        ("used_memory_functions", usage.get("used_memory_functions", 0)),
        ("used_memory_scripts", stored), ("used_memory_scripts_human", bytes_to_human(stored)),
    ]


def _info_text(conn, sections: set[str]) -> bytes:
    server = conn.server
    status = resp_admin.node_status(conn)
    everything = not sections or sections & {"all", "everything", "default"}
    out: list[str] = []

    def section(name: str, fields: list[tuple[str, object]]):
        if everything or name.lower() in sections:
            out.append(f"# {name}")
            out.extend(f"{k}:{v}" for k, v in fields)
            out.append("")

    now = time.time()
    section("Server", [
        ("redis_version", resp_admin.REDIS_VERSION), ("raftcache_version", __version__),
        ("redis_mode", "standalone" if conn.service.cluster is None else "cluster"),
        ("os", os.uname().sysname), ("arch_bits", 64), ("process_id", os.getpid()),
        ("tcp_port", server.port_number), ("uptime_in_seconds", int(now - server.started_s)),
        ("uptime_in_days", int(now - server.started_s) // 86400),
        ("run_id", status.get("id", "")),
    ])
    tracking = conn.service.tracking.stats()
    section("Clients", [
        ("connected_clients", len(server.connections)), ("maxclients", conn.service.setting("maxclients")),
        ("tracking_clients", tracking["tracking_clients"]),
        ("blocked_clients", resp_blocking.blocked_clients() + server.pause.waiting),
        ("total_blocking_keys", resp_blocking.blocking_keys()[0]),
        ("total_blocking_keys_on_nokey", resp_blocking.blocking_keys()[1]),
        ("raftcache_read_consistency", resp_client.consistency_text(conn)),
        ("raftcache_default_read", status.get("default_read", "")),
    ])
    used = status.get("used_bytes", 0)
    section("Memory", [
        ("used_memory", used), ("used_memory_human", bytes_to_human(used)),
        ("maxmemory", status.get("maxmemory_bytes", 0)),
        ("maxmemory_policy", status.get("maxmemory_policy", conn.service.setting("maxmemory-policy"))),
        # the LMDB map's pages in use over the logical size (Redis: RSS over used_memory)
        ("mem_fragmentation_ratio", f"{status.get('map_used_bytes', 0) / max(used, 1):.2f}"),
        ("raftcache_map_used_bytes", status.get("map_used_bytes", 0)),
        ("mem_clients_normal", server.clients_memory()),
        ("maxmemory_clients", server.limits.maxmemory_clients_bytes),
        *_script_memory(conn.service.script_usage()),
    ])
    section("Persistence", [
        ("loading", 0), ("aof_enabled", 1), ("raftcache_appendfsync", status.get("appendfsync", "")),
        ("rdb_last_save_time", int(server.started_s)),
        ("rdb_changes_since_last_save", status.get("changes_applied", 0)),
    ])
    st = server.stats
    svc = status.get("stats", {})
    errorstats = server.error_stats()
    section("Stats", [
        ("total_connections_received", st["total_connections_received"]),
        ("total_commands_processed", st["total_commands_processed"]),
        ("rejected_connections", st["rejected_connections"]),
        ("evicted_clients", st["evicted_clients"]),
        ("client_query_buffer_limit_disconnections", st["client_query_buffer_limit_disconnections"]),
        ("client_output_buffer_limit_disconnections", st["client_output_buffer_limit_disconnections"]),
        ("keyspace_hits", status.get("keyspace_hits", 0)), ("keyspace_misses", status.get("keyspace_misses", 0)),
        ("evicted_keys", status.get("evicted_keys", 0)), ("evicted_scripts", conn.service.scripts_evicted()),
        ("total_error_replies", sum(errorstats.values())),
        *((name, tracking[name]) for name in ("tracking_total_keys", "tracking_total_items", "tracking_total_prefixes")),
        ("raftcache_reads", svc.get("reads", 0)), ("raftcache_writes", svc.get("writes", 0)),
        ("raftcache_forwarded", svc.get("forwarded", 0)),
        ("raftcache_script_effects_applied", status.get("script_effects_applied", 0)),
        ("raftcache_script_effects_missed", status.get("script_effects_missed", 0)),
        ("raftcache_read_index_heartbeat_rounds", svc.get("read_index_heartbeat_rounds", 0)),
        ("raftcache_read_index_requests", svc.get("read_index_requests", 0)),
        ("raftcache_read_index_served", svc.get("read_index_served", 0)),
        ("raftcache_read_index_vouched", svc.get("read_index_vouched", 0)),
        ("raftcache_raft_forward_batches_sent", svc.get("raft_forward_batches_sent", 0)),
        ("raftcache_raft_forward_batches_served", svc.get("raft_forward_batches_served", 0)),
        ("raftcache_raft_commit_notices", svc.get("raft_commit_notices", 0)),
        ("raftcache_raft_commits_learnt", svc.get("raft_commits_learnt", 0)),
    ])
    role = status.get("role", "")
    members = status.get("members", [])
    repl = [
        ("role", "master" if role == "leader" else "slave"), ("raftcache_role", role),
        ("raftcache_node_id", status.get("id", "")), ("raftcache_zone", status.get("zone", "")),
        ("raftcache_leader_id", status.get("leader_id", "")), ("raftcache_term", status.get("term", 0)),
        ("raftcache_commit_index", status.get("commit_index", 0)),
        ("raftcache_applied_index", status.get("applied_index", 0)),
        ("raftcache_last_index", status.get("last_index", 0)),
        ("raftcache_lag_entries", max(status.get("commit_index", 0) - status.get("applied_index", 0), 0)),
        ("raftcache_last_leader_contact_ms", int(status.get("last_leader_contact_s", 0.0) * 1000)),
    ]
    if role == "leader":
        followers = [m for m in members if m.get("id") != status.get("id")]
        repl.append(("connected_slaves", sum(1 for m in followers if m.get("connected"))))
        for i, m in enumerate(followers):
            lag = max(status.get("last_index", 0) - m.get("match_index", 0), 0)
            peer = m.get("peer")
            host = getattr(peer, "host", "")
            port = peer.port("redis") if peer is not None and hasattr(peer, "port") else 0
            repl.append((f"slave{i}", f"ip={host},port={port},state={'online' if m.get('connected') else 'offline'},"
                                      f"offset={m.get('match_index', 0)},lag={lag},zone={m.get('zone', '')}"))
    else:
        leader = next((m for m in members if m.get("id") == status.get("leader_id")), None)
        peer = leader.get("peer") if leader else None
        repl += [("master_host", getattr(peer, "host", "")),
                 ("master_port", peer.port("redis") if peer is not None and hasattr(peer, "port") else 0),
                 ("master_link_status", "up" if status.get("leader_id") else "down"),
                 ("connected_slaves", 0)]
    repl.append(("master_repl_offset", status.get("commit_index", 0)))
    section("Replication", repl)
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    main = resource.getrusage(resource.RUSAGE_THREAD)   # INFO runs on the event loop's thread
    section("CPU", [
        ("used_cpu_sys", f"{own.ru_stime:.6f}"), ("used_cpu_user", f"{own.ru_utime:.6f}"),
        ("used_cpu_sys_children", f"{children.ru_stime:.6f}"), ("used_cpu_user_children", f"{children.ru_utime:.6f}"),
        ("used_cpu_sys_main_thread", f"{main.ru_stime:.6f}"), ("used_cpu_user_main_thread", f"{main.ru_utime:.6f}"),
    ])
    if sections & {"all", "everything", "commandstats"}:  # not in the default sections, as in Redis
        out.append("# Commandstats")
        out.extend(f"cmdstat_{name}:calls={calls},usec={usec},usec_per_call={usec / max(calls, 1):.2f},"
                   f"rejected_calls={rejected},failed_calls={failed}"
                   for name, (calls, usec, rejected, failed) in sorted(server.command_stats().items()))
        out.append("")
    if sections & {"all", "everything", "latencystats"}:  # not in the default sections either
        out.append("# Latencystats")
        out.extend(f"{k}:{v}" for k, v in conn.service.diagnostics.latencystats())
        out.append("")
    section("Errorstats", [(f"errorstat_{prefix}", f"count={n}") for prefix, n in sorted(errorstats.items())])
    section("Cluster", [("cluster_enabled", int(conn.service.cluster is not None))])   # tools choose cluster mode by it
    section("Keyspace", [
        (f"db{i}", f"keys={n},expires={expires},avg_ttl=0")
        for i, (n, expires) in enumerate(zip(status.get("keys_per_db", []), status.get("expires_per_db", repeat(0))))
        if n
    ])
    return "\r\n".join(out).encode()


async def info(conn, args):
    return Verbatim(_info_text(conn, {a.decode(errors="replace").lower() for a in args[1:]}))


HANDLERS = {"info": info}
