"""History checker for chaos runs: linearizability, lost writes, staleness.

Independent of raftcache (standard library only), so it can check any
history written in this format and be unit-tested with hand-made histories.

A history is a list of operations (one JSON object per line on disk):

    {"id": 7, "process": "g3.1", "f": "write", "key": "r1", "value": "g3-17",
     "level": null, "status": "ok", "result": null, "index": 812,
     "t0": 12.503, "t1": 12.561, "node": "n2", "error": ""}

- `f`: `write` (value), `read` (-> result), `cas` (expect, value -> result
  true/false), `incr` (value = delta -> result = the new integer), `add`
  (value = an element added to a set key), `read_set` (-> result = the
  elements), `final` reads are ordinary `read`/`read_set` operations made
  after healing.
- `status`: `ok` (completed, result known), `fail` (definitely did not take
  effect), `unknown` (may or may not have taken effect, at any time after t0).
- `t0`/`t1`: invocation and completion, seconds on one monotonic clock; t1 is
  null for unknown operations.
- `level`: the read consistency level (`linearizable`, `lease`,
  `bounded:<ms>`, `any`, `min_index:<n>`); `index`: for writes the log index
  they committed at, for reads the applied index they saw (null when the
  protocol does not report it).

Checks:

1. Linearizability per key (registers and counters are P-compositional), by
   the Wing–Gong/Lowe search with memoization of (linearized set, state).
   Writes, CAS and increments of every status take part (unknown ones may be
   linearized anywhere after their invocation, or "never", which is the same
   as last); failed ones are dropped. Reads take part when their level
   promises linearizability. A search that exceeds its step or time budget
   reports "unknown", never "yes". A counter is first tried with an order
   built directly from its results and checked from scratch
   (`counter_witness`); the search runs only when none can be built.
2. Lost writes: every acknowledged `add` is in the final set; a register's
   final value is not older than its newest acknowledged write (by commit
   index); a counter's final value covers every acknowledged increment.
3. Every successful read at every level, judged by the value it returned
   (not by the index the server reports): a value never written (or whose
   write was reported failed) is an anomaly; a read is stale by t0 - (the
   acknowledgement of the earliest write that certainly replaced its value:
   committed at a higher index, or invoked after the value was in place), and
   over its level's bound (0 for linearizable and lease, <ms> for bounded) is
   a violation; `min_index:n` reads must not return a value replaced at an
   index <= n. A read whose value contradicts the index its reply reports is
   a read-index anomaly.

Verdict: `valid` is False on any anomaly above (a lease linearizability
failure included), None when nothing was proven wrong but the history could
not be fully checked (a search out of budget, a key without a successful
final read), True otherwise. Exit status 0, 1, 2 respectively.
"""

from __future__ import annotations

import bisect
import json
import math
import random
import sys
import time
from collections import defaultdict
from collections.abc import Iterable

LINEARIZABLE_LEVELS = ("linearizable", None, "", "default")
MUTATIONS = ("write", "cas", "incr")


# ---------------------------------------------------------------- models


class RegisterModel:
    """A register of unique values; state is the value or None (absent)."""

    initial = None

    @staticmethod
    def step(state, op):
        f = op["f"]
        if f == "write":
            return True, op["value"]
        if f == "read":
            return op["result"] == state, state
        if f == "cas":
            hit = state == op.get("expect")
            if op["status"] != "ok":  # happened, outcome unknown
                return True, op["value"] if hit else state
            return bool(op["result"]) == hit, op["value"] if hit else state
        raise ValueError(f"register model has no operation {f!r}")


class CounterModel:
    """An integer counter (absent = 0); `incr` returns the new value."""

    initial = 0

    @staticmethod
    def step(state, op):
        f = op["f"]
        if f == "incr":
            new = state + int(op["value"])
            if op["status"] != "ok":
                return True, new
            return op["result"] is not None and int(op["result"]) == new, new
        if f == "read":
            seen = 0 if op["result"] is None else int(op["result"])
            return seen == state, state
        if f == "write":
            return True, int(op["value"])
        raise ValueError(f"counter model has no operation {f!r}")


def model_for(ops: list[dict]):
    return CounterModel if any(op["f"] == "incr" for op in ops) else RegisterModel


# ---------------------------------------------------------------- WGL search


class BudgetExceeded(Exception):
    pass


