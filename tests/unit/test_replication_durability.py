"""Durable journal, meta and snapshot files (node/raft/journal.py), and the
Replicator's proposal bookkeeping that needs no running Raft thread."""

from __future__ import annotations

import os
import pickle
import resource

import pytest
from pysyncobj.config import FAIL_REASON
from pysyncobj.journal import FileJournal

from raftcache.node.raft import journal
from raftcache.node.config import Peer, ReplicationConfig
from raftcache.node.errors import ConfigError, DeadlineError, NotLeaderError, UnavailableError
from raftcache.node.raft.proposals import Proposals
from raftcache.node.raft.proposals import failure as _failure
from raftcache.node.raft.replication import Replicator


def test_journal_tracks_dirtiness_and_stays_readable_by_pysyncobj(tmp_path):
    path = str(tmp_path / "raft.journal")
    j = journal.DurableFileJournal(path)
    assert not j.dirty
    j.add(b"\x01", 1, 0)
    j.add(b"\x00abc", 2, 1)
    assert j.dirty
    j.flush()
    assert not j.dirty and j.flush_count == 1
    j.flush()  # clean: nothing to do
    assert j.flush_count == 1
    j.deleteEntriesFrom(1)
    assert j.dirty
    j._destroy()  # flushes
    plain = FileJournal(path)
    try:
        assert list(plain[:]) == [(b"\x01", 1, 0)]
    finally:
        plain._destroy()


def test_entries_are_written_without_faulting_the_mapping_in(tmp_path):
    """Entries are written with pwrite: the pages they fill are not faulted in through the
    journal's mapping one by one (zero-filled and read around), and they read back, through
    the mapping, after a reload, by PySyncObj's own journal."""
    path = str(tmp_path / "raft.journal")
    j = journal.DurableFileJournal(path)
    entry = os.urandom(1 << 20)
    j.add(entry, 1, 1)
    faults_before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    for index in range(2, 10):   # 8 MiB, the file and its mapping growing three times on the way
        j.add(entry, index, 1)
    faults = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - faults_before
    assert faults < 8 * (len(entry) >> 12) // 4, f"{faults} page faults writing 8 MiB"
    assert j[-1] == (entry, 9, 1)
    j._destroy()
    plain = FileJournal(path)
    try:
        assert len(plain) == 9 and plain[-1] == (entry, 9, 1)
    finally:
        plain._destroy()


def test_term_and_vote_are_stored_durably_and_reloaded(tmp_path):
    path = str(tmp_path / "raft.journal")
    j = journal.DurableFileJournal(path)
    j.setCurrentTerm(7, "127.0.0.1:9")
    assert not os.path.exists(path + ".meta.tmp")
    j._destroy()
    j = journal.DurableFileJournal(path)
    assert (j.getCurrentTerm(), j.getVotedForNodeId()) == (7, "127.0.0.1:9")
    j._destroy()


def test_a_stored_commit_index_past_the_journal_is_clamped(tmp_path):
    """A meta file that holds a commit index past the journal's entries (synced once a
    second on its own, by a release that did not bound it) is clamped on load."""
    path = str(tmp_path / "raft.journal")
    j = journal.DurableFileJournal(path)
    for idx in range(1, 6):
        j.add(b"\x01", idx, 1)
    j._destroy()
    journal.DurableMetaStorer(path + ".meta").storeMeta({"raftCommitIndex": 9})
    j = journal.DurableFileJournal(path)
    try:
        assert j.getRaftCommitIndex() == 5
        j.setRaftCommitIndex(3)
        assert j.getRaftCommitIndex() == 3
    finally:
        j._destroy()


def _stored_commit_index(path: str) -> int:
    """The commit index the meta file on disk holds (what a restart applies up to)."""
    return journal.DurableMetaStorer(path + ".meta").getMeta().get("raftCommitIndex", 0)


def _stored(j, path: str) -> int:
    """The journal's once-a-second meta store, then the commit index the file holds."""
    j.onOneSecondTimer()
    return _stored_commit_index(path)


@pytest.fixture
def flushed_journal(tmp_path):
    """make(last, data): a journal holding entries 1..last of term 1, flushed, and its path;
    closed after the test."""
    opened = []

    def make(last: int, data: bytes = b"\x01"):
        path = str(tmp_path / "raft.journal")
        j = journal.DurableFileJournal(path)
        opened.append(j)
        for idx in range(1, last + 1):
            j.add(data, idx, 1)
        j.flush()
        return j, path
    yield make
    for j in opened:
        j._destroy()


def test_the_stored_commit_index_never_covers_entries_written_since_the_last_flush(flushed_journal):
    """A follower replaces a deposed leader's uncommitted tail, learns a commit index over
    the new entries, and the once-a-second meta store runs before the journal's flush: a
    power cut then would leave the old tail on disk, so the index stored must not cover it."""
    j, path = flushed_journal(5, b"\x01old")
    j.setRaftCommitIndex(3)
    assert _stored(j, path) == 3
    j.deleteEntriesFrom(3)   # entries 4 and 5 of term 1 were never committed
    for idx in range(4, 9):
        j.add(b"\x01new", idx, 2)
    j.setRaftCommitIndex(7)
    assert _stored(j, path) == 3   # 4-7 of term 2 are not on disk yet
    j.add(b"\x01new", 9, 2)
    j.flush()
    assert _stored(j, path) == 7
    j.setRaftCommitIndex(9)
    assert _stored(j, path) == 9


def test_a_truncation_lowers_an_index_already_stored(flushed_journal):
    j, path = flushed_journal(5)
    j.setRaftCommitIndex(5)
    assert _stored(j, path) == 5
    j.deleteEntriesFrom(3)   # 4 and 5 replaced (as a leader's conflicting tail would be)
    assert _stored(j, path) == 3


