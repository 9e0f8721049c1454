"""Power cuts for node data dirs: each on its own scripts/powercut/fs.py mount, driven by PID.

Used by tests/integration/test_power_cut.py, tests/unit/test_powercut_fs.py
and scripts/power_cut.py. `unavailable()` says why FUSE cannot be used here.

A `PowerCutMount` starts the FUSE daemon (a child process, stopped by its
PID) serving `mountpoint` from `backing`. `cut()` tells it to discard every
unsynced byte and drop later writes, then unmounts (the kernel's page cache
of the mount goes with it) and waits for the daemon to exit; `mount()`
serves the same backing directory again, now holding only what was synced.
Every wait has a deadline.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

DAEMON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fs.py")


def _fusermount() -> str | None:
    return shutil.which("fusermount3") or shutil.which("fusermount")


def unavailable(probe_dir: str | None = None) -> str | None:
    """None when a powercut_fs mount works here, else the reason it does not."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse (FUSE is not available)"
    if _fusermount() is None:
        return "no fusermount (apt-get install fuse)"
    try:
        import fuse  # noqa: F401 (fusepy; loads libfuse.so.2 through ctypes)
    except (ImportError, OSError) as exc:
        return f"fusepy/libfuse2 not usable: {exc}"
    root = tempfile.mkdtemp(prefix="powercut-probe-", dir=probe_dir)
    mount = PowerCutMount(os.path.join(root, "backing"), os.path.join(root, "mnt"))
    try:
        mount.mount(timeout_s=10)
    except Exception as exc:  # noqa: BLE001 - reported as the reason
        return f"cannot mount a FUSE file system here: {exc}"
    finally:
        mount.close()
        shutil.rmtree(root, ignore_errors=True)
    return None


class PowerCutMount:
    """One powercut_fs daemon serving `mountpoint` from `backing`."""

    def __init__(self, backing: str, mountpoint: str, log_path: str | None = None, strict_metadata: bool = False):
        self.backing = backing
        self.mountpoint = mountpoint
        self.log_path = log_path
        self.strict_metadata = strict_metadata  # name changes durable only after a directory fsync
        self.proc: subprocess.Popen | None = None

    @property
    def mounted(self) -> bool:
        return os.path.ismount(self.mountpoint)

    def mount(self, timeout_s: float = 15.0) -> None:
        if self.proc is not None:
            raise RuntimeError(f"{self.mountpoint} is already served (pid {self.proc.pid})")
        os.makedirs(self.backing, exist_ok=True)
        os.makedirs(self.mountpoint, exist_ok=True)
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            strict = ["--strict-metadata"] if self.strict_metadata else []
            self.proc = subprocess.Popen([sys.executable, DAEMON, *strict, self.backing, self.mountpoint],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        finally:
            if self.log_path:
                log.close()
        deadline = time.monotonic() + timeout_s
        while not self.mounted:
            if self.proc.poll() is not None:
                self.proc = None
                raise RuntimeError(f"powercut_fs exited ({self.proc_rc_hint()}) before mounting {self.mountpoint}")
            if time.monotonic() > deadline:
                self.close()
                raise TimeoutError(f"{self.mountpoint} not mounted after {timeout_s:.0f}s")
            time.sleep(0.02)

    def proc_rc_hint(self) -> str:
        return f"see {self.log_path}" if self.log_path else "no log"

    def command(self, cmd: str, timeout_s: float = 30.0) -> str:
        """Send one command to the daemon and return its answer line (raises unless it starts with ok)."""
        if self.proc is None:
            raise RuntimeError(f"{self.mountpoint} is not served")
        self.proc.stdin.write(cmd.encode() + b"\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        if not ready:
            raise TimeoutError(f"powercut_fs did not answer {cmd!r} within {timeout_s:.0f}s")
        answer = self.proc.stdout.readline().decode().strip()
        if not answer.startswith("ok"):
            raise RuntimeError(f"powercut_fs {cmd!r}: {answer or 'no answer (daemon died?)'}")
        return answer

    def cut(self, timeout_s: float = 30.0) -> str:
        """Power cut: discard every unsynced byte, then unmount. Processes using the
        mount must be dead already (kill -9 them first). Returns the daemon's report."""
        answer = self.command("cut", timeout_s)
        self.unmount(timeout_s)
        return answer

    def unmount(self, timeout_s: float = 15.0) -> None:
        """Unmount and wait for the daemon to exit (killed by PID at the deadline)."""
        fusermount = _fusermount()
        if self.mounted and fusermount:
            proc = subprocess.run([fusermount, "-u", self.mountpoint], capture_output=True, text=True)
            if proc.returncode != 0 and self.mounted:
                subprocess.run([fusermount, "-uz", self.mountpoint], capture_output=True, text=True)
        if self.proc is not None:
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            for pipe in (self.proc.stdin, self.proc.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
            self.proc = None

    def close(self) -> None:
        """Unmount if mounted and stop the daemon; safe to call in any state (cleanup paths)."""
        try:
            self.unmount()
        finally:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None
