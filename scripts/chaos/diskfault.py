"""Disk faults for a node's data dir: a tmpfs per node, made read-only or full, then healed.

Used by the chaos harness (scripts/chaos/faults.py, cluster.py) and
tests/integration/test_disk_faults.py. Needs root (mount); `unavailable()` says why not.

Read-only: `mount -o remount,ro` of a file system is refused (EBUSY) while
a process holds files open for writing, as a node always does. So the fault
bind-mounts the data dir over itself and makes *that* mount read-only: every
path-based write (new files, renames: term/vote, snapshots) fails with
EROFS, like a file system the kernel remounted read-only, while descriptors
the node opened before keep writing (a real remount-ro would fail those
too). Healing unmounts the bind mount. Full: a filler file takes every free
block (ENOSPC); healing deletes it.
"""

from __future__ import annotations

import os
import subprocess

FILLER = ".diskfault-filler"


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False)


def unavailable(probe_dir: str) -> str | None:
    """None when this process can mount a tmpfs, else the reason it cannot."""
    if os.geteuid() != 0:
        return "disk faults need root (mount)"
    path = os.path.join(probe_dir, ".mount-probe")
    os.makedirs(path, exist_ok=True)
    try:
        proc = _run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", path)
        if proc.returncode != 0:
            return f"mount is not permitted here: {proc.stderr.strip()}"
        _run("umount", path)
        return None
    except FileNotFoundError:
        return "no mount command"
    finally:
        try:
            os.rmdir(path)
        except OSError:
            pass


def _mount_depth(path: str) -> int:
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        return sum(1 for line in f if line.split()[1] == path)


def mount_tmpfs(path: str, size_bytes: int = 64 << 20) -> None:
    os.makedirs(path, exist_ok=True)
    proc = _run("mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", path)
    if proc.returncode != 0:
        raise RuntimeError(f"mount tmpfs on {path}: {proc.stderr.strip()}")


def unmount_all(path: str) -> None:
    """Remove every mount stacked on `path` (lazily: a dead node may still hold files)."""
    for _ in range(_mount_depth(path)):
        _run("umount", "-l", path)


def make_readonly(path: str, pid: int | None = None) -> None:
    """Make `path` read-only; with `pid`, inside that process's mount namespace
    (a node started through `ip netns exec` has its own)."""
    prefix = () if pid is None else ("nsenter", "-t", str(pid), "-m")
    for argv in (("mount", "--bind", path, path), ("mount", "-o", "remount,bind,ro", path)):
        argv = (*prefix, *argv)
        proc = _run(*argv)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()}")


def make_writable(path: str) -> None:
    """Undo make_readonly (no-op when only the tmpfs itself is mounted)."""
    while _mount_depth(path) > 1:
        proc = _run("umount", path)
        if proc.returncode != 0:
            raise RuntimeError(f"umount {path}: {proc.stderr.strip()}")


def fill(path: str) -> int:
    """Take every free block of the file system holding `path`; returns the bytes written."""
    written = 0
    fd = os.open(os.path.join(path, FILLER), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (1 << 20, 4096, 64):
            chunk = b"\0" * size
            try:
                while True:
                    written += os.write(fd, chunk)
            except OSError:
                pass
    finally:
        os.close(fd)
    return written


def unfill(path: str) -> None:
    try:
        os.remove(os.path.join(path, FILLER))
    except FileNotFoundError:
        pass
