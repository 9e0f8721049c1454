"""The wheel `pip install .` builds (the Dockerfile's install) holds every package of the source tree.

pyproject.toml lists the packages by hand (the top-level folders are mapped under the
raftcache namespace), so a new folder missing from the list would be absent from a
non-editable install while every editable run, and so every other test, still passed.
"""

import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _setuptools_config() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["setuptools"]


def _source_packages(package_dir: dict[str, str]) -> set[str]:
    """Every importable package (a folder with __init__.py) under the mapped top-level folders."""
    found = set()
    for name, folder in package_dir.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            relative = init.parent.relative_to(base).parts
            found.add(".".join((name, *relative)))
    return found


def test_every_package_folder_is_in_the_wheel():
    config = _setuptools_config()
    missing = _source_packages(config["package-dir"]) - set(config["packages"])
    assert sorted(missing) == [], "add these to [tool.setuptools] packages in pyproject.toml"


def test_every_listed_package_exists():
    config = _setuptools_config()
    ghosts = set(config["packages"]) - _source_packages(config["package-dir"])
    assert sorted(ghosts) == []
