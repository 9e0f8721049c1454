"""How a node's ReplicationConfig becomes PySyncObj's SyncObjConf.

Owns the PySyncObj settings raftcache runs with: its timers from the
configuration, dynamic membership, the durable journal and snapshot files
(written by the Replicator's hooks, never by a fork), batched append-entries
of up to 1 MiB (a larger entry travels alone in 1 MiB pieces), and whether
PySyncObj ticks on its own thread or the node's event loop ticks it. Used by
the Replicator (node/raft/replication.py). Must not touch: sockets, the
journal's contents.
"""

from __future__ import annotations

from typing import Callable

from pysyncobj import SyncObjConf

from raftcache.node.config import ReplicationConfig


def syncobj_conf(cfg: ReplicationConfig, bind_address: str, journal_path: str, snapshot_path: str,
                 serializer: Callable[[str, tuple], None], deserializer: Callable[[str], tuple],
                 on_loop: bool) -> SyncObjConf:
    """PySyncObj's configuration for a node bound at `bind_address` (host:raft_port).
    `on_loop`: no tick thread of PySyncObj's own (the event loop ticks it)."""
    return SyncObjConf(
        password=cfg.cluster_secret,
        bindAddress=bind_address,
        dynamicMembershipChange=True,
        journalFile=journal_path,
        fullDumpFile=snapshot_path,
        serializer=serializer,
        deserializer=deserializer,
        useFork=False,
        raftMinTimeout=cfg.election_timeout_min_s,
        raftMaxTimeout=cfg.election_timeout_max_s,
        appendEntriesPeriod=cfg.heartbeat_s,
        autoTickPeriod=cfg.tick_s,
        connectionRetryTime=cfg.connection_retry_s,
        leaderFallbackTimeout=cfg.leader_fallback_s,
        logCompactionMinEntries=cfg.compaction_min_entries,
        logCompactionMinTime=cfg.compaction_min_s,
        appendEntriesUseBatch=True,
        # Messages carry up to 1 MiB of entries; a larger entry goes in 1 MiB pieces
        # (PySyncObj's 64 KiB default made a 50 MB value 800 messages).
        appendEntriesBatchSizeBytes=1 << 20,
        sendBufferSize=1 << 20,
        recvBufferSize=1 << 20,
        maxBindRetries=5,
        bindRetryTime=0.5,
        autoTick=not on_loop,
    )
