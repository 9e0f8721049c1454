"""The scripts restricted users send through this node, kept so that their ACL refusals reach its ACL LOG.

A script a restricted user sends names the node the user is connected to and
a number (Eval.caller, "<node id>\\n<n>": `stamp`); that node keeps the sending
connection's CLIENT INFO line as it was then under that number (the most
recent SCRIPT_CALLERS_KEPT). When a command of the script is refused by the
caller's ACL — at apply on every replica, or in a read-only run here — only
that node writes the ACL LOG entry (context "lua") with the line, on its
event loop. Owned by the Service (node/service/service.py). Must not touch:
the keyspace, the log.
"""

from __future__ import annotations

import collections
import functools
import logging
from typing import Callable

log = logging.getLogger(__name__)

#: Client info lines of the scripts that named this node (Eval.caller) kept for the ACL LOG: the
#: most recent ones, at most this many.
SCRIPT_CALLERS_KEPT = 1024


class ScriptCallers:
    """Eval.caller's bookkeeping on the node the caller is connected to (module docstring)."""

    def __init__(self, node_id: str, identity, completions: Callable[[], object]):
        self._node_id = node_id
        self._identity = identity            # node/service/identity.Identity: writes the ACL LOG
        self._completions = completions      # -> the loop's waiters.Completions, None before it runs
        self._lines: collections.OrderedDict[int, str] = collections.OrderedDict()
        self._sent = 0

    def stamp(self, client_info: str) -> str:
        """Eval.caller of a script a restricted user sends through this node: "<node id>\\n<n>",
        the number under which this node keeps the sending connection's `client_info` line
        as it is now (the entry does not carry it)."""
        self._sent += 1
        lines = self._lines
        lines[self._sent] = client_info
        if len(lines) > SCRIPT_CALLERS_KEPT:
            lines.popitem(last=False)
        return f"{self._node_id}\n{self._sent}"

    def denied(self, caller: str, username: str, denial) -> None:
        """A script's command its caller's ACL refused (at apply on every replica, or in a
        read-only run here): an ACL LOG entry, context "lua", on the node the caller is
        connected to, written on the event loop (apply may run on PySyncObj's own thread).
        Never raises: apply calls it."""
        node, _, sent = caller.partition("\n")
        if node != self._node_id:
            return
        try:
            record = functools.partial(self._record, sent, username, denial)
            completions = self._completions()
            if completions is None:
                record()
            else:
                completions.call(record)
        except Exception:  # noqa: BLE001 - node-local bookkeeping must not change an apply's outcome
            log.exception("recording a script's ACL refusal in the ACL LOG failed")

    def _record(self, sent: str, username: str, denial) -> None:
        client_info = self._lines.get(int(sent)) if sent.isdigit() else None
        self._identity.record_denial(denial, "lua", username, client_info or "")
