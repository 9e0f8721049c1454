"""The node's upkeep loops: active expiry and eviction proposed by the leader, a follower's
report of the keys it read, and the raise of the log's semantics version.

Each loop runs a round on its own interval and acts only in its role (a leader's round does
nothing on a follower); a round that fails, wherever it fails, is logged and the next one tries
again (`Upkeep._every`). Active expiry's deletions are group-committed like a client's writes
(node/service/group_commit.py); the Evict and the version raise are proposed on their own
(GroupCommit.submit). The service starts and stops the loops (Service.start_background / close).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Awaitable, Callable

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
#: How often the leader looks for a log semantics version every member supports.
VERSION_CHECK_INTERVAL_S = 1.0
#: A loop whose rounds keep failing logs the traceback at most this often (seconds).
FAILURE_REPORT_S = 60.0


def _rounds(n: int, kind: str = "failed") -> str:
    """E.g. "1 failed round", "3 more failed rounds"."""
    return f"{n} {kind} round" + ("" if n == 1 else "s")


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
        loops = ((self._config.service.expiry_interval_s, self._expiry_round, "active expiry"),
                 (VERSION_CHECK_INTERVAL_S, self._version_round, "the log version check"),
                 (EVICTION_INTERVAL_S, self._eviction_round, "eviction"),
                 (ACCESS_REPORT_INTERVAL_S, self._access_report_round, "the access report"))
        return [asyncio.ensure_future(self._every(*loop)) for loop in loops]

    @staticmethod
    async def _every(interval_s: float, one_round: Callable[[], Awaitable[None]], what: str,
                     clock: Callable[[], float] = time.monotonic) -> None:
        """`one_round()` every `interval_s` for the node's life: a round that fails is logged (a
        RaftcacheError, such as no leader, no quorum or a deadline, quietly; anything else as an
        error with its traceback, at most once per FAILURE_REPORT_S with the count of the
        failures since, and a warning when a round works again after a failure that was
        reported) and the next one tries again."""
        failed = 0            # rounds failed since the last round that worked
        unreported = 0        # failures not logged yet
        reported = False      # an error was logged since the last warning
        reported_at = -math.inf
        while True:
            await asyncio.sleep(interval_s)
            try:
                await one_round()
            except RaftcacheError as e:
                log.debug("%s skipped a round: %s", what, e)
                continue
            except Exception:
                failed += 1
                unreported += 1
                now = clock()
                if now - reported_at < FAILURE_REPORT_S:
                    log.debug("%s failed", what, exc_info=True)   # counted in the next report
                    continue
                reported_at = now
                more = f" ({_rounds(unreported - 1, 'more failed')} since the last report)" if unreported > 1 else ""
                log.exception("%s failed%s", what, more)
                unreported, reported = 0, True
                continue
            if failed and reported:
                log.warning("%s works again after %s", what, _rounds(failed))
                reported = False
            failed = 0

    # ------------------------------------------------------------ active expiry

    async def _expiry_round(self) -> None:
        """On the leader: delete a batch of the keys (and hash fields) past their deadline."""
        if not self._raft.is_leader:
            return
        batch = self._config.service.expiry_batch
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

    # ------------------------------------------------------------ eviction and access reports

    async def _eviction_round(self) -> None:
        """On the leader: a keyspace already past maxmemory (maxmemory lowered, a leader
        change during a burst) is brought back under it, one bounded Evict at a time. A node
        that begins to lead seeds its access table with the keys it never saw used, a slice
        a turn (node/service/evictor.py); the first round of a term resets the evictor
        (GroupCommit.note_leading: once per term, tried again until it worked)."""
        if not self._raft.is_leader:
            return
        self._commits.note_leading()
        if self._sm.log_version < commands.EVICTION_VERSION:
            return
        self._evictor.seed_step()
        entry, named = self._evictor.overdue(wall_ms())
        if entry is None:
            return
        entry.version = self._sm.log_version
        try:
            await self._commits.submit(commands.encode_entry(entry))
        finally:
            self._evictor.release(named)

    async def _access_report_round(self) -> None:
        """On a follower: send the leader the keys read here since the last report."""
        raft = self._raft
        access = self._access
        access.reporting = not raft.is_leader
        report = access.take_report(wall_ms())
        leader = raft.leader_id
        forwarder = self._forwarder()
        if not report or raft.is_leader or leader in (None, self._config.id) or forwarder is None:
            return
        try:
            await forwarder.report_access(leader, self._config.id, report)
        except Exception as e:  # a lost report costs accuracy, nothing else
            log.debug("access report to %s failed: %s", leader, e)

    # ------------------------------------------------------------ log semantics version

    async def _version_round(self) -> None:
        """On the leader, raise the log's semantics version to the newest one every
        member reports supporting (docs/operations.md, rolling upgrades)."""
        target = self._version_to_raise()
        if target:
            await self._raise_version(target)

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
