"""The node's upkeep loops: active expiry and eviction proposed by the leader, a follower's
report of the keys it read, and the raise of the log's semantics version.

Each loop wakes on its own interval and acts only in its role (a loop of the leader does
nothing on a follower); a failed proposal or report is logged and the next round tries again.
Active expiry's deletions are group-committed like a client's writes (node/service/
group_commit.py); the Evict and the version raise are proposed on their own
(GroupCommit.submit). The service starts and stops the loops (Service.start_background / close).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from raftcache.node import commands
from raftcache.node.config import NodeConfig
from raftcache.node.errors import RaftcacheError
from raftcache.node.service.access import AccessTable
from raftcache.node.service.evictor import EVICTION_INTERVAL_S, Evictor
from raftcache.node.service.group_commit import GroupCommit, wall_ms
from raftcache.proto import commands_pb2 as pb

log = logging.getLogger(__name__)

#: How often a follower reports the keys it read to the leader (node/service/access.py).
ACCESS_REPORT_INTERVAL_S = 0.5


class Upkeep:
    """The upkeep loops of one node (module docstring)."""

    def __init__(self, config: NodeConfig, statemachine, replicator, keyspace, commits: GroupCommit,
                 evictor: Evictor, access: AccessTable, forwarder: Callable[[], object]):
        """`forwarder()`: how this node reaches the leader now (the service's, which may change)."""
        self._config = config
        self._sm = statemachine
        self._raft = replicator
        self._keyspace = keyspace
        self._commits = commits
        self._evictor = evictor
        self._access = access
        self._forwarder = forwarder

    def start(self) -> list[asyncio.Task]:
        """Start every loop on the running event loop; the caller cancels the tasks."""
        return [asyncio.ensure_future(self._expiry_loop()),
                asyncio.ensure_future(self._version_loop()),
                asyncio.ensure_future(self._eviction_loop()),
                asyncio.ensure_future(self._access_report_loop())]

    # ------------------------------------------------------------ active expiry

    async def _expiry_loop(self) -> None:
        interval_s = self._config.service.expiry_interval_s
        batch = self._config.service.expiry_batch
        while True:
            await asyncio.sleep(interval_s)
            if not self._raft.is_leader:
                continue
            try:
                now_ms = wall_ms()
                with self._keyspace.reader() as txn:
                    expired = txn.expired(now_ms, batch)
                    # hashes with fields past their deadline (none before log version 9)
                    fields = txn.fields_expiring(now_ms, batch) if self._sm.log_version >= commands.HFE_VERSION else []
                for op, found in (("delete_expired", expired), ("delete_expired_fields", fields)):
                    by_db: dict[int, list[bytes]] = {}
                    for db, key in found:
                        by_db.setdefault(db, []).append(key)
                    for db, keys in by_db.items():
                        command = pb.Command(db=db)
                        getattr(command, op).keys.extend(keys)
                        await self._commits.propose(command, "", 0)
            except RaftcacheError as e:
                log.debug("active expiry skipped a round: %s", e)
            except Exception:
                log.exception("active expiry failed")

    # ------------------------------------------------------------ eviction and access reports

    async def _eviction_loop(self) -> None:
        """On the leader: a keyspace already past maxmemory (maxmemory lowered, a leader
        change during a burst) is brought back under it, one bounded Evict at a time. A node
        that begins to lead seeds its access table with the keys it never saw used, a slice
        a turn (node/service/evictor.py)."""
        leading = False
        while True:
            await asyncio.sleep(EVICTION_INTERVAL_S)
            if not self._raft.is_leader:
                leading = False
                continue
            if not leading:
                leading = True
                self._commits.note_leading()
            if self._sm.log_version < commands.EVICTION_VERSION:
                continue
            try:
                self._evictor.seed_step()
                entry, named = self._evictor.overdue(wall_ms())
                if entry is None:
                    continue
                entry.version = self._sm.log_version
                try:
                    await self._commits.submit(commands.encode_entry(entry))
                finally:
                    self._evictor.release(named)
            except RaftcacheError as e:
                log.debug("eviction skipped a round: %s", e)
            except Exception:
                log.exception("eviction failed")

    async def _access_report_loop(self, interval_s: float = ACCESS_REPORT_INTERVAL_S) -> None:
        """On a follower: send the leader the keys read here since the last report."""
        access = self._access
        while True:
            await asyncio.sleep(interval_s)
            raft = self._raft
            access.reporting = not raft.is_leader
            report = access.take_report(wall_ms())
            leader = raft.leader_id
            forwarder = self._forwarder()
            if not report or raft.is_leader or leader in (None, self._config.id) or forwarder is None:
                continue
            try:
                await forwarder.report_access(leader, self._config.id, report)
            except Exception as e:  # a lost report costs accuracy, nothing else
                log.debug("access report to %s failed: %s", leader, e)

    # ------------------------------------------------------------ log semantics version

    async def _version_loop(self, interval_s: float = 1.0) -> None:
        """On the leader, raise the log's semantics version to the newest one every
        member reports supporting (docs/operations.md, rolling upgrades)."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                target = self._version_to_raise()
                if target:
                    await self._raise_version(target)
            except RaftcacheError as e:
                log.debug("log version not raised this round: %s", e)
            except Exception:
                log.exception("raising the log version failed")

    def _version_to_raise(self) -> int:
        """The newest version above the one in force that every member supports; 0 if none."""
        raft = self._raft
        if not raft.is_leader:
            return 0
        for version in range(raft.max_version, self._sm.log_version, -1):
            if raft.members_support(version):
                return version
        return 0

    async def _raise_version(self, version: int) -> None:
        # Stamped with the new version: a member that does not support it stops at
        # this entry (it cannot happen unless it was downgraded since it reported).
        entry = pb.LogEntry(version=version, now_ms=wall_ms())
        entry.command.set_version.version = version
        await self._commits.submit(commands.encode_entry(entry))
        log.info("raised the log's semantics version to %d", version)
