"""Redis ACL users: the model, Redis's rules, their text forms and the permission check.

Pure functions over frozen values, shared by the state machine (which
applies ACL SETUSER/DELUSER/LOAD to the replicated users: node/commands/
acl_store.py) and the node's access checks (node/service/access.py). No
clock, no randomness, no I/O: every replica turns the same rules into the
same user.

A `User` has a root `Selector` and extra selectors (Redis 7); a command is
allowed when the root or any selector allows the command *and* every key
and channel it names. Rules follow Redis 7.2 (`ACL SETUSER`):

    on | off | nopass | resetpass | >pass | <pass | #sha256 | !sha256 | reset
    ~pattern | %R~pattern | %W~pattern | %RW~pattern | allkeys | resetkeys
    &pattern | allchannels | resetchannels
    +cmd | -cmd | +cmd|sub | -cmd|sub | +@category | -@category | allcommands | nocommands
    (selector rules ...) | clearselectors

Passwords are kept only as SHA-256 hex digests. A proposer turns `>pass`
and `<pass` into `#digest` / `!digest` (`hash_rules`) before a rule enters
the Raft log, so no plaintext is ever logged or stored. Command rules are
kept as Redis 7.2 describes them: `+@all`/`-@all` and then the later rules
in order (a rule replaces an earlier one for the same command or category).
Whether a command name exists is the front end's check (`known`); apply
takes the rules it is given.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable

from raftcache.node.storage.glob import glob_match

#: Redis's command categories (ACL CAT), in Redis's order.
CATEGORIES = ("keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap", "hyperloglog",
              "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous", "connection",
              "transaction", "scripting")
_HEX = frozenset("0123456789abcdef")
# Key access a command needs on a key (node/commands/acl_keys.py): read, write, both, or neither
# (metadata only: EXISTS, TYPE, TTL … pass any pattern that matches the key).
READ, WRITE = 1, 2


class AclError(ValueError):
    """A rule Redis refuses; `str(e)` is Redis's text (after "Error in ACL SETUSER modifier …")."""


def sha256_hex(password: bytes) -> str:
    return hashlib.sha256(password).hexdigest()


def _syntax(rule: bytes) -> AclError:
    return AclError(f"Error in ACL SETUSER modifier '{_text(rule)}': Syntax error")


def _error(rule: bytes, what: str) -> AclError:
    return AclError(f"Error in ACL SETUSER modifier '{_text(rule)}': {what}")


def _text(b: bytes) -> str:
    return b.decode("utf-8", "replace")


UNKNOWN = "Unknown command or category name in ACL"
_AFTER_ALLKEYS = ("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have "
                  "any effect. Try 'resetkeys' to start with an empty list of patterns")
_AFTER_ALLCHANNELS = ("Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not "
                      "have any effect. Try 'resetchannels' to start with an empty list of channels")
_NO_SUCH_PASSWORD = "The password you are trying to remove from the user does not exist"
_BAD_HASH = ("The password hash must be exactly 64 characters and contain only lowercase hexadecimal "
             "characters")


@dataclasses.dataclass(frozen=True, slots=True)
class KeyPattern:
    pattern: bytes
    access: int = READ | WRITE       # what keys matching it may be used for

    def text(self) -> bytes:
        prefix = {READ | WRITE: b"~", READ: b"%R~", WRITE: b"%W~"}[self.access]
        return prefix + self.pattern


