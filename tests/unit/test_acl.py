"""ACL users: Redis 7.2's rules, texts and checks (node/commands/acl.py), the keys a command
uses (acl_keys.py), the replicated store (acl_store.py) and the node's view (service/access.py)."""

from __future__ import annotations

import pytest

from raftcache.node.commands import acl
from raftcache.node.commands.acl import READ, WRITE, AclError, apply_rules, check, new_user
from raftcache.node.commands.acl_keys import access_keys
from raftcache.node.frontends import acl_catalog
from raftcache.node.frontends.resp_table import TABLE
from raftcache.node.commands.acl import denial_text
from raftcache.node.service.identity import Identity, dryrun_text
from raftcache.proto import commands_pb2 as pb

SHA_PW = acl.sha256_hex(b"pw")


def user(*rules: bytes, known=acl_catalog.known) -> acl.User:
    return apply_rules(new_user("alice"), list(rules), known)


def allowed(u: acl.User, name: str, keys=(), parent: str = "") -> bool:
    return check(u, name, acl_catalog.categories(name), list(keys), parent=parent) is None


# ---------------------------------------------------------------- rules and their texts (redis-server 7.2)

def test_a_new_user_is_off_with_nothing_allowed():
    u = new_user("bob")
    assert u.describe() == b"user bob off resetchannels -@all"
    assert not u.check_password(b"")


def test_the_describe_line_is_redis_s():
    u = user(b"on", b">pw", b"~app:*", b"%R~ro:*", b"&chan*", b"+@read", b"-@dangerous", b"+set", b"(+get", b"~sel*)")
    assert u.describe() == (b"user alice on #" + SHA_PW.encode() + b" ~app:* %R~ro:* resetchannels &chan* "
                            b"-@all +@read -@dangerous +set (~sel* resetchannels -@all +get)")
    assert acl.default_user().describe() == b"user default on nopass ~* &* +@all"


def test_getuser_fields():
    u = user(b"on", b"nopass", b"~k*", b"+get", b"(+set ~s*)")
    reply = dict(acl.getuser_reply(u))
    assert reply[b"flags"] == [b"on", b"nopass"]
    assert reply[b"passwords"] == []
    assert reply[b"commands"] == b"-@all +get"
    assert reply[b"keys"] == b"~k*"
    assert reply[b"channels"] == b""
    assert reply[b"selectors"] == [[(b"commands", b"-@all +set"), (b"keys", b"~s*"), (b"channels", b"")]]


def test_passwords_are_kept_as_digests_only():
    u = user(b"on", b">pw", b"#" + acl.sha256_hex(b"other").encode())
    assert u.passwords == (SHA_PW, acl.sha256_hex(b"other"))
    assert b"pw" not in acl.encode(u).replace(SHA_PW.encode(), b"")
    assert u.check_password(b"pw") and u.check_password(b"other") and not u.check_password(b"nope")
    assert apply_rules(u, [b"<pw"]).passwords == (acl.sha256_hex(b"other"),)
    assert apply_rules(u, [b"nopass"]).check_password(b"anything")
    assert apply_rules(u, [b"resetpass"]).passwords == () and not apply_rules(u, [b"resetpass"]).check_password(b"pw")
    assert not apply_rules(u, [b"off"]).check_password(b"pw")


def test_a_proposer_hashes_passwords_before_the_log():
    assert acl.hash_rules([b">pw", b"<pw", b"~*", b"on"]) == [b"#" + SHA_PW.encode(), b"!" + SHA_PW.encode(),
                                                              b"~*", b"on"]


@pytest.mark.parametrize("rules, error", [
    ([b"~*", b"~foo"], "Error in ACL SETUSER modifier '~foo': Adding a pattern after the * pattern (or the "
                       "'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with "
                       "an empty list of patterns"),
    ([b"+foo"], "Error in ACL SETUSER modifier '+foo': Unknown command or category name in ACL"),
    ([b"+@foo"], "Error in ACL SETUSER modifier '+@foo': Unknown command or category name in ACL"),
    ([b"bad"], "Error in ACL SETUSER modifier 'bad': Syntax error"),
    ([b"+config|xx"], "Error in ACL SETUSER modifier '+config|xx': Unknown command or category name in ACL"),
    ([b"<nopw"], "Error in ACL SETUSER modifier '<nopw': The password you are trying to remove from the user does "
                 "not exist"),
    ([b"#abc"], "Error in ACL SETUSER modifier '#abc': The password hash must be exactly 64 characters and contain "
                "only lowercase hexadecimal characters"),
    ([b"(bad"], "Unmatched parenthesis in acl selector starting at '(bad'."),
    ([b"%X~k"], "Error in ACL SETUSER modifier '%X~k': Syntax error"),
])
def test_refused_rules_get_redis_s_errors(rules, error):
    with pytest.raises(AclError) as e:
        user(*rules)
    assert str(e.value) == error