def check_linearizable(ops: list[dict], model=None, max_steps: int | None = None,
                       deadline: float | None = None) -> dict:
    """Wing–Gong/Lowe search over one key's operations.

    Returns {"result": "yes"|"no"|"unknown", "steps": n, "ops": n, and for
    "no" the operation whose completion could not be explained ("stuck_op")
    plus the longest linearizable prefix found ("best_prefix")}.
    """
    model = model or model_for(ops)
    ops = _checked(ops)
    n = len(ops)
    if n == 0:
        return {"result": "yes", "steps": 0, "ops": 0}
    if max_steps is None:
        # ~0.5-1 µs a step and its cache: seed 127's 29,834 operations of one key needed 41.5 M
        # steps (21 s, 1.6 GB at the peak); the run's time budget, shared by every key, bounds the
        # whole search
        max_steps = max(2_000_000, 3000 * n)
    # Events: (time, kind, op) with calls (kind 0) before returns (kind 1) at
    # equal times, which treats touching operations as concurrent (lenient).
    events = []
    for i, op in enumerate(ops):
        events.append((op["t0"], 0, i))
        if op["status"] == "ok":
            t1 = op["t1"]
            if t1 is None or t1 < op["t0"]:
                raise ValueError(f"operation {op.get('id')} completes before it starts")
            events.append((t1, 1, i))
    events.sort()
    # Doubly linked list over events; node 0 is the head sentinel.
    size = len(events) + 1
    nxt = list(range(1, size + 1))
    nxt[-1] = -1
    prv = list(range(-1, size - 1))
    kind = [None] + [e[1] for e in events]
    opix = [None] + [e[2] for e in events]
    ret_node = [-1] * n
    for node in range(1, size):
        if kind[node] == 1:
            ret_node[opix[node]] = node
    finite = sum(1 for op in ops if op["status"] == "ok")

    def unlink(node):
        p, q = prv[node], nxt[node]
        nxt[p] = q
        if q != -1:
            prv[q] = p

    def relink(node):
        p, q = prv[node], nxt[node]
        nxt[p] = node
        if q != -1:
            prv[q] = node

    # The linearized set is identified by a Zobrist hash (XOR of a random
    # 128-bit word per operation), updated in O(1): a bitset of tens of
    # thousands of operations per cache entry would not fit in memory.
    # A false cache hit needs a 128-bit collision.
    rng = random.Random(0x5EED)
    zobrist = [rng.getrandbits(128) for _ in range(n)]
    state = model.initial
    linearized = 0
    cache: set = set()
    stack: list = []
    entry = nxt[0]
    steps = 0
    best = (0, [])
    stuck = None
    while True:
        if finite == 0:
            return {"result": "yes", "steps": steps, "ops": n}
        steps += 1
        if steps > max_steps or (deadline is not None and steps % 4096 == 0 and time.monotonic() > deadline):
            return {"result": "unknown", "steps": steps, "ops": n, "reason": "search budget exhausted"}
        if entry == -1:  # cannot happen while finite > 0: a return event remains
            raise AssertionError("event list exhausted with operations outstanding")
        i = opix[entry]
        if kind[entry] == 0:
            ok, new_state = model.step(state, ops[i])
            if ok:
                new_lin = linearized ^ zobrist[i]
                memo = (new_lin, new_state)
                if memo not in cache:
                    cache.add(memo)
                    stack.append((entry, state))
                    linearized, state = new_lin, new_state
                    unlink(entry)
                    if ret_node[i] != -1:
                        unlink(ret_node[i])
                        finite -= 1
                    if len(stack) > best[0]:
                        best = (len(stack), [ops[opix[e[0]]].get("id") for e in stack[-5:]])
                    entry = nxt[0]
                    continue
            entry = nxt[entry]
        else:
            # The operation completed before we could linearize it: backtrack.
            if stuck is None or len(stack) >= stuck[0]:
                stuck = (len(stack), ops[i].get("id"))
            if not stack:
                return {"result": "no", "steps": steps, "ops": n, "stuck_op": stuck[1],
                        "best_prefix_len": best[0], "best_prefix_tail": best[1]}
            entry, state = stack.pop()
            j = opix[entry]
            linearized ^= zobrist[j]
            if ret_node[j] != -1:
                relink(ret_node[j])
                finite += 1
            relink(entry)
            entry = nxt[entry]


# ---------------------------------------------------------------- a counter's order, built directly


def counter_witness(ops: list[dict]) -> list[dict] | None:
    """An order of a counter's operations that proves its history linearizable, or None.

    The search above grows with the unknown increments of a counter (seed 127's script counter:
    41.5 M steps for 29,834 operations). When every increment adds a positive delta, the
    acknowledged results place the acknowledged increments (the counter only grows: result order
    is the order), each read goes right after the value it returned (reads of one value by their
    start), and unknown increments fill the gaps between results with an exact sum, each where
    every operation after it completed no earlier than it started. The order so built is then
    checked from scratch (`valid_order`: the model accepts every step, real time is respected), so
    a None only means "search instead", never "not linearizable" (malformed operations too: the
    search reports them)."""
    try:
        return _counter_order(_checked(ops))
    except (TypeError, ValueError):   # a value or result that is not a number, a missing time
        return None


