"""scripts/powercut/fs.py loses exactly what was not synced, through a real FUSE mount.

Each test mounts a powercut_fs (scripts/powercut/mount.py), writes through it with
ordinary system calls (write, fsync, mmap + msync, rename, truncate), cuts
the power and looks at what survived in the backing directory and through a
fresh mount. Skipped, with the reason, where FUSE cannot be mounted.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import mmap
import os

import pytest

from raftcache.node.fsync import fsync_dir
from raftcache.node.raft.journal import _preallocate
from scripts.powercut.mount import PowerCutMount, unavailable

_WHY_NOT = unavailable()
pytestmark = pytest.mark.skipif(bool(_WHY_NOT), reason=_WHY_NOT or "FUSE works")


@pytest.fixture
def fs(tmp_path):
    mount = PowerCutMount(str(tmp_path / "backing"), str(tmp_path / "mnt"), log_path=str(tmp_path / "fs.log"))
    mount.mount()
    try:
        yield mount
    finally:
        mount.close()


def _cut_and_remount(fs: PowerCutMount) -> str:
    report = fs.cut()
    assert not fs.mounted
    fs.mount()
    return report


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def test_write_fsync_write_cut_keeps_only_the_synced_part(fs):
    path = os.path.join(fs.mountpoint, "f")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"a" * 5000)
        os.fsync(fd)
        os.write(fd, b"b" * 3000)          # appended, not synced
        os.pwrite(fd, b"c" * 10, 100)      # overwrites synced bytes, not synced
    finally:
        os.close(fd)
    assert _read(path) == b"a" * 100 + b"c" * 10 + b"a" * 4890 + b"b" * 3000  # visible before the cut
    _cut_and_remount(fs)
    assert _read(path) == b"a" * 5000
    assert _read(os.path.join(fs.backing, "f")) == b"a" * 5000


def test_fdatasync_counts_as_a_sync(fs):
    path = os.path.join(fs.mountpoint, "f")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"x" * 10)
        os.fdatasync(fd)
        os.write(fd, b"y" * 10)
    finally:
        os.close(fd)
    _cut_and_remount(fs)
    assert _read(path) == b"x" * 10


def test_a_created_file_never_synced_survives_empty(fs):
    path = os.path.join(fs.mountpoint, "new")
    with open(path, "wb") as f:
        f.write(b"never synced")
    _cut_and_remount(fs)
    assert os.path.exists(path)           # names are durable on the operation
    assert _read(path) == b""


def test_shrinking_truncate_is_undone_unless_synced(fs):
    path = os.path.join(fs.mountpoint, "f")
    with open(path, "wb") as f:
        f.write(b"0123456789" * 1000)
        f.flush()
        os.fsync(f.fileno())
    os.truncate(path, 3)
    assert os.path.getsize(path) == 3
    _cut_and_remount(fs)
    assert _read(path) == b"0123456789" * 1000


def test_shared_mmap_stores_survive_after_msync_only(fs):
    """The journal's path: stores into a shared writable mapping reach the
    daemon as write() calls (kernel writeback); msync(MS_SYNC) syncs them."""
    path = os.path.join(fs.mountpoint, "journal")
    with open(path, "w+b") as f:
        f.truncate(3 * mmap.PAGESIZE)
        os.fsync(f.fileno())               # the size is durable
        mm = mmap.mmap(f.fileno(), 3 * mmap.PAGESIZE)
        try:
            mm[0:5] = b"first"
            mm.flush()                     # msync(MS_SYNC)
            mm[mmap.PAGESIZE:mmap.PAGESIZE + 6] = b"second"   # stored, never msynced
        finally:
            mm.close()
    assert _read(path)[mmap.PAGESIZE:mmap.PAGESIZE + 6] == b"second"   # it reached the file system
    _cut_and_remount(fs)
    data = _read(path)
    assert len(data) == 3 * mmap.PAGESIZE
    assert data[:5] == b"first"
    assert data[mmap.PAGESIZE:mmap.PAGESIZE + 6] == b"\0" * 6


def test_rename_of_a_synced_tmp_file_is_durable(fs):
    """write_durably's sequence (tmp, fsync, rename, directory fsync) survives;
    a rename of an unsynced file leaves the name with no content."""
    target = os.path.join(fs.mountpoint, "meta")
    with open(target, "wb") as f:
        f.write(b"old")
        f.flush()
        os.fsync(f.fileno())
    tmp = target + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"new")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    dfd = os.open(fs.mountpoint, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    careless = os.path.join(fs.mountpoint, "careless")
    with open(careless + ".tmp", "wb") as f:
        f.write(b"not synced")
    os.replace(careless + ".tmp", careless)
    _cut_and_remount(fs)
    assert _read(target) == b"new"
    assert not os.path.exists(tmp)
    assert _read(careless) == b""


def test_writes_after_the_cut_go_nowhere(fs):
    path = os.path.join(fs.mountpoint, "f")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"kept")
        os.fsync(fd)
        fs.command("cut")
        os.write(fd, b" dropped")
    finally:
        os.close(fd)
    fs.unmount()
    fs.mount()
    assert _read(path) == b"kept"


def test_fallocate_is_not_supported_and_the_journal_tolerates_it(fs):
    """fusepy has no fallocate: the kernel answers EOPNOTSUPP, which
    node/raft/journal.py's keep-size preallocation treats as "nothing to reserve"."""
    path = os.path.join(fs.mountpoint, "f")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        assert libc.fallocate(fd, 1, ctypes.c_long(0), ctypes.c_long(1 << 20)) == -1
        assert ctypes.get_errno() in (errno.EOPNOTSUPP, errno.ENOSYS)
        _preallocate(fd, 1 << 20)          # does not raise
        assert os.fstat(fd).st_size == 0
    finally:
        os.close(fd)