def test_usernames_cannot_hold_spaces():
    with pytest.raises(AclError, match="Usernames can't contain spaces or null characters"):
        acl.check_username(b"a b")


def test_a_later_rule_replaces_an_earlier_one_for_the_same_command():
    assert user(b"+get", b"-get").root.command_rules() == b"-@all -get"
    assert user(b"+get", b"allcommands").root.command_rules() == b"+@all"
    assert user(b"+@all", b"-@dangerous", b"nocommands", b"+ping").root.command_rules() == b"-@all +ping"


def test_reset_and_clearselectors():
    u = user(b"on", b">pw", b"~*", b"+@all", b"(+get ~x)")
    assert apply_rules(u, [b"reset"]) == new_user("alice")
    assert apply_rules(u, [b"clearselectors"]).selectors == ()


def test_the_stored_form_round_trips():
    u = user(b"on", b">pw", b"%W~w:*", b"&c", b"+@read", b"-keys", b"(+set ~s\xff*)")
    assert acl.decode(acl.encode(u)) == u


# ---------------------------------------------------------------- checks (as redis-server 7 answers ACL DRYRUN)

def test_categories_and_commands():
    u = user(b"on", b"~*", b"+@read", b"-@dangerous", b"+set")
    assert allowed(u, "get") and allowed(u, "set") and allowed(u, "hgetall")
    assert not allowed(u, "del") and not allowed(u, "keys") and not allowed(u, "flushall")
    assert not allowed(u, "config|set", parent="config")


def test_subcommands():
    u = user(b"on", b"+config|get", b"+client", b"-client|kill")
    assert allowed(u, "config|get", parent="config") and not allowed(u, "config|set", parent="config")
    assert allowed(u, "client|id", parent="client") and not allowed(u, "client|kill", parent="client")


def test_key_patterns_read_and_write_as_redis():
    u = user(b"on", b"nopass", b"%W~w:*", b"%R~r:*", b"+@all")

    def dryrun(command: pb.Command) -> bool:
        return check(u, "x", frozenset(), access_keys(command)) is None

    assert not dryrun(pb.Command(get=pb.Get(key=b"w:1")))
    assert dryrun(pb.Command(set=pb.Set(key=b"w:1", value=b"v")))
    assert not dryrun(pb.Command(set=pb.Set(key=b"r:1", value=b"v")))
    assert dryrun(pb.Command(exists=pb.Exists(keys=[b"r:1", b"w:1"])))
    assert not dryrun(pb.Command(incr_by=pb.IncrBy(key=b"w:1", delta=1)))
    assert dryrun(pb.Command(append=pb.Append(key=b"w:1", value=b"x")))
    assert not dryrun(pb.Command(set=pb.Set(key=b"w:1", value=b"v", get=True)))
    assert dryrun(pb.Command(copy=pb.Copy(key=b"r:1", new_key=b"w:1")))
    assert not dryrun(pb.Command(copy=pb.Copy(key=b"w:1", new_key=b"r:1")))


def test_selectors_allow_when_any_selector_allows_the_whole_command():
    u = user(b"on", b"~app:*", b"+@read", b"(+set ~sel*)")
    assert allowed(u, "get", [(b"app:1", READ)])
    assert allowed(u, "set", [(b"sel1", WRITE)])
    assert not allowed(u, "set", [(b"app:1", WRITE)])       # root: no SET; selector: not that key
    denial = check(u, "set", acl_catalog.categories("set"), [(b"app:1", WRITE)])
    assert denial.kind == acl.DENIED_KEY                    # the most relevant refusal: the selector's key


def test_channels_with_and_without_patterns():
    u = user(b"on", b"&news.*", b"+@all")
    assert check(u, "subscribe", frozenset(), channels=[(b"news.1", False)]) is None
    assert check(u, "psubscribe", frozenset(), channels=[(b"news.*", True)]) is None
    assert check(u, "psubscribe", frozenset(), channels=[(b"news.1*", True)]).kind == acl.DENIED_CHANNEL
    assert check(u, "subscribe", frozenset(), channels=[(b"sport", False)]).kind == acl.DENIED_CHANNEL


