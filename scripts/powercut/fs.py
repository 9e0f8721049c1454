"""A fault-injecting FUSE passthrough file system that can lose what was not synced (LazyFS-style).

Used by scripts/powercut/mount.py (mounts, power cuts) and its tests. Run as a
process: `python scripts/powercut/fs.py [--strict-metadata] BACKING MOUNTPOINT`; it serves
MOUNTPOINT in the foreground and reads commands, one per line, on stdin:

- `cut`: a power cut. Every byte written since the last fsync/fdatasync of
  its file (or msync(MS_SYNC), which reaches the daemon as a FUSE fsync) is
  discarded from BACKING, and every later write is dropped (the machine is
  off). Answers `ok cut files=N pages=M names=K` on stdout (files cut
  back, pages restored, name changes undone with --strict-metadata). The caller then unmounts
  (fusermount -u), which also throws away the kernel's page cache of the mount.
- `stats`: answers `ok tracked_files=N saved_pages=M`.

How data is kept: writes go straight through to BACKING (so reads, mmap
page-ins and LMDB see them), but before a page that existed at the last sync
is first overwritten its synced content is saved in memory (an undo log,
4 KiB pages), and each file remembers its size at the last sync. A cut
truncates every file to that size and writes the saved pages back: BACKING
is then exactly what the last syncs made durable. State is keyed by the
backing inode (it follows renames); files that exist when the daemon starts
count as fully synced.

Metadata (the choice, documented in docs/durability.md): by default lenient
to the application. Creations, renames, unlinks, mkdir/rmdir are durable when
the call returns, as if every directory were synced at once; fsync of a
directory is accepted and does nothing. Only file *contents and sizes* are
lost on a cut; a file created and not fsynced survives as an empty file.
With `--strict-metadata`, a name change is durable only once its directory
(for a rename: the destination's) is fsynced; a cut undoes the others, newest
first (unlinked and replaced files are kept in a hidden stash until then).

Not supported: fallocate (fusepy has no such operation: the kernel answers
EOPNOTSUPP, which node/raft/journal.py tolerates), xattrs, locks (local to the
kernel), direct I/O. Shared writable mmap works through the kernel's page
cache: dirty pages reach the daemon as write() calls on msync or writeback.
Every operation holds one lock: correct and simple, not fast.
"""

from __future__ import annotations

import errno
import itertools
import os
import shutil
import sys
import threading

from fuse import FUSE, FuseOSError, Operations

PAGE = 4096
STASH = ".powercut-stash"  # strict metadata: unlinked/replaced files until their directory is synced


class FileState:
    """What a file lost since its last sync: its size then and the pages it overwrote since."""

    __slots__ = ("synced_size", "pages")

    def __init__(self, synced_size: int):
        self.synced_size = synced_size
        self.pages: dict[int, bytes] = {}


