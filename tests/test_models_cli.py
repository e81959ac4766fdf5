"""``mura-bench models`` and ``mura-bench run``, with a throw-away plugin distribution installed
into a temporary folder and the CLI run in a subprocess with PYTHONPATH pointing there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mura_bench.cli.main import cli
from mura_bench.models.runner import partial_path
from mura_bench.data.predictions import read_predictions
from helpers import PLUGIN_MODULES, install_test_plugins


def mura_bench(*args: str, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "mura_bench", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return install_test_plugins(tmp_path_factory.mktemp("plugins") / "site")


@pytest.fixture()
def in_process(site, monkeypatch):
    """The plugins importable in this process too; CliRunner on the real ``mura-bench`` group."""
    monkeypatch.syspath_prepend(str(site))
    yield CliRunner()
    for module in PLUGIN_MODULES:
        sys.modules.pop(module, None)


def test_models_lists_plugins_and_marks_the_broken_one(site):
    proc = mura_bench("models", site=site)
    assert proc.returncode == 0, proc.stderr
    rows = {
        line.split("│")[1].strip(): line
        for line in proc.stdout.splitlines()
        if line.startswith("│") and line.split("│")[1].strip()
    }
    assert {"constant-prior", "image-statistics", "brightness", "raises-on-import"} <= set(rows)
    assert "good-plugin" in rows["brightness"] and "1.2.3" in rows["brightness"]
    assert "Mean brightness times a gain" in rows["brightness"]
    assert "broken: RuntimeError: cannot find my weights" in rows["raises-on-import"]
    assert "…" not in proc.stdout  # never truncated


def test_models_check_marks_factories_that_fail(in_process):
    result = in_process.invoke(cli, ["models", "--check"], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert "failed: " in lines["raises-in-factory"] and "ValueError: boom" in lines["raises-in-factory"]
    assert "failed: " in lines["returns-no-model"] and "returned int" in lines["returns-no-model"]
    assert "failed: broken: RuntimeError: cannot find my weights" in lines["raises-on-import"]
    assert lines["brightness"].split()[-1] == "ok" and lines["image-statistics"].split()[-1] == "ok"


def test_run_plugin_on_synthetic_split_and_score(site, data, tmp_path):
    out = tmp_path / "predictions.csv"
    proc = mura_bench(
        "run",
        "brightness",
        "--data",
        str(data),
        "--split",
        "valid",
        "--out",
        str(out),
        "--option",
        "gain=1.5",
        "--score",
        "--bootstrap",
        "200",
        site=site,
    )
    assert proc.returncode == 0, proc.stderr
    assert "brightness: " in proc.stderr and "images/s" in proc.stderr
    preds = read_predictions(out)
    assert preds.kind == "image-probabilities" and len(preds.study_ids) == 40
    assert "protocol leave-one-out" in proc.stdout  # scored against valid_panel.csv
    assert any(line.startswith("│ overall") for line in proc.stdout.splitlines())
    assert not partial_path(out).exists()


def test_run_unknown_model_is_exit_2_with_did_you_mean(site, data, tmp_path):
    proc = mura_bench("run", "brightnes", "--data", str(data), "--out", str(tmp_path / "p.csv"), site=site)
    assert proc.returncode == 2
    assert "did you mean brightness?" in proc.stderr and "Traceback" not in proc.stderr


def test_run_broken_plugin_is_exit_2_naming_it(in_process, data, tmp_path):
    result = in_process.invoke(cli, ["run", "raises-on-import", "--data", str(data), "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 2
    assert "'raises-on-import'" in result.output and "cannot find my weights" in result.output


def test_run_invalid_output_is_exit_2_naming_the_image(in_process, data, tmp_path):
    result = in_process.invoke(
        cli,
        ["run", "brightness", "--data", str(data), "--option", "gain=-1", "--out", str(tmp_path / "p.csv"), "--quiet"],
    )
    assert result.exit_code == 2
    assert "not a probability in [0, 1]" in result.output
    assert "MURA-v1.1/valid/XR_" in result.output and ".png" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--option", "gain"], "not of the form key=value"),
        (["--option", "gian=2"], "no option 'gian'"),
        (["--truth", "x.csv"], "--truth is only used with --score"),
    ],
)
def test_run_bad_options_are_exit_2(in_process, data, tmp_path, args, message):
    result = in_process.invoke(cli, ["run", "brightness", "--data", str(data), "--out", str(tmp_path / "p.csv"), *args])
    assert result.exit_code == 2 and message in result.output


def test_run_limit_scores_the_subset_loudly(in_process, data, tmp_path):
    out = tmp_path / "p.csv"
    result = in_process.invoke(
        cli,
        [
            "run",
            "image-statistics",
            "--data",
            str(data),
            "--out",
            str(out),
            "--limit",
            "10",
            "--score",
            "--bootstrap",
            "100",
            "--truth",
            str(data / "MURA-v1.1" / "valid_labeled_studies.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(read_predictions(out).study_ids) == 10
    assert "30 truth studies have no prediction" in result.output
    assert "protocol single" in result.output