@dataclasses.dataclass(frozen=True, slots=True)
class Selector:
    """Commands, keys and channels one selector allows."""

    all_commands: bool = False                 # the base: +@all or -@all
    rules: tuple[bytes, ...] = ()              # later +x / -x rules, in order
    keys: tuple[KeyPattern, ...] = ()
    channels: tuple[bytes, ...] = ()

    @property
    def all_keys(self) -> bool:
        return any(k.pattern == b"*" and k.access == READ | WRITE for k in self.keys)

    @property
    def all_channels(self) -> bool:
        return b"*" in self.channels

    @property
    def unrestricted(self) -> bool:
        return self.all_commands and not self.rules and self.all_keys and self.all_channels

    def describe(self) -> bytes:
        """Redis's text of the selector: keys, channels, commands (ACL LIST)."""
        parts = [b"~*"] if self.all_keys else [k.text() for k in self.keys]
        parts += [b"&*"] if self.all_channels else [b"resetchannels", *(b"&" + c for c in self.channels)]
        parts.append(self.command_rules())
        return b" ".join(parts)

    def command_rules(self) -> bytes:
        return b" ".join([b"+@all" if self.all_commands else b"-@all", *self.rules])

    def key_text(self) -> bytes:
        return b"~*" if self.all_keys else b" ".join(k.text() for k in self.keys)

    def channel_text(self) -> bytes:
        return b"&*" if self.all_channels else b" ".join(b"&" + c for c in self.channels)


@dataclasses.dataclass(frozen=True, slots=True)
class User:
    name: str
    enabled: bool = False
    nopass: bool = False
    passwords: tuple[str, ...] = ()          # SHA-256 hex digests, in the order added
    root: Selector = Selector()
    selectors: tuple[Selector, ...] = ()
    #: Every command on every key and channel: no check is needed (derived, kept for the hot path).
    unrestricted: bool = dataclasses.field(default=False, init=False, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "unrestricted", self.root.unrestricted)

    def describe(self) -> bytes:
        """The user as ACL LIST and ACL SAVE write it (Redis's format)."""
        parts = [b"user", self.name.encode(), b"on" if self.enabled else b"off"]
        if self.nopass:
            parts.append(b"nopass")
        parts += [b"#" + h.encode() for h in self.passwords]
        parts.append(self.root.describe())
        parts += [b"(" + s.describe() + b")" for s in self.selectors]
        return b" ".join(parts)

    def check_password(self, password: bytes) -> bool:
        """Whether `password` opens this user (on, and nopass or a matching hash)."""
        if not self.enabled:
            return False
        if self.nopass:
            return True
        digest = sha256_hex(password)
        return any(hmac.compare_digest(digest, h) for h in self.passwords)


#: A new user, as ACL SETUSER creates it: off, no password, no commands, keys or channels.
def new_user(name: str) -> User:
    return User(name)


#: The default user of a node with no ACL configured: on, nopass, everything.
def default_user(password_hash: str = "") -> User:
    everything = Selector(all_commands=True, keys=(KeyPattern(b"*"),), channels=(b"*",))
    if password_hash:
        return User("default", enabled=True, passwords=(password_hash,), root=everything)
    return User("default", enabled=True, nopass=True, root=everything)


def valid_username(name: bytes) -> bool:
    return bool(name) and b" " not in name and b"\0" not in name


def check_username(name: bytes) -> str:
    if not valid_username(name):
        raise AclError("Usernames can't contain spaces or null characters")
    try:
        return name.decode("utf-8")
    except UnicodeDecodeError:
        raise AclError("Usernames must be valid UTF-8") from None


# ---------------------------------------------------------------- rules

def hash_rules(rules: Iterable[bytes]) -> list[bytes]:
    """`>pass` -> `#sha256`, `<pass` -> `!sha256`: what a proposer puts in the log."""
    out = []
    for rule in rules:
        if rule[:1] == b">":
            rule = b"#" + sha256_hex(rule[1:]).encode()
        elif rule[:1] == b"<":
            rule = b"!" + sha256_hex(rule[1:]).encode()
        out.append(rule)
    return out