def test_compaction_keeps_the_bound_and_a_snapshot_install_sets_one(flushed_journal):
    j, path = flushed_journal(10)
    j.add(b"\x01", 11, 1)   # appended, not flushed
    j.setRaftCommitIndex(11)
    j.deleteEntriesTo(4)      # a snapshot covers 1-4: the same entries 5-11, written again
    assert _stored(j, path) == 10
    j.clear()                 # a snapshot install: the journal starts again
    j.add(b"\x01", 20, 2)
    j.setRaftCommitIndex(20)
    assert _stored(j, path) == 0
    j.flush()
    assert _stored(j, path) == 20


def test_entries_only_appended_are_bounded_too(flushed_journal):
    """The header page with the journal's end may reach the disk before the new entries' pages:
    the index stored must not cover entries a cut could leave unwritten."""
    j, path = flushed_journal(5)
    for idx in range(6, 9):
        j.add(b"\x01", idx, 1)
    j.setRaftCommitIndex(8)
    assert _stored(j, path) == 5
    j.flush()
    assert _stored(j, path) == 8


def test_a_clean_close_stores_the_latest_commit_index(tmp_path):
    path = str(tmp_path / "raft.journal")
    j = journal.DurableFileJournal(path)
    for idx in range(1, 6):
        j.add(b"\x01", idx, 1)
    j.setRaftCommitIndex(5)   # no one-second timer ran since
    j._destroy()
    assert _stored_commit_index(path) == 5


class Hooks:
    def __init__(self, applied: int, as_dir: bool = False):
        self.applied = applied
        self.as_dir = as_dir
        self.loaded: list[bytes] = []

    @property
    def applied_index(self) -> int:
        return self.applied

    def save(self, path: str) -> int:
        if self.as_dir:
            os.makedirs(path)
            with open(os.path.join(path, "data.mdb"), "wb") as f:
                f.write(b"dir-copy")
        else:
            with open(path, "wb") as f:
                f.write(b"file-copy")
        return self.applied

    def load(self, path: str) -> None:
        target = os.path.join(path, "data.mdb") if os.path.isdir(path) else path
        with open(target, "rb") as f:
            self.loaded.append(f.read())


@pytest.mark.parametrize("as_dir", [False, True])
def test_snapshot_restores_keyspace_only_when_behind(tmp_path, as_dir):
    path = str(tmp_path / "raft.snapshot")
    raft_state = ((b"\x01", 10, 2), (b"\x01", 9, 2), {"cluster"})
    assert journal.write_snapshot(path, raft_state, Hooks(8, as_dir).save) == 8
    assert not os.path.exists(path + ".keyspace")

    behind = Hooks(3)
    assert journal.read_snapshot(path, lambda: behind.applied, behind.load) == raft_state
    assert behind.loaded == [b"dir-copy" if as_dir else b"file-copy"]

    ahead = Hooks(12)
    assert journal.read_snapshot(path, lambda: ahead.applied, ahead.load) == raft_state
    assert ahead.loaded == []
    assert sorted(os.listdir(tmp_path)) == ["raft.snapshot"]


def test_snapshot_rejects_a_foreign_file(tmp_path):
    path = tmp_path / "raft.snapshot"
    path.write_bytes(pickle.dumps("not ours") + b"\0" * 32)
    with pytest.raises(ValueError):
        journal.read_snapshot(str(path), lambda: 0, lambda p: None)


def test_fail_reasons_map_to_domain_errors():
    assert isinstance(_failure(FAIL_REASON.MISSING_LEADER), UnavailableError)
    assert isinstance(_failure(FAIL_REASON.QUEUE_FULL), UnavailableError)
    assert isinstance(_failure(FAIL_REASON.DISCARDED), UnavailableError)
    assert isinstance(_failure(FAIL_REASON.NOT_LEADER), NotLeaderError)
    assert isinstance(_failure(FAIL_REASON.LEADER_CHANGED), DeadlineError)
    assert isinstance(_failure(FAIL_REASON.UNKNOWN_OUTCOME), DeadlineError)


def _replicator(tmp_path, **overrides) -> Replicator:
    me = Peer("n1", "a", "127.0.0.1", 7000)
    config = ReplicationConfig(**{"data_dir": str(tmp_path), "cluster_secret": "s", **overrides})
    return Replicator(config, me, [me], lambda i, d: None, Hooks(0))


def test_replicator_requires_a_secret(tmp_path):
    with pytest.raises(ConfigError):
        _replicator(tmp_path, cluster_secret="")


def test_propose_before_start_is_unavailable(tmp_path):
    got = []
    _replicator(tmp_path).propose(b"x", lambda *a: got.append(a))
    assert len(got) == 1 and isinstance(got[0][2], UnavailableError)


def test_results_and_deadlines_call_back_exactly_once(monkeypatch):
    proposals = Proposals(timeout_s=1.0)
    got = []
    clock = [100.0]
    monkeypatch.setattr("raftcache.node.raft.proposals.time.monotonic", lambda: clock[0])
    for expected in (1, 2):
        pid = proposals.add(lambda *a, expected=expected: got.append((expected, *a)))
        assert pid == expected
    proposals.answer(1, (5, "r"), FAIL_REASON.SUCCESS)
    assert got == [(1, "r", 5, None)]
    clock[0] += 0.5
    proposals.expire()
    assert len(got) == 1
    clock[0] += 0.6
    proposals.expire()
    assert got[1][0] == 2 and isinstance(got[1][3], DeadlineError)
    proposals.answer(2, (6, "late"), FAIL_REASON.SUCCESS)  # committed after its deadline: ignored
    assert len(got) == 2 and len(proposals) == 0
