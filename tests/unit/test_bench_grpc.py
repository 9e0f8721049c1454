"""scripts/bench_grpc.py's reply tally: errors are not throughput, nil replies are misses."""

from __future__ import annotations

from raftcache.proto import commands_pb2 as pb
from scripts import bench_grpc


def test_tally_counts_hits_misses_and_errors():
    tally = bench_grpc.Tally()
    for value in (pb.Value(bulk=b"v" * 100), pb.Value(bulk=b""), pb.Value(nil=True),
                  pb.Value(error=pb.Error(reason="WRONGTYPE", message="x"))):
        tally.reply(value, is_read=True)
    tally.errors += 1  # a failed unary call
    report = tally.report(elapsed_s=1.0)
    assert report["ops"] == 3 and report["errors"] == 2 and report["ops_per_s"] == 3
    assert report["hits"] == 2 and report["misses"] == 1 and report["hit_rate"] == round(2 / 3, 4)


def test_writes_report_no_hit_rate():
    tally = bench_grpc.Tally()
    for _ in range(4):
        tally.reply(pb.Value(status="OK"), is_read=False)
    report = tally.report(elapsed_s=2.0)
    assert report == {"ops_per_s": 2, "ops": 4, "errors": 0}