def merge_selectors(args: Iterable[bytes]) -> list[bytes]:
    """Join the arguments of a `(…)` selector that spans several arguments, as Redis does."""
    out: list[bytes] = []
    open_at: list[bytes] | None = None
    for arg in args:
        if open_at is None and arg[:1] == b"(" and arg[-1:] != b")":
            open_at = [arg]
        elif open_at is not None:
            open_at.append(arg)
            if arg[-1:] == b")":
                out.append(b" ".join(open_at))
                open_at = None
        else:
            out.append(arg)
    if open_at is not None:
        raise AclError(f"Unmatched parenthesis in acl selector starting at '{_text(open_at[0])}'.")
    return out


def apply_rules(user: User, rules: Iterable[bytes], known: Callable[[bytes], bool] | None = None) -> User:
    """`user` with `rules` applied in order (ACL SETUSER); AclError leaves nothing changed.

    `known(name)`: whether a command (or `command|subcommand`) exists; None
    accepts any name (apply: the proposer checked).
    """
    for rule in merge_selectors(rules):
        user = _apply_rule(user, rule, known)
    return user


def _apply_rule(user: User, rule: bytes, known) -> User:
    lower = rule.lower()
    if lower == b"on":
        return dataclasses.replace(user, enabled=True)
    if lower == b"off":
        return dataclasses.replace(user, enabled=False)
    if lower == b"nopass":
        return dataclasses.replace(user, nopass=True, passwords=())
    if lower == b"resetpass":
        return dataclasses.replace(user, nopass=False, passwords=())
    if lower == b"reset":
        return User(user.name)
    if lower in (b"sanitize-payload", b"skip-sanitize-payload"):
        return user  # no RESTORE here: nothing to sanitize
    if lower == b"clearselectors":
        return dataclasses.replace(user, selectors=())
    first = rule[:1]
    if first in (b">", b"#"):
        digest = sha256_hex(rule[1:]) if first == b">" else _check_hash(rule)
        passwords = user.passwords if digest in user.passwords else (*user.passwords, digest)
        return dataclasses.replace(user, nopass=False, passwords=passwords)
    if first in (b"<", b"!"):
        digest = sha256_hex(rule[1:]) if first == b"<" else _check_hash(rule)
        if digest not in user.passwords:
            raise _error(rule, _NO_SUCH_PASSWORD)
        return dataclasses.replace(user, passwords=tuple(h for h in user.passwords if h != digest))
    if first == b"(":
        if rule[-1:] != b")":
            raise AclError(f"Unmatched parenthesis in acl selector starting at '{_text(rule)}'.")
        selector = Selector()
        for part in rule[1:-1].split():
            selector = _apply_selector_rule(selector, part, known, rule)
        return dataclasses.replace(user, selectors=(*user.selectors, selector))
    return dataclasses.replace(user, root=_apply_selector_rule(user.root, rule, known, rule))


def _check_hash(rule: bytes) -> str:
    digest = rule[1:].decode("latin-1")
    if len(digest) != 64 or not set(digest) <= _HEX:
        raise _error(rule, _BAD_HASH)
    return digest


def _apply_selector_rule(sel: Selector, rule: bytes, known, whole: bytes) -> Selector:
    lower = rule.lower()
    if lower in (b"allkeys", b"~*"):
        return dataclasses.replace(sel, keys=(KeyPattern(b"*"),))
    if lower == b"resetkeys":
        return dataclasses.replace(sel, keys=())
    if lower in (b"allchannels", b"&*"):
        return dataclasses.replace(sel, channels=(b"*",))
    if lower == b"resetchannels":
        return dataclasses.replace(sel, channels=())
    if lower in (b"allcommands", b"+@all"):
        return dataclasses.replace(sel, all_commands=True, rules=())
    if lower in (b"nocommands", b"-@all"):
        return dataclasses.replace(sel, all_commands=False, rules=())
    first = rule[:1]
    if first == b"~" or first == b"%":
        access, pattern = _key_rule(rule)
        if sel.all_keys:
            raise _error(whole, _AFTER_ALLKEYS)
        keys = list(sel.keys)
        for i, existing in enumerate(keys):
            if existing.pattern == pattern:
                keys[i] = KeyPattern(pattern, existing.access | access)
                break
        else:
            keys.append(KeyPattern(pattern, access))
        return dataclasses.replace(sel, keys=tuple(keys))
    if first == b"&":
        if sel.all_channels:
            raise _error(whole, _AFTER_ALLCHANNELS)
        pattern = rule[1:]
        channels = sel.channels if pattern in sel.channels else (*sel.channels, pattern)
        return dataclasses.replace(sel, channels=channels)
    if first in (b"+", b"-") and len(rule) > 1:
        target = lower[1:]
        if target[:1] == b"@":
            if target[1:].decode("latin-1") not in CATEGORIES:
                raise _error(whole, UNKNOWN)
        elif known is not None and not known(target):
            raise _error(whole, UNKNOWN)
        rules = tuple(r for r in sel.rules if r[1:] != target)
        return dataclasses.replace(sel, rules=(*rules, first + target))
    raise _syntax(whole)


