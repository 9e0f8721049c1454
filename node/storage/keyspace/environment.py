"""Keyspace: the LMDB environment, its readers and writer, swaps, copies and stats."""

from __future__ import annotations

import os
import shutil
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

import lmdb

from raftcache.node.config import KeyspaceConfig
from raftcache.node.fsync import fsync_dir
from raftcache.node.storage.keyspace.copies import (
    _check_snapshot,
    _stored_old_log_indexes,
)
from raftcache.node.storage.keyspace.layout import (
    _APPLIED,
    _EXPIRES,
    _EXPIRES_COUNTED,
    _SNAPSHOT_FILE,
    _U16,
    _U64,
    _USED,
    KeyspaceFullError,
    KeyspaceStats,
    _data_key,
)
from raftcache.node.storage.keyspace.reading import ReadTxn, string_value, string_values
from raftcache.node.storage.keyspace.writing import WriteTxn


class _SwapLock:
    """Many readers at once; an environment swap waits for them and holds new ones off.

    On every read's path, so a reader takes no lock: it registers by appending to
    a list and then looks whether a swap is under way (and if so unregisters and
    waits, or gives up); the swapper says it is swapping, under the lock, and then
    waits until the list is empty. Both steps of each side are single operations
    under CPython's GIL, which orders them: either the reader sees the swap coming,
    or the swapper sees the reader. A reader leaving wakes the swapper only when
    one is waiting.
    """

    def __init__(self) -> None:
        if not getattr(sys, "_is_gil_enabled", lambda: True)():
            raise RuntimeError("raftcache needs CPython with its GIL (the keyspace's swap guard "
                               "relies on it): a free-threaded build is not supported")
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._readers: list[None] = []   # one item per reader inside (its length is what counts)
        self._swapping = False

    def acquire_shared(self) -> None:
        while not self.try_acquire_shared():
            with self._lock:
                while self._swapping:
                    self._cond.wait()

    def try_acquire_shared(self) -> bool:
        """acquire_shared, unless a swap is under way (False: not acquired, never waits)."""
        self._readers.append(None)
        if self._swapping:
            self.release_shared()
            return False
        return True

    def release_shared(self) -> None:
        self._readers.pop()
        if self._swapping:
            with self._lock:
                self._cond.notify_all()

    @contextmanager
    def shared(self) -> Iterator[None]:
        self.acquire_shared()
        try:
            yield
        finally:
            self.release_shared()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._swapping:
                self._cond.wait()
            self._swapping = True
            while self._readers:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._swapping = False
                self._cond.notify_all()


class _Reading:
    """Keyspace.reader()'s context manager (a class: it is on every read's hot path)."""

    __slots__ = ("_ks", "_txn")

    def __init__(self, keyspace: "Keyspace"):
        self._ks = keyspace
        self._txn = None

    def __enter__(self) -> ReadTxn:
        swap = self._ks._swap
        swap.acquire_shared()
        try:
            self._txn = self._ks._env.begin()
        except BaseException:
            swap.release_shared()
            raise
        return ReadTxn(self._ks, self._txn)

    def __exit__(self, *exc) -> None:
        try:
            self._txn.abort()
        finally:
            self._ks._swap.release_shared()


class _SharedReading:
    """Keyspace.reads_together()'s transaction, as `reader()` hands it out: opened by the first
    `with`, kept open by the others' exits, closed by `close`."""

    __slots__ = ("_reading", "_txn", "thread", "applied_index", "generation")

    def __init__(self, keyspace: "Keyspace"):
        self._reading = _Reading(keyspace)
        self._txn: ReadTxn | None = None
        self.thread = threading.get_ident()
        self.applied_index = keyspace.applied_index
        self.generation = keyspace.generation

    def __enter__(self) -> ReadTxn:
        if self._txn is None:
            self._txn = self._reading.__enter__()
        return self._txn

    def __exit__(self, *exc) -> None:
        pass

    def current(self, keyspace: "Keyspace") -> bool:
        """Nothing was applied to `keyspace` (and it was not reopened) since this view began."""
        return self.applied_index == keyspace._applied_index and self.generation == keyspace.generation

    def close(self) -> None:
        if self._txn is not None:
            self._txn = None
            self._reading.__exit__(None, None, None)


