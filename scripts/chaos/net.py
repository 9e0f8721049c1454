"""Network namespaces for partition faults (needs root and iproute2).

Layout (all of it created and deleted here; the host's own namespace is not
touched):

    <prefix>-hub      a bridge `br0`; one veth end per member below
    <prefix>-cl       the clients (the chaos runner itself)   10.77.0.2
    <prefix>-n1..nN   one node each                           10.77.0.11, .12, …

Each node binds *and* advertises its own address, so PySyncObj sees the same
address for a peer on every node (it requires that) and no node change is
needed. Partitioning a node sets its hub-side veth down: packets to and from
it are silently dropped (like a cut cable, no RST), for Raft, forwarding and
client traffic alike. Cutting a node from its *peers* only (`cut_from_peers`)
adds blackhole routes between its namespace and every other node's, both
ways, while the clients still reach it: a leader cut off that way keeps
believing it leads for a while and still gets client requests, which is what
exposes a lease that outlives leadership. Healing sets links up and removes
the routes; TCP connections that were open resume or time out as they would
on a real network.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

SUBNET = "10.77.0"
CLIENT_ADDRESS = f"{SUBNET}.2"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def available() -> bool:
    """True when this process can create network namespaces (root with iproute2)."""
    if os.geteuid() != 0:
        return False
    try:
        return _ip("netns", "list", check=False).returncode == 0
    except FileNotFoundError:
        return False


class NetnsNetwork:
    """The namespaces of one chaos run; `create()` then `destroy()` (idempotent)."""

    def __init__(self, node_ids: list[str], prefix: str | None = None):
        self.prefix = prefix or f"rc{os.getpid()}"
        self.node_ids = list(node_ids)
        self.hub = f"{self.prefix}-hub"
        self.client_ns = f"{self.prefix}-cl"
        self.node_ns = {nid: f"{self.prefix}-{nid}" for nid in self.node_ids}
        self.address = {nid: f"{SUBNET}.{11 + i}" for i, nid in enumerate(self.node_ids)}
        self._veth = {nid: f"v{i}" for i, nid in enumerate(self.node_ids)}
        self._veth["_client"] = "vcl"
        self.isolated: set[str] = set()
        self._blackholes: list[tuple[str, str]] = []   # (namespace, address) routes to remove on heal

    def create(self) -> NetnsNetwork:
        try:
            _ip("netns", "add", self.hub)
            _ip("-n", self.hub, "link", "set", "lo", "up")
            _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.hub, "link", "set", "br0", "up")
            members = [("_client", self.client_ns, CLIENT_ADDRESS)]
            members += [(nid, self.node_ns[nid], self.address[nid]) for nid in self.node_ids]
            for key, ns, addr in members:
                _ip("netns", "add", ns)
                _ip("-n", ns, "link", "set", "lo", "up")
                veth = self._veth[key]
                _ip("-n", self.hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
                _ip("-n", self.hub, "link", "set", veth, "master", "br0", "up")
                _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
        except Exception:
            self.destroy()
            raise
        return self

    def exec_prefix(self, node_id: str | None = None) -> list[str]:
        """argv prefix that runs a command in a node's namespace (the clients' when None).

        `ip netns exec` execs in place, so the PID Popen reports is the node's.
        """
        return ["ip", "netns", "exec", self.node_ns[node_id] if node_id else self.client_ns]

    def isolate(self, node_ids) -> None:
        """Cut these nodes off from every other member and from the clients."""
        for nid in node_ids:
            _ip("-n", self.hub, "link", "set", self._veth[nid], "down")
            self.isolated.add(nid)

    def cut_from_peers(self, node_ids) -> None:
        """Drop every packet between these nodes and the other nodes (both ways); the
        clients still reach every node."""
        for nid in node_ids:
            for other in self.node_ids:
                if other == nid:
                    continue
                for ns, address in ((self.node_ns[nid], self.address[other]), (self.node_ns[other], self.address[nid])):
                    if (ns, address) not in self._blackholes:
                        _ip("-n", ns, "route", "add", "blackhole", f"{address}/32")
                        self._blackholes.append((ns, address))

    def heal(self) -> None:
        for nid in list(self.isolated):
            _ip("-n", self.hub, "link", "set", self._veth[nid], "up")
            self.isolated.discard(nid)
        while self._blackholes:
            ns, address = self._blackholes.pop()
            _ip("-n", ns, "route", "del", "blackhole", f"{address}/32", check=False)

    def _pids(self, ns: str) -> list[int]:
        out = _ip("netns", "pids", ns, check=False).stdout.split()
        return [int(p) for p in out if p.isdigit()]

    def destroy(self) -> None:
        """Kill whatever still runs in our namespaces (processes we started), then delete them."""
        for ns in [self.client_ns, *self.node_ns.values()]:
            for pid in self._pids(ns):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        time.sleep(0.2)
        for ns in [*self.node_ns.values(), self.client_ns, self.hub]:
            _ip("netns", "del", ns, check=False)