def _checked(ops: list[dict]) -> list[dict]:
    """The operations a linearizability check takes: failed ones and reads without a result dropped."""
    return [op for op in ops if op["status"] != "fail" and not (op["f"] == "read" and op["status"] != "ok")]


def _counter_order(ops: list[dict]) -> list[dict] | None:
    """counter_witness's order of the checked operations `ops`, or None."""
    if any(op["f"] not in ("incr", "read") or op["status"] not in ("ok", "unknown")
           or (op["f"] == "incr" and int(op["value"]) <= 0)
           or (op["status"] == "ok" and (op["t1"] is None or op["t1"] < op["t0"]
                                         or (op["f"] == "incr" and op["result"] is None))) for op in ops):
        return None
    # The fixed part of the order, as steps (the value the counter holds when they run, the
    # operations): each acknowledged increment from its result less its delta, the reads of
    # one value together (before an increment from that value).
    reads: dict[int, list[dict]] = defaultdict(list)
    steps: list[tuple[int, int, list[dict]]] = []
    for op in ops:
        if op["f"] == "read":
            reads[0 if op["result"] is None else int(op["result"])].append(op)
        elif op["status"] == "ok":
            steps.append((int(op["result"]) - int(op["value"]), 1, [op]))
    steps += [(value, 0, sorted(group, key=lambda op: op["t0"])) for value, group in reads.items()]
    steps.sort(key=lambda step: step[:2])
    # The earliest completion at or after each step: an unknown increment placed before the
    # step must not start later.
    latest_start = [math.inf] * (len(steps) + 1)
    for i in range(len(steps) - 1, -1, -1):
        latest_start[i] = min([latest_start[i + 1]] + [op["t1"] for op in steps[i][2]])
    unknown = sorted((op for op in ops if op["f"] == "incr" and op["status"] == "unknown"), key=lambda op: op["t0"])
    used = [False] * len(unknown)
    order: list[dict] = []
    value = 0
    for i, (need, _, placed) in enumerate(steps):
        if need < value:
            return None
        if need > value:
            chosen = _exact_sum(unknown, used, need - value, latest_start[i])
            if chosen is None:
                return None
            order += [unknown[j] for j in chosen]
        order += placed
        value = need + sum(int(op["value"]) for op in placed if op["f"] == "incr")
    return order if valid_order(order, CounterModel) else None


#: Most bits _exact_sum's bitsets hold in all (increments considered × the gap): past it, the
#: search decides.
_SUM_BITS_MAX = 1 << 27


def _exact_sum(unknown: list[dict], used: list[bool], target: int, latest_start: float) -> list[int] | None:
    """Unused unknown increments (by index, sorted by start) started no later than
    `latest_start` whose deltas add up to `target` (marked used; from the shortest prefix, by
    start, that reaches it), or None: a subset sum over one bitset per increment considered."""
    eligible = []
    for j, op in enumerate(unknown):
        if op["t0"] > latest_start:
            break
        if not used[j] and int(op["value"]) <= target:   # (a larger one is in no sum of it)
            eligible.append(j)
    if len(eligible) * (target + 1) > _SUM_BITS_MAX:
        return None
    mask = (1 << (target + 1)) - 1
    reach = [1]   # reach[i]: bit s set when the first i eligible increments can add up to s
    for j in eligible:
        reach.append((reach[-1] | reach[-1] << int(unknown[j]["value"])) & mask)
        if reach[-1] >> target & 1:
            break
    if not reach[-1] >> target & 1:
        return None
    chosen, left = [], target
    for i in range(len(reach) - 1, 0, -1):
        if left and not reach[i - 1] >> left & 1:   # `left` needs the i-th increment
            j = eligible[i - 1]
            chosen.append(j)
            left -= int(unknown[j]["value"])
    for j in chosen:
        used[j] = True
    return chosen[::-1]


def valid_order(order: list[dict], model) -> bool:
    """Whether `order` is a linearization: every step accepted by `model` from its initial state,
    and no operation placed after one that started later than it completed (operations that
    touch count as concurrent, as in the search)."""
    state = model.initial
    for op in order:
        ok, state = model.step(state, op)
        if not ok:
            return False
    earliest_end = math.inf
    for op in reversed(order):
        if op["t0"] > earliest_end:
            return False
        if op["status"] == "ok":
            earliest_end = min(earliest_end, op["t1"])
    return True


