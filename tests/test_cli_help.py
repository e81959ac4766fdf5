"""Help texts (uncut purposes, examples, model options) and the stderr progress display."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from mura_bench.cli.main import cli
from mura_bench.console.cli_help import first_line
from mura_bench.stats.metric_registry import METRICS
from mura_bench.models.registry import factory_options
from mura_bench.io.progress import StderrProgress


def help_of(*args, columns=80):
    result = CliRunner().invoke(cli, [*args, "--help"], env={"COLUMNS": str(columns)}, terminal_width=columns)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_command_list_shows_each_purpose_uncut(columns):
    out = help_of(columns=columns)
    flat = " ".join(out.split())
    for name in ("demo", "leaderboard", "models", "run", "score", "synth"):
        purpose = first_line(cli.get_command(None, name))
        assert purpose and " ".join(purpose.split()) in flat, name
    commands = out.split("Commands:")[1]
    assert "..." not in commands and "…" not in commands
    for group in ("leaderboard", "export", "medperf"):
        text = help_of(group, columns=columns)
        flat = " ".join(text.split())
        sub = cli.get_command(None, group)
        for name in sub.list_commands(None):
            assert " ".join(first_line(sub.get_command(None, name)).split()) in flat, (group, name)
        assert "..." not in text.split("Commands:")[1]


def test_score_help_lists_formats_metrics_options_and_examples():
    out = help_of("score")
    for text in (
        "labels",
        "study-probabilities",
        "image-probabilities",
        "--seed",
        "--output",
        "--show-readers",
        "--wide",
        "--quiet",
        *METRICS,
    ):
        assert text in out, text
    examples = [line.strip() for line in out.splitlines() if line.strip().startswith("mura-bench score")]
    assert len(examples) >= 2


@pytest.mark.parametrize("command", [("synth",), ("demo",), ("run",), ("models",), ("leaderboard", "build")])
def test_other_commands_have_examples(command):
    assert "Example" in help_of(*command) or "--option KEY=VALUE" in help_of(*command)


def test_models_lists_each_factorys_options():
    cp = subprocess.run([sys.executable, "-m", "mura_bench", "models"], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0
    assert "p=0.3847" in cp.stdout and "statistic=bright-fraction" in cp.stdout and "center (optional)" in cp.stdout


def test_factory_options_from_signatures():
    def plain(level="40", *, size: int = 3, weights=None):
        return None

    def needs(path, **extra):
        return None

    assert factory_options(plain) == ("level=40", "size=3", "weights (optional)")
    assert factory_options(needs) == ("path (required)", "any key=value")
    assert factory_options(42) == ()


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_draws_on_a_terminal_after_the_delay_only():
    stream = FakeTerminal()
    with StderrProgress(stream=stream, delay=0.0) as progress:
        for i in range(1, 9):
            progress("scoring", i, 8)
    assert progress.shown and "scoring" in stream.getvalue()
    quick = FakeTerminal()
    with StderrProgress(stream=quick, delay=60.0) as progress:
        progress("scoring", 1, 8)
    assert not progress.shown and quick.getvalue() == ""
    for stream, quiet in ((io.StringIO(), False), (FakeTerminal(), True)):
        with StderrProgress(stream=stream, delay=0.0, quiet=quiet) as progress:
            progress("scoring", 1, 8)
        assert not progress.shown and stream.getvalue() == ""


def test_score_reports_every_group_to_the_progress_callback(tmp_path):
    from mura_bench.scoring.engine import score
    from helpers import write_case

    write_case(tmp_path, seed=2)
    calls = []
    score(tmp_path / "preds.csv", tmp_path / "panel.csv", bootstrap=20, progress=lambda *a: calls.append(a))
    n = len((tmp_path / "labels.csv").read_text().splitlines())
    assert [c[0] for c in calls] == ["scoring"] * 8 and all(c[2] == 2 * n for c in calls)
    done = [c[1] for c in calls]
    assert done == sorted(done) and done[-1] == 2 * n and done[-2] == n  # overall: the last half


def test_no_progress_when_piped(tmp_path):
    from helpers import write_case

    write_case(tmp_path, seed=2)
    cp = subprocess.run(
        [
            sys.executable,
            "-m",
            "mura_bench",
            "score",
            tmp_path / "preds.csv",
            "--truth",
            tmp_path / "panel.csv",
            "--bootstrap",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert cp.returncode == 0 and cp.stderr == ""