def _key_rule(rule: bytes) -> tuple[int, bytes]:
    if rule[:1] == b"~":
        return READ | WRITE, rule[1:]
    flags, sep, pattern = rule[1:].partition(b"~")
    access = 0
    for c in flags.upper():
        if c == ord("R"):
            access |= READ
        elif c == ord("W"):
            access |= WRITE
        else:
            raise _syntax(rule)
    if not sep or not access:
        raise _syntax(rule)
    return access, pattern


# ---------------------------------------------------------------- checks

#: Why a command was refused, in Redis's order of relevance (a later kind wins).
DENIED_COMMAND, DENIED_KEY, DENIED_CHANNEL = 1, 2, 4


@dataclasses.dataclass(frozen=True, slots=True)
class Denial:
    kind: int          # DENIED_COMMAND | DENIED_KEY | DENIED_CHANNEL
    object: bytes      # the command name, key or channel refused


def command_allowed(sel: Selector, name: str, categories: frozenset[str], parent: str = "") -> bool:
    """Whether the selector's command rules allow `name` (`cmd` or `cmd|sub`; `parent` is `cmd`
    for a subcommand) of `categories`: the base, then each rule that names it, in order."""
    allowed = sel.all_commands
    for rule in sel.rules:
        target = rule[1:].decode("latin-1")
        if target[:1] == "@":
            hit = target[1:] in categories
        else:
            hit = target == name or (parent != "" and target == parent)
        if hit:
            allowed = rule[:1] == b"+"
    return allowed


def _key_allowed(sel: Selector, key: bytes, access: int) -> bool:
    for p in sel.keys:
        if p.access & access == access and (p.pattern == b"*" or glob_match(p.pattern, key)):
            return True
    return False


def _channel_allowed(sel: Selector, channel: bytes, literal: bool = False) -> bool:
    for p in sel.channels:
        if p == b"*" or (p == channel if literal else glob_match(p, channel)):
            return True
    return False


def _check_selector(sel: Selector, name: str, categories, parent, keys, channels) -> tuple[int, int, bytes] | None:
    if not command_allowed(sel, name, categories, parent):
        return DENIED_COMMAND, 0, name.encode()
    if keys and not sel.all_keys:
        for i, (key, access) in enumerate(keys):
            if not _key_allowed(sel, key, access):
                return DENIED_KEY, i, key
    if channels and not sel.all_channels:
        for i, (channel, literal) in enumerate(channels):
            if not _channel_allowed(sel, channel, literal):
                return DENIED_CHANNEL, i, channel
    return None


