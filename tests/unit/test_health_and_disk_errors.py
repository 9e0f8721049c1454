"""node/service/health.py verdicts, the fail-stop hook of node/raft/journal.py, and the Raft port limits' validation."""

from __future__ import annotations

import dataclasses
import errno
import math

import pytest

from raftcache.node.service import health
from raftcache.node.raft import journal
from raftcache.node.config import ReplicationConfig
from raftcache.node.errors import ConfigError
from raftcache.node.server import is_disk_error


def _status(role, contact=0.0, quorum=math.inf, commit=10, applied=10):
    return {"role": role, "last_leader_contact_s": contact, "quorum_contact_s": quorum,
            "commit_index": commit, "applied_index": applied}


def test_health_verdicts():
    assert health.assess(_status("leader", quorum=0.1), 2.0) == health.Health(
        True, "leader with quorum (majority contact 0.1 s ago)")
    v = health.assess(_status("leader", quorum=math.inf), 2.0)
    assert not v.healthy and "without quorum" in v.reason
    assert not health.assess(_status("leader", quorum=2.5), 2.0).healthy
    assert health.assess(_status("follower", contact=0.1), 2.0).reason == "follower, leader contact 0.1 s ago"
    v = health.assess(_status("candidate", contact=12.0), 2.0)
    assert not v.healthy and v.reason == "candidate, no leader contact for 12 s"
    assert not health.assess(_status("candidate", contact=math.inf), 2.0).healthy
    v = health.assess(_status("follower", contact=0.1, commit=5000, applied=10), 2.0)
    assert not v.healthy and "behind" in v.reason
    assert health.contact_max_s(1.2) == 2.0 and health.contact_max_s(5.0) == 5.0


def test_a_failed_meta_write_calls_the_handler_then_raises(tmp_path):
    calls = []
    journal.set_disk_error_handler(lambda what, exc: calls.append((what, exc)))
    try:
        store = journal.DurableMetaStorer(str(tmp_path / "missing-dir" / "raft.journal.meta"))
        with pytest.raises(journal.DiskWriteError):
            store.storeMeta({"currentTerm": 5})
    finally:
        journal.set_disk_error_handler(None)
    assert len(calls) == 1 and "term/vote" in calls[0][0]


def test_disk_errors_are_recognised_through_the_cause_chain():
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("apply failed") from inner
    except RuntimeError as outer:
        assert is_disk_error(outer)
    assert is_disk_error(Exception("mdb_txn_commit: Read-only file system"))
    assert not is_disk_error(ValueError("MDB_MAP_FULL"))


@pytest.mark.parametrize("change", [
    {"peer_first_frame_max_bytes": 100},
    {"peer_first_frame_max_bytes": 64 << 20},
    {"peer_frame_max_bytes": 1 << 20},
    {"peer_frame_max_bytes": 1 << 31},
    {"peer_max_pending": 0},
    {"peer_max_pending": 40, "peer_max_connections": 32},
    {"peer_auth_timeout_s": 0},
])
def test_raft_port_limits_are_validated(change):
    with pytest.raises(ConfigError):
        dataclasses.replace(ReplicationConfig(cluster_secret="s"), **change).validate()
    ReplicationConfig(cluster_secret="s").validate()
