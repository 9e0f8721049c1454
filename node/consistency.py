"""Read consistency levels (docs/design.md "Read levels"): the value type.

Parsing and naming only; the service decides how each level is served.
"""

from __future__ import annotations

import dataclasses

from raftcache import readlevel
from raftcache.readlevel import LEVELS, ReadLevelError  # noqa: F401 (re-exported)


@dataclasses.dataclass(frozen=True, slots=True)
class ReadConsistency:
    """How fresh a read must be. An empty level means the node's default."""

    level: str = ""
    bound_ms: int = 0
    min_index: int = 0

    @classmethod
    def parse(cls, text: str) -> "ReadConsistency":
        """Parse any spelling raftcache.readlevel accepts ("default": the node's level, i.e.
        an empty level). Raises ReadLevelError (a ValueError) listing the valid levels."""
        level, bound_ms, min_index = readlevel.parse(text)
        return cls(level, bound_ms=bound_ms, min_index=min_index)

    def __str__(self) -> str:
        return readlevel.spell(self.level, self.bound_ms, self.min_index)


LINEARIZABLE = ReadConsistency("linearizable")
