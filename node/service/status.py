"""What a node reports about itself: the one dictionary behind Admin.Status, INFO and /status.

Owns the shape of that report (its keys are read by node/frontends/grpc_admin.py,
resp_info.py, http.py, the dashboard and node/service/health.py): the node's
role, term and indexes, each configured member as this node sees it, the
keyspace's sizes, memory and evictions, the log's semantics versions, snapshot
sizes, the request counters and each protocol's figures, the Raft counters, and
the shard's view in cluster mode. Reads only; any figure it reports is computed
where it is kept. Must not touch: the keyspace's records, Raft state (it reads
the Replicator's cheap status properties).
"""

from __future__ import annotations


def node_status(service, raft, keyspace, statemachine, default_read: str) -> dict:
    """The report of `service` (node/service/service.Service), whose Replicator, Keyspace and
    StateMachine are `raft`, `keyspace` and `statemachine`; `default_read` its default level."""
    config = service.config
    ks = keyspace.stats()
    members = []
    states = {m.id: m for m in raft.members_status()}
    for peer in config.members:
        state = states.get(peer.id)
        members.append(
            {
                "id": peer.id,
                "zone": peer.zone,
                "peer": peer,
                "connected": bool(state and state.connected) or peer.id == config.id,
                "match_index": (state.match_index or 0) if state else 0,
                "max_log_version": (state.max_version or 0) if state else 0,
                "contact_s": state.contact_s if state else None,   # leader only: last acknowledgement's age
            }
        )
    return {
        "id": config.id,
        "zone": config.zone,
        "role": service.role(),
        "leader_id": raft.leader_id or "",
        "term": raft.term,
        "commit_index": raft.commit_index,
        "applied_index": raft.applied_index,
        "changes_applied": statemachine.changes,
        "script_effects_applied": statemachine.effects_applied,
        "script_effects_missed": statemachine.effects_missed,
        "last_index": raft.last_index,
        "members": members,
        "keys": sum(ks.keys),
        "keys_per_db": list(ks.keys),
        "expires_per_db": list(ks.expires),
        "used_bytes": ks.used_bytes,
        "maxmemory_bytes": service.limits.maxmemory_bytes,
        "last_leader_contact_s": 0.0 if raft.is_leader else raft.last_leader_contact_s(),
        "log_version": statemachine.log_version,
        "max_log_version": raft.max_version,
        "apply_blocked": raft.apply_blocked,
        "snapshot_bytes": getattr(raft, "snapshot_bytes", 0),
        "snapshot_received_bytes": raft.watch.snapshot_received_bytes if hasattr(raft, "watch") else 0,
        "quorum_contact_s": raft.quorum_contact_s(),   # leader only; +inf elsewhere
        "appendfsync": config.replication.appendfsync,
        "default_read": default_read,
        "stats": dict(service.stats, **raft.peer_request_counts),
        "keyspace_hits": keyspace.hits,
        "keyspace_misses": keyspace.misses,
        "maxmemory_policy": service.setting("maxmemory-policy"),
        "evicted_keys": sum(statemachine.evicted.values()),
        "evicted_by_policy": dict(statemachine.evicted),
        "map_used_bytes": keyspace.map_used_bytes(),
        "access_table_keys": len(service.access),
        "protocols": service.opstats.snapshot(),
        "raft": raft.counters(),
        **({"shard": service.cluster.status()} if service.cluster is not None else {}),
    }
