"""The replicated ACL users: ACL SETUSER / DELUSER / LOAD applied to the keyspace's meta table.

Each user is one meta record, `acl/user/<name>` -> node/commands/acl.encode
(password SHA-256 digests only), written in the same transaction as the
entry's applied index, so snapshots, backups and restores carry the users
and every replica holds the same ones. `users` is the in-memory copy the node
serves from, replaced whole (never mutated) when it changes, so the event
loop may read it while the Raft thread applies.

A cluster that never changed the default user has no record for it: each
node then uses its own `--redis-password` (node/service/access.py). The first
change of the default user starts from Redis's default (`on nopass ~* &*
+@all`); a proposer whose node has a password puts `resetpass #digest`
first, so the entry alone decides the result (apply is deterministic).
"""

from __future__ import annotations

from raftcache.node.commands import OK, acl
from raftcache.node.errors import CommandError, Reason
from raftcache.proto import commands_pb2 as pb

_USER = b"acl/user/"
_MAX_USERS = 1 << 20


def _refused(e: acl.AclError) -> CommandError:
    return CommandError(str(e), Reason.INVALID_ARGUMENT)


def base_user(name: str, users: dict[str, acl.User]) -> acl.User:
    """What ACL SETUSER `name` starts from: the user, or a new one (default: Redis's default)."""
    user = users.get(name)
    if user is not None:
        return user
    return acl.default_user() if name == "default" else acl.new_user(name)


#: stored record -> its user: a script looks its caller up at every run, and decoding costs ~7 µs
_DECODED: dict[bytes, acl.User] = {}
_DECODED_MAX = 64


def stored_user(txn, name: str) -> acl.User | None:
    """The user `name` as the keyspace holds it (None: never stored, or deleted)."""
    raw = txn.meta_get(_USER + name.encode())
    if raw is None:
        return None
    user = _DECODED.get(raw)
    if user is None:
        if len(_DECODED) >= _DECODED_MAX:
            _DECODED.clear()
        user = _DECODED[raw] = acl.decode(raw)
    return user


class AclStore:
    """The users a state machine applied (see the module docstring)."""

    def __init__(self):
        self.users: dict[str, acl.User] = {}

    def load(self, txn) -> dict[str, acl.User]:
        """Read the users from the keyspace (start, snapshot install, a rolled-back apply)."""
        self.users = {name[len(_USER):].decode(): acl.decode(value) for name, value in txn.meta_range(_USER, _MAX_USERS)}
        return self.users

    def _put(self, txn, users: dict[str, acl.User], changed: list[acl.User], deleted: list[str]) -> None:
        for user in changed:
            txn.meta_put(_USER + user.name.encode(), acl.encode(user))
        for name in deleted:
            txn.meta_delete(_USER + name.encode())
        self.users = users

    def set_user(self, txn, op: pb.AclSetUser) -> object:
        try:
            name = acl.check_username(op.name.encode())
            user = acl.apply_rules(base_user(name, self.users), _plain(op.rules))
        except acl.AclError as e:
            return _refused(e)
        self._put(txn, {**self.users, name: user}, [user], [])
        return OK

    def set_default_rules(self, txn, rules) -> CommandError | None:
        """CONFIG SET requirepass's rules for the default user; an error changes nothing."""
        try:
            user = acl.apply_rules(base_user("default", self.users), _plain(rules))
        except acl.AclError as e:
            return _refused(e)
        self._put(txn, {**self.users, "default": user}, [user], [])
        return None

    def del_users(self, txn, op: pb.AclDelUser) -> object:
        if "default" in op.names:
            return CommandError("The 'default' user cannot be removed", Reason.INVALID_ARGUMENT)
        gone = [name for name in dict.fromkeys(op.names) if name in self.users]
        self._put(txn, {n: u for n, u in self.users.items() if n not in gone}, [], gone)
        return len(gone)

    def load_all(self, txn, op: pb.AclLoad) -> object:
        """Replace every user (ACL LOAD): all of them or, on any bad rule, none."""
        users: dict[str, acl.User] = {}
        try:
            for entry in op.users:
                name = acl.check_username(entry.name.encode())
                if name in users:
                    raise acl.AclError("Duplicate user found. A user can only be defined once in config files")
                start = acl.default_user() if name == "default" else acl.new_user(name)
                users[name] = acl.apply_rules(start, _plain(entry.rules))
        except acl.AclError as e:
            return _refused(e)
        users.setdefault("default", acl.default_user())
        self._put(txn, users, list(users.values()), [n for n in self.users if n not in users])
        return OK


def _plain(rules) -> list[bytes]:
    """Rules from the log: a password in the clear (`>x`, `<x`) never belongs there; refuse it."""
    rules = list(rules)
    for rule in rules:
        if rule[:1] in (b">", b"<"):
            raise acl.AclError("passwords must be hashed (#sha256) before they are proposed")
    return rules
