"""The package as released: metadata, the single version, the lowest-dependency pins, the files a
build needs, README links that work on a package index, the citation and changelog, and the CI
workflow that runs the tox matrix."""

from __future__ import annotations

import re
import sys
from importlib import metadata

import yaml
from packaging.requirements import Requirement
from packaging.version import Version

import mura_bench
from helpers import REPO, check_workflow

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
PYTHONS = ("3.10", "3.11", "3.12", "3.13")


def lower_bounds() -> dict[str, str]:
    """name -> the version of each runtime dependency's `>=` bound."""
    out = {}
    for text in PROJECT["dependencies"]:
        req = Requirement(text)
        (lower,) = [spec.version for spec in req.specifier if spec.operator == ">="]
        out[req.name.lower()] = lower
    return out


def test_lowest_constraints_pin_exactly_the_declared_lower_bounds():
    pins = {}
    for line in (REPO / ".ci" / "lowest-constraints.txt").read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith("#"):  # exact pins; `<` lines cap test tools
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    bounds = lower_bounds()
    assert set(pins) == set(bounds)
    for name, lower in bounds.items():
        assert Version(pins[name]) == Version(lower), (name, pins[name], lower)  # 1.24.0 == 1.24


def test_metadata_licence_authors_classifiers_and_urls():
    assert PROJECT["license"] == "MIT"
    assert all((REPO / name).is_file() for name in PROJECT["license-files"])
    assert "MIT License" in (REPO / "LICENSE").read_text(encoding="utf-8")
    assert PROJECT["authors"]
    classifiers = set(PROJECT["classifiers"])
    assert {f"Programming Language :: Python :: {v}" for v in PYTHONS} <= classifiers
    assert "Operating System :: OS Independent" in classifiers
    assert not any(c.startswith("License ::") for c in classifiers)  # SPDX expression instead
    assert PROJECT["requires-python"] == f">={PYTHONS[0]}"
    assert all(url.startswith("https://") for url in PROJECT["urls"].values())
    requires = PYPROJECT["build-system"]["requires"]
    assert any(re.fullmatch(r"setuptools>=(\d+)", r) and int(r.split(">=")[1]) >= 77 for r in requires)


def test_one_version_source():
    assert "version" not in PROJECT and "version" in PROJECT["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "mura_bench.__version__"}
    assert metadata.version("mura-bench") == mura_bench.__version__


def test_the_pandas_extra_installs_what_the_readme_example_imports():
    extra = [Requirement(r) for r in PROJECT["optional-dependencies"]["pandas"]]
    assert [r.name for r in extra] == ["pandas"]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "import pandas as pd" in readme and "mura-bench[pandas]" in readme


def test_readme_links_are_absolute_for_the_package_index():
    """PyPI renders the README away from the repository: relative links and images would break."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)", readme)
    assert targets
    relative = [t for t in targets if not t.startswith(("https://", "mailto:"))]
    assert relative == []


def test_the_docker_build_context_holds_what_the_build_reads():
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    copied = {word for line in dockerfile.splitlines() if line.startswith("COPY ") for word in line.split()[1:-1]}
    assert {PROJECT["readme"], "pyproject.toml", *PROJECT["license-files"]} <= copied
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    assert not {PROJECT["readme"], *PROJECT["license-files"]} & set(ignored)


def test_citation_names_this_version_and_the_mura_paper():
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert cff["version"] == mura_bench.__version__ and cff["license"] == "MIT"
    assert any("MURA" in ref["title"] and ref["type"] == "article" for ref in cff["references"])


def test_changelog_has_an_unreleased_section_and_this_version():
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\]", text, flags=re.M)
    assert headings[0] == "Unreleased" and mura_bench.__version__ in headings


def test_the_tests_workflow_runs_the_tox_matrix_on_every_python():
    path = REPO / ".github" / "workflows" / "tests.yml"
    run = check_workflow(path)
    assert run.returncode == 0, run.stdout + run.stderr
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as true
    assert "pull_request" in triggers
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    setup = [s for s in steps if s.get("uses", "").startswith("actions/setup-python@")]
    assert setup and set(PYTHONS) <= set(str(setup[0]["with"]["python-version"]).split())
    assert any("tox" in s.get("run", "") for s in steps)
