"""Read consistency levels (docs/design.md "Read levels"): the value type.

Parsing and naming only; the service decides how each level is served.
"""

from __future__ import annotations

import dataclasses

LEVELS = ("linearizable", "lease", "bounded", "any", "min_index")


@dataclasses.dataclass(frozen=True, slots=True)
class ReadConsistency:
    """How fresh a read must be. An empty level means the node's default."""

    level: str = ""
    bound_ms: int = 0
    min_index: int = 0

    @classmethod
    def parse(cls, text: str) -> "ReadConsistency":
        """Parse `linearizable`, `lease`, `any`, `bounded:<ms>` or `min_index:<n>`."""
        name, _, arg = text.strip().lower().partition(":")
        if name not in LEVELS:
            raise ValueError(f"unknown read level {text!r}: expected one of {', '.join(LEVELS)}")
        if name == "bounded":
            return cls(name, bound_ms=int(arg or 0))
        if name == "min_index":
            return cls(name, min_index=int(arg or 0))
        return cls(name)

    def __str__(self) -> str:
        if self.level == "bounded":
            return f"bounded:{self.bound_ms}"
        if self.level == "min_index":
            return f"min_index:{self.min_index}"
        return self.level


LINEARIZABLE = ReadConsistency("linearizable")
