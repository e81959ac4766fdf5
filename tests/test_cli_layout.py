"""Every table the CLI prints fits the width it is given, never cuts a value, keeps each interval
whole (inline or on its own line), wraps its text lines between words, honours ``$COLUMNS`` in a
pipe, and fits a real pseudo-terminal: ``score``, ``analyze``, ``models``, the demo's summary.
Progress bars go to terminals only; ``leaderboard build`` with nothing re-scored exits 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from mura_bench.analysis.analyze import analyze
from mura_bench.console.analysis_table import analysis_blocks
from mura_bench.cli.main import cli
from mura_bench.data.predictions import read_predictions
from mura_bench.console.table_fit import Cell, Column, Grid, Row, block_text, fit, minimum_width, wrap_line
from mura_bench.data.truth import read_truth
from helpers import install_plugin, pty_output, run_in_pty, write_case

WIDTHS = (60, 80, 100, 200)
INTERVAL = re.compile(r"\((−?\d+\.\d+), (−?\d+\.\d+)\)")


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    root = tmp_path_factory.mktemp("layout")
    write_case(root, seed=5, n_readers=6)
    return root


@pytest.fixture(scope="module")
def analysis(case):
    return analyze(read_predictions(case / "preds.csv"), read_truth(case / "panel.csv"), bootstrap=200, seed=0)


def intervals_of(analysis) -> set[str]:
    """Every interval the analyze tables must show whole, as they write it."""
    text = block_text(analysis_blocks(analysis), 10_000)
    return {m.group(0) for m in INTERVAL.finditer(text)}


def check_fits(text: str, width: int) -> None:
    lines = text.splitlines()
    assert "…" not in text
    assert max(len(line) for line in lines) <= width, max(lines, key=len)


@pytest.mark.parametrize("width", WIDTHS)
def test_analyze_tables_fit_and_keep_every_interval_whole(analysis, width):
    text = block_text(analysis_blocks(analysis), width)
    check_fits(text, width)
    whole = intervals_of(analysis)
    assert len(whole) > 50
    for ci in whole:
        assert ci in text, ci
    for label in ("Target", "Missed", "Brier", "ECE (10", "Sensitivity", "NPV"):
        assert label in text
    assert text.count("elbow") >= 3


def test_analyze_layout_gets_denser_with_width(analysis):
    heights = [len(block_text(analysis_blocks(analysis), w).splitlines()) for w in WIDTHS]
    assert heights == sorted(heights, reverse=True) and heights[0] > heights[-1]
    # at 200 columns the triage table is one table with its intervals inline
    layout = fit(analysis_blocks(analysis)[1], 200)
    assert len(layout.tables) == 1 and not layout.stacked


def test_text_lines_wrap_between_words_only():
    line = "alpha beta-gamma /a/very/long/path/that/does/not/fit.csv vs delta — epsilon"
    for width in (10, 20, 40):
        wrapped = wrap_line(line, width)
        assert " ".join(wrapped).split() == line.split()
        assert all(len(w) <= width or " " not in w for w in wrapped)


def test_prose_column_wraps_between_words_and_values_never_wrap():
    grid = Grid(
        [Column("name", key=True, justify="left"), Column("value"), Column("note", justify="left", prose=True)],
        [Row(["a", Cell("0.500", "(0.100, 0.900)"), "one two three four-five-six seven eight"])],
    )
    for width in range(minimum_width(grid.table(grid.parts(), stacked=True, edge=False)), 70):
        text = block_text([grid], width)
        check_fits(text, width)
        assert "four-five-six" in text and "(0.100, 0.900)" in text


@pytest.mark.parametrize("columns", [60, 80, 100, 200])
def test_analyze_piped_honours_columns(case, columns):
    env = {**os.environ, "COLUMNS": str(columns)}
    cp = subprocess.run(
        [
            sys.executable,
            "-m",
            "mura_bench",
            "analyze",
            case / "preds.csv",
            "--truth",
            case / "panel.csv",
            "--bootstrap",
            "200",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert cp.returncode == 0, cp.stderr
    check_fits(cp.stdout, columns)
    assert "(−" in cp.stdout or "(0." in cp.stdout


@pytest.mark.parametrize("columns", [60, 80, 100])
def test_analyze_in_a_real_terminal(case, columns):
    code, out = run_in_pty(["analyze", case / "preds.csv", "--truth", case / "panel.csv", "--bootstrap", 200], columns)
    assert code == 0, out
    check_fits(out, columns)
    assert "Triage" in out and "Operating points" in out


@pytest.mark.parametrize("columns", [60, 80, 100])
def test_score_piped_honours_columns(case, columns):
    env = {**os.environ, "COLUMNS": str(columns)}
    cp = subprocess.run(
        [
            sys.executable,
            "-m",
            "mura_bench",
            "score",
            case / "preds.csv",
            "--truth",
            case / "panel.csv",
            "--bootstrap",
            "200",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert cp.returncode == 0, cp.stderr
    check_fits(cp.stdout, columns)


@pytest.mark.parametrize("width", WIDTHS)
def test_models_listing_keeps_each_option_value_whole(width):
    result = CliRunner().invoke(cli, ["models"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    check_fits(result.output, width)
    for value in ("statistic=bright-fraction", "threshold=0.9", "quantile=0.999", "p=0.3847"):
        assert value in result.output, value


@pytest.mark.parametrize("columns", [60, 80])
def test_models_in_a_real_terminal(columns):
    code, out = run_in_pty(["models"], columns)
    assert code == 0, out
    check_fits(out, columns)
    assert "statistic=bright-fraction" in out


SLOW_PLUGIN = '''
import time


class Model:
    def predict_images(self, images):
        time.sleep(30)
        return [0.5] * len(images)


def make():
    """Sleeps in predict_images."""
    return Model()


class Quick:
    def predict_images(self, images):
        return [0.5] * len(images)


def quick():
    """Answers at once."""
    return Quick()
'''


def test_models_check_streams_results_and_gives_up_after_the_timeout(tmp_path):
    site = install_plugin(
        tmp_path / "site",
        "slow-plugin",
        "1.0",
        {"slow_mod": SLOW_PLUGIN},
        {"a-quick": "slow_mod:quick", "b-sleeper": "slow_mod:make"},
    )
    env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "100"}
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mura_bench", "models", "--check", "--timeout", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    first_lines = []
    for line in proc.stdout:  # the quick model's row arrives before the sleeper is given up on
        first_lines.append((line, time.monotonic() - start))
        if "a-quick" in line:
            break
    rest, err = proc.communicate(timeout=60)
    elapsed = time.monotonic() - start
    assert proc.returncode == 2, err
    assert elapsed < 20
    quick_line, quick_at = first_lines[-1]
    assert quick_line.split()[-1] == "ok"
    assert "result" in first_lines[0][0]
    sleeper = next(line for line in rest.splitlines() if line.startswith("b-sleeper"))
    assert "failed: gave up after 2 s" in " ".join(rest.split()) and "b-sleeper" in sleeper
    assert "failed the check: b-sleeper" in err


def test_models_timeout_needs_check():
    result = CliRunner().invoke(cli, ["models", "--timeout", "3"])
    assert result.exit_code == 2 and "--timeout is only used with --check" in result.output


def test_progress_bars_never_go_to_a_file(tmp_path):
    """With stderr redirected to a file, no command draws a bar (synth, run --score, build)."""
    err = tmp_path / "err.txt"
    with err.open("w") as stream:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "mura_bench",
                "synth",
                "--out",
                tmp_path / "d",
                "--studies",
                "30",
                "--difficulty",
                "easy",
                "--workers",
                "1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=stream,
            check=True,
            timeout=300,
        )
        subprocess.run(
            [
                sys.executable,
                "-m",
                "mura_bench",
                "run",
                "image-statistics",
                "--data",
                tmp_path / "d",
                "--out",
                tmp_path / "p.csv",
                "--score",
                "--bootstrap",
                "50",
            ],
            stdout=subprocess.DEVNULL,
            stderr=stream,
            check=True,
            timeout=300,
        )
    text = err.read_text()
    assert "━" not in text and "\x1b" not in text and "0:00:" not in text
    assert "image-statistics:" in text  # the summary line is still written


def test_leaderboard_build_with_nothing_rescored_exits_2_and_writes_the_site(tmp_path, case):
    from helpers import REPORTED_TOML, write_entry, write_submission

    subs = tmp_path / "subs"
    write_submission(subs, case / "preds.csv", "entry")
    write_entry(subs, "paper", REPORTED_TOML, None)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(
        "".join(line.replace("valid", "train") + "\n" for line in (case / "labels.csv").read_text().splitlines())
    )
    cp = subprocess.run(
        [
            sys.executable,
            "-m",
            "mura_bench",
            "leaderboard",
            "build",
            subs,
            "--truth",
            wrong,
            "--out",
            tmp_path / "site",
            "--bootstrap",
            "50",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cp.returncode == 2, cp.stderr
    assert "no re-scored entry could be published" in cp.stderr
    assert (tmp_path / "site" / "index.html").is_file() and (tmp_path / "site" / "reported.html").is_file()
    assert "entry:" in cp.stderr  # the skipped entry and why


CONTROL = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])|\x1b\][^\x07]*\x07|([\r\n])|([^\x1b\r\n]+)")


def screen_lines(raw: str, columns: int) -> list[str]:
    """What a terminal of ``columns`` shows after ``raw`` (scrollback included): enough of a VT100
    for rich's output (text, CR, LF, cursor up ``ESC[nA``, erase line ``ESC[2K``; other sequences
    ignored; a line longer than the terminal wraps)."""
    lines, row, col = [[]], 0, 0
    for m in CONTROL.finditer(raw):
        args, final, crlf, text = m.groups()
        if crlf == "\r":
            col = 0
        elif crlf == "\n":
            row, col = row + 1, 0
        elif final == "A":
            row = max(0, row - int(args or 1))
        elif final == "K" and args == "2":
            lines[row] = []
        elif text:
            for ch in text:
                if col >= columns:
                    row, col = row + 1, 0
                while len(lines) <= row:
                    lines.append([])
                line = lines[row]
                line.extend(" " * (col - len(line) + 1))
                line[col] = ch
                col += 1
        while len(lines) <= row:
            lines.append([])
    return ["".join(line).rstrip() for line in lines]


def test_demo_last_screen_holds_the_summary_and_the_site(tmp_path):
    code, raw = pty_output(["demo", "--bootstrap", "200", "--cache", tmp_path / "cache"], 80, rows=24, timeout=300)
    lines = screen_lines(raw, 80)
    while lines and not lines[-1]:
        lines.pop()
    out = "\n".join(lines)
    assert code == 0, out
    last = lines[-24:]
    screen = "\n".join(last)
    assert "Summary: overall" in screen and "noisy oracle" in screen and "radiologists" in screen
    assert "Shown: this overall summary only" in screen and "--full" in screen
    site_line = next(i for i, line in enumerate(last) if line.startswith("demo leaderboard: "))
    path = "".join(last[site_line:])[len("demo leaderboard: ") :]  # a long path wraps on the terminal
    assert path == str(tmp_path / "cache" / "site" / "index.html")
    assert lines[0].startswith("mura-bench demo: generate")


@pytest.mark.parametrize("columns", [60, 200])
def test_score_in_a_real_terminal_at_the_extremes(case, columns):
    code, out = run_in_pty(
        ["score", case / "preds.csv", "--truth", case / "panel.csv", "--bootstrap", 100, "--show-readers"], columns
    )
    assert code == 0, out
    check_fits(out, columns)
    assert "r6" in out and "detected:" in out


def test_models_check_in_a_real_terminal():
    code, out = run_in_pty(["models", "--check"], 60)
    assert code == 0, out
    check_fits(out, 60)
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert rows["image-statistics"].split()[-1] == "ok" and rows["constant-prior"].split()[-1] == "ok"
    assert rows["name"].split()[-1] == "result"


def test_demo_full_prints_every_table_and_says_so(tmp_path):
    env = {**os.environ, "COLUMNS": "80"}
    cp = subprocess.run(
        [
            sys.executable,
            "-m",
            "mura_bench",
            "demo",
            "--full",
            "--no-site",
            "--bootstrap",
            "100",
            "--cache",
            tmp_path / "cache",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.count("protocol leave-one-out") == 3
    # only a path longer than the width (one word, never broken) may stick out
    assert all(len(line) <= 80 or " " not in line.strip() for line in cp.stdout.splitlines())
    tail = cp.stdout.splitlines()[-8:]
    assert any("Shown: each model's full table" in line for line in tail)
    assert tail[-1] == "no site built (--no-site)"
    assert cp.stdout.index("Summary: overall") > cp.stdout.rindex("protocol leave-one-out")
