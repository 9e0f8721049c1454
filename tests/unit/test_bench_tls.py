"""scripts/bench_tls.py's pure parts: the TLS command line and the target's arithmetic."""

from __future__ import annotations

from scripts import bench_tls


def test_tls_argv_adds_the_ca_to_redis_benchmark():
    argv = bench_tls.tls_argv(["redis-benchmark", "-p", "7001", "-t", "get"], "/x/ca.crt")
    assert argv[:4] == ["redis-benchmark", "--tls", "--cacert", "/x/ca.crt"] and argv[-2:] == ["-t", "get"]


def test_ratios_compare_the_tls_ratio_with_the_plaintext_one():
    def row(rc_plain, rc_tls, redis_plain, redis_tls):
        return {"raftcache": {"plain": {"ops_per_s": rc_plain}, "tls": {"ops_per_s": rc_tls}},
                "redis": {"plain": {"ops_per_s": redis_plain}, "tls": {"ops_per_s": redis_tls}}}

    out = bench_tls.ratios({"GET -P 1": row(50, 40, 100, 80), "SET -P 1": row(50, 30, 100, 100),
                            "broken": {"raftcache": {"plain": {"error": "x"}}}})
    assert out["GET -P 1"] == {"ratio_plain": 0.5, "ratio_tls": 0.5, "tls_vs_plain": 1.0, "target": 0.8, "met": True}
    assert out["SET -P 1"]["met"] is False and out["SET -P 1"]["tls_vs_plain"] == 0.6
    assert out["broken"] == {"error": "a case failed"}
