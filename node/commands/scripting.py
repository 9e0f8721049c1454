"""The scripting commands of the state machine (log semantics version 7): EVAL / EVALSHA /
FCALL (`eval`, a write, applied on every replica) and their _RO forms (`eval_ro`, a
read), SCRIPT LOAD / EXISTS / FLUSH and FUNCTION LOAD / DELETE / FLUSH / RESTORE / LIST.

Thin: the runner (node/scripting/, which translates a script's Redis commands with the
RESP front end's table, a layer above this one) is installed by the node's process
wiring with `install()` before the first entry is applied. The quota wrapper runs each
write here in a savepoint, so a script that fails leaves nothing behind. Must not touch
time, random, grpc, Raft or lmdb.
"""

from __future__ import annotations

import collections
import dataclasses
import struct
from typing import Callable

from raftcache.node.errors import CommandError, Reason

#: The installed runner: an object with one function per op name below, `(ctx, op)`.
_runner = None

OPS = ("eval", "eval_ro", "script_load", "script_exists", "script_flush", "function_load", "function_delete",
       "function_flush", "function_restore", "function_list")


@dataclasses.dataclass
class ScriptStats:
    """What scripts did on this node (counters, not replicated state; every replica runs the
    scripts that write, so every node counts them): INFO commandstats of the commands they
    called (name -> [calls, usec, rejected_calls, failed_calls]); INFO errorstats of the errors
    those commands answered that the script's own reply does not carry (prefix -> count: the
    client's node counts that reply); and where their ACL refusals are reported."""

    calls: dict[str, list[int]] = dataclasses.field(default_factory=dict)
    errors: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    #: on_denial(caller, username, denial): a script's command its caller's ACL refused (the
    #: node's ACL LOG, when Eval.caller names this node). Must not raise: apply calls it.
    on_denial: Callable[[str, str, object], None] | None = None

    def reset(self) -> None:
        """CONFIG RESETSTAT."""
        self.calls.clear()
        self.errors.clear()

    def add(self, name: str, calls: int, usec: int, rejected: int, failed: int) -> None:
        """Count calls of the command `name` in INFO commandstats."""
        stat = self.calls.get(name)
        if stat is None:
            stat = self.calls[name] = [0, 0, 0, 0]
        stat[0] += calls
        stat[1] += usec
        stat[2] += rejected
        stat[3] += failed


def install(runner) -> None:
    """Make `runner` run the scripting ops (raftcache.node.scripting.install() does it)."""
    global _runner
    _runner = runner


def installed() -> bool:
    return _runner is not None


def usage(txn) -> dict[str, int]:
    """INFO memory's scripting fields (the stored scripts, functions and libraries, counted and
    their bytes; the Lua runtime's bytes: node/scripting/__init__.py); none without a runner."""
    return {} if _runner is None else _runner.usage(txn)


def evicted_total(txn) -> int:
    """How many scripts EVAL's cache evicted since the log began (INFO evicted_scripts); 0 without a runner."""
    return 0 if _runner is None else _runner.evicted_total(txn)


def needs_savepoint(txn, op) -> bool:
    """Whether the script `op` runs must be rolled back with a nested transaction (it may
    flush a database) rather than an undo scope (cheaper)."""
    return _runner is None or _runner.needs_savepoint(txn, op)


#: apply_effects' answer when the effects' guard does not hold: run the script.
FALLBACK = object()
#: The log index the leader's trial of a script runs at: none of the log's, so no guard can
#: name a record a trial wrote (node/scripting/effects.trial).
TRIAL_INDEX = (1 << 63) - 1
#: The meta-table entry holding the log index of the last CONFIG SET or ACL change applied
#: at log version 23 or later (what a script's logged effects are guarded by).
_RULES_KEY = b"script-effects/rules"
_U64 = struct.Struct(">Q")


def try_effects(txn, now_ms: int, run_script, out, stats: ScriptStats) -> int:
    """The leader's trial of a write script (node/scripting/effects.trial): the size of `out`
    (a ScriptEffects holding only tried_at and rules_index) when it now holds the script's
    effects, else 0; `stats`, the run's own counters."""
    return 0 if _runner is None else _runner.try_effects(txn, now_ms, run_script, out, stats)


def apply_effects(ctx, op, effects) -> object:
    """A script's logged effects applied (its reply), or FALLBACK (node/scripting/effects.apply)."""
    return FALLBACK if _runner is None else _runner.apply_effects(ctx, op, effects)


def rules_index(txn) -> int:
    """The log index of the last CONFIG SET or ACL change applied at log version 23 or later (0: none)."""
    raw = txn.meta_get(_RULES_KEY)
    return 0 if raw is None else _U64.unpack(raw)[0]


def rules_changed(txn, index: int) -> None:
    """Record that the entry at `index` changed what scripts run under (CONFIG SET, an ACL change)."""
    txn.meta_put(_RULES_KEY, _U64.pack(index))


def _handler(name: str):
    def handle(ctx, op):
        if _runner is None:
            return CommandError("scripting is not installed on this node", Reason.INTERNAL)
        return getattr(_runner, name)(ctx, op)
    handle.__name__ = name
    return handle


HANDLERS = {name: _handler(name) for name in OPS}