def _bound_and_prune(ops: list[dict]) -> tuple[list[dict], list[dict]]:
    """Two equivalent-or-weaker views of one key's operations that are cheaper to search.

    - An unknown write or CAS whose (unique) value a checked read observed did
      happen, and before that read completed: it gets that completion as its own.
    - `pruned` also drops the unknown operations left unbounded. A pruned
      history that is linearizable proves the full one is (the dropped
      operations take effect after everything else, i.e. never observably);
      a "no" on it must be confirmed on the full history.
    """
    observed: dict = {}
    for op in ops:
        if op["f"] == "read" and op["status"] == "ok" and op["result"] is not None:
            observed[op["result"]] = min(observed.get(op["result"], math.inf), op["t1"])
    full = []
    for op in ops:
        if op["status"] == "unknown" and op["f"] in ("write", "cas") and op["value"] in observed:
            bound = observed[op["value"]]
            if bound >= op["t0"]:
                # Values are unique and a failed CAS writes nothing: observed means it took effect.
                op = dict(op, status="ok", result=True if op["f"] == "cas" else op.get("result"), t1=bound,
                          _bounded=True)
        full.append(op)
    pruned = [op for op in full if not (op["status"] == "unknown" and not op.get("_bounded"))]
    return full, pruned


def _is_linearizable_read(op: dict, lease_counts: bool) -> bool:
    level = op.get("level")
    if level in LINEARIZABLE_LEVELS:
        return True
    return lease_counts and level == "lease"


def check_linearizability(history: list[dict], *, include_lease: bool = False, max_steps_per_key: int | None = None,
                          time_budget_s: float = 300.0) -> dict:
    """Per-key linearizability of registers and counters. See check_linearizable."""
    by_key: dict[str, list[dict]] = defaultdict(list)
    for op in history:
        if op["f"] in MUTATIONS or (op["f"] == "read" and _is_linearizable_read(op, include_lease)):
            by_key[op["key"]].append(op)
    deadline = time.monotonic() + time_budget_s
    per_key = {}
    for key in sorted(by_key):
        ops = by_key[key]
        model = model_for(ops)
        if model is CounterModel and counter_witness(ops) is not None:
            per_key[key] = {"result": "yes", "steps": 0, "ops": len(_checked(ops)), "pruned": 0,
                            "model": model.__name__, "witness": True}
            continue
        full, pruned = _bound_and_prune(ops) if model is RegisterModel else (ops, [
            op for op in ops if op["status"] != "unknown"])
        result = check_linearizable(pruned, model, max_steps=max_steps_per_key, deadline=deadline)
        result["pruned"] = len(full) - len(pruned)
        if result["result"] != "yes" and len(pruned) != len(full):
            first = result
            result = check_linearizable(full, model, max_steps=max_steps_per_key, deadline=deadline)
            result["pruned"] = 0
            result["pruned_search"] = first["result"]
        result["model"] = model.__name__
        per_key[key] = result
    results = {r["result"] for r in per_key.values()}
    verdict = "no" if "no" in results else ("unknown" if "unknown" in results else "yes")
    return {"result": verdict, "per_key": per_key}


# ---------------------------------------------------------------- lost writes


def check_lost_writes(history: list[dict]) -> dict:
    """Acknowledged writes missing from the final state (after healing).

    The final state is read by the last successful `read`/`read_set` of each
    key that is marked `"final": true`.
    """
    finals = {}
    for op in history:
        if op.get("final") and op["status"] == "ok":
            finals[op["key"]] = op
    lost, phantom, duplicated, notes = [], [], [], []
    by_key: dict[str, list[dict]] = defaultdict(list)
    for op in history:
        if not op.get("final"):
            by_key[op["key"]].append(op)
    acknowledged = 0
    for key, ops in sorted(by_key.items()):
        final = finals.get(key)
        adds = [op for op in ops if op["f"] == "add"]
        incrs = [op for op in ops if op["f"] == "incr"]
        writes = [op for op in ops if op["f"] in ("write", "cas")]
        acknowledged += sum(1 for op in adds + incrs + writes if op["status"] == "ok"
                            and not (op["f"] == "cas" and not op["result"]))
        if (adds or incrs or writes) and final is None:
            notes.append(f"no final read of {key}: its writes were not checked")
            continue
        if adds:
            present = set(final["result"] or [])
            for op in adds:
                if op["status"] == "ok" and op["value"] not in present:
                    lost.append({"key": key, "id": op["id"], "value": op["value"], "t1": op["t1"]})
            attempted = {op["value"]: op["status"] for op in adds}
            for element in present - set(attempted):
                phantom.append({"key": key, "value": element, "why": "never written"})
            for element in present:
                if attempted.get(element) == "fail":
                    phantom.append({"key": key, "value": element, "why": "write reported failed"})
        if incrs:
            acked = sum(int(op["value"]) for op in incrs if op["status"] == "ok")
            maybe = sum(int(op["value"]) for op in incrs if op["status"] == "unknown")
            seen = int(final["result"] or 0)
            if seen < acked:
                lost.append({"key": key, "why": f"counter {seen} < {acked} acknowledged increments"})
            if seen > acked + maybe:  # an increment applied more than once
                duplicated.append({"key": key, "why": f"counter {seen} > {acked} acknowledged + {maybe} unknown"})
        if writes:
            done = [op for op in writes if op["status"] == "ok" and op.get("index") is not None
                    and not (op["f"] == "cas" and not op["result"])]
            if done:
                newest = max(done, key=lambda op: op["index"])
                value = final["result"]
                writer = next((op for op in writes if op["value"] == value and op["status"] != "fail"
                               and not (op["f"] == "cas" and op["status"] == "ok" and not op["result"])), None)
                if value != newest["value"]:
                    if writer is None:
                        lost.append({"key": key, "id": newest["id"], "value": newest["value"],
                                     "why": f"final value {value!r} was never written"})
                    elif writer["status"] == "ok" and writer.get("index") is not None \
                            and writer["index"] < newest["index"]:
                        lost.append({"key": key, "id": newest["id"], "value": newest["value"],
                                     "why": f"final value {value!r} is older (index {writer['index']}) "
                                            f"than the acknowledged write at index {newest['index']}"})
    scripts = check_scripts(history)
    acknowledged += scripts["acknowledged"]
    lost += scripts["lost"]
    phantom += scripts["phantom"]
    duplicated += scripts["duplicated"]
    notes += scripts["notes"]
    return {"acknowledged_writes": acknowledged, "lost": len(lost), "lost_examples": lost[:20],
            "phantom": len(phantom), "phantom_examples": phantom[:20],
            "duplicated": len(duplicated), "duplicated_examples": duplicated[:20], "notes": notes}


