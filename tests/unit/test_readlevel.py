"""One spelling of read levels everywhere (raftcache.readlevel), old spellings as aliases."""

from __future__ import annotations

import pytest

from raftcache import readlevel
from raftcache.client.errors import ConfigError
from raftcache.client.options import ReadLevel
from raftcache.node.consistency import ReadConsistency


@pytest.mark.parametrize("text, parsed", [
    ("linearizable", ("linearizable", 0, 0)),
    ("LEASE", ("lease", 0, 0)),
    ("bounded:200", ("bounded", 200, 0)),
    ("bounded 200", ("bounded", 200, 0)),     # RESP: CLIENT CONSISTENCY bounded 200
    ("bounded=200", ("bounded", 200, 0)),
    ("bounded", ("bounded", 0, 0)),
    ("any", ("any", 0, 0)),
    ("min_index:42", ("min_index", 0, 42)),
    ("min-index 42", ("min_index", 0, 42)),
    ("default", ("", 0, 0)),
])
def test_every_spelling_parses_the_same_in_node_sdk_and_cli(text, parsed):
    assert readlevel.parse(text) == parsed
    node, sdk = ReadConsistency.parse(text), ReadLevel.parse(text)
    assert (node.level, node.bound_ms, node.min_index) == parsed == (sdk.level, sdk.bound_ms, sdk.min_index)
    assert str(node) == str(sdk) == readlevel.spell(*parsed)
    assert readlevel.parse(str(node)) == parsed, "the canonical spelling parses back"


@pytest.mark.parametrize("text, says", [
    ("strong", "use linearizable, lease, bounded:<ms>, any, min_index:<n> or default"),
    ("bounded:soon", "needs a whole number: bounded:<ms>"),
    ("min_index", "needs a whole number: min_index:<n>"),
    ("bounded:-5", ">= 0"),
    ("any:3", "takes no argument"),
    ("", "unknown read level"),
])
def test_a_bad_level_is_refused_with_the_valid_ones_listed(text, says):
    with pytest.raises(readlevel.ReadLevelError, match=says.replace("(", r"\(").replace(")", r"\)")):
        readlevel.parse(text)
    with pytest.raises(ValueError, match="read level"):
        ReadConsistency.parse(text)
    with pytest.raises(ConfigError, match="read level"):
        ReadLevel.parse(text)
