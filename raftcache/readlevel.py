"""The one spelling of read levels, shared by the node, the SDK and `raftcache ctl`.

Canonical: `linearizable`, `lease`, `bounded:<ms>`, `any`, `min_index:<n>`, and
`default` for the node's configured level. Also accepted (older spellings and
what RESP clients send as separate arguments): upper case, a space or `=`
instead of the colon (`bounded 100`, `min_index=42`), `min-index`, and bare
`bounded` (a bound of 0 ms: always proven fresh by the leader). Everything else
is refused with an error that lists the valid levels.

Imports nothing from raftcache.node or raftcache.client: both use it.
"""

from __future__ import annotations

import re

#: Level names, in the order errors list them ("" is the node's default).
LEVELS = ("linearizable", "lease", "bounded", "any", "min_index")
USAGE = "linearizable, lease, bounded:<ms>, any, min_index:<n> or default"
_SPELLING = re.compile(r"^\s*([a-z_-]+)\s*(?:[:= ]\s*(\S+))?\s*$")


class ReadLevelError(ValueError):
    """A read level that is not one of the valid spellings."""


def parse(text: str) -> tuple[str, int, int]:
    """`text` -> (level, bound_ms, min_index); level "" is the node's default.

    Raises ReadLevelError naming the valid levels.
    """
    match = _SPELLING.match(str(text).lower())
    if not match:
        raise ReadLevelError(f"unknown read level {text!r}: use {USAGE}")
    name, arg = match.group(1).replace("-", "_"), match.group(2)
    if name == "default" and arg is None:
        return "", 0, 0
    if name not in LEVELS:
        raise ReadLevelError(f"unknown read level {text!r}: use {USAGE}")
    if name in ("bounded", "min_index"):
        if arg is None and name == "bounded":
            return name, 0, 0
        try:
            number = int(arg)
        except (TypeError, ValueError):
            raise ReadLevelError(f"read level {text!r} needs a whole number: {name}:<"
                                 f"{'ms' if name == 'bounded' else 'n'}>") from None
        if number < 0:
            raise ReadLevelError(f"read level {text!r}: the number must be >= 0")
        return (name, number, 0) if name == "bounded" else (name, 0, number)
    if arg is not None:
        raise ReadLevelError(f"read level {name!r} takes no argument: use {USAGE}")
    return name, 0, 0


def spell(level: str, bound_ms: int = 0, min_index: int = 0) -> str:
    """The canonical spelling of a parsed level ("default" for "")."""
    if level == "bounded":
        return f"bounded:{bound_ms}"
    if level == "min_index":
        return f"min_index:{min_index}"
    return level or "default"