def check(user: User, name: str, categories: frozenset[str], keys: list[tuple[bytes, int]] = (),
          channels: list[tuple[bytes, bool]] = (), parent: str = "") -> Denial | None:
    """None when `user` may run command `name` on `keys` ((key, READ|WRITE|0) pairs) and
    `channels` ((channel, is_pattern_subscription) pairs); else why not.

    The root selector or any other one must allow it whole. When none does,
    the denial is Redis's most relevant one: a channel over a key over the
    command, and among equals the later argument.
    """
    best: tuple[int, int, bytes] | None = None
    for sel in (user.root, *user.selectors):
        denied = _check_selector(sel, name, categories, parent, keys, channels)
        if denied is None:
            return None
        if best is None or denied[:2] > best[:2]:
            best = denied
    return Denial(best[0], best[2])


# ---------------------------------------------------------------- ACL GETUSER, storage

def denial_text(username: str, denial: Denial) -> str:
    """Redis 7.2's -NOPERM text (without the prefix, which each front end adds)."""
    if denial.kind == DENIED_COMMAND:
        return f"User {username} has no permissions to run the '{denial.object.decode('utf-8', 'replace')}' command"
    if denial.kind == DENIED_KEY:
        return "No permissions to access a key"
    return "No permissions to access a channel"


def getuser_reply(user: User) -> list:
    """ACL GETUSER's reply as (name, value) pairs (rendered as a map)."""
    flags = [b"on" if user.enabled else b"off"] + ([b"nopass"] if user.nopass else [])
    selectors = [[(b"commands", s.command_rules()), (b"keys", s.key_text()), (b"channels", s.channel_text())]
                 for s in user.selectors]
    return [(b"flags", flags), (b"passwords", [h.encode() for h in user.passwords]),
            (b"commands", user.root.command_rules()), (b"keys", user.root.key_text()),
            (b"channels", user.root.channel_text()), (b"selectors", selectors)]


def _selector_json(sel: Selector) -> dict:
    return {"all": sel.all_commands, "rules": [r.decode("latin-1") for r in sel.rules],
            "keys": [[k.pattern.decode("latin-1"), k.access] for k in sel.keys],
            "channels": [c.decode("latin-1") for c in sel.channels]}


def _selector_from(data: dict) -> Selector:
    return Selector(all_commands=bool(data["all"]), rules=tuple(r.encode("latin-1") for r in data["rules"]),
                    keys=tuple(KeyPattern(p.encode("latin-1"), int(a)) for p, a in data["keys"]),
                    channels=tuple(c.encode("latin-1") for c in data["channels"]))


def encode(user: User) -> bytes:
    """The stored form of a user (JSON; password digests only)."""
    return json.dumps({"name": user.name, "on": user.enabled, "nopass": user.nopass,
                       "passwords": list(user.passwords), "root": _selector_json(user.root),
                       "selectors": [_selector_json(s) for s in user.selectors]},
                      separators=(",", ":"), sort_keys=True).encode()


def decode(data: bytes) -> User:
    d = json.loads(data)
    return User(d["name"], enabled=bool(d["on"]), nopass=bool(d["nopass"]), passwords=tuple(d["passwords"]),
                root=_selector_from(d["root"]), selectors=tuple(_selector_from(s) for s in d["selectors"]))


# ---------------------------------------------------------------- ACL files (ACL LOAD / SAVE, --aclfile)

def parse_file(text: bytes, known: Callable[[bytes], bool] | None = None) -> list[tuple[str, list[bytes]]]:
    """The users of an ACL file in Redis's format (`user NAME rule …` per line, `#` comments):
    [(name, hashed rules)]. Raises AclError naming the line of the first problem."""
    users: list[tuple[str, list[bytes]]] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words or words[0].startswith(b"#"):
            continue
        if words[0] != b"user" or len(words) < 2:
            raise AclError(f"line {number}: should start with user keyword")
        try:
            name = check_username(words[1])
            if name in seen:
                raise AclError("Duplicate user found. A user can only be defined once in config files")
            rules = words[2:]
            apply_rules(new_user(name), rules, known)  # refuse the whole file on any bad rule
        except AclError as e:
            raise AclError(f"line {number}: {e}") from None
        seen.add(name)
        users.append((name, hash_rules(rules)))
    return users
