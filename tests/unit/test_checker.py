"""The chaos history checker (scripts/chaos/checker.py) on hand-made histories.

Every anomaly the chaos runs claim to detect has a history here that the
checker must reject, next to a close linearizable one it must accept.
"""

from __future__ import annotations

import itertools

import pytest

from scripts.chaos import checker

_ids = itertools.count(1)


def op(f, t0, t1, key="k", value=None, result=None, status="ok", **extra):
    if status == "unknown":
        t1 = None
    return {"id": next(_ids), "process": extra.pop("process", "p"), "f": f, "key": key, "value": value,
            "result": result, "status": status, "t0": t0, "t1": t1, **extra}


def w(t0, t1, v, **kw):
    return op("write", t0, t1, value=v, **kw)


def r(t0, t1, v, **kw):
    return op("read", t0, t1, result=v, level=kw.pop("level", "linearizable"), **kw)


def lin(history):
    return checker.check_linearizability(history)["result"]


# ---------------------------------------------------------------- registers


def test_sequential_register_is_linearizable():
    assert lin([w(0, 1, "a"), r(2, 3, "a"), w(4, 5, "b"), r(6, 7, "b")]) == "yes"


def test_empty_and_initial_reads():
    assert lin([]) == "yes"
    assert lin([r(0, 1, None), w(2, 3, "a")]) == "yes"


@pytest.mark.parametrize("seen", ["a", "b"])
def test_read_concurrent_with_write_may_see_either(seen):
    assert lin([w(0, 1, "a"), w(2, 6, "b"), r(3, 4, seen)]) == "yes"


def test_stale_read_after_acknowledged_write_is_rejected():
    assert lin([w(0, 1, "a"), w(2, 3, "b"), r(4, 5, "a")]) == "no"


def test_read_of_value_never_written_is_rejected():
    assert lin([w(0, 1, "a"), r(2, 3, "zz")]) == "no"


def test_new_old_inversion_is_rejected():
    # A write in flight may be seen or not, but once one read saw it a later read cannot un-see it.
    assert lin([w(0, 10, "a"), r(1, 2, "a"), r(3, 4, None)]) == "no"
    assert lin([w(0, 10, "a"), r(1, 2, None), r(3, 4, "a")]) == "yes"


def test_unknown_write_may_or_may_not_have_happened():
    assert lin([w(0, 1, "a"), w(2, None, "b", status="unknown"), r(5, 6, "b"), r(7, 8, "b")]) == "yes"
    assert lin([w(0, 1, "a"), w(2, None, "b", status="unknown"), r(5, 6, "a")]) == "yes"
    # …but it cannot take effect before it was invoked, or flip back afterwards.
    assert lin([w(0, 1, "a"), r(2, 3, "b"), w(4, None, "b", status="unknown")]) == "no"
    assert lin([w(0, 1, "a"), w(2, None, "b", status="unknown"), r(5, 6, "b"), r(7, 8, "a")]) == "no"


def test_failed_write_must_not_be_visible():
    assert lin([w(0, 1, "a"), w(2, 3, "b", status="fail"), r(4, 5, "a")]) == "yes"
    assert lin([w(0, 1, "a"), w(2, 3, "b", status="fail"), r(4, 5, "b")]) == "no"


def test_weak_reads_are_not_held_to_linearizability():
    assert lin([w(0, 1, "a"), w(2, 3, "b"), r(4, 5, "a", level="any")]) == "yes"
    assert checker.check_linearizability([w(0, 1, "a"), w(2, 3, "b"), r(4, 5, "a", level="lease")],
                                         include_lease=True)["result"] == "no"


def test_cas():
    def cas(t0, t1, expect, value, result, **kw):
        return op("cas", t0, t1, expect=expect, value=value, result=result, **kw)

    assert lin([w(0, 1, "a"), cas(2, 3, "a", "b", True), r(4, 5, "b")]) == "yes"
    assert lin([w(0, 1, "a"), cas(2, 3, "a", "b", True), r(4, 5, "a")]) == "no"
    # A CAS that failed while nothing else could have changed the value.
    assert lin([w(0, 1, "a"), cas(2, 3, "a", "b", False)]) == "no"
    assert lin([w(0, 1, "a"), cas(2, 3, "x", "b", False), r(4, 5, "a")]) == "yes"
    # Two CAS from the same expected value cannot both win.
    assert lin([w(0, 1, "a"), cas(2, 5, "a", "b", True), cas(2, 5, "a", "c", True)]) == "no"
    assert lin([w(0, 1, "a"), cas(2, 5, "a", "b", True), cas(2, 5, "a", "c", False), r(6, 7, "b")]) == "yes"
    # An unknown CAS may explain a value.
    assert lin([w(0, 1, "a"), cas(2, None, "a", "b", None, status="unknown"), r(4, 5, "b")]) == "yes"


