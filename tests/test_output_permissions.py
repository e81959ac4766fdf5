"""Outputs get the permissions of an ordinary new file (``0o666 & ~umask``; folders ``0o777 &
~umask``), never the 0600 of a temporary file; a replaced file keeps its mode."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mura_bench.io.outputs import write_text
from helpers import write_case, write_submission

UMASKS = [0o022, 0o002, 0o077, 0o027]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def under_umask(mask: int, code: str, cwd: Path) -> None:
    script = f"import os\nos.umask({mask})\n" + textwrap.dedent(code)
    cp = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert cp.returncode == 0, cp.stderr


@pytest.mark.parametrize("mask", UMASKS)
def test_score_and_run_outputs_follow_the_umask(tmp_path, mask):
    write_case(tmp_path, seed=2)
    under_umask(
        mask,
        """
        from mura_bench.cli.main import main
        from mura_bench.synth import generate
        assert main(["score", "preds.csv", "--truth", "panel.csv", "--bootstrap", "0", "--output", "json",
                     "--out", "r.json"]) == 0
        assert main(["score", "preds.csv", "--truth", "panel.csv", "--bootstrap", "0", "--out", "r.txt"]) == 0
        generate("data", studies=3, train_studies=1, image_size=16)
        assert main(["run", "image-statistics", "--data", "data", "--out", "p.csv", "--quiet"]) == 0
        """,
        tmp_path,
    )
    for name in ("r.json", "r.txt", "p.csv"):
        assert mode(tmp_path / name) == 0o666 & ~mask, name


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_synth_and_leaderboard_folders_and_files_follow_the_umask(tmp_path, mask):
    write_case(tmp_path, seed=3)
    write_submission(tmp_path / "subs", tmp_path / "preds.csv")
    under_umask(
        mask,
        """
        from mura_bench.cli.main import main
        assert main(["synth", "--out", "syn", "--studies", "3", "--train-studies", "1", "--image-size", "16"]) == 0
        assert main(["leaderboard", "build", "subs", "--truth", "panel.csv", "--out", "site", "--bootstrap", "0"]) == 0
        """,
        tmp_path,
    )
    folders = [tmp_path / "syn" / "MURA-v1.1", tmp_path / "site", tmp_path / "site" / "plots"]
    files = [
        tmp_path / "syn" / "MURA-v1.1" / "valid_panel.csv",
        tmp_path / "site" / "index.html",
        tmp_path / "site" / "leaderboard.json",
    ]
    for folder in folders:
        assert mode(folder) == 0o777 & ~mask, folder
    for file in files:
        assert mode(file) == 0o666 & ~mask, file


def test_a_replaced_result_keeps_its_mode(tmp_path):
    out = tmp_path / "r.txt"
    out.write_text("old")
    out.chmod(0o640)
    write_text(out, "new")
    assert out.read_text() == "new" and mode(out) == 0o640


def test_a_new_result_is_not_private(tmp_path):
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "r.txt", "x")
    finally:
        os.umask(old)
    assert mode(tmp_path / "r.txt") == 0o644