def check_scripts(history: list[dict]) -> dict:
    """The write script's effects (scripts/chaos/workload.ScriptWorker: INCRBY the counter by d,
    RPUSH `<id>:<d>` onto the list, in one script): in the final list every acknowledged
    element once, none never attempted or reported failed; the final counter equals the sum
    of the listed d's (both effects or neither, exactly once); and every node's own copy
    (`replica` reads, after every node applied the same index) equals the final state."""
    ops = [op for op in history if op["f"] == "script"]
    out = {"acknowledged": sum(1 for op in ops if op["status"] == "ok"), "lost": [], "phantom": [],
           "duplicated": [], "not_atomic": [], "replicas_differ": [], "notes": []}
    if not ops:
        return out
    finals = {op["f"]: op for op in history if op.get("final") and op["status"] == "ok"
              and op["f"] in ("read_list", "read_counter")}
    if len(finals) < 2:
        out["notes"].append("no final read of the script's list and counter: its writes were not checked")
        return out
    listed, counter = finals["read_list"]["result"], int(finals["read_counter"]["result"] or 0)
    key = finals["read_list"]["key"]
    present = set(listed)
    attempted = {op["value"]: op for op in ops}
    for op in ops:
        if op["status"] == "ok" and op["value"] not in present:
            out["lost"].append({"key": key, "id": op["id"], "value": op["value"], "t1": op["t1"]})
    for element in sorted(present):
        if element not in attempted:
            out["phantom"].append({"key": key, "value": element, "why": "never written"})
        elif attempted[element]["status"] == "fail":
            out["phantom"].append({"key": key, "value": element, "why": "script reported failed"})
    if len(listed) != len(present):
        out["duplicated"].append({"key": key, "why": f"{len(listed) - len(present)} elements listed twice"})
    total = sum(int(element.rsplit(":", 1)[1]) for element in listed)
    if counter != total:
        out["not_atomic"].append({"key": key, "why": f"counter {counter} != {total}, the sum of the listed deltas"})
    for op in history:
        if op["f"] == "replica":
            expected = listed if op["key"] == key else counter
            if op["status"] != "ok" or op["result"] != expected:
                out["replicas_differ"].append({"node": op.get("node"), "key": op["key"], "status": op["status"],
                                               "differs": op["status"] == "ok"})
                if op["status"] != "ok":
                    out["notes"].append(f"node {op.get('node')}'s copy of {op['key']} could not be read")
    return out


# ---------------------------------------------------------------- reads at every level


def _level_name(level) -> str:
    return (level or "linearizable").split(":", 1)[0]


def _bound_ms(level) -> float | None:
    """How stale (ms, from the value's overwrite) a read at this level may be; None: no bound."""
    name = _level_name(level)
    if name in ("linearizable", "default", "lease"):
        return 0.0
    if name == "bounded":
        return float(str(level).split(":", 1)[1])
    return None


def _took_effect(op: dict) -> bool:
    """An acknowledged mutation that certainly changed the state (a CAS that failed its test did not)."""
    return op["status"] == "ok" and not (op["f"] == "cas" and not op["result"])


def _may_have_written(op: dict) -> bool:
    return op["status"] == "unknown" or _took_effect(op)


