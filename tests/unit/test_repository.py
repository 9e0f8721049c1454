"""The repository stands on its own: no file refers to a path outside it.

A user of the project has only the repository, so design notes it relies on
live in docs/ (docs/design.md), never in pages beside the checkout.
"""

from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUTSIDE = re.compile(rb"\.\./shared\b|\b(?:DESIGN|PYSYNCOBJ|STYLE)\.md\b")
SKIP_DIRS = {".git", "__pycache__", ".pytest_cache", ".ruff_cache", "build", "dist", ".venv", "venv"}


def _project_files():
    for path in ROOT.rglob("*"):
        if path.is_file() and not SKIP_DIRS.intersection(path.relative_to(ROOT).parts) \
                and not path.name.endswith(".egg-info") and "egg-info" not in str(path):
            yield path


def test_no_file_refers_outside_the_repository():
    this = pathlib.Path(__file__).resolve()
    offenders = [str(p.relative_to(ROOT)) for p in _project_files()
                 if p != this and OUTSIDE.search(p.read_bytes())]
    assert offenders == []
