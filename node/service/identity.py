"""Who a connection is and what it may do, the same on every port: the node's view of the ACL users.

The users are the replicated ones (node/commands/acl_store.py); while the
cluster has never changed the default user, this node's default user is
Redis's (`on nopass ~* &* +@all`) with its `--redis-password` (or a
`requirepass` an older version stored) as the password. A connection starts
as `default` when that user is on and needs no password (`login_user`),
else unauthenticated until AUTH (Redis), memcached's auth `set`, gRPC
credentials in metadata or a client certificate (`certificate_user`).

`check` answers whether a user may run a command on its keys and channels
(node/commands/acl.py) and records refusals in the ACL LOG, per node as in
Redis. `without_passwords` rewrites a command so that no password reaches
the log, a forwarded request or the users in the clear (ACL rules as
digests, CONFIG SET requirepass as the default user's rules). The front ends say which command and keys a request is
(node/frontends/acl_catalog.py); nothing here parses a protocol.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from raftcache.node.commands import acl
from raftcache.node.config import settings
from raftcache.node.errors import RaftcacheError, Reason
from raftcache.proto import commands_pb2 as pb

#: ACL LOG entries of the same reason, context, object and user within this many seconds are one entry.
_GROUP_S = 60.0
_REASONS = {acl.DENIED_COMMAND: "command", acl.DENIED_KEY: "key", acl.DENIED_CHANNEL: "channel"}


class AuthError(RaftcacheError):
    """AUTH refused: Redis's WRONGPASS (or the text of another refusal)."""

    reason = Reason.UNAUTHENTICATED


WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."


@dataclasses.dataclass
class LogEntry:
    """One ACL LOG entry (Redis 7.2's fields)."""

    entry_id: int
    reason: str            # command | key | channel | auth
    context: str           # toplevel | multi
    object: str
    username: str
    client_info: str
    created_s: float
    updated_s: float
    count: int = 1