def test_refusal_texts():
    u = user(b"on", b"~a", b"+get")
    assert denial_text("alice", check(u, "set", frozenset())) == "User alice has no permissions to run the 'set' command"
    assert denial_text("alice", check(u, "get", frozenset(), [(b"b", READ)])) == "No permissions to access a key"
    assert dryrun_text(check(u, "get", frozenset(), [(b"b", READ)])) == \
        "This user has no permissions to access the 'b' key"


def test_acl_files_in_redis_s_format():
    text = b"# users\nuser alice on >pw ~* +@all\nuser bob off\n"
    assert acl.parse_file(text) == [("alice", [b"on", b"#" + SHA_PW.encode(), b"~*", b"+@all"]), ("bob", [b"off"])]
    with pytest.raises(AclError, match="line 1: should start with user keyword"):
        acl.parse_file(b"alice on\n")
    with pytest.raises(AclError, match="line 2: Duplicate user"):
        acl.parse_file(b"user a\nuser a\n")


# ---------------------------------------------------------------- the command catalogue

def test_every_redis_command_has_categories():
    missing = [n for n in acl_catalog.all_names() if not acl_catalog.categories(n) & {"fast", "slow"}]
    assert missing == []
    assert acl_catalog.categories("flushall") >= {"dangerous", "write", "keyspace"}
    assert acl_catalog.categories("config|set") >= {"admin", "dangerous"}
    assert acl_catalog.categories("get") == frozenset({"read", "string", "fast"})
    assert "blocking" in acl_catalog.categories("blpop")


def test_every_command_op_is_a_redis_command():
    for field in pb.Command.DESCRIPTOR.oneofs_by_name["op"].fields:
        command = pb.Command()
        getattr(command, field.name).SetInParent()
        name = acl_catalog.op_command(command)
        assert acl_catalog.categories(name), (field.name, name)
        assert name.partition("|")[0].encode() in TABLE or name in ("save", "failover"), (field.name, name)


def test_memcached_and_grpc_commands_are_checked_as_their_redis_command():
    u = user(b"on", b"~*", b"+@read")
    assert acl_catalog.op_command(pb.Command(flush_db=pb.FlushDb())) == "flushdb"
    assert acl_catalog.op_command(pb.Command(mc_incr=pb.McIncr(key=b"k", delta=1))) == "incrby"
    assert acl_catalog.op_command(pb.Command(config_set=pb.ConfigSet())) == "config|set"
    assert allowed(u, acl_catalog.op_command(pb.Command(get_meta=pb.GetMeta(key=b"k"))))
    assert not allowed(u, acl_catalog.op_command(pb.Command(set=pb.Set(key=b"k"))))


# ---------------------------------------------------------------- the node's view

def _access(password: str = "", users: dict | None = None) -> Identity:
    return Identity(password, users or {}, {"acllog-max-len": "3", "requirepass": ""}.__getitem__)


def test_without_users_the_default_user_is_the_node_s():
    assert _access().login_user() == "default" and not _access().auth_required
    locked = _access("s3cret")
    assert locked.login_user() is None and locked.auth_required
    assert locked.authenticate(None, b"s3cret") == "default"
    assert locked.default_rules_prefix() == [b"resetpass", b"#" + acl.sha256_hex(b"s3cret").encode()]
    assert locked.requirepass_text() == "#" + acl.sha256_hex(b"s3cret")


def test_replicated_users_replace_the_node_s_default():
    replicated = {"default": apply_rules(acl.default_user(), [b"resetpass", b">pw"]), "alice": user(b"on", b">a")}
    access = _access("node-password", replicated)
    assert access.default_rules_prefix() == []
    assert access.authenticate(b"alice", b"a") == "alice"
    with pytest.raises(Exception, match="WRONGPASS"):
        access.authenticate(None, b"node-password")


def test_a_sort_op_reading_keys_by_pattern_needs_every_key_on_grpc_as_on_resp():
    """Redis 7's SORT rule for ops (check_command): a BY pattern holding `*` or a GET, alone or in a
    transaction, needs a selector allowing SORT on every key; BY without `*` does not sort (as
    the Redis port's `BY nosort`)."""
    limited = user(b"on", b"~app:*", b"+@all")
    access = _access(users={"limited": limited, "all": user(b"on", b"~*", b"+@all")})
    refused = [pb.Command(sort=pb.Sort(key=b"app:l", get=[b"x:*"])),
               pb.Command(sort_store=pb.Sort(key=b"app:l", by=b"w:*", store=b"app:out")),
               pb.Command(transaction=pb.Transaction(commands=[pb.Command(sort=pb.Sort(key=b"app:l", by=b"w:*"))]))]
    allowed_ops = [pb.Command(sort=pb.Sort(key=b"app:l")), pb.Command(sort=pb.Sort(key=b"app:l", by=b"nosort"))]
    for command in refused:
        error = acl_catalog.check_command(access, "limited", command)
        assert error is not None and "option of SORT denied" in error.message, command
        assert acl_catalog.check_command(access, "all", command) is None
    for command in allowed_ops:
        assert acl_catalog.check_command(access, "limited", command) is None, command


