"""TEMPORARY diagnostic (not committed)."""
import time
import pytest
from raftcache.localcluster import wait_until
from tests.integration.redis_helpers import client
from tests.integration.test_eviction import _module_cluster, configure, fill, settled, MAXMEMORY  # noqa: F401


@pytest.mark.parametrize("AT", [3, 5, 10])
@pytest.mark.parametrize("change", ["to_reader", "to_other"])
def test_diag(cluster, change, AT):
    r = configure(cluster, "allkeys-lru")
    old = cluster.leader()
    reader_node = cluster.followers()[0]
    other = [n for n in cluster.followers() if n is not reader_node][0]
    follower = client(reader_node, 2)
    follower.execute_command("CLIENT", "CONSISTENCY", "any")
    hot = [f"hot{i}" for i in range(100)]
    cold = [f"cold{i}" for i in range(100)]
    r.mset({k: "h" * 100 for k in hot + cold})
    state = {"n": 0, "changed": False}

    def read_hot():
        state["n"] += 1
        missing = sum(v is None for v in follower.mget(hot))
        if missing:
            state.setdefault("miss", []).append((state["n"], missing))
        if change != "none" and not state["changed"] and state["n"] == AT:
            target = reader_node if change == "to_reader" else other
            cluster.ctl("transfer-leader", "--to", target.id)
            state["changed"] = True
        time.sleep(0.05)

    errors = fill(r, 3 * MAXMEMORY, b"x" * 400, "fill", between=read_hot)
    infos = settled(cluster)
    new = cluster.leader()
    kept_hot = sum(r.exists(k) for k in hot)
    kept_cold = sum(r.exists(k) for k in cold)
    lc = client(new, 2, decode_responses=True)
    idle = [lc.object("idletime", k) for k in cold if r.exists(k)][:10]
    print(f"\nDIAG at={AT} change={change} old={old.id} new={new.id} pipelines={state['n']} errors={len(errors)} "
          f"kept_hot={kept_hot} kept_cold={kept_cold} evicted={infos[0]['evicted_keys']} misses={state.get('miss')} "
          f"cold_idle={idle} dbsize={r.dbsize()}")
