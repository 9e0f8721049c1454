"""The examples of README.md and docs/ run, against a real cluster, as shown.

Python: every ```python block of every page.
A page's ```python blocks run in order in one namespace (a later block may use
what an earlier one made), with the documented addresses 127.0.0.1:7000,
:7010 and :7020 pointed at this test's nodes and RAFTCACHE_CLUSTER_SECRET set
to their secret (as an operator's shell has it). A line whose trailing comment is
a Python literal (`cache.get("k")   # b'v'`, also `print(x)  # 'v'` and
`# 'v' — words`) is checked: the expression must equal it. So a page can no
longer drift from the code. (```text blocks are signatures, not examples.)

Shell: the README's block of commands that talk to a running cluster, run
with bash against `raftcache up` (its ports moved to free ones): each must
exit 0 and the reads must print the value written.
"""

from __future__ import annotations

import ast
import asyncio
import io
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tokenize

import pytest

from raftcache.localcluster import free_base_port

ROOT = pathlib.Path(__file__).resolve().parents[2]
PAGES = [p for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))] if "```python" in p.read_text()]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
_DOC_PORTS = ("7000", "7010", "7020")


def examples(page: pathlib.Path) -> list[tuple[int, str]]:
    """(first line number, source) of each ```python block of `page`."""
    text = page.read_text()
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in _BLOCK.finditer(text)]


def _expected_values(source: str) -> dict[int, object]:
    """line -> the literal its trailing comment states (lines whose comment is not one are left out)."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.COMMENT:
            continue
        text = tok.string[1:].strip()
        for candidate in (text, text.split(" — ")[0].strip(), text.split(" (")[0].strip()):
            try:
                out[tok.start[0]] = ast.literal_eval(candidate)
                break
            except (ValueError, SyntaxError):
                continue
    return out


class _Checks(ast.NodeTransformer):
    """Turn `expr  # literal` (or `print(expr)  # literal`) into `_check(expr, literal, line)`."""

    def __init__(self, expected: dict[int, object]):
        self.expected = expected
        self.count = 0

    def visit_Expr(self, node: ast.Expr):
        line = node.end_lineno
        if line not in self.expected:
            return node
        value = node.value
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "print" \
                and len(value.args) == 1:
            value = value.args[0]
        self.count += 1
        call = ast.Call(ast.Name("_check", ast.Load()),
                        [value, ast.Constant(repr(self.expected[line])), ast.Constant(line)], [])
        return ast.copy_location(ast.Expr(call), node)


def _check(actual, expected_repr: str, line: int) -> None:
    assert repr(actual) == expected_repr, f"line {line}: {actual!r}, the page says {expected_repr}"


def run_example(source: str, namespace: dict, where: str) -> int:
    """Run one block in `namespace`; returns how many stated results it checked."""
    tree = ast.parse(source, where)
    checks = _Checks(_expected_values(source))
    tree = ast.fix_missing_locations(checks.visit(tree))
    namespace.setdefault("_check", _check)
    exec(compile(tree, where, "exec"), namespace)  # noqa: S102 - the documentation's own examples
    return checks.count


def test_a_stated_result_that_differs_fails():
    namespace: dict = {}
    assert run_example("x = [1, 2]\nx[0]   # 1\nprint(x[1])  # 2 — the second\n", namespace, "ok") == 2
    with pytest.raises(AssertionError, match="the page says 3"):
        run_example("len([1, 2])   # 3\n", namespace, "wrong")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_python_example_runs_as_shown(cluster, page, monkeypatch):
    monkeypatch.setenv("RAFTCACHE_CLUSTER_SECRET", cluster.secret)
    ports = dict(zip(_DOC_PORTS, (node.grpc_address.rsplit(":", 1)[1] for node in cluster.nodes)))
    namespace: dict = {"__name__": "__docs__"}
    checked = 0
    for line, source in examples(page):
        for documented, real in ports.items():
            source = source.replace(f"127.0.0.1:{documented}", f"127.0.0.1:{real}")
        checked += run_example(source, namespace, f"{page.name}:{line}")
    asyncio.set_event_loop(None)  # an example's asyncio.run() leaves no loop behind
    assert checked > 0, f"{page.name} states no result to check"


_SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)


def _readme_cluster_commands() -> list[str]:
    """The README's shell lines that talk to a running cluster (not the set-up commands)."""
    blocks = _SH_BLOCK.findall((ROOT / "README.md").read_text())
    lines = [line for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.strip() and not line.lstrip().startswith(("pip ", "#"))
            and "raftcache up" not in line]


def test_the_readmes_commands_run_against_raftcache_up(tmp_path):
    missing = [tool for tool in ("redis-cli", "nc") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (.ci/run installs redis-tools and netcat-openbsd)")
    base = free_base_port(nodes=3)
    up = subprocess.Popen([sys.executable, "-m", "raftcache", "up", "--nodes", "3", "--base-port", str(base),
                           "--data-dir", "./raftcache-data"], cwd=tmp_path, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    try:
        while not (line := up.stdout.readline()).startswith("raftcache ready"):
            assert line, "raftcache up exited before it was ready"
        bindir = pathlib.Path(sys.executable).parent
        env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}  # `raftcache` of this venv
        outputs = []
        for command in _readme_cluster_commands():
            moved = re.sub(r"\b70([0-2])([0-4])\b", lambda m: str(base + 10 * int(m[1]) + int(m[2])), command)
            done = subprocess.run(["bash", "-c", moved], cwd=tmp_path, env=env, capture_output=True, text=True,
                                  timeout=60)
            assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"
            outputs.append((command, done.stdout))
        reads = [out for command, out in outputs if "get greeting" in command]
        assert len(reads) == 3 and all("hello" in out for out in reads), outputs
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(30)