@pytest.fixture
def strict_fs(tmp_path):
    mount = PowerCutMount(str(tmp_path / "backing"), str(tmp_path / "mnt"), log_path=str(tmp_path / "fs.log"),
                          strict_metadata=True)
    mount.mount()
    try:
        yield mount
    finally:
        mount.close()


def _write_synced(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def test_strict_names_need_a_directory_fsync(strict_fs):
    root = strict_fs.mountpoint
    _write_synced(os.path.join(root, "kept"), b"k")
    os.mkdir(os.path.join(root, "d"))
    fsync_dir(root)
    _write_synced(os.path.join(root, "d", "inner"), b"i")
    fsync_dir(os.path.join(root, "d"))
    _write_synced(os.path.join(root, "file-synced-dir-not"), b"x")   # its name was never made durable
    assert sorted(os.listdir(root)) == ["d", "file-synced-dir-not", "kept"]
    _cut_and_remount(strict_fs)
    assert sorted(os.listdir(root)) == ["d", "kept"]
    assert _read(os.path.join(root, "d", "inner")) == b"i"


def test_strict_rename_and_unlink_are_undone_without_a_directory_fsync(strict_fs):
    root = strict_fs.mountpoint
    target = os.path.join(root, "meta")
    _write_synced(target, b"old")
    _write_synced(os.path.join(root, "gone"), b"g")
    fsync_dir(root)
    _write_synced(target + ".tmp", b"new")
    os.replace(target + ".tmp", target)              # no directory fsync after it
    os.unlink(os.path.join(root, "gone"))
    assert _read(target) == b"new"
    assert sorted(os.listdir(root)) == ["meta"]      # the stash stays hidden
    _cut_and_remount(strict_fs)
    assert _read(target) == b"old"
    assert _read(os.path.join(root, "gone")) == b"g"
    assert sorted(os.listdir(root)) == ["gone", "meta"]


def test_strict_rename_with_a_directory_fsync_is_durable(strict_fs):
    root = strict_fs.mountpoint
    target = os.path.join(root, "meta")
    _write_synced(target, b"old")
    fsync_dir(root)
    _write_synced(target + ".tmp", b"new")
    os.replace(target + ".tmp", target)
    fsync_dir(root)
    _cut_and_remount(strict_fs)
    assert _read(target) == b"new"
    assert sorted(os.listdir(root)) == ["meta"]
