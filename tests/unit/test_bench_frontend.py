"""scripts/bench_frontend.py: every case runs through the real front end and checks its replies."""

from __future__ import annotations

import pytest

from scripts import bench_frontend


def test_every_case_answers_every_request_and_counts_them():
    out = bench_frontend.main(["--connections", "3", "--turns", "2", "--rounds", "2", "--keys", "20"])
    assert set(out["cases"]) == set(bench_frontend.CASES) and out["command"].startswith("python")
    for case, figures in out["cases"].items():
        assert (figures["requests"], figures["replies"], figures["bad_replies"]) == (12, 12, 0), case
        assert 0 < figures["wall_us_min"] <= figures["wall_us_median"], case


def test_replies_are_checked_and_unknown_cases_refused():
    assert bench_frontend.reply_ok("set", b"+OK\r\n") and not bench_frontend.reply_ok("set", b"-ERR x\r\n")
    assert bench_frontend.reply_ok("get-any", b"$-1\r\n") and not bench_frontend.reply_ok("get-any", b"-ERR x\r\n")
    with pytest.raises(SystemExit):
        bench_frontend.parse_args(["--cases", "get-any,get-sometimes"])