class PowerCutFS(Operations):
    """Passthrough to `backing` with an undo log of unsynced writes; `cut()` discards them."""

    def __init__(self, backing: str, strict_metadata: bool = False):
        self.backing = os.path.realpath(backing)
        self._mutex = threading.RLock()
        self.files: dict[tuple[int, int], FileState] = {}
        self.off = False  # after a cut: writes vanish, other changes fail
        self.strict = strict_metadata
        # strict: name changes not yet durable, oldest first: (directory, undo action)
        self.pending: list[tuple[str, tuple]] = []
        self.stash = os.path.join(self.backing, STASH)
        self._stash_names = itertools.count()
        shutil.rmtree(self.stash, ignore_errors=True)  # what a previous cut left there is gone
        if self.strict:
            os.makedirs(self.stash)

    # ------------------------------------------------------------ undo log

    def _full(self, path: str) -> str:
        return os.path.join(self.backing, path.lstrip("/"))

    def _state(self, st: os.stat_result) -> FileState:
        key = (st.st_dev, st.st_ino)
        state = self.files.get(key)
        if state is None:
            state = self.files[key] = FileState(st.st_size)
        return state

    def _save(self, fd: int, start: int, end: int) -> None:
        """Save the synced content of the pages [start, end) is about to change."""
        st = os.fstat(fd)
        state = self._state(st)
        limit = min(end, state.synced_size)
        for page in range(start // PAGE, (limit + PAGE - 1) // PAGE):
            if page not in state.pages:
                state.pages[page] = os.pread(fd, PAGE, page * PAGE)

    def _forget(self, full: str) -> None:
        """A regular file's last name is going away: its undo log no longer matters."""
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            return
        if os.path.isfile(full) and st.st_nlink <= 1:
            self.files.pop((st.st_dev, st.st_ino), None)

    def synced(self, fd: int) -> None:
        st = os.fstat(fd)
        state = self._state(st)
        state.synced_size = st.st_size
        state.pages.clear()

    def stats(self) -> tuple[int, int]:
        with self._mutex:
            return len(self.files), sum(len(s.pages) for s in self.files.values())

    def _pending(self, full: str, undo: tuple) -> None:
        if self.strict:
            self.pending.append((os.path.dirname(full), undo))

    def _to_stash(self, full: str) -> str:
        kept = os.path.join(self.stash, str(next(self._stash_names)))
        os.rename(full, kept)
        return kept

    def _undo_names(self) -> int:
        """Undo every name change whose directory was not synced, newest first."""
        undone = 0
        for _dir, undo in reversed(self.pending):
            kind, *args = undo
            try:
                if kind == "unlink":
                    os.unlink(args[0])
                elif kind == "rmtree":
                    shutil.rmtree(args[0])
                elif kind == "mkdir":
                    os.mkdir(args[0], args[1])
                elif kind == "restore":      # an unlink: the file comes back from the stash
                    os.rename(args[0], args[1])
                elif kind == "rename":       # new name -> old name; a replaced target comes back
                    new, old, replaced = args
                    os.rename(new, old)
                    if replaced:
                        os.rename(replaced, new)
                undone += 1
            except OSError:
                pass  # a later, durable change already moved it
        self.pending.clear()
        return undone

    def cut(self) -> tuple[int, int, int]:
        """Power cut: make BACKING what the syncs made durable; later writes vanish."""
        with self._mutex:
            self.off = True
            restored = pages = 0
            undone = self._undo_names()
            for root, _dirs, names in os.walk(self.backing):
                for name in names:
                    full = os.path.join(root, name)
                    st = os.lstat(full)
                    state = self.files.get((st.st_dev, st.st_ino))
                    if state is None or not os.path.isfile(full):
                        continue
                    fd = os.open(full, os.O_RDWR)
                    try:
                        if st.st_size != state.synced_size or state.pages:
                            restored += 1
                        os.ftruncate(fd, state.synced_size)
                        for page, data in state.pages.items():
                            keep = state.synced_size - page * PAGE
                            if keep > 0:
                                os.pwrite(fd, data[:keep], page * PAGE)
                                pages += 1
                    finally:
                        os.close(fd)
            self.files.clear()
            return restored, pages, undone

    def _check_on(self) -> None:
        if self.off:
            raise FuseOSError(errno.EIO)

    # ------------------------------------------------------------ FUSE operations

    def access(self, path, amode):
        if not os.access(self._full(path), amode):
            raise FuseOSError(errno.EACCES)

    def getattr(self, path, fh=None):
        st = os.lstat(self._full(path))
        return {key: getattr(st, key) for key in (
            "st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime", "st_nlink", "st_size", "st_uid",
            "st_blocks", "st_ino")}

    def readdir(self, path, fh):
        names = os.listdir(self._full(path))
        if path == "/" and STASH in names:
            names.remove(STASH)
        return [".", "..", *names]

    def readlink(self, path):
        return os.readlink(self._full(path))

    def statfs(self, path):
        sv = os.statvfs(self._full(path))
        return {key: getattr(sv, key) for key in (
            "f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_flag",
            "f_frsize", "f_namemax")}

    def chmod(self, path, mode):
        with self._mutex:
            self._check_on()
            os.chmod(self._full(path), mode)

    def chown(self, path, uid, gid):
        with self._mutex:
            self._check_on()
            os.chown(self._full(path), uid, gid)

    def utimens(self, path, times=None):
        with self._mutex:
            self._check_on()
            os.utime(self._full(path), times)

    def mknod(self, path, mode, dev):
        with self._mutex:
            self._check_on()
            os.mknod(self._full(path), mode, dev)
            self._pending(self._full(path), ("unlink", self._full(path)))

    def mkdir(self, path, mode):
        with self._mutex:
            self._check_on()
            os.mkdir(self._full(path), mode)
            self._pending(self._full(path), ("rmtree", self._full(path)))

    def rmdir(self, path):
        with self._mutex:
            self._check_on()
            full = self._full(path)
            mode = os.lstat(full).st_mode & 0o7777
            os.rmdir(full)
            self._pending(full, ("mkdir", full, mode))

    def symlink(self, target, source):
        with self._mutex:
            self._check_on()
            os.symlink(source, self._full(target))
            self._pending(self._full(target), ("unlink", self._full(target)))

    def link(self, target, source):
        with self._mutex:
            self._check_on()
            os.link(self._full(source), self._full(target))
            self._pending(self._full(target), ("unlink", self._full(target)))

    def unlink(self, path):
        with self._mutex:
            self._check_on()
            full = self._full(path)
            if self.strict and not os.path.isdir(full):
                self._pending(full, ("restore", self._to_stash(full), full))
                return
            self._forget(full)
            os.unlink(full)

    def rename(self, old, new):
        with self._mutex:
            self._check_on()
            full_old, full_new = self._full(old), self._full(new)
            if self.strict:
                replaced = self._to_stash(full_new) if os.path.lexists(full_new) else None
                os.rename(full_old, full_new)
                self._pending(full_new, ("rename", full_new, full_old, replaced))
                return
            self._forget(full_new)
            os.rename(full_old, full_new)

    def open(self, path, flags):
        # Read-write underneath whatever the caller asked: the kernel may read
        # through any handle (mmap page-ins, partial pages). O_APPEND would
        # make pwrite ignore the kernel's offsets; O_TRUNC is done by truncate.
        wanted = flags & ~(os.O_ACCMODE | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_TRUNC)
        with self._mutex:
            fd = os.open(self._full(path), wanted | os.O_RDWR)
            if flags & os.O_TRUNC:
                self._truncate_fd(fd, 0)
            return fd

    def create(self, path, mode, fi=None):
        with self._mutex:
            self._check_on()
            fd = os.open(self._full(path), os.O_RDWR | os.O_CREAT | os.O_TRUNC, mode)
            st = os.fstat(fd)
            self.files[(st.st_dev, st.st_ino)] = FileState(0)  # new: nothing of it is durable yet
            self._pending(self._full(path), ("unlink", self._full(path)))
            return fd

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        with self._mutex:
            if self.off:
                return len(data)  # the machine is off: the write goes nowhere
            self._save(fh, offset, offset + len(data))
            return os.pwrite(fh, data, offset)

    def _truncate_fd(self, fd: int, length: int) -> None:
        self._check_on()
        size = os.fstat(fd).st_size
        if length < size:
            self._save(fd, length, size)
        os.ftruncate(fd, length)

    def truncate(self, path, length, fh=None):
        with self._mutex:
            if fh is not None:
                self._truncate_fd(fh, length)
                return
            fd = os.open(self._full(path), os.O_RDWR)
            try:
                self._truncate_fd(fd, length)
            finally:
                os.close(fd)

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        os.close(fh)
        return 0

    def fsync(self, path, datasync, fh):
        # Durable from here on (the backing store stands for the disk; it is
        # not itself fsynced: the test machine is not the one losing power).
        with self._mutex:
            self._check_on()
            self.synced(fh)
        return 0

    def fsyncdir(self, path, datasync, fh):
        # Lenient: metadata was durable on each operation. Strict: the name
        # changes in this directory are durable from now on.
        with self._mutex:
            self._check_on()
            if self.strict:
                directory = self._full(path).rstrip("/") or "/"
                self.pending = [(d, undo) for d, undo in self.pending if d != directory]
        return 0


def _commands(fs: PowerCutFS) -> None:
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "cut":
            files, pages, names = fs.cut()
            print(f"ok cut files={files} pages={pages} names={names}", flush=True)
        elif cmd == "stats":
            files, pages = fs.stats()
            print(f"ok tracked_files={files} saved_pages={pages}", flush=True)
        elif cmd:
            print(f"error unknown command {cmd!r}", flush=True)


def main(argv: list[str]) -> int:
    strict = "--strict-metadata" in argv
    argv = [a for a in argv if a != "--strict-metadata"]
    if len(argv) != 2:
        print("usage: fs.py [--strict-metadata] BACKING MOUNTPOINT", file=sys.stderr)
        return 2
    backing, mountpoint = argv
    fs = PowerCutFS(backing, strict_metadata=strict)
    threading.Thread(target=_commands, args=(fs,), name="commands", daemon=True).start()
    FUSE(fs, mountpoint, foreground=True, nothreads=False, fsname="powercutfs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
