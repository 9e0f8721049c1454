"""What a script hands to Python, charged by its bytes (log version 26).

Every string a script passes to a function written in Python (redis.call, redis.log,
cjson, cmsgpack, struct, bit…) becomes a Python bytes object, a copy, before that function
runs; every string of a script's reply becomes one too. A string the runtime holds once can be
handed over many times: `redis.log(0, unpack(t))` with 8,000 references to one 1 MB string made
8 GB of copies on every replica, a reply of 2,000 such references 4 GB, and a reply of 32 nested
tables each holding the next twice (2^32 values) would convert for hours. The instruction count
sees one call, one return.

From log version 26 (commands.SCRIPT_COPIES_VERSION): a call into Python is charged, before lupa
copies anything, one instruction per COPY_BYTES bytes of its string arguments past COPY_FREE
(HANDED below: the prelude's `handed`); cjson.encode and cmsgpack.pack charge each string of the
tables they walk, all its bytes, as they go (node/scripting/lualibs.py; cjson also what escaping
costs); a reply is converted under what the run left of its budget, each value and each table
it follows counted (REPLY_COSTS_26; from log version 28, and in a read, at what converting them
costs: REPLY_COSTS), each string its bytes at the same rate (`ReplyMeter`). Past each call's
free allowance (COPY_FREE), the budget (100 ms, 2 million instructions) bounds what one run
makes Python copy to ~128 MB. What Python hands back is bounded by the run's Lua memory
(node/scripting/sandbox.py, Sandbox.room).

HANDED is run once per runtime by the prelude (node/scripting/sandbox.py) with (the budget's
charge, the prelude's `readonly`, debug.getmetatable, COPY_FREE, COPY_BYTES); it returns
`handed(n, ...)`, `handing(f)` and `handing_lib(readonly library)`. Data and Lua text only.
"""

from __future__ import annotations

from raftcache.node.pulse import beat

#: What a call hands to Python free of charge (a key and a value of an ordinary command).
COPY_FREE = 4096
#: One instruction per this many bytes copied into Python: a copy of a long string (a fresh
#: allocation and its page faults) is ~0.5 ns a byte here, ~100 bytes per instruction's 50 ns.
COPY_BYTES = 64
#: What a value of a script's reply counts besides its bytes, and what a table it follows
#: counts besides (ReplyMeter), in a read this node serves and in entries of log version 28 on
#: (commands.SCRIPT_REPLY_COSTS_VERSION): what converting them costs here at the budget's 50 ns
#: an instruction, ~0.6 µs a value (an element read through lupa) and ~5.5 µs more a table
#: (Redis's five special fields looked up before its elements).
REPLY_COSTS = (12, 110)
#: The same in entries of log versions 26 and 27: a value 10, a table a reply element of the
#: apply budget (20), a table with its value a quarter of what it costs: a reply of tables
#: nested in each other (2^40 values) converted for ~0.3 s of every replica's apply before it
#: was stopped, and a read-only script's (a table counting 5) for 0.4-0.8 s of the serving
#: node, long enough for an election.
REPLY_COSTS_26 = (10, 20)

HANDED = r"""
local charge, readonly, debug_getmetatable, COPY_FREE, COPY_BYTES = ...
local type, pairs, select = type, pairs, select

-- The bytes of the strings among a call's n arguments, charged past COPY_FREE.
local function handed(n, a, b, c, d, ...)
  local size = 0
  if type(a) == "string" then size = #a end
  if type(b) == "string" then size = size + #b end
  if type(c) == "string" then size = size + #c end
  if type(d) == "string" then size = size + #d end
  if n > 4 then
    local rest = {...}
    for i = 1, n - 4 do
      local v = rest[i]
      if type(v) == "string" then size = size + #v end
    end
  end
  if size > COPY_FREE then charge((size - COPY_FREE) / COPY_BYTES) end
end

-- `f` charging what it is handed first.
local function handing(f)
  return function(...) handed(select("#", ...), ...) return f(...) end
end

-- A read-only library (the prelude's readonly tables) whose functions charge what they are handed.
local function handing_lib(library)
  local out = {}
  for k, v in pairs(debug_getmetatable(library).__index) do
    out[k] = type(v) == "function" and handing(v) or v
  end
  return readonly(out)
end

return handed, handing, handing_lib
"""


class ReplySpent(Exception):
    """A script's reply would take more than its run left of the budget (ReplyMeter)."""


class ReplyMeter:
    """A script's reply converted under what its run left of the budget (log version 26): each
    value counts `value_cost`, each table followed `table_cost` more, and a string also its
    bytes, one instruction per COPY_BYTES (`costs`: REPLY_COSTS or REPLY_COSTS_26)."""

    __slots__ = ("left", "value_cost", "table_cost")

    def __init__(self, left: float, costs: tuple[int, int]):
        self.left = left
        self.value_cost, self.table_cost = costs

    def value(self, data: bytes | None) -> None:
        """Count a value (`data`: a string's bytes, else None); ReplySpent past the budget."""
        self.left -= self.value_cost if data is None else self.value_cost + len(data) / COPY_BYTES
        if self.left < 0:
            raise ReplySpent

    def table(self) -> None:
        """Count a table followed (after its own value()); ReplySpent past the budget. A beat
        (node/pulse.py): a leader's heartbeats go on through a long conversion."""
        beat()
        self.left -= self.table_cost
        if self.left < 0:
            raise ReplySpent
