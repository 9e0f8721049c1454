"""Which write scripts the leader tries before logging them (StateMachine.trial_scripts).

A trial is a whole run of the script on the leader (docs/scripting.md,
"Scripts run once"); it pays only when its effects are used. `TrialChoice`
skips the trials that would not: a script whose trials did not qualify
UNQUALIFIED_SKIP times in a row (it touches a hash, a list…) is tried again
only once in UNQUALIFIED_RETRY, and while, over the last TRIAL_WINDOW scripts
considered, more script entries were run again at apply than applied from
their effects (their keys written before they applied: a hot key), only one
script in TRIAL_SPARSELY is tried, until that turns. Owns those counters (local to the node, not replicated state: a
trial's choice never changes what apply does, only whether the entry
carries effects). Must not touch the keyspace.
"""

from __future__ import annotations

from raftcache.proto import commands_pb2 as pb

#: The leader's trials of write scripts: judged over windows of this many scripts;
#: while most of a window's effects were not used, one script in TRIAL_SPARSELY is tried.
TRIAL_WINDOW = 64
TRIAL_SPARSELY = 16
#: A script whose trial did not qualify this many times in a row is tried once in UNQUALIFIED_RETRY
#: (at most UNQUALIFIED_KEPT scripts remembered).
UNQUALIFIED_SKIP = 2
UNQUALIFIED_RETRY = 64
UNQUALIFIED_KEPT = 1024


def _script_key(op: pb.Eval) -> object:
    """What the leader remembers a script's trials by: its sha, or its body's hash."""
    return op.sha or hash(op.body)


class TrialChoice:
    """The leader's choice of the scripts to try (module docstring)."""

    def __init__(self) -> None:
        self._considered = 0   # scripts considered for a trial (due)
        self._trial_every = 1
        self._window = (0, 0)  # (effects applied, effects missed) when the window began
        #: scripts (sha, or hash of the body) whose last trials did not qualify -> how many
        self._unqualified: dict[object, int] = {}

    def worth_trying(self, op: pb.Eval) -> bool:
        """Whether to try this script: a script that did not qualify UNQUALIFIED_SKIP times in a
        row (it touches a hash, a list…) is tried again only once in UNQUALIFIED_RETRY: its trial
        would be a second run of it on this node for nothing."""
        key = _script_key(op)
        misses = self._unqualified.get(key, 0)
        if misses < UNQUALIFIED_SKIP:
            return True
        self._unqualified[key] = misses + 1
        return misses % UNQUALIFIED_RETRY == 0

    def qualified(self, op: pb.Eval, tried: bool) -> None:
        """A trial of `op` ended: its effects qualified (`tried`), or not."""
        key = _script_key(op)
        if tried:
            self._unqualified.pop(key, None)
            return
        if len(self._unqualified) >= UNQUALIFIED_KEPT:
            self._unqualified.clear()
        self._unqualified[key] = self._unqualified.get(key, 0) + 1

    def due(self, applied: int, missed: int) -> bool:
        """Whether to try this script: always, unless over the last TRIAL_WINDOW scripts
        considered more script entries were run again at apply than applied from their effects
        (a hot key written by every script in flight): then one in TRIAL_SPARSELY, until that
        turns. `applied`, `missed`: this node's counts of
        script entries applied from their effects and run instead (StateMachine.effects_*)."""
        self._considered += 1
        if self._considered % TRIAL_WINDOW == 0:
            used, unused = applied - self._window[0], missed - self._window[1]
            self._window = (applied, missed)
            self._trial_every = TRIAL_SPARSELY if unused > used else 1
        return self._considered % self._trial_every == 0
