"""Operator verbs of a running node: membership changes and backups."""