class Identity:
    """The ACL in force on this node (see the module docstring)."""

    def __init__(self, node_password: str, users: dict[str, acl.User], settings_of: Callable[[str], str]):
        self._node_password = node_password
        self._setting = settings_of
        self._replicated: dict[str, acl.User] = {}
        self.users: dict[str, acl.User] = {}
        #: Bumped on every change of the users: connections cache their User against it.
        self.generation = 0
        self.log: list[LogEntry] = []
        self._next_log_id = 0
        self.users_changed(users)

    # ------------------------------------------------------------ the users

    def users_changed(self, replicated: dict[str, acl.User]) -> None:
        """The replicated users changed (Raft thread: reference assignments only)."""
        users = dict(replicated)
        if "default" not in users:
            users["default"] = acl.default_user(self._fallback_digest())
        self._replicated = replicated
        self.users = users
        self.generation += 1

    def _fallback_digest(self) -> str:
        """The node's own default password (digest) while no default user is replicated:
        --redis-password, else a plaintext requirepass an older version stored."""
        password = self._node_password or self._legacy_requirepass()
        return acl.sha256_hex(password.encode()) if password else ""

    def _legacy_requirepass(self) -> str:
        try:
            value = self._setting("requirepass")
        except KeyError:
            return ""
        return "" if value.startswith("#") else value

    def default_rules_prefix(self) -> list[bytes]:
        """Rules a proposer puts before a change of the default user: while none is replicated,
        this node's password, so that apply, which starts from Redis's default, ends where
        this node's view does."""
        if "default" in self._replicated:
            return []
        digest = self._fallback_digest()
        return [b"resetpass", b"#" + digest.encode()] if digest else []

    def without_passwords(self, command: pb.Command) -> pb.Command:
        """`command` with no password in the clear: ACL rules `>pass`/`<pass` as digests, CONFIG SET
        requirepass as the default user's rules (node/commands/acl.py); the same command when it
        holds none. What the log, the forwarding RPC and the ACL users ever see."""
        name = command.WhichOneof("op")
        if name == "config_set" and any(p.name == "requirepass" for p in command.config_set.parameters):
            out = pb.Command()
            out.CopyFrom(command)
            pairs = out.config_set.parameters
            password = [p.value for p in pairs if p.name == "requirepass"][-1]
            kept = [p for p in pairs if p.name != "requirepass"]
            out.config_set.ClearField("parameters")
            out.config_set.parameters.extend(kept)
            out.config_set.default_user_rules.extend(self.default_rules_prefix() + settings.requirepass_rules(password))
            return out
        if name == "acl_set_user":
            out = pb.Command()
            out.CopyFrom(command)
            rules = acl.hash_rules(out.acl_set_user.rules)
            if out.acl_set_user.name == "default":
                rules = self.default_rules_prefix() + rules
            out.acl_set_user.ClearField("rules")
            out.acl_set_user.rules.extend(rules)
            return out
        if name == "acl_load":
            out = pb.Command()
            out.CopyFrom(command)
            for user in out.acl_load.users:
                rules = acl.hash_rules(user.rules)
                user.ClearField("rules")
                user.rules.extend(rules)
            return out
        return command

    def requirepass_text(self) -> str:
        """CONFIG GET requirepass: the default user's first password digest (`#hex`), "" for nopass."""
        user = self.users["default"]
        return "" if user.nopass or not user.passwords else "#" + user.passwords[0]

    def user(self, name: str | None) -> acl.User | None:
        return self.users.get(name) if name is not None else None

    @property
    def auth_required(self) -> bool:
        return self.login_user() is None

    def login_user(self) -> str | None:
        """Who a new connection is before it authenticates: `default` when that user is on
        and has nopass (Redis), else nobody."""
        default = self.users["default"]
        return "default" if default.enabled and default.nopass else None

    def authenticate(self, username: bytes | None, password: bytes, client_info: str = "") -> str:
        """The user `username` (None: `default`) with `password`; AuthError (WRONGPASS) otherwise,
        recorded in the ACL LOG."""
        name = (username or b"default").decode("utf-8", "replace")
        user = self.users.get(name)
        if user is None or not user.check_password(password):
            self.record("auth", "toplevel", "AUTH", name, client_info)
            raise AuthError(WRONGPASS)
        return name

    def certificate_user(self, common_name: str | None) -> str | None:
        """The user a verified client certificate's CN names (Redis 8.6 `tls-auth-clients-user CN`),
        when it exists and is on; else the default login."""
        if common_name:
            user = self.users.get(common_name)
            if user is not None and user.enabled:
                return common_name
        return self.login_user()

    # ------------------------------------------------------------ checks

    def check(self, username: str | None, name: str, categories: frozenset[str], keys=(), channels=(),
              parent: str = "", context: str = "toplevel", client_info: str = "") -> RaftcacheError | None:
        """None when the user may run `name` on `keys`/`channels`; else the -NOPERM error
        (Redis 7.2's text), recorded in the ACL LOG."""
        user = self.user(username)
        if user is None:
            return RaftcacheError("Authentication required.", Reason.UNAUTHENTICATED)
        if user.unrestricted:
            return None
        denial = acl.check(user, name, categories, keys, channels, parent)
        if denial is None:
            return None
        self.record_denial(denial, context, username, client_info)
        return RaftcacheError(acl.denial_text(username, denial), Reason.NO_PERMISSION)

    def record_denial(self, denial: acl.Denial, context: str, username: str, client_info: str) -> None:
        """Add an ACL refusal (a command, key or channel) to the ACL LOG."""
        self.record(_REASONS[denial.kind], context, denial.object.decode("utf-8", "replace"), username, client_info)

    def record(self, reason: str, context: str, obj: str, username: str, client_info: str) -> None:
        """Add a refusal to the ACL LOG (a repeat within a minute counts on the same entry)."""
        now = time.time()
        for i, entry in enumerate(self.log):
            if (entry.reason, entry.context, entry.object, entry.username) == (reason, context, obj, username) \
                    and now - entry.updated_s < _GROUP_S:
                entry.count += 1
                entry.updated_s = now
                entry.client_info = client_info
                self.log.insert(0, self.log.pop(i))
                return
        self.log.insert(0, LogEntry(self._next_log_id, reason, context, obj, username, client_info, now, now))
        self._next_log_id += 1
        del self.log[max(int(self._setting("acllog-max-len")), 0):]


def dryrun_text(denial: acl.Denial) -> str:
    """ACL DRYRUN's text for a refusal (Redis's, which names the key or channel)."""
    obj = denial.object.decode("utf-8", "replace")
    if denial.kind == acl.DENIED_COMMAND:
        return f"This user has no permissions to run the '{obj}' command"
    what = "key" if denial.kind == acl.DENIED_KEY else "channel"
    return f"This user has no permissions to access the '{obj}' {what}"

