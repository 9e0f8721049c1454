"""Replication: PySyncObj wiring, the durable journal, the peer transport and its guards."""
