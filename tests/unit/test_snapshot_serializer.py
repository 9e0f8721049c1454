"""node/snapshot_serializer: snapshots are written on their own thread, and
PySyncObj learns of a snapshot only once its file is complete."""

from __future__ import annotations

import threading

from pysyncobj.config import SERIALIZER_STATE

from raftcache.node.raft.snapshot_serializer import BackgroundSerializer
from raftcache.localcluster import wait_until


def make(tmp_path, write):
    path = str(tmp_path / "snapshot.bin")
    return path, BackgroundSerializer(path, 1 << 16, write, lambda p: ("loaded", p))


def test_serialize_returns_at_once_and_reports_success_when_the_file_is_in_place(tmp_path):
    release = threading.Event()

    def slow_write(tmp, raft_state):
        release.wait(10)
        with open(tmp, "wb") as f:
            f.write(repr(raft_state).encode())

    path, serializer = make(tmp_path, slow_write)
    with open(path, "wb") as f:
        f.write(b"previous snapshot")
    serializer.serialize(("state", "entry-1", "entry-0", "cluster"), 41)  # returns while the write blocks
    assert serializer.checkSerializing() == (SERIALIZER_STATE.SERIALIZING, 41)
    assert serializer.getTransmissionData("follower") is None  # nothing is sent from a half-written file
    serializer.serialize(("other",), 99)                         # ignored while one is in progress
    with open(path, "rb") as f:
        assert f.read() == b"previous snapshot"                 # the old file stays until the new is whole
    release.set()
    wait_until(lambda: serializer.checkSerializing() != (SERIALIZER_STATE.SERIALIZING, 41), 10, "write done")
    with open(path, "rb") as f:
        assert f.read() == repr(("entry-1", "entry-0", "cluster")).encode()
    assert serializer.checkSerializing() == (SERIALIZER_STATE.NOT_SERIALIZING, None)
    data, is_first, is_last = serializer.getTransmissionData("follower")
    assert is_first and data == repr(("entry-1", "entry-0", "cluster")).encode()


def test_a_failed_write_is_reported_once_and_keeps_the_previous_snapshot(tmp_path):
    def failing_write(tmp, raft_state):
        with open(tmp, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    path, serializer = make(tmp_path, failing_write)
    with open(path, "wb") as f:
        f.write(b"previous snapshot")
    serializer.serialize((None, "a", "b", "c"), 7)
    outcomes = []
    wait_until(lambda: outcomes.append(serializer.checkSerializing()) or outcomes[-1][0] != SERIALIZER_STATE.SERIALIZING,
               10, "write finished")
    assert outcomes[-1] == (SERIALIZER_STATE.FAILED, 7)
    assert serializer.checkSerializing() == (SERIALIZER_STATE.NOT_SERIALIZING, None)
    with open(path, "rb") as f:
        assert f.read() == b"previous snapshot"