def test_concurrent_mess_is_decided():
    h = [w(0, 4, "a", process="1"), w(1, 5, "b", process="2"), w(2, 6, "c", process="3"),
         r(3, 7, "b", process="4"), r(8, 9, "b"), r(10, 11, "b")]
    assert lin(h) == "yes"
    h[-1] = r(10, 11, "a")
    assert lin(h) == "no"


def test_independent_keys_are_checked_separately():
    h = [w(0, 1, "a", key="x"), w(0, 1, "a", key="y"), w(2, 3, "b", key="y"), r(4, 5, "a", key="x"),
         r(4, 5, "a", key="y")]
    result = checker.check_linearizability(h)
    assert result["result"] == "no"
    assert result["per_key"]["x"]["result"] == "yes"
    assert result["per_key"]["y"]["result"] == "no"
    assert result["per_key"]["y"]["stuck_op"] is not None


def test_budget_exhaustion_reports_unknown_not_yes():
    # Many concurrent unknown writes with a read no order can satisfy forces a large search.
    h = [w(0, None, f"v{i}", status="unknown") for i in range(16)]
    h += [r(1, 2, "v3"), r(3, 4, "v5"), r(5, 6, "v3"), r(7, 8, "nope")]
    result = checker.check_linearizable(h, max_steps=50)
    assert result["result"] == "unknown"


# ---------------------------------------------------------------- counters


def inc(t0, t1, delta, result, **kw):
    return op("incr", t0, t1, value=delta, result=result, **kw)


def test_counter_linearizable():
    assert lin([inc(0, 1, 1, 1), inc(2, 3, 2, 3), r(4, 5, 3)]) == "yes"
    assert lin([inc(0, 5, 1, 2), inc(1, 4, 1, 1), r(6, 7, "2")]) == "yes"


def test_counter_double_apply_is_rejected():
    # A retried increment applied twice: the counter jumps by 2 for a +1.
    assert lin([inc(0, 1, 1, 1), inc(2, 3, 1, 3)]) == "no"
    # Two increments both claiming the same new value.
    assert lin([inc(0, 5, 1, 1), inc(0, 5, 1, 1)]) == "no"


def test_counter_lost_increment_is_rejected():
    assert lin([inc(0, 1, 1, 1), inc(2, 3, 1, 2), r(4, 5, 1)]) == "no"


def test_counter_unknown_increment():
    assert lin([inc(0, 1, 1, 1), inc(2, None, 5, None, status="unknown"), r(4, 5, 6), r(6, 7, 6)]) == "yes"
    assert lin([inc(0, 1, 1, 1), inc(2, None, 5, None, status="unknown"), r(4, 5, 6), r(6, 7, 1)]) == "no"


def _counter_with_unknowns(seed: int, n_ops: int = 400, unknown_share: float = 0.1) -> list[dict]:
    """A counter history from an atomic object: increments of 1-3 take effect at a random point
    of their interval, some answered `unknown` (a share of those never took effect), reads
    return the value at theirs."""
    import random

    rng = random.Random(seed)
    events = []
    for k in range(n_ops):
        t0 = rng.random() * n_ops / 4
        t1 = t0 + rng.random() * 3
        events.append((t0 + rng.random() * (t1 - t0), t0, t1, k))
    events.sort()
    state, history = 0, []
    for point, t0, t1, k in events:
        if rng.random() < 0.6:
            delta = rng.randint(1, 3)
            if rng.random() < unknown_share:
                if rng.random() < 0.5:
                    state += delta   # took effect; the client never heard
                history.append(inc(t0, None, delta, None, status="unknown", process=str(k)))
            else:
                state += delta
                history.append(inc(t0, t1, delta, state, process=str(k)))
        else:
            history.append(r(t0, t1, state, process=str(k)))
    return history


