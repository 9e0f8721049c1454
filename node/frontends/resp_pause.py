"""CLIENT PAUSE / CLIENT UNPAUSE of the Redis front end.

A pause holds the commands of this node's Redis clients (not the cluster's:
it is a front-end state, like Redis's, which pauses one server): with ALL,
every command; with WRITE, the commands that write or may replicate (a write,
PFCOUNT, an EXEC with a write queued). A held client waits in order (its
later commands wait behind it) and counts in INFO's blocked_clients, as in
Redis. As Redis does, a new pause keeps the later end time of the two and
takes the new mode; CLIENT UNPAUSE ends it at once.
"""

from __future__ import annotations

import asyncio
import time

from raftcache.node.frontends.resp_args import to_int
from raftcache.node.frontends.resp_protocol import RespError

_LLONG_MAX = (1 << 63) - 1


class Pause:
    """One node's client pause."""

    def __init__(self) -> None:
        self.until = 0.0          # time.monotonic() at which the pause ends
        self.all = False          # ALL (else WRITE)
        self.waiting = 0          # clients held right now (INFO blocked_clients)
        self._changed: asyncio.Event | None = None

    def active(self) -> bool:
        return self.until > time.monotonic()

    def holds(self, writes: bool) -> bool:
        return self.active() and (self.all or writes)

    def pause(self, seconds: float, all_commands: bool) -> None:
        self.until = max(self.until, time.monotonic() + seconds)
        self.all = all_commands
        self._wake()

    def unpause(self) -> None:
        self.until = 0.0
        self._wake()

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def wait(self, conn, writes: bool) -> None:
        """Hold `conn` while the pause holds a command that `writes` (or any, under ALL)."""
        if not self.holds(writes):
            return
        self.waiting += 1
        try:
            while self.holds(writes) and not (conn.eof or conn.closing):
                if self._changed is None:
                    self._changed = asyncio.Event()
                try:
                    await asyncio.wait_for(self._changed.wait(), max(self.until - time.monotonic(), 0.001))
                except asyncio.TimeoutError:
                    pass
        finally:
            self.waiting -= 1


def client_pause(pause: Pause, args: list[bytes]) -> None:
    """CLIENT PAUSE timeout-ms [WRITE|ALL], checked in Redis's order with its texts."""
    all_commands = True
    if len(args) == 4:
        mode = args[3].lower()
        if mode not in (b"write", b"all"):
            raise RespError("ERR CLIENT PAUSE mode must be WRITE or ALL")
        all_commands = mode == b"all"
    try:
        ms = to_int(args[2])
    except RespError:
        raise RespError("ERR timeout is not an integer or out of range") from None
    if ms < 0:
        raise RespError("ERR timeout is negative")
    if ms > _LLONG_MAX - int(time.time() * 1000):
        raise RespError("ERR timeout is out of range")
    if ms > 0:
        pause.pause(ms / 1000.0, all_commands)
