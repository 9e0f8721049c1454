"""Every Python example in README.md and docs/ runs, against a real cluster, as shown.

A page's ```python blocks run in order in one namespace (a later block may use
what an earlier one made), with the documented addresses 127.0.0.1:7000,
:7010 and :7020 pointed at this test's nodes. A line whose trailing comment is
a Python literal (`cache.get("k")   # b'v'`, also `print(x)  # 'v'` and
`# 'v' — words`) is checked: the expression must equal it. So a page can no
longer drift from the code. (```text blocks are signatures, not examples.)
"""

from __future__ import annotations

import ast
import asyncio
import io
import pathlib
import re
import tokenize

import pytest

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
def test_every_python_example_runs_as_shown(cluster, page):
    ports = dict(zip(_DOC_PORTS, (node.grpc_address.rsplit(":", 1)[1] for node in cluster.nodes)))
    namespace: dict = {"__name__": "__docs__"}
    checked = 0
    for line, source in examples(page):
        for documented, real in ports.items():
            source = source.replace(f"127.0.0.1:{documented}", f"127.0.0.1:{real}")
        checked += run_example(source, namespace, f"{page.name}:{line}")
    asyncio.set_event_loop(None)  # an example's asyncio.run() leaves no loop behind
    assert checked > 0, f"{page.name} states no result to check"