@pytest.mark.parametrize("seed", range(6))
def test_counter_history_is_proven_by_an_order_built_directly(seed):
    """A counter's history with unknown increments is proven linearizable without the search,
    by an order that the model and real time accept."""
    history = _counter_with_unknowns(seed)
    order = checker.counter_witness(history)
    assert order is not None
    assert checker.valid_order(order, checker.CounterModel)
    assert {o["id"] for o in history if o["status"] == "ok"} <= {o["id"] for o in order}
    result = checker.check_linearizability(history)
    assert result["result"] == "yes" and result["per_key"]["k"].get("witness") is True


def test_a_large_counter_history_needs_no_search():
    history = _counter_with_unknowns(7, n_ops=30_000, unknown_share=0.02)
    per_key = checker.check_linearizability(history, max_steps_per_key=1)["per_key"]["k"]
    assert (per_key["result"], per_key["steps"], per_key.get("witness")) == ("yes", 0, True)


@pytest.mark.parametrize("seed", range(40))
def test_an_order_built_directly_never_accepts_what_the_search_rejects(seed):
    """Small counter histories, some broken on purpose (a result moved, a read changed, an
    interval shifted): whenever an order is built, the search agrees the history is linearizable."""
    import random

    rng = random.Random(seed)
    history = _counter_with_unknowns(seed, n_ops=14, unknown_share=0.3)
    victim = rng.choice([o for o in history if o["status"] == "ok"])
    change = rng.choice(["result", "t0", "none"])
    if change == "result" and victim["result"] is not None:
        victim["result"] = int(victim["result"]) + rng.choice([-2, -1, 1, 2])
    elif change == "t0":
        victim["t0"], victim["t1"] = victim["t0"] + 3, victim["t1"] + 3
    order = checker.counter_witness(history)
    search = checker.check_linearizable(history, checker.CounterModel)["result"]
    if order is not None:
        assert search == "yes"


def test_counter_orders_are_checked_against_real_time_and_the_model():
    assert checker.counter_witness([inc(0, 1, 1, 1), inc(2, 3, 1, 3)]) is None       # applied twice
    assert checker.counter_witness([inc(0, 1, 1, 1), inc(2, 3, 1, 2), r(4, 5, 1)]) is None   # a stale read
    # the unknown increment that fills the gap started after the increment at 3 completed
    assert checker.counter_witness([inc(0, 1, 1, 1), inc(5, None, 1, None, status="unknown"),
                                    inc(2, 3, 1, 3)]) is None
    assert checker.counter_witness([inc(0, 1, 1, 1), inc(1.5, None, 1, None, status="unknown"),
                                    inc(2, 3, 1, 3)]) is not None
    ordered = [inc(0, 1, 1, 1), r(2, 3, 1), inc(4, 5, 2, 3)]
    assert checker.valid_order(ordered, checker.CounterModel)
    assert not checker.valid_order([ordered[0], ordered[2], ordered[1]], checker.CounterModel)
    assert not checker.valid_order([inc(4, 5, 1, 1), inc(0, 1, 1, 2)], checker.CounterModel)   # against real time
    assert not checker.valid_order([inc(0, 3, 1, 2), inc(0, 3, 1, 1)], checker.CounterModel)   # against the model only
    assert checker.valid_order([inc(1, 2, 1, 1), inc(0, 1, 1, 2)], checker.CounterModel)   # touching: concurrent


def test_a_counter_order_that_cannot_be_built_leaves_the_search_to_decide():
    # malformed operations: the search reports them, the order is not built
    assert checker.counter_witness([inc(0, None, 1, 1)]) is None
    assert checker.counter_witness([inc(5, 1, 1, 1)]) is None
    assert checker.counter_witness([inc(0, 1, 1, 1), inc(2, None, "x", None, status="unknown")]) is None
    # many unknown increments of distinct deltas and a gap no subset fills: bounded work, no order
    unknown = [inc(0.5, None, 2 * d, None, status="unknown") for d in range(1, 2001)]
    assert checker.counter_witness([inc(0, 1, 1, 1)] + unknown + [inc(2, 3, 1, 5)]) is None   # an odd gap of 3
    # …and one a subset fills
    assert checker.counter_witness([inc(0, 1, 1, 1)] + unknown + [inc(2, 3, 1, 8)]) is not None   # 6 = 2 + 4


