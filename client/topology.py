"""What the client knows about the cluster, and where each call should go.

Pure bookkeeping, no I/O and no clock of its own (callers pass `now`): the
members and zones from Admin.Topology, the leader and its term, and per
node the calls in flight, recent connection failures and replication lag.

Routing rules (docs/client.md):
- writes, and reads the leader must serve (linearizable, lease, the node's
  default): the leader; when it is unknown or unreachable, any other node
  (a follower waits for the election and forwards);
- reads any node may serve (any, bounded, min_index): a node in the
  caller's zone first, then the least lagging, then the least loaded.
A node that refused a connection is tried last for `node_down_s`.
"""

from __future__ import annotations

import dataclasses

from raftcache.proto import admin_pb2

#: Lag (entries behind the leader) below which followers count as equally fresh.
_LAG_SLACK = 64


@dataclasses.dataclass
class NodeState:
    address: str                  # gRPC "host:port"
    id: str = ""                  # empty until a Topology answer names it (a bare seed)
    zone: str = ""
    inflight: int = 0             # this client's calls in flight to the node
    failures: int = 0             # consecutive connection failures
    down_until: float = 0.0       # tried last before this time
    lag: int = 0                  # entries behind the leader (from the leader's Status)

    def is_down(self, now: float) -> bool:
        return now < self.down_until


class Topology:
    def __init__(self, seeds: list[str], zone: str | None = None, node_down_s: float = 1.0):
        self.seeds = list(dict.fromkeys(seeds))
        self.zone = zone or ""
        self.node_down_s = node_down_s
        self.leader_id = ""
        self.term = 0
        self.updated_at: float | None = None     # when a Topology answer was last applied
        self._members: dict[str, NodeState] = {}  # by address; empty until the first answer
        self._seed_states = {a: NodeState(a) for a in self.seeds}

    def __repr__(self) -> str:
        members = ", ".join(
            f"{n.id or '?'}@{n.zone or '?'}={n.address}{' (leader)' if n.id and n.id == self.leader_id else ''}"
            f"{f' lag={n.lag}' if n.lag else ''}" for n in self.nodes())
        state = f"term {self.term}, leader {self.leader_id or 'unknown'}" if self.known else "not yet discovered"
        return f"Topology({state}: {members})"

    # ------------------------------------------------------------ updates

    @property
    def known(self) -> bool:
        return bool(self._members)

    def nodes(self) -> list[NodeState]:
        return list(self._members.values()) if self._members else list(self._seed_states.values())

    def node(self, address: str) -> NodeState:
        return self._members.get(address) or self._seed_states.setdefault(address, NodeState(address))

    @property
    def leader(self) -> NodeState | None:
        if not self.leader_id:
            return None
        return next((n for n in self._members.values() if n.id == self.leader_id), None)

    def query_addresses(self) -> list[str]:
        """Where to ask for the topology: every known member, then the seeds not among them."""
        members = [n.address for n in self._members.values()]
        return members + [a for a in self.seeds if a not in self._members]

    def apply(self, replies: list[admin_pb2.TopologyReply], now: float) -> None:
        """Adopt the freshest of the answers of one refresh round.

        The highest term wins, and within a term an answer that names a
        leader; a node cut off from the others may still name an old leader,
        but only at an older term.
        """
        if not replies:
            return
        best = max(replies, key=lambda r: (r.term, bool(r.leader_id)))
        old = self._members
        members: dict[str, NodeState] = {}
        for m in best.members:
            state = old.get(m.grpc_address) or self._seed_states.get(m.grpc_address) or NodeState(m.grpc_address)
            state.id, state.zone = m.id, m.zone
            members[m.grpc_address] = state
        if members:
            self._members = members
        self.leader_id = best.leader_id
        self.term = best.term
        self.updated_at = now

    def apply_lag(self, status: admin_pb2.StatusReply) -> None:
        """Record each follower's lag from the leader's Status."""
        if status.role != "leader":
            return
        by_id = {n.id: n for n in self._members.values()}
        for ms in status.members:
            node = by_id.get(ms.member.id)
            if node is not None:
                node.lag = ms.lag

    def mark_failed(self, address: str, now: float) -> None:
        node = self.node(address)
        node.failures += 1
        node.down_until = now + self.node_down_s * min(2 ** (node.failures - 1), 4)
        if node.id and node.id == self.leader_id:
            self.leader_id = ""  # unknown until the next refresh names one

    def mark_ok(self, address: str) -> None:
        node = self.node(address)
        node.failures = 0
        node.down_until = 0.0

    # ------------------------------------------------------------ routing

    def candidates(self, any_node: bool, now: float, avoid: frozenset[str] | set[str] = frozenset()) -> list[NodeState]:
        """Nodes to try for a call, best first (never empty while there are seeds).

        `any_node`: the call is a read that any replica may serve.
        `avoid`: addresses that already failed during this call (tried last).
        """
        nodes = self.nodes()
        leader = self.leader

        def near(n: NodeState) -> int:
            return 0 if self.zone and n.zone == self.zone else 1

        if any_node:
            key = lambda n: (n.address in avoid, n.is_down(now), near(n), n.lag // _LAG_SLACK, n.inflight)
        else:
            key = lambda n: (n.address in avoid, n.is_down(now), n is not leader, near(n), n.inflight)
        return sorted(nodes, key=key)

    def pick(self, any_node: bool, now: float, avoid: frozenset[str] | set[str] = frozenset()) -> NodeState:
        return self.candidates(any_node, now, avoid)[0]
