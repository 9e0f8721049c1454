"""The raftcache server: keyspace, state machine, replication, service and front ends."""