# ---------------------------------------------------------------- lost writes


def test_lost_acknowledged_add_is_reported():
    h = [op("add", 0, 1, key="s", value="e1"), op("add", 0, 1, key="s", value="e2"),
         op("add", 0, None, key="s", value="e3", status="unknown"), op("add", 0, 1, key="s", value="e4", status="fail")]
    ok = h + [op("read_set", 5, 6, key="s", result=["e1", "e2"], final=True)]
    assert checker.check_lost_writes(ok)["lost"] == 0
    assert checker.check_lost_writes(ok)["phantom"] == 0
    bad = h + [op("read_set", 5, 6, key="s", result=["e1", "e3", "e4"], final=True)]
    result = checker.check_lost_writes(bad)
    assert result["lost"] == 1 and result["lost_examples"][0]["value"] == "e2"
    assert result["phantom"] == 1


def test_register_final_value_older_than_acknowledged_write():
    h = [w(0, 1, "a", index=10), w(2, 3, "b", index=12)]
    assert checker.check_lost_writes(h + [r(9, 10, "b", final=True)])["lost"] == 0
    assert checker.check_lost_writes(h + [r(9, 10, "a", final=True)])["lost"] == 1


def test_counter_final_value_below_acknowledged_increments():
    h = [inc(0, 1, 2, 2), inc(2, 3, 3, 5), inc(4, None, 7, None, status="unknown")]
    assert checker.check_lost_writes(h + [r(9, 10, 12, final=True)])["lost"] == 0
    assert checker.check_lost_writes(h + [r(9, 10, 5, final=True)])["lost"] == 0
    assert checker.check_lost_writes(h + [r(9, 10, 4, final=True)])["lost"] == 1
    assert checker.check_lost_writes(h + [r(9, 10, 13, final=True)])["duplicated"] == 1


# ---------------------------------------------------------------- staleness


def test_staleness_against_bound():
    h = [w(0, 1.0, "a", index=5), w(2, 3.0, "b", index=6),
         r(3.1, 3.2, "a", level="bounded:500", index=5),   # missed b, acknowledged 0.1 s earlier
         r(4.0, 4.1, "a", level="bounded:500", index=5),   # 1.0 s stale: over its bound
         r(4.0, 4.1, "a", level="any", index=5)]
    result = checker.check_staleness(h)
    assert result["levels"]["bounded"]["max_staleness_ms"] == pytest.approx(1000.0)
    assert result["levels"]["bounded"]["over_bound"] == 1
    assert result["levels"]["any"]["over_bound"] == 0


def test_read_value_must_match_its_index():
    h = [w(0, 1, "a", index=5), w(2, 3, "b", index=6)]
    assert checker.check_staleness(h + [r(4, 5, "a", level="any", index=5)])["index_anomalies"] == 0
    assert checker.check_staleness(h + [r(4, 5, "a", level="any", index=7)])["index_anomalies"] == 1
    assert checker.check_staleness(h + [r(4, 5, "b", level="any", index=5)])["index_anomalies"] == 1


def test_min_index_read_below_its_index():
    h = [w(0, 1, "a", index=5), r(2, 3, "a", level="min_index:5", index=5)]
    assert checker.check_staleness(h)["violations"] == 0
    h = [w(0, 1, "a", index=5), r(2, 3, None, level="min_index:5", index=4)]
    assert checker.check_staleness(h)["violations"] >= 1


def test_verdict_shape():
    h = [w(0, 1, "a", index=1), r(2, 3, "a", index=1), r(9, 10, "a", final=True)]
    v = checker.verdict(h, [{"kind": "kill_leader", "start": 0.5, "end": 2.5}])
    assert v["valid"] is True
    assert v["linearizable"] == "yes"
    assert v["acknowledged_writes_lost"] == 0
    assert v["faults_injected"] == 1
    assert v["availability"]["during_faults"]["total"] == 1


