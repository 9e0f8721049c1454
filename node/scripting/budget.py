"""A script's instruction budget: how busy-reply-threshold becomes Lua instructions, and what
a redis.call, its reply's elements, the bytes it writes and the bytes and records it reads
count.

Part of the log's semantics where a run happens at apply (the same entry must stop at the same
instruction on every replica): each constant's comment says which entries it counts in (a read
this node serves is not replayed), and docs/scripting.md ("The budget") gives the calibration.
The engine (engine.py) charges them through the sandbox's hook (sandbox.py). Data and
arithmetic only.
"""

from __future__ import annotations

import dataclasses

#: Redis's default busy-reply-threshold (lua-time-limit), for every budget when none is set.
DEFAULT_THRESHOLD_MS = 5_000


@dataclasses.dataclass(frozen=True)
class Budget:
    """How busy-reply-threshold (lua-time-limit) becomes a run's instruction budget."""

    per_ms: int            # Lua VM instructions allowed per millisecond of the threshold
    call_cost: int         # what one redis.call / redis.pcall (and each KEYS scan step) counts for
    element_cost: int = 0  # ... plus this much per element of its reply turned into Lua
    cap_ms: int = 0        # the threshold is taken as at most this many ms (0: no cap)

    def instructions(self, settings: dict | None) -> int:
        settings = settings or {}
        raw = settings.get("busy-reply-threshold") or settings.get("lua-time-limit") or str(DEFAULT_THRESHOLD_MS)
        try:
            ms = int(raw)
        except ValueError:
            ms = DEFAULT_THRESHOLD_MS
        ms = max(ms, 1)
        return (min(ms, self.cap_ms) if self.cap_ms else ms) * self.per_ms


#: Runs at apply in entries before SCRIPT_BUDGET_VERSION (and, before this release,
#: read-only scripts on the serving node): Redis's default 5000 ms gives 10 million
#: instructions, 0.03 s of a pure Lua loop but 0.3-2.5 s of redis.call loops, and a
#: command's reply cost nothing however long (a loop of LRANGE over a 100,000-element list
#: held a node's event loop for half an hour).
READ_BUDGET = Budget(per_ms=2_000, call_cost=300)
#: Scripts that run at apply (EVAL / EVALSHA / FCALL of a writing script, on every replica,
#: on the Raft thread), in entries of SCRIPT_BUDGET_VERSION on: the apply stalls the
#: node's heartbeats, so the threshold is capped at 100 ms, and the costs are calibrated
#: so that 100 ms of budget is about 100 ms of one core (docs/scripting.md, "The budget").
#: Read-only scripts on the serving node (EVAL_RO, FCALL_RO, no-writes scripts) get it too
#: (engine.budget_for): they hold the node's event loop as a write's apply does. A reply's
#: element costs 0.5-1.5 µs to hand to Lua, and at the 5 they counted before 2026-12-06 a loop
#: of HGETALLs of a 25,000-field hash held the node 0.6 s. (For them it is not part of the log's
#: semantics: a read is never replayed.)
APPLY_BUDGET = Budget(per_ms=20_000, call_cost=2_000, element_cost=20, cap_ms=100)
#: A write a script makes at apply also counts one instruction per this many bytes it stores
#: (records and elements put), from log version 21 (SCRIPT_WRITE_BYTES_VERSION): rewriting a
#: large string costs ~2 ms per MB here, which a call's flat cost did not see (50 SETRANGEs of a
#: 16 MB string held every replica 1.7 s); at 40, the 100 ms budget stores at most ~80 MB.
WRITE_BYTES_PER_INSTRUCTION = 40
#: A command a script calls also counts, from log version 22 (SCRIPT_READ_BYTES_VERSION; in a
#: read this node serves, always), one instruction per this many bytes of the records and
#: elements it reads (a STRLEN, GETRANGE or SETBIT of a 16 MB string reads it whole: ~11 ms
#: here, ~260,000 instructions; so does a SCAN step over it), and READ_COST per unit of its reads
#: (~0.4 µs of Python each: a record or element looked up counts 2, one stepped over 1, eight
#: read in one run by LMDB's cursor 1; node/storage/keyspace.ReadTxn.reads), beyond what a call's
#: own cost covers, unless its reply's elements cost more (they are much the same work: an LRANGE
#: counts as before). Before, 900 STRLENs of a 16 MB string in one EVAL held every replica 10 s,
#: and 200 SINTERCARDs of two 100,000-member sets (200,000 lookups, ~0.19 s each) 37 s. From log
#: version 28 a key or value read in a run counts one unit more (ReadTxn.run_items; the engine's
#: `whole_costs`), and a reply's elements are all its values, its nested lists' too.
READ_BYTES_PER_INSTRUCTION = 64
READ_COST = 8
#: What a call's own cost (APPLY_BUDGET.call_cost) covers of its reads (log version 22 on): the
#: lookups and small values of an ordinary command count nothing more.
READ_BYTES_FREE = 4096
READS_FREE = 32


def cost_of_reads(bytes_read: int, reads: int, element_cost: int) -> int:
    """What a command's reads add to the budget (log version 22 on): its bytes read, and its
    reads where they cost more than its reply's elements did (the same elements, mostly),
    beyond what the call's own cost covers (READ_BYTES_FREE, READS_FREE)."""
    cost = (bytes_read - READ_BYTES_FREE) // READ_BYTES_PER_INSTRUCTION if bytes_read > READ_BYTES_FREE else 0
    reads = (reads - READS_FREE) * READ_COST if reads > READS_FREE else 0
    return cost + reads - element_cost if reads > element_cost else cost