class _SuffixMin:
    """min(t1) over the entries whose sort key is > (or >=) a threshold, in O(log n)."""

    def __init__(self, pairs: list[tuple[float, float]]):
        pairs = sorted(pairs)
        self.keys = [k for k, _ in pairs]
        self.mins = [math.inf] * (len(pairs) + 1)
        for i in range(len(pairs) - 1, -1, -1):
            self.mins[i] = min(pairs[i][1], self.mins[i + 1])

    def above(self, threshold: float) -> float:
        return self.mins[bisect.bisect_right(self.keys, threshold)]


class _RegisterKey:
    """When each value of one register was overwritten, from its writes and the reads that observed them."""

    def __init__(self, ops: list[dict]):
        self.writers = {op["value"]: op for op in ops if op["f"] in ("write", "cas") and op["status"] != "fail"}
        self.failed = {op["value"] for op in ops if op["f"] in ("write", "cas") and op["status"] == "fail"}
        seen_at: dict = {}
        for op in ops:
            if op["f"] == "read" and op["status"] == "ok" and op["result"] is not None:
                w = self.writers.get(op["result"])
                if w is not None and op["t1"] is not None and op["t1"] >= w["t0"]:
                    seen_at[op["result"]] = min(seen_at.get(op["result"], math.inf), op["t1"])
        self.seen_at = seen_at
        acked = [op for op in ops if op["f"] in ("write", "cas") and _took_effect(op)]
        self.first_ack = min((op["t1"] for op in acked), default=math.inf)
        self.by_index = _SuffixMin([(op["index"], op["t1"]) for op in acked if op.get("index") is not None])
        self.by_start = _SuffixMin([(op["t0"], op["t1"]) for op in acked])
        self.index_of_first_write = min((op["index"] for op in acked if op.get("index") is not None),
                                        default=math.inf)

    def known(self, value) -> bool:
        return value is None or (value in self.writers and _may_have_written(self.writers[value]))

    def overwritten_at(self, value) -> float:
        """Earliest acknowledgement of a write that certainly came after `value`'s (inf: none)."""
        if value is None:  # no deletes in this model: any write replaces the initial absence for good
            return self.first_ack
        w = self.writers[value]
        done = min(w["t1"] if w["status"] == "ok" and w["t1"] is not None else math.inf,
                   self.seen_at.get(value, math.inf))
        t = self.by_start.above(done)  # writes invoked after this value was in place
        if w["status"] == "ok" and w.get("index") is not None:
            t = min(t, self.by_index.above(w["index"]))  # writes committed after it
        return t

    def overwritten_by_index(self, value, n: int) -> bool:
        """True when an acknowledged write at an index <= n certainly replaced `value`."""
        if value is None:
            return self.index_of_first_write <= n
        w = self.writers[value]
        if w["status"] != "ok" or w.get("index") is None:
            return False
        k = bisect.bisect_right(self.by_index.keys, w["index"])
        return k < len(self.by_index.keys) and self.by_index.keys[k] <= n


class _CounterKey:
    """A counter only grows (positive increments): it reached r when an increment returned r."""

    def __init__(self, ops: list[dict]):
        incrs = [op for op in ops if op["f"] == "incr"]
        self.ceiling = sum(int(op["value"]) for op in incrs if op["status"] != "fail")
        self.by_result = _SuffixMin([(int(op["result"]), op["t1"]) for op in incrs
                                     if op["status"] == "ok" and op["result"] is not None])
        self.by_result_index = [(int(op["result"]), op["index"]) for op in incrs
                                if op["status"] == "ok" and op["result"] is not None and op.get("index") is not None]

    def known(self, value) -> bool:
        seen = 0 if value is None else int(value)
        return 0 <= seen <= self.ceiling

    def overwritten_at(self, value) -> float:
        return self.by_result.above(0 if value is None else int(value))

    def overwritten_by_index(self, value, n: int) -> bool:
        seen = 0 if value is None else int(value)
        return any(result > seen and index <= n for result, index in self.by_result_index)


