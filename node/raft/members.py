"""What a node knows of the cluster's members: each one's state as this node sees it.

Owns `MemberState` (one member: connected, how far its log is known to
match, the newest log semantics version it reported, how long since it last
acknowledged) and how the Replicator (node/raft/replication.py) reads them
from its RaftNode: the leader knows every member's match index, version and
contact, a follower only whether it is connected. Any thread: reads copies.
Must not touch: PySyncObj's state (reads only), sockets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class MemberState:
    id: str                  # peer id (the Raft address when the peer is not in the config)
    address: str             # host:raft_port
    connected: bool          # this node has a live Raft connection to it (True for itself)
    match_index: int | None  # highest index known replicated there; leader only, else None
    is_self: bool = False
    max_version: int | None = None  # newest log semantics version it supports (itself; others: leader only)
    contact_s: float | None = None  # leader only: seconds since what it last acknowledged was sent (None: never)


def member_states(node, leader: bool, own: MemberState | None,
                  peer_id: Callable[[object], str | None]) -> list[MemberState]:
    """`own` (None on a read replica) and every other voter as `node` (a RaftNode) sees them;
    match_index, versions and contact when it is the `leader` (read once by the caller, who
    built `own` from the same reading)."""
    match = node.match_index.copy() if leader else {}
    versions = node.member_versions.copy() if leader else {}
    acks = node.ack_times.copy() if leader else {}
    now = time.monotonic()
    out = [] if own is None else [own]
    for n in sorted(node.otherNodes, key=lambda n: n.address):
        ack = acks.get(n)
        out.append(MemberState(peer_id(n), n.address, node.isNodeConnected(n),
                               match.get(n) if leader else None, max_version=versions.get(n),
                               contact_s=max(0.0, now - ack[1]) if ack is not None else None))
    return out


def all_support(node, version: int) -> bool:
    """On the leader `node`: every other voter and read replica has reported (in its
    acknowledgements) that it supports log semantics `version`."""
    reported = node.member_versions.copy()
    others = list(node.otherNodes) + list(node.readonlyNodes)
    return all(reported.get(n, 0) >= version for n in others)
