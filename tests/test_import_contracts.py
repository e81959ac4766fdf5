"""The import-linter contracts of pyproject.toml hold, and they catch an import that breaks a layer.

``tox -e imports`` runs ``lint-imports`` on the project; these tests run it here too and show that
the contracts are not vacuous: the same contracts fail on a copy of the package with one import
added against the layers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(project / "pyproject.toml"), "--no-cache"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )


def copy_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "mura_bench", project / "mura_bench", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    return project


def test_the_contracts_hold(tmp_path):
    result = lint_imports(copy_project(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_core_module_importing_the_command_line_breaks_two_contracts(tmp_path):
    project = copy_project(tmp_path)
    metrics = project / "mura_bench" / "stats" / "metrics.py"
    metrics.write_text(metrics.read_text() + "\nfrom mura_bench.cli import main as _main  # noqa: E402\n")
    result = lint_imports(project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "mura_bench.stats is not allowed to import mura_bench.cli" in result.stdout
    assert "mura_bench.stats.metrics -> mura_bench.cli.main" in result.stdout
    assert "2 broken" in result.stdout


def test_a_type_only_import_upwards_breaks_the_layers(tmp_path):
    project = copy_project(tmp_path)
    truth = project / "mura_bench" / "data" / "truth.py"
    truth.write_text(
        truth.read_text()
        + "\nfrom typing import TYPE_CHECKING  # noqa: E402\n\nif TYPE_CHECKING:\n"
        + "    from mura_bench.scoring.engine import score  # noqa: F401\n"
    )
    result = lint_imports(project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "mura_bench.data is not allowed to import mura_bench.scoring" in result.stdout
