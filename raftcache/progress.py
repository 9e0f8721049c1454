"""Progress of long work (a backup, a verify, a restore, a new node catching up): a tqdm bar
with rate and ETA on a terminal, one line per step otherwise (a log, a pipe, CI).

`Progress(what, total)` is called with how much is done; `step(text)` names a
stage that has no size (checking the keyspace copy). Off a terminal a line
is written at each tenth of the total and at the end, with the rate and the
time left: `backup: 40% 32.0/80.0 MiB, 12.5 MiB/s, ETA 4s` (a task of bytes
under QUIET_BELOW_BYTES, over in a blink, writes none). `write` decides
where those lines go (stderr by default; a node passes its logger). A leaf:
the command line and the node both use it, and it imports nothing of either.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

_MIB = 1 << 20
#: Off a terminal, a task of fewer bytes than this reports nothing (neither tenths nor steps).
QUIET_BELOW_BYTES = 8 << 20


def _spell(amount: float, unit: str) -> str:
    return f"{amount / _MIB:.1f}" if unit == "B" else f"{int(amount)}"


def _unit(unit: str) -> str:
    return "MiB" if unit == "B" else unit


def eta_text(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """One task's progress (see the module docstring)."""

    def __init__(self, what: str, total: int = 0, *, unit: str = "B", quiet: bool = False,
                 write: Callable[[str], None] | None = None, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.what, self.total, self.unit, self.quiet = what, total, unit, quiet
        self._write = write or (lambda line: print(line, file=sys.stderr, flush=True))
        self._clock = clock
        self._started = clock()
        self._done = 0
        self._next_tenth = 1
        self._bar = None
        if tty is None:
            tty = write is None and sys.stderr.isatty()
        self._tty = tty and not quiet   # the bar is drawn at the first report (a task may never start)

    def _draw(self):
        if self._bar is None and self._tty:
            from tqdm import tqdm  # only on a terminal

            self._bar = tqdm(total=self.total or None, desc=self.what, unit=self.unit, unit_scale=self.unit == "B",
                             unit_divisor=1024, file=sys.stderr, dynamic_ncols=True, leave=True)
        return self._bar

    def __call__(self, done: int, total: int | None = None) -> None:
        """`done` of `total` (the total given at the start when None)."""
        if total is not None and total != self.total:
            self.total = total
            if self._bar is not None:
                self._bar.total = total
        if self._draw() is not None:
            self._bar.update(max(done - self._done, 0))
            self._done = done
            return
        self._done = done
        if self.quiet or not self.total or self._small():
            return
        tenth = done * 10 // self.total
        if tenth >= self._next_tenth:
            self._next_tenth = tenth + 1
            self._write(self.line())

    def line(self) -> str:
        """Where the task stands: done/total, rate and ETA."""
        elapsed = max(self._clock() - self._started, 1e-6)
        rate = self._done / elapsed
        left = (self.total - self._done) / rate if rate > 0 else float("inf")
        unit = _unit(self.unit)
        percent = 100 * self._done / self.total if self.total else 100.0
        return (f"{self.what}: {percent:.0f}% {_spell(self._done, self.unit)}/{_spell(self.total, self.unit)} "
                f"{unit}, {_spell(rate, self.unit)} {unit}/s, ETA {eta_text(left)}")

    def _small(self) -> bool:
        return self.unit == "B" and 0 < self.total < QUIET_BELOW_BYTES

    def step(self, text: str) -> None:
        """A stage of the task with no size of its own."""
        if self.quiet or (not self._tty and self._small()):
            return
        if self._draw() is not None:
            self._bar.write(f"{self.what}: {text}", file=sys.stderr)
        else:
            self._write(f"{self.what}: {text}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._tty = False
