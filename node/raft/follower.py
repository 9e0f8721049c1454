"""A follower's side of append-entries: Figure 2 of the Raft paper, and large entries in pieces.

Owns how a follower takes a leader's append-entries (`FollowerLog`, RaftNode's:
node/raft/raftnode.py routes the message here): truncate only from the first
conflicting entry, append only what is missing, commit only up to the last
entry the message verified (PySyncObj 0.3.17 truncated a follower's log on a
stale append-entries: docs/design.md), back up to just past the commit index on
a mismatch, reassemble a large entry sent in pieces, and take the commit index a
leader's answer to a ReadIndex request carries. Runs on the thread
that ticks; reaches PySyncObj's private state through the RaftNode (pinned
version: re-check on upgrade). Must not touch the keyspace or sockets directly
(a snapshot install reaches the keyspace through PySyncObj's deserializer, and
replies go out through its transport).
"""

from __future__ import annotations

import logging
import pickle
import time

import pysyncobj.pickle as _ps_pickle
from pysyncobj.monotonic import monotonic as _ps_monotonic
from pysyncobj.syncobj import _RAFT_STATE

logger = logging.getLogger(__name__)


class FollowerLog:
    """One RaftNode's handling of the append-entries it receives (module docstring)."""

    def __init__(self, raft):
        self._raft = raft
        self._pieces: list[bytes] = []   # pieces of a large entry being received
        self.commits_learnt = 0          # commit indexes taken from a leader's answer (learn_commit)

    def on_append_entries(self, leader, message) -> None:
        """An append-entries of our term or a newer one, from `leader` (RaftNode._on_message)."""
        raft = self._raft
        term = message["term"]
        if term > raft._SyncObj__raftCurrentTerm:
            raft._SyncObj__transferInProgress = False  # a newer leader supersedes a pending transfer
        if not raft._SyncObj__transferInProgress:
            raft._SyncObj__raftElectionDeadline = _ps_monotonic() + raft._SyncObj__generateRaftTimeout()
        if raft._SyncObj__raftLeader != leader:
            raft._SyncObj__onLeaderChanged()
        raft._SyncObj__raftLeader = leader
        if term > raft._SyncObj__raftCurrentTerm:
            raft._SyncObj__setCurrentTerm(term, None)
        raft._SyncObj__setState(_RAFT_STATE.FOLLOWER)
        raft.last_leader_contact = time.monotonic()
        raft.elections.heard_leader()
        raft.rc_echo = message.get("rc_sent")
        raft.rc_leader_read_index = bool(message.get("rc_ri"))
        raft.rc_leader_forwards = bool(message.get("rc_fw"))
        raft._SyncObj__leaderCommitIndex = leader_commit = message["commit_index"]
        verified = None  # last index this message proved equal to the leader's log

        if "prevLogIdx" in message:
            entries = message.get("entries", [])
            transmission = message.get("transmission")
            if transmission is not None:  # one large entry split over several messages
                entries = self._receive_chunk(transmission, message["data"])
                if entries is None:
                    raft._SyncObj__sendNextNodeIdx(leader, success=False, reset=False)
                    return
            prev_idx, prev_term = message["prevLogIdx"], message["prevLogTerm"]
            prev = raft._SyncObj__getEntries(prev_idx, 1)
            if not prev or prev[0][2] != prev_term:
                # Ask the leader to resume just past our commit index, whether
                # prevLogIdx is missing here or conflicts: committed entries
                # match every leader's log (Log Matching), so that prefix is
                # safe. PySyncObj answers "missing" with our last index + 1 and
                # "conflict" with one entry further back; with pipelined
                # append-entries the stale "missing" answers kept undoing the
                # walk back over a deposed leader's uncommitted tail, and the
                # follower stayed stuck until the next snapshot install.
                back_to = raft._SyncObj__raftCommitIndex + 1
                if prev:
                    back_to = min(back_to, prev_idx)
                raft._SyncObj__sendNextNodeIdx(leader, nextNodeIdx=back_to, success=False, reset=True)
                return
            self._merge(entries)
            verified = entries[-1][1] if entries else prev_idx
            if entries or not message.get("rc_noack"):
                raft._SyncObj__sendNextNodeIdx(leader, nextNodeIdx=verified + 1, success=True)
        elif message.get("serialized") is not None:  # snapshot install
            piece = message["serialized"]
            if raft.rc_on_snapshot_piece is not None and isinstance(piece, tuple) and len(piece) == 3:
                raft.rc_on_snapshot_piece(len(piece[0] or b""), bool(piece[2]))
            if raft._SyncObj__serializer.setTransmissionData(piece):
                raft._SyncObj__loadDumpFile(clearJournal=True)
                raft._SyncObj__sendNextNodeIdx(leader, success=True)
                verified = raft._SyncObj__raftLog[-1][1]

        log_end = raft._SyncObj__raftLog[-1][1]
        commit = min(raft._SyncObj__raftCommitIndex, log_end)
        if verified is not None and leader_commit > commit:
            # Figure 2: min(leaderCommit, index of last new entry). Entries past
            # `verified` may be a stale tail that the leader has not overwritten yet.
            commit = max(commit, min(leader_commit, verified))
        self._commit(commit)

    def learn_commit(self, stamp) -> bool:
        """A leader's answer to a ReadIndex request carries its commit index and that entry's
        term (`stamp`, RaftNode.commit_stamp): commit up to it now, when this log holds that
        entry with that term, instead of waiting for the next append-entries (which the leader
        holds back up to COMMIT_NOTICE_S when it carries nothing else), since the reads waiting
        on the answer need that index applied. Safe by Log Matching: an entry of the same index
        and term means the same log up to it, and the index was committed when the leader said
        so. True when the commit index moved (a tick then applies the entries). Never on a
        leader, which counts its own commit index. (Not from a forwarded batch's answer: its
        writes' client is answered without waiting for this node's apply, and a linearizable or
        lease read that must see them asks for a read index first, whose answer does it.)"""
        if type(stamp) not in (list, tuple) or len(stamp) != 2:
            return False
        index, term = stamp
        raft = self._raft
        if type(index) is not int or type(term) is not int or index <= raft._SyncObj__raftCommitIndex \
                or raft._isLeader():
            return False
        held = raft._SyncObj__getEntries(index, 1)
        if not held or held[0][1] != index or held[0][2] != term:
            return False
        self._commit(index)
        self.commits_learnt += 1
        return True

    def _commit(self, index: int) -> None:
        """The commit index is `index`, in PySyncObj's state and the journal's."""
        self._raft._SyncObj__raftCommitIndex = index
        self._raft._SyncObj__raftLog.setRaftCommitIndex(index)

    def _merge(self, entries) -> None:
        """Append what the log lacks; truncate only from the first conflicting entry."""
        raft = self._raft
        log = raft._SyncObj__raftLog
        first, last = log[0][1], log[-1][1]
        new = []
        for pos, entry in enumerate(entries):
            idx = entry[1]
            if idx > last:
                new = entries[pos:]
                break
            if idx < first or log[idx - first][2] == entry[2]:
                continue  # compacted (hence committed) or already present
            if idx <= raft._SyncObj__raftLastApplied:
                logger.critical("conflict at applied index %d (applied %d): replicas diverged",
                                idx, raft._SyncObj__raftLastApplied)
            if raft._SyncObj__conf.dynamicMembershipChange:  # roll back membership changes being removed
                for old in reversed(log[idx - first:]):
                    change = raft._SyncObj__parseChangeClusterRequest(old[0])
                    if change is not None:
                        raft._SyncObj__doChangeCluster(change, reverse=True)
            raft._SyncObj__deleteEntriesFrom(idx)
            new = entries[pos:]
            break
        for entry in new:
            log.add(*entry)
        if new and raft._SyncObj__conf.dynamicMembershipChange:
            for entry in new:
                change = raft._SyncObj__parseChangeClusterRequest(entry[0])
                if change is not None:
                    raft._SyncObj__doChangeCluster(change)

    def _receive_chunk(self, transmission: str, data: bytes) -> list | None:
        """One piece of a large entry; the entry (as a one-entry list) once complete, else None.

        PySyncObj labels a piece "finish" when the entry's *raw* size is
        reached, not its pickled size, so the pickle may end in a later
        "finish" piece: it is complete when it unpickles. Pieces are kept in
        a list (PySyncObj concatenates bytes: quadratic for a large value).
        """
        if transmission == "start":
            self._pieces = [data]
        elif transmission in ("process", "finish"):
            self._pieces.append(data)
        else:
            raise ValueError(f"bad transmission {transmission!r}")
        if transmission != "finish":
            return None
        try:
            entry = _ps_pickle.loads(b"".join(self._pieces))
        except (EOFError, pickle.UnpicklingError, ValueError):
            return None
        self._pieces = []
        return [entry]
