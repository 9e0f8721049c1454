"""LocalCluster fuzzing tools: hostile traffic generated with hypothesis, sent through the real clients, then checked.

- `strategies` the actions (commands, raw protocol bytes) and the known-bug strategies
- `driver`     sends actions to a real cluster through gRPC, redis-py, pymemcache and raw sockets
- `checks`     after a batch: every node alive and answering, replicas identical, canaries unchanged
- `session`    one fuzzing session: canaries, then batches, each checked

Used by scripts/fuzz_cluster.py (long runs) and tests/fuzz (short runs, the known bugs).
"""
