"""`make mutate` stays usable: every mutation's text is still found exactly once in the
file it breaks (a refactoring that moves it must update scripts/mutate.py)."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("mutate", ROOT / "scripts" / "mutate.py")
mutate = importlib.util.module_from_spec(_spec)
sys.modules["mutate"] = mutate  # dataclasses look their module up there
_spec.loader.exec_module(mutate)


@pytest.mark.parametrize("mutation", mutate.MUTATIONS, ids=lambda m: m.name)
def test_each_mutation_still_applies(mutation):
    assert (ROOT / mutation.path).read_text().count(mutation.old) == 1
    for test in mutation.tests:
        assert (ROOT / test.split("::")[0]).exists(), f"{mutation.name} names a missing test {test}"
