"""scripts/bench_memcache.py's reply classification and figures."""

from __future__ import annotations

from scripts import bench_memcache


def test_classify():
    assert bench_memcache.classify("set", b"STORED\r\n") == "ok"
    assert bench_memcache.classify("set", b"SERVER_ERROR out of memory\r\n") == "error"
    assert bench_memcache.classify("get", b"VALUE bench:1 0 3\r\nabc\r\nEND\r\n") == "hit"
    assert bench_memcache.classify("get", b"END\r\n") == "miss"
    assert bench_memcache.classify("get", b"SERVER_ERROR busy\r\n") == "error"


def test_summarize_excludes_errors_from_throughput():
    out = bench_memcache.summarize({"hit": 90, "miss": 10, "error": 50}, 2.0, [0.002, 0.001, 0.003])
    assert out["ops"] == 100 and out["errors"] == 50 and out["ops_per_s"] == 50.0
    assert out["hit_rate"] == 0.9 and out["p50_ms"] == 2.0
    assert "hit_rate" not in bench_memcache.summarize({"ok": 10}, 1.0, [0.001])