def check_staleness(history: list[dict]) -> dict:
    """Every successful read, at every level, judged by the value it returned (module docstring, check 3).

    - never written: a register value no write (or unknown write) produced, or
      one whose write was reported failed; a counter value above every
      increment that may have happened.
    - staleness: the read started after a write that certainly replaced the
      value it returned had been acknowledged; by how long. Over the level's
      bound (0 for linearizable and lease, <ms> for bounded) is a violation;
      `any` has no bound. A `min_index:n` read must not return a value replaced
      by an acknowledged write at an index <= n, nor report an index < n.
    - read-index anomalies: the value contradicts the index the reply reports.
    """
    by_key: dict[str, list[dict]] = defaultdict(list)
    for op in history:
        by_key[op["key"]].append(op)
    keys = {key: (_CounterKey(ops) if model_for(ops) is CounterModel else _RegisterKey(ops))
            for key, ops in by_key.items()}
    levels: dict[str, dict] = {}
    violations, never_written = [], []
    for op in history:
        if op["f"] != "read" or op["status"] != "ok":
            continue
        level = op.get("level") or "linearizable"
        name = _level_name(level)
        stats = levels.setdefault(name, {"reads": 0, "max_staleness_ms": 0.0, "over_bound": 0,
                                         "without_index": 0})
        stats["reads"] += 1
        stats["without_index"] += op.get("index") is None
        key = keys[op["key"]]
        value = op["result"]
        if not key.known(value):
            why = "written by a write reported failed" if value in getattr(key, "failed", ()) else "never written"
            never_written.append({"id": op["id"], "key": op["key"], "level": level, "value": value, "why": why})
            continue
        stale_s = max(0.0, op["t0"] - key.overwritten_at(value))
        stale_ms = round(stale_s * 1000, 3)
        stats["max_staleness_ms"] = max(stats["max_staleness_ms"], stale_ms)
        bound = _bound_ms(level)
        if bound is not None and stale_s * 1000 > bound:
            stats["over_bound"] += 1
            violations.append({"id": op["id"], "key": op["key"], "level": level, "value": value,
                               "staleness_ms": stale_ms})
        if name == "min_index":
            wanted = int(level.split(":", 1)[1])
            if op.get("index") is not None and op["index"] < wanted:
                stats["over_bound"] += 1
                violations.append({"id": op["id"], "level": level, "why": f"saw index {op['index']} < {wanted}"})
            elif key.overwritten_by_index(value, wanted):
                stats["over_bound"] += 1
                violations.append({"id": op["id"], "level": level, "value": value,
                                   "why": f"value replaced by an acknowledged write at an index <= {wanted}"})
    index_anomalies = _read_index_anomalies(history)
    return {"levels": levels, "violations": len(violations), "violation_examples": violations[:20],
            "never_written": len(never_written), "never_written_examples": never_written[:20],
            "index_anomalies": len(index_anomalies), "index_anomaly_examples": index_anomalies[:20]}


def _read_index_anomalies(history: list[dict]) -> list[dict]:
    """Register reads whose value contradicts the applied index their reply reports: the value was
    written after that index, or an acknowledged write at or below it replaced the value (e.g. a
    write applied twice: its value came back after a later write)."""
    writes_by_key: dict = defaultdict(list)
    writer_index: dict[tuple[str, object], int | None] = {}
    for op in history:
        if op["f"] in ("write", "cas") and _may_have_written(op):
            writer_index[(op["key"], op["value"])] = op.get("index") if op["status"] == "ok" else None
            if op["status"] == "ok" and op.get("index") is not None:
                writes_by_key[op["key"]].append((op["index"], op["value"]))
    table = {key: ([i for i, _ in sorted(lst, key=lambda w: w[0])], [v for _, v in sorted(lst, key=lambda w: w[0])])
             for key, lst in writes_by_key.items()}
    out = []
    for op in history:
        if op["f"] != "read" or op["status"] != "ok" or op.get("index") is None or op["key"] not in table:
            continue
        level, seen, value = op.get("level") or "linearizable", op["index"], op["result"]
        idxs, vals = table[op["key"]]
        k = bisect.bisect_right(idxs, seen)
        widx = writer_index.get((op["key"], value))
        if widx is not None and widx > seen:
            out.append({"id": op["id"], "level": level,
                        "why": f"read {value!r} written at index {widx}, after the index {seen} it saw"})
        elif widx is not None and k and idxs[k - 1] > widx:
            out.append({"id": op["id"], "level": level, "why": f"read {value!r} (index {widx}) but {vals[k - 1]!r} "
                                                              f"was written at {idxs[k - 1]} <= {seen}"})
        elif value is None and k:
            out.append({"id": op["id"], "level": level,
                        "why": f"read nothing but {vals[k - 1]!r} was written at {idxs[k - 1]} <= {seen}"})
    return out


# ---------------------------------------------------------------- availability


def availability(history: list[dict], faults: list[dict]) -> dict:
    """Share of operations that completed ok, inside and outside fault windows (by invocation time)."""
    windows = sorted((f["start"], f["end"] if f.get("end") is not None else math.inf) for f in faults)

    def in_fault(t):
        return any(a <= t <= b for a, b in windows)

    counts = {"during_faults": [0, 0], "no_fault": [0, 0]}
    for op in history:
        if op.get("final"):
            continue
        bucket = counts["during_faults" if in_fault(op["t0"]) else "no_fault"]
        bucket[1] += 1
        bucket[0] += op["status"] == "ok"
    return {k: {"ok": ok, "total": total, "ok_ratio": round(ok / total, 4) if total else None}
            for k, (ok, total) in counts.items()}


