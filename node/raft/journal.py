"""Durable files under PySyncObj: the Raft journal (our AOF), its meta, and snapshots.

Owns everything raftcache writes to disk for Raft: a `FileJournal` subclass
that tracks whether it has unflushed entries and can flush them (msync +
fsync), a meta store that fsyncs term/votedFor before it is used, and the
snapshot file codec (the Raft tuple PySyncObj hands the serializer plus a
copy of the keyspace). It does not decide *when* to flush: the fsync policy
(`appendfsync`) lives in node/raft/replication.py, which calls `flush()`.

Must not touch: lmdb (the keyspace copy is made by the injected hooks),
sockets, protocol parsing.

Every file is written tmp + fsync + rename + directory fsync, except the
journal itself, written in place (PySyncObj's format, with pwrite; PySyncObj
reads it through an mmap); its durability is what `flush()` provides.

Write failures are fail-stop (docs/durability.md "Disk faults"): a failed
write of term/votedFor, of a journal entry or of a flush calls the handler
set with `set_disk_error_handler` (the node process exits with
EXIT_DISK_ERROR) and otherwise raises DiskWriteError. PySyncObj updates its
in-memory state (term, log list) *before* it writes; carrying on after a
failed write would let the node act on a term or entries it never made
durable. Journal growth is preallocated (fallocate), and the journal is written
with pwrite, never stored through its mmap: a full disk is an ENOSPC error, not
a SIGBUS on a store into an unbacked page.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import pickle
import shutil
import struct
import tarfile
import time
from typing import Callable

import pysyncobj.syncobj
from pysyncobj.journal import LAST_RECORD_OFFSET_OFFSET, FileJournal, MemoryJournal
from pysyncobj.pickle import dumps as _psync_dumps
from pysyncobj.pickle import loads as _psync_loads
from pysyncobj.pickle import to_bytes as _psync_to_bytes

from raftcache.node.fsync import fsync_dir, fsync_file
from raftcache.node.latency import Latency

logger = logging.getLogger(__name__)


class DiskWriteError(OSError):
    """A Raft file could not be written; this node must stop (fail-stop)."""


_disk_error_handler: Callable[[str, OSError], None] | None = None


def set_disk_error_handler(handler: Callable[[str, OSError], None] | None) -> None:
    """`handler(what, error)` is called on the Raft thread when a Raft file write
    fails; it is expected not to return (the node exits). None: raise only."""
    global _disk_error_handler
    _disk_error_handler = handler


def _disk_failed(what: str, exc: OSError) -> None:
    logger.critical("cannot write %s: %s", what, exc)
    handler = _disk_error_handler
    if handler is not None:
        handler(what, exc)
    raise DiskWriteError(exc.errno, f"cannot write {what}: {exc.strerror or exc}") from exc


_FALLOC_FL_KEEP_SIZE = 1
#: A journal record (PySyncObj's FileJournal): its length, index and term before the entry, its length again after.
_RECORD_HEAD = struct.Struct("<IQQ")
_RECORD_LENGTH = struct.Struct("<I")
_libc = None


def _preallocate(fd: int, length: int) -> None:
    """Reserve disk blocks for [0, length) without changing the file size (Linux;
    a no-op where fallocate is unsupported). Raises OSError (ENOSPC) when full."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    if _libc.fallocate(fd, _FALLOC_FL_KEEP_SIZE, ctypes.c_long(0), ctypes.c_long(length)) == 0:
        return
    err = ctypes.get_errno()
    if err in (errno.EOPNOTSUPP, errno.ENOSYS):
        return
    raise OSError(err, os.strerror(err))


