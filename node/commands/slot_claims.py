"""Cluster mode's replicated record: the hash slots this shard's log says it owns, and from which epoch.

One ClaimSlots entry (log semantics version commands.CLUSTER_VERSION) records
(shard, epoch, ranges) in keyspace meta, so snapshots carry it with the data.
A claim replaces the recorded one only at a higher epoch: resharding (docs/
cluster-mode.md) moves slots by recording new claims at a new epoch, and a
late duplicate of an older claim (a new leader proposing the initial
assignment again) changes nothing. Apply is total: a bad claim is an error
value, the same on every replica.

Must not touch: clocks, sockets, Raft. The state machine owns the instance
and calls `load` when the keyspace was replaced (start, snapshot install).
"""

from __future__ import annotations

import dataclasses

from raftcache import slots as slotmath
from raftcache.node.commands import OK
from raftcache.node.errors import CommandError, Reason
from raftcache.proto import commands_pb2 as pb

_META_KEY = b"cluster/slots"


@dataclasses.dataclass(frozen=True)
class SlotClaim:
    """What a shard's log records: `epoch` 0 means nothing yet (the static assignment holds)."""

    shard: int = 0
    epoch: int = 0
    ranges: tuple[tuple[int, int], ...] = ()

    @classmethod
    def of(cls, op: pb.ClaimSlots) -> SlotClaim:
        """The claim an op carries; ValueError when its ranges are not valid slot ranges."""
        return cls(op.shard, op.epoch, tuple(slotmath.normalise((r.first, r.last) for r in op.ranges)))

    def to_proto(self) -> pb.ClaimSlots:
        return pb.ClaimSlots(shard=self.shard, epoch=self.epoch,
                             ranges=[pb.SlotRange(first=a, last=b) for a, b in self.ranges])


class SlotClaims:
    """The recorded claim, mirrored in memory (`current`, and `owned`: 1 per slot it claims)."""

    def __init__(self):
        self._set(SlotClaim())

    def _set(self, claim: SlotClaim) -> None:
        owned = bytearray(slotmath.SLOTS)
        for first, last in claim.ranges:
            owned[first:last + 1] = b"\x01" * (last - first + 1)
        self.current, self.owned = claim, owned

    def load(self, txn) -> None:
        raw = txn.meta_get(_META_KEY)
        self._set(SlotClaim() if raw is None else SlotClaim.of(pb.ClaimSlots.FromString(bytes(raw))))

    def claim(self, txn, op: pb.ClaimSlots) -> object:
        """Apply one ClaimSlots: OK when recorded (or already recorded), else an error value."""
        try:
            claim = SlotClaim.of(op)
        except ValueError as e:
            return CommandError(f"bad slot claim: {e}", Reason.INVALID_ARGUMENT)
        if claim.shard < 1 or claim.epoch < 1:
            return CommandError("bad slot claim: shard and epoch start at 1", Reason.INVALID_ARGUMENT)
        if claim == self.current:
            return OK
        if claim.epoch <= self.current.epoch:
            return CommandError(f"stale slot claim: epoch {claim.epoch}, the log records epoch "
                                f"{self.current.epoch}", Reason.INVALID_ARGUMENT)
        txn.meta_put(_META_KEY, claim.to_proto().SerializeToString())
        self._set(claim)
        return OK