# ---------------------------------------------------------------- verdict


def summarize(history: list[dict]) -> dict:
    ops = {"total": len(history)}
    for op in history:
        ops[op["status"]] = ops.get(op["status"], 0) + 1
        ops.setdefault("by_f", {}).setdefault(op["f"], {}).setdefault(op["status"], 0)
        ops["by_f"][op["f"]][op["status"]] += 1
        if op["f"] == "read" and op["status"] == "ok" and op.get("level") in LINEARIZABLE_LEVELS and op.get("node"):
            by_node = ops.setdefault("linearizable_reads_by_node", {})  # who served them (followers too)
            by_node[op["node"]] = by_node.get(op["node"], 0) + 1
    return ops


def undecided_reasons(history: list[dict], lin: dict, lease: dict | None, lost: dict) -> list[str]:
    """Why the history cannot be declared valid even though no anomaly was proven."""
    reasons = []
    if lin["result"] == "unknown":
        reasons.append("the linearizability search ran out of budget")
    if lease is not None and lease["result"] == "unknown":
        reasons.append("the lease linearizability search ran out of budget")
    if not any(op.get("final") and op["status"] == "ok" for op in history):
        reasons.append("no successful final read: lost writes were not checked")
    reasons += lost["notes"]
    return reasons


def verdict(history: list[dict], faults: list[dict] | None = None, time_budget_s: float = 300.0) -> dict:
    """Everything the run reports.

    `valid` is False on any proven anomaly (`anomalies` lists which), None
    (undecided, `undecided` says why) when nothing was proven wrong but the
    history could not be fully checked, True otherwise.
    """
    faults = faults or []
    lin = check_linearizability(history, time_budget_s=time_budget_s * 0.6)
    lease = check_linearizability(history, include_lease=True, time_budget_s=time_budget_s * 0.4) \
        if any(op.get("level") == "lease" for op in history) else None
    lost = check_lost_writes(history)
    scripts = check_scripts(history)
    stale = check_staleness(history)
    out = {
        "operations": summarize(history),
        "faults_injected": len(faults),
        "faults_by_kind": _count(f["kind"] for f in faults),
        "linearizable": lin["result"],
        "linearizability": lin,
        "lease_linearizable": lease["result"] if lease else None,
        "lease_linearizability": lease,
        "acknowledged_writes": lost["acknowledged_writes"],
        "acknowledged_writes_lost": lost["lost"],
        "duplicated_writes": lost["duplicated"],
        "lost_writes": lost,
        "scripts": {k: scripts[k] for k in ("acknowledged", "not_atomic", "replicas_differ")},
        "script_not_atomic": len(scripts["not_atomic"]),
        "replicas_differ": sum(1 for r in scripts["replicas_differ"] if r["differs"]),
        "max_staleness_ms": {k: v["max_staleness_ms"] for k, v in stale["levels"].items()},
        "staleness": stale,
        "staleness_violations": stale["violations"],
        "never_written_reads": stale["never_written"],
        "read_index_anomalies": stale["index_anomalies"],
        "availability": availability(history, faults),
    }
    anomalies = {
        "not_linearizable": lin["result"] == "no",
        "lease_not_linearizable": lease is not None and lease["result"] == "no",
        "lost_writes": lost["lost"],
        "phantom_writes": lost["phantom"],
        "duplicated_writes": lost["duplicated"],
        "script_not_atomic": len(scripts["not_atomic"]),
        "replicas_differ": sum(1 for r in scripts["replicas_differ"] if r["differs"]),
        "staleness_violations": stale["violations"],
        "never_written_reads": stale["never_written"],
        "read_index_anomalies": stale["index_anomalies"],
    }
    out["anomalies"] = sorted(k for k, v in anomalies.items() if v)
    out["undecided"] = undecided_reasons(history, lin, lease, lost)
    out["valid"] = False if out["anomalies"] else (None if out["undecided"] else True)
    return out


#: verdict["valid"] -> the exit status of checker.py and run.py.
EXIT_STATUS = {True: 0, False: 1, None: 2}


def _count(items: Iterable[str]) -> dict:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


def load_jsonl(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="Check a chaos history (JSONL).")
    p.add_argument("history")
    p.add_argument("--faults", help="JSON list of fault windows (as run.py writes them)")
    p.add_argument("--time-budget", type=float, default=300.0)
    args = p.parse_args(argv)
    history = load_jsonl(args.history)
    faults = []
    if args.faults:
        with open(args.faults) as f:
            faults = json.load(f)
    result = verdict(history, faults, args.time_budget)
    json.dump(result, sys.stdout, indent=2, default=str)
    print()
    return EXIT_STATUS[result["valid"]]


if __name__ == "__main__":
    sys.exit(main())
