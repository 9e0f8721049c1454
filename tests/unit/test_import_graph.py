"""The import graph goes one way: no cycles, and no layer imports a layer above it.

Layers, top to bottom (docs/architecture.md): the command line (raftcache/),
the node's process wiring (server, http), the front ends (node/frontends), the
operator verbs (membership, backup), the service (service, forwarding,
grpc_codec, health, …), the replication layer (replication, raftnode, journal, peer transport), the state
machine and its handlers, storage (keyspace), configuration (node/config: every
layer above may read it, the state machine included) and the leaves every
layer may use (commands, errors, consistency). Neither the SDK (client/) nor
`raftcache ctl`, which is built on it, may import the node, even through
another module; no script (scripts/) imports the tests package. Read from the
source with ast, imports inside functions included.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: Top-level folders and the package each is imported as (pyproject's package-dir).
_PACKAGES = {"raftcache": "raftcache", "raftcache.node": "node", "raftcache.client": "client"}

#: Layer -> its modules; a name ending in "." is a whole sub-package. A module may
#: import its own layer and any lower one.
LAYERS = [
    ("cli", {"raftcache.cli", "raftcache.ctl", "raftcache.offline", "raftcache.localcluster", "raftcache.shardedcluster", "raftcache.reshard", "raftcache.__main__",
             "raftcache.certs"}),
    ("process", {"raftcache.node.server"}),
    ("scripting", {"raftcache.node.scripting", "raftcache.node.scripting."}),
    ("frontends", {"raftcache.node.frontends."}),
    ("operations", {"raftcache.node.ops."}),
    ("service", {"raftcache.node.service."}),
    ("replication", {"raftcache.node.raft."}),
    ("commands", {"raftcache.node.commands."}),
    ("storage", {"raftcache.node.storage."}),
    ("config", {"raftcache.node.config", "raftcache.node.config."}),
    ("leaves", {"raftcache.node.commands", "raftcache.node.errors", "raftcache.node.consistency",
                "raftcache.node.latency", "raftcache.node.latency_events", "raftcache.node.fsync", "raftcache.node.logformat", "raftcache.node.pulse",
                "raftcache.node.collector",
                "raftcache.readlevel", "raftcache.commandkeys", "raftcache.peers", "raftcache.backup_crypto",
                "raftcache.progress", "raftcache.slots", "raftcache.clustermap", "raftcache", "raftcache.node"}),
]


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for package, folder in _PACKAGES.items():
        base = ROOT / folder
        for path in base.rglob("*.py"):
            parts = [package, *path.relative_to(base).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(path: pathlib.Path) -> set[str]:
    """Modules of this project that `path` imports (a submodule, not its package, for `from pkg import mod`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("raftcache") \
                and node.level == 0:
            submodules = {f"{node.module}.{a.name}" for a in node.names} & MODULES.keys()
            if submodules:
                found |= submodules
            elif node.module in MODULES:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in MODULES}
    return found


GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def _layer(module: str) -> int | None:
    """The first layer naming `module` itself; else the one naming its sub-package."""
    for rank, (_, members) in enumerate(LAYERS):
        if module in members:
            return rank
    for rank, (_, members) in enumerate(LAYERS):
        if any(m.endswith(".") and f"{module}.".startswith(m) for m in members):
            return rank
    return None


def _cycles() -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert _cycles() == []


def test_every_node_module_has_a_layer():
    missing = [m for m in MODULES if m.startswith(("raftcache.node", "raftcache.")) and not m.startswith(
        "raftcache.client") and _layer(m) is None]
    assert missing == [], "add them to LAYERS (and docs/architecture.md)"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.startswith("raftcache.client")))
def test_imports_point_down(module):
    rank = _layer(module)
    upward = [dep for dep in GRAPH[module]
              if not dep.startswith("raftcache.client") and (_layer(dep) is not None and _layer(dep) < rank)]
    assert upward == [], f"{module} (layer {LAYERS[rank][0]}) imports a layer above it"


def _loaded_with(module: str) -> set[str]:
    """Every project module that importing `module` loads: its imports, theirs, and their packages."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or name not in MODULES:
            continue
        seen.add(name)
        todo.extend(GRAPH[name])
        todo.extend(".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1))
    return seen


@pytest.mark.parametrize("module", ["raftcache.ctl", *sorted(m for m in MODULES if m.startswith("raftcache.client"))])
def test_the_sdk_and_ctl_do_not_import_the_node(module):
    assert sorted(m for m in _loaded_with(module) if m.startswith("raftcache.node")) == []


def test_the_closure_follows_imports_through_other_modules():
    assert "raftcache.node.ops.backup" in _loaded_with("raftcache.offline")
    assert "raftcache.node.config" in _loaded_with("raftcache.localcluster")


def _imported_top_levels(path: pathlib.Path) -> set[str]:
    """The top-level names of every module `path` imports (absolute imports; in functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
    return found


SCRIPTS = sorted((ROOT / "scripts").rglob("*.py"))


def test_the_scripts_are_found():
    assert ROOT / "scripts" / "bench_resp.py" in SCRIPTS and ROOT / "scripts" / "chaos" / "run.py" in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_script_imports_the_tests_package(script):
    """Scripts run the local cluster through raftcache/localcluster.py and their tools from scripts/;
    the tests may import scripts, never the other way round."""
    assert "tests" not in _imported_top_levels(script)
