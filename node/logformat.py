"""The node's log lines: `--log-format text` (the default) or `json`, one event per line.

Every line names the node; once Raft runs, the current term and the applied
index too (a record that passes its own `term` / `index` in `extra`, about
the entry it concerns, keeps those). JSON lines carry `ts`, `level`,
`logger`, `node`, `term`, `index`, `msg`, and `exc` (the traceback as one
string) when there is one, so a log shipper needs no multi-line parsing.

What is logged never holds a secret: passwords are hashed before they are
proposed, AUTH and CONFIG SET requirepass are redacted wherever a command is
recorded (node/service/diagnostics.py), and the cluster secret is only ever
passed to the Raft transport and the forwarder (tests/integration/
test_observability_logs.py greps a whole run's logs for them).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable

FORMATS = ("text", "json")


class NodeContext(logging.Filter):
    """Adds `node`, and `term` and `index` from `state()` (once set) unless the record has its own."""

    def __init__(self, node_id: str):
        super().__init__()
        self.node_id = node_id
        self.state: Callable[[], tuple[int, int]] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        record.node = self.node_id
        if not hasattr(record, "term") or not hasattr(record, "index"):
            term, index = (0, 0)
            if self.state is not None:
                try:
                    term, index = self.state()
                except Exception:  # noqa: BLE001 - a log line must never fail
                    pass
            if not hasattr(record, "term"):
                record.term = term
            if not hasattr(record, "index"):
                record.index = index
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        event = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "node": getattr(record, "node", ""),
            "term": getattr(record, "term", 0),
            "index": getattr(record, "index", 0),
            "msg": record.getMessage(),
        }
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        return json.dumps(event, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(node)s term=%(term)s index=%(index)s]: %(message)s"


def configure(level: str = "INFO", log_format: str = "text", node_id: str = "") -> NodeContext:
    """Send the process's log to stderr in `log_format`; returns the context filter (set its
    `state` to a callable giving (term, applied index) once Raft runs)."""
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    context = NodeContext(node_id)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(context)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    return context