def test_the_acl_log_groups_repeats_and_is_bounded():
    access = _access(users={"alice": user(b"on", b"nopass", b"+get")})
    for _ in range(3):
        assert access.check("alice", "set", acl_catalog.categories("set")) is not None
    assert len(access.log) == 1 and access.log[0].count == 3 and access.log[0].reason == "command"
    for name in ("del", "incr", "lpush", "sadd"):
        access.check("alice", name, acl_catalog.categories(name))
    assert len(access.log) == 3                          # acllog-max-len
    with pytest.raises(Exception, match="WRONGPASS"):
        access.authenticate(b"nobody", b"x")
    assert access.log[0].reason == "auth" and access.log[0].object == "AUTH"


def test_a_certificate_cn_names_an_existing_enabled_user():
    access = _access("pw", {"alice": user(b"on", b">a"), "bob": user(b"off")})
    assert access.certificate_user("alice") == "alice"
    assert access.certificate_user("bob") is None and access.certificate_user("carol") is None


# ---------------------------------------------------------------- apply (node/commands/acl_store.py)

def _apply(sm, index: int, command: pb.Command, version: int | None = None):
    from raftcache.node import commands
    version = commands.ACL_VERSION if version is None else version
    entry = pb.LogEntry(version=version, now_ms=1, command=command)
    return sm.apply(index, commands.encode_entry(entry))


@pytest.fixture
def sm(tmp_path):
    from raftcache.node.commands.statemachine import StateMachine
    from raftcache.node.config import KeyspaceConfig
    from raftcache.node.storage.keyspace import Keyspace

    limits = KeyspaceConfig(path=str(tmp_path / "ks"), maxmemory_bytes=64 << 20)
    keyspace = Keyspace(limits)
    yield StateMachine(keyspace, limits)
    keyspace.close()


def test_users_are_applied_from_digests_and_survive_a_reload(sm):
    set_user = pb.Command(acl_set_user=pb.AclSetUser(name="alice", rules=acl.hash_rules([b"on", b">pw", b"+get"])))
    assert _apply(sm, 1, set_user) == "OK"
    assert sm.users["alice"].check_password(b"pw")
    sm._settings_generation = -1                      # as after a restart or a snapshot install
    assert sm.users["alice"].passwords == (SHA_PW,)
    assert _apply(sm, 2, pb.Command(acl_del_user=pb.AclDelUser(names=["alice", "x"]))) == 1
    assert "alice" not in sm.users


def test_apply_refuses_a_password_in_the_clear_and_an_entry_of_an_older_version(sm):
    plain = pb.Command(acl_set_user=pb.AclSetUser(name="alice", rules=[b">pw"]))
    assert "hashed" in _apply(sm, 1, plain).message
    hashed = pb.Command(acl_set_user=pb.AclSetUser(name="alice", rules=acl.hash_rules([b">pw"])))
    from raftcache.node.commands import ACL_VERSION
    # as a release before ACL_VERSION answers it: an op it does not know
    assert "fields this version does not know" in _apply(sm, 2, hashed, version=ACL_VERSION - 1).message
    assert sm.users == {}


def test_acl_load_replaces_every_user_and_keeps_a_default(sm):
    _apply(sm, 1, pb.Command(acl_set_user=pb.AclSetUser(name="old", rules=[b"on"])))
    load = pb.Command(acl_load=pb.AclLoad(users=[pb.AclUserRules(name="new", rules=[b"on", b"nopass"])]))
    assert _apply(sm, 2, load) == "OK"
    assert set(sm.users) == {"new", "default"} and sm.users["default"] == acl.default_user()


def test_a_set_operation_unknown_to_this_release_is_named_and_refused_not_a_crash():
    """A gRPC client (or a forwarded batch) may send an enum value this release does not know."""
    u = user(b"on", b"~*", b"+@read")
    name = acl_catalog.op_command(pb.Command(set_op=pb.SetOp(op=99, keys=[b"k"])))
    assert name == "sunknownop" and not allowed(u, name)
    assert acl_catalog.op_command(pb.Command(zset_op_store=pb.ZSetOpStore(source=pb.ZSetOp(op=77)))) == "zunknownopstore"
