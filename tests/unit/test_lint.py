"""Lint is part of the suite (so of CI): ruff with the small rule set of pyproject.toml,
and every `noqa` says why it is there."""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: `# noqa: E402, F401 - why` (or `(why)`): codes, then a reason.
_NOQA = re.compile(r"#\s*noqa\b(?P<rest>.*)$")
_REASONED = re.compile(r":\s*[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*\s*(?:-|—|\()\s*\S")


def _ruff() -> list[str]:
    exe = shutil.which("ruff", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("ruff")
    if exe is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]' installs it)")
    return [exe]


def test_ruff_finds_nothing():
    result = subprocess.run([*_ruff(), "check", "--output-format", "concise", "."], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_noqa_says_why():
    bare = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in ("proto", "build") or rel.parts[0].startswith(".") or "egg-info" in str(rel):
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            match = _NOQA.search(line)
            if match and not _REASONED.match(match.group("rest")):
                bare.append(f"{rel}:{number}: {line.strip()}")
    assert bare == []
