"""The GitHub workflows use the actions' current major versions with pip caching, the Pages
artifact loses nothing the site needs, and the Docker image installs the locked dependency
versions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
#: The actions' major versions current when the workflows were last reviewed.
CURRENT_MAJORS = {
    "actions/checkout": 7,
    "actions/setup-python": 7,
    "actions/configure-pages": 6,
    "actions/upload-pages-artifact": 5,
    "actions/deploy-pages": 5,
    "actions/cache": 6,
}


def steps(path: Path) -> list[dict]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [step for job in doc["jobs"].values() for step in job["steps"]]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_at_their_current_major_and_pip_is_cached(workflow):
    used = [s["uses"] for s in steps(workflow) if "uses" in s]
    assert used
    for action in used:
        name, _, version = action.partition("@")
        assert name in CURRENT_MAJORS, f"{action}: not reviewed"
        assert re.fullmatch(r"v\d+", version) and int(version[1:]) == CURRENT_MAJORS[name], action
    for step in steps(workflow):
        if step.get("uses", "").startswith("actions/setup-python@"):
            assert step["with"]["cache"] == "pip"
            assert "requirements.lock" in step["with"]["cache-dependency-path"]
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
    runs = [s.get("run", "") for s in steps(workflow)]
    installs = [r for r in runs if "pip install" in r and re.search(r"pip install [^\n]* \.$", r, flags=re.M)]
    tox = any(re.search(r"^tox\b", r, flags=re.M) for r in runs)  # tox installs the project per env
    assert installs or tox
    assert all("--no-deps -r requirements.lock" in r for r in installs)


def test_the_pages_artifact_leaves_out_only_the_build_marker(tmp_path):
    """upload-pages-artifact (v4 on) leaves hidden files out: the site's only one is the marker
    that lets a later build replace the folder, which the served site does not need."""
    from click.testing import CliRunner

    from mura_bench.cli.main import cli
    from mura_bench.leaderboard.build import MARKER

    doc = yaml.safe_load((REPO / ".github" / "workflows" / "leaderboard.yml").read_text(encoding="utf-8"))
    (artifact,) = [
        s for s in doc["jobs"]["build"]["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact")
    ]
    assert artifact["with"].get("include-hidden-files", False) is False
    result = CliRunner().invoke(
        cli,
        [
            "leaderboard",
            "build",
            str(REPO / "submissions"),
            "--truth",
            str(REPO / "site" / "truth" / "valid_panel.csv"),
            "--out",
            str(tmp_path / "site"),
            "--bootstrap",
            "20",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    hidden = [p.relative_to(tmp_path / "site").as_posix() for p in (tmp_path / "site").rglob(".*")]
    assert hidden == [MARKER]
    html = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "site").rglob("*.html"))
    assert MARKER not in html


def _lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version.strip(), f"not pinned: {line}"
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_the_lock_pins_every_runtime_dependency_within_the_declared_ranges():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = _lock()
    for text in project["dependencies"]:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"python_version": "3.12"}):
            continue  # the image's Python
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not locked"
        assert req.specifier.contains(pins[name], prereleases=True), f"{req.name}=={pins[name]} outside {req.specifier}"


def test_the_image_installs_the_lock_then_mura_bench_without_dependencies():
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    base = text.split("\nFROM ")[1]
    assert "COPY requirements.lock" in base
    assert "pip install --no-deps -r /src/requirements.lock" in base and "pip install --no-deps /src" in base
    assert "pip check" in base