class Keyspace:
    """The LMDB environment at `config.path` (a directory, created if needed)."""

    def __init__(self, config: KeyspaceConfig):
        self._config = config
        self.maxmemory_bytes = config.maxmemory_bytes or (1 << 30)
        #: Bumped each time the environment is (re)opened: state derived from it must be reloaded.
        self.generation = 0
        #: The logical size as of the last commit (a plain attribute: the leader reads it per batch).
        self.used_bytes = 0
        #: Read commands' key lookups that found a live key / did not (this node, since start or reset_stats).
        self.hits = 0
        self.misses = 0
        self._swap = _SwapLock()
        self._together: _SharedReading | None = None   # reads_together()'s, while it lasts
        os.makedirs(config.path, exist_ok=True)
        self._open()

    def _open(self) -> None:
        # sync/metasync off: the Raft log, not LMDB, is the durable record;
        # an LMDB lost in an OS crash is rebuilt from a snapshot and the log.
        self._env = lmdb.open(
            self._config.path, map_size=self._config.effective_map_size(), max_dbs=8,
            metasync=False, sync=False, readahead=False, max_readers=512,
        )
        self._data = self._env.open_db(b"data")
        self._expiry = self._env.open_db(b"expiry")
        self._meta = self._env.open_db(b"meta")
        self._items = self._env.open_db(b"items")
        self._gone = self._env.open_db(b"gone")
        self._fexpiry = self._env.open_db(b"fexpiry")
        with self._env.begin() as txn:
            raw = txn.get(_APPLIED, db=self._meta)
            counted = txn.get(_EXPIRES_COUNTED, db=self._meta) is not None
            used = txn.get(_USED, db=self._meta)
            #: ReadTxn.old_log_indexes (written once, by rebase_copy, before any node opens the
            #: copy, and carried by snapshots).
            self.old_log_indexes = _stored_old_log_indexes(txn, self._meta)
        self._applied_index = 0 if raw is None else _U64.unpack(raw)[0]
        self.used_bytes = 0 if used is None else _U64.unpack(used)[0]
        if not counted:
            self._count_expiring()
        self.generation += 1

    def _count_expiring(self) -> None:
        """Data written before the expires/ counters existed: count once from the
        deadline index (deterministic, so every replica gets the same counters)."""
        per_db: dict[int, int] = {}
        with self._env.begin(write=True) as txn:
            with txn.cursor(db=self._expiry) as cur:
                for name in cur.iternext(keys=True, values=False):
                    db = _U16.unpack_from(name, _U64.size)[0]
                    per_db[db] = per_db.get(db, 0) + 1
            for db, n in per_db.items():
                txn.put(_EXPIRES + _U16.pack(db), _U64.pack(n), db=self._meta)
            txn.put(_EXPIRES_COUNTED, b"", db=self._meta)

    @property
    def databases(self) -> int:
        return self._config.databases

    @property
    def applied_index(self) -> int:
        """Index of the last log entry whose effects are committed here."""
        return self._applied_index

    def stored_bytes(self, db: int, key: bytes) -> int:
        """The size of the record stored at `key` (0: none, expired or not, or an environment
        swap under way: this never waits, as the thread may hold a read of its own, `reads_together`),
        read in place: the value is not copied (the leader's batcher asks it of a string edit's key)."""
        swap = self._swap
        if not swap.try_acquire_shared():
            return 0
        try:
            txn = self._env.begin(buffers=True)
            try:
                raw = txn.get(_data_key(db, key), db=self._data)
                return 0 if raw is None else len(raw)
            finally:
                txn.abort()
        finally:
            swap.release_shared()

    def string_value(self, db: int, key: bytes, now_ms: int):
        """string_values of one key (a -P 1 client's GET), without the lists."""
        return self._read_alone(string_value, ReadTxn.string_value, db, key, now_ms)

    def string_values(self, db: int, keys: list[bytes], now_ms: int) -> list:
        """GETs' lookups of `keys` (ReadTxn.string_values) in a read transaction of their own,
        without reader()'s objects (the GET fast paths' read); within reads_together, or while
        an environment swap is under way, through reader() (shared, or waiting)."""
        return self._read_alone(string_values, ReadTxn.string_values, db, keys, now_ms)

    def _read_alone(self, read, read_in_view, db: int, what, now_ms: int):
        """`read(self, txn, db, what, now_ms)` in a read transaction of its own; within
        reads_together, or while a swap is under way, `read_in_view(view, db, what, now_ms)`
        in reader()'s view (shared, or after the swap)."""
        swap = self._swap
        together = self._together
        if together is None:
            if swap.try_acquire_shared():
                try:
                    txn = self._env.begin()
                    try:
                        return read(self, txn, db, what, now_ms)
                    finally:
                        txn.abort()
                finally:
                    swap.release_shared()
        elif together._txn is not None and together.thread == threading.get_ident() and together.current(self):
            return read_in_view(together._txn, db, what, now_ms)   # reader()'s view, as it would hand it out
        with self.reader() as view:
            return read_in_view(view, db, what, now_ms)

    def reader(self) -> "_Reading":
        """`with keyspace.reader() as txn:` a consistent ReadTxn.

        Reads run on the event-loop thread while restore_from may swap the
        environment on the Raft thread: closing an LMDB env under an open
        transaction is undefined behaviour, so the two exclude each other.
        """
        together = self._together
        if together is not None and together.thread == threading.get_ident():
            if not together.current(self):
                # something was applied since it opened: a new view, and the old one closed first
                # (restore_from, on another thread, may be waiting for every reader to end)
                together.close()
                together = self._together = _SharedReading(self)
            return together
        return _Reading(self)

    @contextmanager
    def reads_together(self) -> Iterator[None]:
        """Within it, this thread's `reader()`s share one read transaction while nothing is
        applied (many reads answered in one event-loop turn, such as a ReadIndex round's:
        one begin and one abort for them all). Closed at the end."""
        if self._together is not None:   # nested: the outer one shares
            yield
            return
        self._together = _SharedReading(self)
        try:
            yield
        finally:
            together, self._together = self._together, None
            together.close()

    @contextmanager
    def writer(self, index: int) -> Iterator[WriteTxn]:
        """One write transaction; its commit also stores applied_index = `index`.

        Raises ValueError when `index` does not advance applied_index, and
        KeyspaceFullError (fatal) when the LMDB map is full.
        """
        if index <= self._applied_index:
            raise ValueError(f"index {index} does not advance applied_index {self._applied_index}")
        txn = self._env.begin(write=True)
        wtxn = WriteTxn(self, txn)
        try:
            yield wtxn
            wtxn._finish(index)
            txn.commit()
            self.used_bytes = wtxn._used
        except lmdb.MapFullError as exc:
            txn.abort()
            raise KeyspaceFullError(
                f"LMDB map of {self._config.effective_map_size()} bytes is full at index {index}; "
                "raise keyspace map_size_bytes (or lower maxmemory) and restart: the entry was not applied"
            ) from exc
        except BaseException:
            txn.abort()
            raise
        finally:
            wtxn._txn = None
        self._applied_index = index

    @contextmanager
    def scratch(self) -> Iterator[WriteTxn]:
        """A write transaction that is always aborted: what a write would do, found without
        doing it (the leader's trial of a script, node/scripting/effects.py). Only where a
        writer() could be opened (the applying thread, between entries)."""
        txn = self._env.begin(write=True)
        wtxn = WriteTxn(self, txn)
        try:
            yield wtxn
        finally:
            txn.abort()
            wtxn._txn = None

    def stats(self) -> KeyspaceStats:
        with self.reader() as r:
            keys = [r.db_size(db) for db in range(self._config.databases)]
            expires = [r.expires(db) for db in range(self._config.databases)]
            return KeyspaceStats(keys, r.used_bytes(), self.maxmemory_bytes, self._applied_index, expires)

    def map_used_bytes(self) -> int:
        """Bytes of the LMDB map in use (pages up to the last one written): the
        node's real footprint, which INFO compares with the logical size."""
        with self._swap.shared():
            return (self._env.info()["last_pgno"] + 1) * self._env.stat()["psize"]

    def copy_to(self, path: str) -> int:
        """Write a consistent, compacted copy of the environment to the file `path`.

        The copy is taken from one read transaction, written beside `path`,
        fsynced, then renamed into place (and the directory fsynced). Returns
        the applied_index the copy covers.
        """
        tmp = path + ".tmp"
        with self._swap.shared(), self._env.begin() as txn:
            raw = txn.get(_APPLIED, db=self._meta)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                self._env.copyfd(fd, compact=True, txn=txn)
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
        fsync_dir(os.path.dirname(os.path.abspath(path)))
        return 0 if raw is None else _U64.unpack(raw)[0]

    def restore_from(self, path: str) -> None:
        """Replace the whole environment with a copy written by `copy_to`.

        `path` is that file (or a directory holding data.mdb). The copy is
        checked, copied beside the live data file and fsynced before the
        environment is closed; the swap is one atomic rename. Read
        transactions still open on the old environment become invalid.
        """
        if os.path.isdir(path):
            path = os.path.join(path, _SNAPSHOT_FILE)
        live = os.path.join(self._config.path, _SNAPSHOT_FILE)
        if os.path.abspath(path) == os.path.abspath(live):
            raise ValueError("cannot restore the keyspace from its own data file")
        _check_snapshot(path)
        tmp = live + ".restore"
        shutil.copyfile(path, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        with self._swap.exclusive():  # no read transaction is open on the old env
            self._env.close()
            try:
                os.replace(tmp, live)
                fsync_dir(self._config.path)
            finally:
                self._open()

    def close(self) -> None:
        self._env.close()
