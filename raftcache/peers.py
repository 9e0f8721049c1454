"""A cluster member as `--peers` spells it, `ID@ZONE=HOST:BASEPORT`, and the ports its base port gives.

The one definition of the member spelling and of the port layout (docs/design.md
"Ports and processes"), shared by the node (raftcache.node.config re-exports
it), the SDK (`Admin.add_node`), `raftcache ctl` and the local cluster launcher.

Imports nothing from raftcache.node or raftcache.client: both use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Port offsets from a node's base port.
PORT_OFFSETS = {"grpc": 0, "redis": 1, "memcached": 2, "raft": 3, "http": 4}
_SPEC = re.compile(r"([^@=\s]+)@([^=\s]+)=([^\s:]+|\[[0-9a-fA-F:]+\]):(\d+)")


class PeerSpecError(ValueError):
    """A member spec that is not ID@ZONE=HOST:BASEPORT."""


@dataclass(frozen=True)
class Peer:
    """A cluster member as the others reach it; its ports follow PORT_OFFSETS from `base_port`."""

    id: str
    zone: str
    host: str
    base_port: int

    def port(self, kind: str) -> int:
        return self.base_port + PORT_OFFSETS[kind]

    def address(self, kind: str) -> str:
        return f"{self.host}:{self.port(kind)}"

    @classmethod
    def parse(cls, spec: str) -> Peer:
        """Parse `ID@ZONE=HOST:BASEPORT`, e.g. `n2@b=127.0.0.1:7010`; raises PeerSpecError."""
        m = _SPEC.fullmatch(spec.strip())
        if not m:
            raise PeerSpecError(f"bad peer {spec!r}: expected ID@ZONE=HOST:BASEPORT")
        return cls(id=m[1], zone=m[2], host=m[3], base_port=int(m[4]))

    def spec(self) -> str:
        return f"{self.id}@{self.zone}={self.host}:{self.base_port}"