def _simulated(seed, n_ops=400, clients=8, kind="register"):
    """A history produced by a real atomic object: each op takes effect at a random point in [t0, t1]."""
    import random

    rng = random.Random(seed)
    points = []
    for c in range(clients):
        t = rng.random()
        for _ in range(n_ops // clients):
            t0 = t + rng.random()
            t1 = t0 + rng.random() * 3
            points.append((t0 + rng.random() * (t1 - t0), t0, t1, c))
            t = t1
    points.sort()
    state = None if kind == "register" else 0
    history = []
    for k, (_, t0, t1, c) in enumerate(points):
        if kind == "register":
            if rng.random() < 0.5:
                state = f"v{k}"
                history.append(w(t0, t1, state, process=str(c)))
            else:
                history.append(r(t0, t1, state, process=str(c)))
        else:
            if rng.random() < 0.6:
                state += 1
                history.append(inc(t0, t1, 1, state, process=str(c)))
            else:
                history.append(r(t0, t1, state, process=str(c)))
    return history


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("kind", ["register", "counter"])
def test_simulated_atomic_histories_pass(seed, kind):
    assert lin(_simulated(seed, kind=kind)) == "yes"


@pytest.mark.parametrize("seed", range(5))
def test_simulated_history_with_a_stale_read_fails(seed):
    history = _simulated(seed)
    writes = [o for o in history if o["f"] == "write"]
    # A read long after everything, returning the first value written: stale.
    history.append(r(10_000, 10_001, writes[0]["value"]))
    assert lin(history) == "no"


def test_many_unknown_writes_are_cheap_and_sound():
    h = [w(0, 1, "a")]
    h += [w(2 + i, None, f"u{i}", status="unknown") for i in range(300)]   # never observed
    h += [w(400, None, "seen", status="unknown"), r(401, 402, "seen"), r(403, 404, "seen")]
    result = checker.check_linearizability(h)
    assert result["result"] == "yes"
    assert result["per_key"]["k"]["pruned"] == 300
    # The same with a read that goes back to an old value must still be rejected.
    bad = h + [r(405, 406, "a")]
    assert checker.check_linearizability(bad, max_steps_per_key=200_000)["result"] in ("no", "unknown")
    small = [w(0, 1, "a"), w(2, None, "u", status="unknown"), w(3, None, "seen", status="unknown"),
             r(4, 5, "seen"), r(6, 7, "a")]
    assert lin(small) == "no"


def test_observed_unknown_write_is_bounded_by_its_reader():
    # "b" was observed by a read completing at 3, so it cannot take effect after a write acknowledged at 5.
    h = [w(0, 1, "a"), w(2, None, "b", status="unknown"), r(2.5, 3, "b"), w(4, 5, "c"), r(6, 7, "c"), r(8, 9, "c")]
    assert lin(h) == "yes"
    assert lin(h + [r(10, 11, "b")]) == "no"


# ---------------------------------------------------------------- verdict: every anomaly counts
#
# Each history below is small and hand-built: two acknowledged writes ("a" at
# index 1, acknowledged at t=1; "b" at index 2, acknowledged at t=3) and a final
# read, plus the one operation under test.


def _base(final="b"):
    return [w(0, 1, "a", index=1), w(2, 3, "b", index=2)], [r(100, 101, final, final=True, index=9)]


def _verdict(*extra, final="b"):
    head, tail = _base(final)
    return checker.verdict(head + list(extra) + tail)


def test_base_history_is_valid():
    v = _verdict(r(4, 5, "b", level="lease"), r(4, 5, "a", level="any", index=1))
    assert v["valid"] is True and v["anomalies"] == [] and v["undecided"] == []


def test_stale_lease_read_is_invalid():
    v = _verdict(r(4, 5, "a", level="lease"))
    assert v["lease_linearizable"] == "no"
    assert v["linearizable"] == "yes"  # lease reads are not part of the first pass…
    assert v["valid"] is False          # …but a lease that outlived leadership is an anomaly
    assert "lease_not_linearizable" in v["anomalies"]


def test_stale_bounded_read_without_an_index_is_invalid():
    # "b" replaced "a" at t=3; a read starting at 4.0 is 1000 ms stale, over its 500 ms bound.
    v = _verdict(r(4.0, 4.1, "a", level="bounded:500"))
    assert v["staleness_violations"] == 1 and v["valid"] is False
    assert v["staleness"]["levels"]["bounded"]["without_index"] == 1
    # 200 ms stale is within the bound.
    assert _verdict(r(3.2, 3.3, "a", level="bounded:500"))["valid"] is True


def test_staleness_is_measured_from_the_value_not_the_reported_index():
    # The reply claims index 2 (fresh) but returns "a", replaced 1000 ms earlier.
    result = checker.check_staleness(_base()[0] + [r(4.0, 4.1, "a", level="bounded:500", index=2)])
    assert result["violations"] == 1
    assert result["levels"]["bounded"]["max_staleness_ms"] == pytest.approx(1000.0)


def test_staleness_counts_writes_ordered_by_real_time_without_indices():
    # Redis/SDK writes report no index: "b" was invoked after "a" completed, so it replaced it.
    h = [w(0, 1, "a"), w(2, 3, "b"), r(4.0, 4.1, "a", level="bounded:500"), r(100, 101, "b", final=True)]
    assert checker.verdict(h)["staleness_violations"] == 1


@pytest.mark.parametrize("level", ["any", "bounded:500", "min_index:1", "lease", "linearizable"])
def test_value_never_written_is_invalid_at_every_level(level):
    v = _verdict(r(4, 5, "zz", level=level))
    assert v["never_written_reads"] == 1, v["staleness"]
    assert v["valid"] is False and "never_written_reads" in v["anomalies"]


def test_value_of_a_failed_write_is_invalid_even_at_any():
    v = _verdict(w(3.5, 3.6, "f", status="fail"), r(4, 5, "f", level="any"))
    assert v["never_written_reads"] == 1 and v["valid"] is False
    assert v["staleness"]["never_written_examples"][0]["why"] == "written by a write reported failed"


def test_counter_value_never_reached_is_invalid():
    h = [inc(0, 1, 1, 1), inc(2, 3, 2, 3), r(4, 5, 7, level="any"), r(100, 101, 3, final=True)]
    assert checker.verdict(h)["never_written_reads"] == 1


def test_stale_counter_read_is_measured_from_the_increment_that_passed_it():
    h = [inc(0, 1, 1, 1), inc(2, 3, 2, 3), r(4, 5, 1, level="lease"), r(100, 101, 3, final=True)]
    v = checker.verdict(h)
    assert v["staleness_violations"] == 1 and v["valid"] is False


def test_read_whose_value_contradicts_its_index_is_invalid():
    v = _verdict(r(4, 5, "a", level="any", index=2))  # "b" was written at 2 <= the index it reports
    assert v["read_index_anomalies"] == 1 and v["valid"] is False
    v = _verdict(r(2.5, 5, "b", level="any", index=1))  # "b" was written at 2 > the index it reports
    assert v["read_index_anomalies"] == 1 and v["valid"] is False


def test_min_index_read_of_a_value_replaced_at_or_below_its_index_is_invalid():
    assert _verdict(r(2.5, 2.6, "a", level="min_index:1"))["valid"] is True
    v = _verdict(r(2.5, 2.6, "a", level="min_index:2"))  # no index reported, value older than index 2
    assert v["staleness_violations"] == 1 and v["valid"] is False


def test_lost_write_is_invalid():
    v = _verdict(final="a")
    assert v["acknowledged_writes_lost"] == 1 and v["valid"] is False


def test_duplicated_increment_is_invalid():
    h = [inc(0, 1, 1, 1), inc(2, None, 5, None, status="unknown"), r(100, 101, 11, final=True)]
    v = checker.verdict(h)
    assert v["duplicated_writes"] == 1 and v["valid"] is False


def test_duplicated_register_write_is_invalid():
    # "a" applied again after "b": a read at any level sees it back at an index above "b"'s.
    v = _verdict(r(4, 5, "a", level="any", index=3))
    assert v["read_index_anomalies"] == 1 and v["valid"] is False
    # The same seen by a linearizable read (no index) is not linearizable.
    v = _verdict(r(4, 5, "a"))
    assert v["linearizable"] == "no" and v["valid"] is False


def test_no_final_reads_is_undecided(tmp_path):
    head, _ = _base()
    v = checker.verdict(head + [r(4, 5, "b")])
    assert v["valid"] is None and v["anomalies"] == []
    assert any("final read" in why for why in v["undecided"])
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(__import__("json").dumps(o) for o in head + [r(4, 5, "b")]) + "\n")
    assert checker.main([str(path)]) == 2


