"""Property-based fuzzing of a real 3-node cluster (see docs/reliability.md, "Fuzzing")."""
