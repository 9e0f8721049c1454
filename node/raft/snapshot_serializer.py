"""Snapshots written off the Raft thread.

PySyncObj 0.3.17 writes a snapshot (our keyspace copy, node/raft/journal.py) on
its tick thread when it does not fork, and a fork is no option with an open
LMDB environment. Copying a large keyspace then stops heartbeats for seconds
and followers start elections. `BackgroundSerializer` replaces PySyncObj's
Serializer on a RaftNode: `serialize()` starts a thread and returns at once,
`checkSerializing()` reports SERIALIZING until the file is complete, so the
journal is compacted only after the snapshot is durable, exactly as before.

The keyspace copy may then cover a later index than the Raft entry PySyncObj
records for the snapshot (the copy starts a little later): harmless, since
the state machine skips entries at or below its applied index when the log
after the snapshot is replayed.
"""

from __future__ import annotations

import logging
import threading

from pysyncobj.atomic_replace import atomicReplace
from pysyncobj.config import SERIALIZER_STATE
from pysyncobj.serializer import Serializer

logger = logging.getLogger(__name__)


class BackgroundSerializer(Serializer):
    """A file Serializer whose custom serializer runs on its own thread."""

    def __init__(self, file_name: str, transmission_batch_size: int, serializer, deserializer):
        super().__init__(file_name, transmission_batch_size, False, serializer, deserializer, None)
        self._file_name = file_name
        self._write = serializer
        self._thread: threading.Thread | None = None
        self._outcome: int | None = None
        self._snapshot_id = None

    def serialize(self, data, id) -> None:
        if self._thread is not None:
            return  # one snapshot at a time; PySyncObj asks again later
        self._snapshot_id, self._outcome = id, None
        self._thread = threading.Thread(target=self._run, args=(data[1:],), name="snapshot", daemon=True)
        self._thread.start()

    def _run(self, raft_state) -> None:
        tmp = self._file_name + ".tmp"
        try:
            self._write(tmp, raft_state)
            atomicReplace(tmp, self._file_name)
            self._outcome = SERIALIZER_STATE.SUCCESS
        except Exception:  # the journal is kept whole; PySyncObj retries later
            logger.exception("writing the snapshot failed")
            self._outcome = SERIALIZER_STATE.FAILED

    def checkSerializing(self):
        thread = self._thread
        if thread is None:
            return SERIALIZER_STATE.NOT_SERIALIZING, None
        if thread.is_alive():
            return SERIALIZER_STATE.SERIALIZING, self._snapshot_id
        self._thread = None
        if self._outcome == SERIALIZER_STATE.SUCCESS:
            self._Serializer__transmissions = {}  # followers are sent the new file from the start
        return self._outcome, self._snapshot_id

    def getTransmissionData(self, transmissionID):
        if self._thread is not None:
            return None  # the file is being replaced: send it once it is complete
        return super().getTransmissionData(transmissionID)