def test_a_key_without_its_final_read_is_undecided():
    h = [w(0, 1, "a", key="x", index=1), w(0, 1, "a", key="y", index=2), r(9, 10, "a", key="x", final=True)]
    v = checker.verdict(h)
    assert v["valid"] is None and any("y" in why for why in v["undecided"])


def test_unknown_outcomes_are_accepted_either_way():
    # An unknown write that took effect (seen, and final), one that did not (never seen),
    # an unknown increment applied once, one never applied.
    h = [w(0, 1, "a", index=1), w(2, None, "u1", status="unknown"), w(2, None, "u2", status="unknown"),
         r(4, 5, "u1", level="lease"), r(4, 5, "u1", level="any"), r(6, 7, "u1"),
         inc(0, 1, 1, 1, key="c"), inc(2, None, 2, None, key="c", status="unknown"),
         inc(2, None, 4, None, key="c", status="unknown"),
         r(8, 9, 3, key="c", level="bounded:100"),
         r(100, 101, "u1", final=True), r(100, 101, 3, key="c", final=True)]
    v = checker.verdict(h)
    assert v["operations"]["unknown"] == 4
    assert v["valid"] is True, (v["anomalies"], v["undecided"])
    # Neither unknown write took effect: also fine.
    h2 = [w(0, 1, "a", index=1), w(2, None, "u1", status="unknown"), r(4, 5, "a", level="lease"),
          inc(0, 1, 1, 1, key="c"), inc(2, None, 2, None, key="c", status="unknown"),
          r(100, 101, "a", final=True), r(100, 101, 1, key="c", final=True)]
    assert checker.verdict(h2)["valid"] is True
    # …but an unknown write seen, replaced, and then seen again is not.
    h3 = h[:6] + [w(10, 11, "z", index=5), r(12, 13, "u1"), r(100, 101, "z", final=True)]
    assert checker.verdict(h3)["valid"] is False