def write_durably(path: str, data: bytes) -> None:
    """Replace `path` with `data`: tmp file, fsync, rename, directory fsync."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(path))


class DurableMetaStorer:
    """PySyncObj's MetaStorer (term, votedFor, commit index) with fsync.

    Raft requires currentTerm and votedFor to be on stable storage before
    any message reflecting them (a vote) leaves the node; PySyncObj stores
    them synchronously but never fsyncs. Used in every appendfsync policy.
    """

    def __init__(self, path: str):
        self._path = path

    def getMeta(self) -> dict:  # noqa: N802 (PySyncObj's interface)
        try:
            with open(self._path, "rb") as f:
                return _psync_loads(f.read())
        except FileNotFoundError:
            return {}

    def storeMeta(self, meta: dict) -> None:  # PySyncObj's name
        try:
            write_durably(self._path, _psync_dumps(meta))
        except OSError as exc:
            _disk_failed(f"the Raft term/vote file {os.path.basename(self._path)}", exc)

    def getPath(self) -> str:  # PySyncObj's name
        return self._path


class DurableFileJournal(FileJournal):
    """FileJournal that knows whether it holds unflushed entries and can flush them.

    The on-disk format is PySyncObj's own (journals stay readable by it).
    `dirty` is set by every mutation; `flush()` makes the mmap durable
    (msync, then fsync of the file for its size/metadata) and clears it.
    Only the Raft tick thread touches a journal, so no locking.

    The commit index the meta file keeps (for a restart to apply at once what
    it covers) never covers an entry written since the last flush
    (`flushed_end`): under `everysec` or `no` the meta file is synced once a
    second on its own, and a follower that replaced a deposed leader's
    uncommitted tail and stored a commit index over the new entries, then lost
    power before the journal's flush, found the old tail on disk under that
    index and applied entries the cluster never committed. Entries only appended
    are bounded too: the mapping's pages reach the disk in no set order, and the
    header page with the journal's end may get there before the entries' own
    pages (over a truncated tail whose records line up, stale records read back
    as entries).
    """

    def __init__(self, journal_file: str):
        super().__init__(journal_file)
        self._path = journal_file
        # Swap in the durable meta store; the parent has already read the meta.
        self._FileJournal__metaStorer = DurableMetaStorer(journal_file + ".meta")
        self.dirty = False
        self.flush_count = 0
        self.fsync_latency = Latency()   # the flushes that wrote something (msync + fsync)
        #: on_flush(ms) after each flush that wrote something (the latency monitor's `fsync`).
        self.on_flush: Callable[[float], None] | None = None
        self._allocated = 0
        self._take_over_writes()
        # The journal file may have just been created: make its name durable.
        fsync_file(journal_file)
        fsync_dir(os.path.dirname(journal_file))
        #: the index of the last entry known on disk as this journal holds it: the entries
        #: loaded (the file was just synced), then each flush's last; a truncation or a
        #: snapshot install lowers it to what is left
        self.flushed_end = self._last_index()
        self._commit_index = super().getRaftCommitIndex()   # the latest commit index set

    def _take_over_writes(self) -> None:
        """Every write of PySyncObj's journal goes through `_write_at`."""
        self._FileJournal__journalFile.write = self._write_at

    def _reserve(self, end: int) -> None:
        """Room for bytes up to `end`: disk blocks preallocated first (a full disk is ENOSPC
        here, ahead of the writes), then the file and its mapping grown as PySyncObj grows
        them (doubling)."""
        resizable = self._FileJournal__journalFile
        mapping = resizable._ResizableFile__mm
        if end > self._allocated:
            target = max(end, 2 * len(mapping), 1 << 20)
            _preallocate(resizable._ResizableFile__f.fileno(), target)
            self._allocated = target
        while end > len(mapping):
            grown = max(int(len(mapping) * resizable._ResizableFile__resizeFactor), end)
            try:
                mapping.resize(grown)
            except (SystemError, OSError):   # as ResizableFile.write: where mremap is missing
                resizable._ResizableFile__extand(grown - len(mapping))
                mapping = resizable._ResizableFile__mm

    def _write_at(self, offset: int, *parts: bytes) -> None:
        """Write `parts` at `offset` with pwrite, not through the mapping: a store into a page
        of the mapping not yet in the page cache faults it in, zero-filled and read around
        (~9 ms of CPU per 10 MiB, against ~3 for pwrite, which fills whole pages without
        reading them). Reads through the mapping see what was written (one page cache),
        and flush() syncs both."""
        size = sum(map(len, parts))
        self._reserve(offset + size)
        fd = self._FileJournal__journalFile._ResizableFile__f.fileno()
        written = os.pwrite(fd, parts[0], offset) if len(parts) == 1 else os.pwritev(fd, parts, offset)
        if written != size:   # (a regular file writes short only when it cannot go on: no space)
            raise OSError(errno.ENOSPC, f"short write to the journal ({written} of {size} bytes)")

    def _append(self, command: bytes, idx: int, term: int) -> None:
        """FileJournal.add in PySyncObj's record format (length, index, term, the entry, length),
        written in one pwritev instead of joined first: a large entry is not copied twice."""
        self._FileJournal__journal.append((command, idx, term))
        data = _psync_to_bytes(command)
        size = _RECORD_HEAD.size - _RECORD_LENGTH.size + len(data)
        offset = self._FileJournal__currentOffset
        self._write_at(offset, _RECORD_HEAD.pack(size, idx, term), data, _RECORD_LENGTH.pack(size))
        end = self._FileJournal__currentOffset = offset + size + 2 * _RECORD_LENGTH.size
        self._write_at(LAST_RECORD_OFFSET_OFFSET, _RECORD_LENGTH.pack(end))   # the journal's end, in its header

    def getRaftCommitIndex(self):  # noqa: N802 (PySyncObj's name)
        """The stored commit index, but never past the journal's last entry.

        The commit index is saved in the meta file once a second (fsynced),
        independently of the journal's own flush: after a power cut under
        `everysec` or `no` it can be ahead of the entries that reached the
        disk (found by tests/integration/test_power_cut.py). A follower whose
        commit index is past its log asks the leader to resume past that index
        forever (raftnode's append-entries answer), and the cluster stops
        committing. Raft treats the commit index as volatile: any value up to
        the true one is safe, and entries this journal holds at or below the
        stored index were committed.
        """
        stored = super().getRaftCommitIndex()
        if len(self):
            return min(stored, self[-1][1])
        return stored

    def _last_index(self) -> int:
        """The index of the journal's last entry (0: empty)."""
        return self[-1][1] if len(self) else 0

    def setRaftCommitIndex(self, raftCommitIndex):  # noqa: N802, N803 (PySyncObj's names)
        """Keep `raftCommitIndex` for the meta file (no further than `flushed_end`)."""
        self._commit_index = raftCommitIndex
        self._store_commit()

    def _store_commit(self) -> None:
        """The meta's commit index: the latest set, no further than `flushed_end` (written by
        the next one-second timer when it changed)."""
        stored = min(self._commit_index, self.flushed_end)
        if stored != super().getRaftCommitIndex():
            super().setRaftCommitIndex(stored)

    def _entries_replaced(self) -> None:
        """Entries were removed, and those written after are new: the stored commit index
        stops at what is left until the next flush."""
        last = self._last_index()
        if last < self.flushed_end:
            self.flushed_end = last
            self._store_commit()

    def add(self, command, idx, term):
        try:
            self._append(command, idx, term)
        except OSError as exc:
            _disk_failed("the Raft journal (append)", exc)
        self.dirty = True

    def clear(self):
        try:
            super().clear()
        except OSError as exc:
            _disk_failed("the Raft journal (clear)", exc)
        self.dirty = True
        self._entries_replaced()

    def deleteEntriesFrom(self, entryFrom):  # PySyncObj's name
        try:
            super().deleteEntriesFrom(entryFrom)
        except OSError as exc:
            _disk_failed("the Raft journal (truncate)", exc)
        self.dirty = True
        self._entries_replaced()

    def deleteEntriesTo(self, entryTo):  # PySyncObj's name
        # Called after a snapshot was renamed into place (log compaction).
        # PySyncObj does not fsync that rename; do it before the journal
        # forgets the entries the snapshot now covers.
        flushed_end = self.flushed_end
        try:
            fsync_dir(os.path.dirname(self._path))
            super().deleteEntriesTo(entryTo)   # (clear(), then the entries kept written again)
        except OSError as exc:
            _disk_failed("the Raft journal (compaction)", exc)
        self.dirty = True
        # the entries kept are written again as they were: what was on disk still is
        self.flushed_end = flushed_end
        self._store_commit()

    def flush(self) -> None:
        """Make every entry written so far durable (msync + fsync); no-op when clean."""
        if not self.dirty:
            return
        resizable = self._FileJournal__journalFile
        started_ns = time.perf_counter_ns()
        try:
            resizable.flush()  # msync(MS_SYNC) of the mapping
            os.fsync(resizable._ResizableFile__f.fileno())  # file size / metadata after growth
        except OSError as exc:
            _disk_failed("the Raft journal (fsync)", exc)
        took_ns = time.perf_counter_ns() - started_ns
        self.fsync_latency.add(took_ns // 1000)
        self.dirty = False
        self.flushed_end = self._last_index()
        self._store_commit()
        self.flush_count += 1
        if self.on_flush is not None:
            self.on_flush(took_ns / 1e6)

    def _destroy(self):
        try:
            self.flush()
            self.onOneSecondTimer()   # the commit index as of now (PySyncObj's close does not store it)
        except (OSError, ValueError):
            logger.exception("final journal flush failed")
        super()._destroy()


def _create_journal(journalFile=None):  # noqa: N803 (PySyncObj's signature)
    if journalFile is None:
        return MemoryJournal()
    return DurableFileJournal(journalFile)


def install_durable_journal() -> None:
    """Make PySyncObj build DurableFileJournal instead of FileJournal.

    SyncObj.__init__ calls the module-level `createJournal` it imported and
    offers no other way to choose the journal class, so we replace that one
    name (idempotent). Pinned to pysyncobj==0.3.17; re-check on upgrade.
    """
    if pysyncobj.syncobj.createJournal is not _create_journal:
        pysyncobj.syncobj.createJournal = _create_journal


# --- snapshots ---------------------------------------------------------------
#
# File layout (what PySyncObj stores as fullDumpFile and streams to lagging
# followers):  MAGIC | u64 raft_len | u64 keyspace_applied_index | u64 kind |
#              pickled raft tuple (raft_len bytes) | keyspace copy (rest)
# kind 0: the hooks' copy is one file, stored as is; kind 1: it is a
# directory (e.g. an LMDB env copy), stored as an uncompressed tar.

SNAPSHOT_MAGIC = b"RCSNAP01"
_HEADER = struct.Struct("<8sQQQ")
_KIND_FILE, _KIND_DIR = 0, 1


def write_snapshot(path: str, raft_state: tuple, save: Callable[[str], int | None]) -> int:
    """Write a snapshot file at `path` (PySyncObj renames it afterwards).

    `raft_state` is the tuple PySyncObj passes its custom serializer (last
    entry, the one before it, the cluster); `save(p)` writes a consistent
    keyspace copy at p and returns the applied index it covers. Returns that
    index. The file is fsynced; its rename is made durable before the journal
    is compacted (DurableFileJournal.deleteEntriesTo).
    """
    ks_path = path + ".keyspace"
    _remove_quietly(ks_path)
    try:
        ks_index = save(ks_path)
        if ks_index is None:
            ks_index = raft_state[0][1]
        raft_bytes = pickle.dumps(raft_state, protocol=pickle.HIGHEST_PROTOCOL)
        kind = _KIND_DIR if os.path.isdir(ks_path) else _KIND_FILE
        with open(path, "wb") as out:
            out.write(_HEADER.pack(SNAPSHOT_MAGIC, len(raft_bytes), ks_index, kind))
            out.write(raft_bytes)
            if kind == _KIND_DIR:
                with tarfile.open(fileobj=out, mode="w|") as tar:
                    tar.add(ks_path, arcname=".")
            else:
                with open(ks_path, "rb") as ks:
                    shutil.copyfileobj(ks, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
    finally:
        _remove_quietly(ks_path)
    return ks_index


def read_snapshot(path: str, applied_index: Callable[[], int], load: Callable[[str], None]) -> tuple:
    """Read a snapshot file; restore its keyspace copy only when it is ahead.

    A snapshot installed on a lagging follower replaces the keyspace; a node
    restarting with an LMDB already past the snapshot keeps its keyspace
    (the journal after the snapshot is replayed and the state machine skips
    what it has applied). Returns the Raft tuple for PySyncObj.
    """
    # The file may have just been received and renamed by PySyncObj without
    # fsync: make it durable before the journal is cleared in its favour.
    fsync_file(path)
    fsync_dir(os.path.dirname(path))
    with open(path, "rb") as f:
        magic, raft_len, ks_index, kind = _HEADER.unpack(f.read(_HEADER.size))
        if magic != SNAPSHOT_MAGIC:
            raise ValueError(f"{path}: not a raftcache snapshot")
        raft_state = pickle.loads(f.read(raft_len))
        current = applied_index()
        if current < ks_index:
            ks_path = path + ".restore"
            _remove_quietly(ks_path)
            try:
                if kind == _KIND_DIR:
                    with tarfile.open(fileobj=f, mode="r|") as tar:
                        tar.extractall(ks_path, filter="data")
                else:
                    with open(ks_path, "wb") as out:
                        shutil.copyfileobj(f, out, 1 << 20)
                logger.info("restoring keyspace from snapshot (applied %d -> %d)", current, ks_index)
                load(ks_path)
            finally:
                _remove_quietly(ks_path)
    return raft_state


def _remove_quietly(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
        return
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
