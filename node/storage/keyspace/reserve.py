"""Disk space made sure of before a write transaction when the keyspace runs with `writemap`.

With `writemap` LMDB writes a transaction's pages through a writable map of its data file,
which it sizes to the whole map up front as a sparse file. A page first written where the
disk has no room then faults (SIGBUS: the process dies) where a `pwrite` would have failed
with ENOSPC. So before each write transaction the keyspace asks for the room the
transaction may take: when the file system has plenty free, nothing is done; near full, the
next bytes past LMDB's last page are allocated (`posix_fallocate`), and a disk that has no
room fails there, with an OSError that stops the node as any disk fault does
(docs/durability.md). A transaction that adds more new pages than it asked for, on a disk
that another writer filled meanwhile, can still fault. File systems without `fallocate`
run without the check, said once in the log.
"""

from __future__ import annotations

import errno
import logging
import os

log = logging.getLogger(__name__)

#: The least room one write transaction asks for (more for a larger entry).
MIN_ROOM_BYTES = 16 << 20
#: Free space past which no allocation is needed: no transaction's pages come near it.
PLENTY_BYTES = 1 << 30
_UNSUPPORTED = (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)


class DiskReserve:
    """The room check of the keyspace's data file at `path` (module docstring)."""

    def __init__(self, path: str):
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        self._allocated_to = 0

    def ensure(self, used_end: int, room_bytes: int) -> None:
        """Before a write transaction: LMDB's pages end at byte `used_end` of the file, and the
        transaction may add about `room_bytes` (at least MIN_ROOM_BYTES are asked for)."""
        room_bytes = max(room_bytes, MIN_ROOM_BYTES)
        if self._fd is None or used_end + room_bytes <= self._allocated_to:
            return
        st = os.fstatvfs(self._fd)
        if st.f_bavail * st.f_frsize >= room_bytes + PLENTY_BYTES:
            return
        try:
            os.posix_fallocate(self._fd, used_end, room_bytes)
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                raise
            log.warning("the keyspace's file system cannot allocate ahead (%s): with writemap a full disk "
                        "stops the node by a fault, not a clear error", exc.strerror)
            self.close()
            return
        self._allocated_to = used_end + room_bytes

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