# ---------------------------------------------------------------- the write script's effects

def _script_history(listed, counter, ops=(("a:1", "ok"), ("b:2", "ok"), ("c:3", "unknown")), replicas=None):
    history = [{"id": i, "f": "script", "key": "sl0", "value": v, "status": s, "t0": i, "t1": i + 0.5}
               for i, (v, s) in enumerate(ops, 1)]
    history += [{"id": 90, "f": "read_list", "key": "sl0", "status": "ok", "result": listed, "final": True, "t0": 50},
                {"id": 91, "f": "read_counter", "key": "sc0", "status": "ok", "result": counter, "final": True, "t0": 50}]
    for n, (lst, cnt) in enumerate(replicas or [(listed, counter)] * 3):
        history += [{"id": 100 + n, "f": "replica", "key": "sl0", "node": f"n{n}", "status": "ok", "result": lst, "t0": 60},
                    {"id": 200 + n, "f": "replica", "key": "sc0", "node": f"n{n}", "status": "ok", "result": cnt, "t0": 60}]
    return history


def test_script_effects_checked_against_the_final_list_and_counter():
    ok = checker.check_scripts(_script_history(["a:1", "c:3", "b:2"], 6))
    assert (ok["lost"], ok["phantom"], ok["duplicated"], ok["not_atomic"], ok["replicas_differ"]) == ([],) * 5
    assert ok["acknowledged"] == 2
    assert checker.check_scripts(_script_history(["a:1"], 1))["lost"][0]["value"] == "b:2"
    assert checker.check_scripts(_script_history(["a:1", "b:2", "x:1"], 4))["phantom"][0]["value"] == "x:1"
    assert checker.check_scripts(_script_history(["a:1", "b:2", "b:2"], 5))["duplicated"]
    assert checker.check_scripts(_script_history(["a:1", "b:2"], 4))["not_atomic"]   # an INCRBY without its RPUSH
    differ = checker.check_scripts(_script_history(["a:1", "b:2"], 3, replicas=[(["a:1", "b:2"], 3), (["a:1"], 1)]))
    assert [r["node"] for r in differ["replicas_differ"]] == ["n1", "n1"]
    verdict = checker.verdict(_script_history(["a:1", "b:2"], 4))
    assert verdict["valid"] is False and "script_not_atomic" in verdict["anomalies"]
    assert checker.verdict(_script_history(["a:1", "b:2"], 3))["valid"] is True
