"""Every command reads each input once: given as named FIFOs (which can be read only once; a
second open would wait for a writer forever), predictions and truth give the same output as the
files, with the sha256 of the bytes read."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading

import pytest

from helpers import write_case, write_submission

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("case")
    write_case(folder, n_per_part=3, n_readers=5)
    return folder


def _fifo(folder, name, data: bytes):
    path = folder / name
    os.mkfifo(path)
    threading.Thread(target=lambda: path.write_bytes(data), daemon=True).start()
    return path


def _mb(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mura_bench", *map(str, args)], capture_output=True, text=True, timeout=60
    )


COMMANDS = {
    "score json": (["score", "{p}", "--truth", "{t}", "--bootstrap", "30", "--output", "json"], "panel.csv"),
    "score table": (["score", "{p}", "--truth", "{t}", "--bootstrap", "0"], "panel.csv"),
    "score codalab": (["score", "{p}", "--truth", "{t}", "--output", "codalab"], "labels.csv"),
    "score randomization": (
        [
            "score",
            "{p}",
            "--truth",
            "{t}",
            "--bootstrap",
            "0",
            "--test",
            "randomization",
            "--permutations",
            "20",
            "--output",
            "json",
        ],
        "panel.csv",
    ),
    "analyze json": (["analyze", "{p}", "--truth", "{t}", "--bootstrap", "20", "--output", "json"], "panel.csv"),
    "analyze csv": (
        ["analyze", "{p}", "--truth", "{t}", "--bootstrap", "0", "--output", "csv", "--target-sensitivity", "0.8"],
        "labels.csv",
    ),
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_commands_read_each_input_once(case, tmp_path, name):
    args, truth_name = COMMANDS[name]
    from_files = _mb(*[a.format(p=case / "preds.csv", t=case / truth_name) for a in args])
    assert from_files.returncode == 0, from_files.stderr
    preds = _fifo(tmp_path, "preds.fifo", (case / "preds.csv").read_bytes())
    truth = _fifo(tmp_path, "truth.fifo", (case / truth_name).read_bytes())
    from_fifos = _mb(*[a.format(p=preds, t=truth) for a in args])
    assert from_fifos.returncode == 0, from_fifos.stderr
    if "json" in name or "randomization" in name:
        a, b = json.loads(from_files.stdout), json.loads(from_fifos.stdout)
        for key in ("predictions", "truth"):
            assert (
                a["inputs"][key]["sha256"]
                == b["inputs"][key]["sha256"]
                == hashlib.sha256(
                    (case / ("preds.csv" if key == "predictions" else truth_name)).read_bytes()
                ).hexdigest()
            )
            a["inputs"][key]["path"] = b["inputs"][key]["path"] = None
        assert a == b
    else:  # the same figures (the layout may differ with the length of the paths in the title)
        assert re.findall(r"-?\d+\.\d+", from_files.stdout) == re.findall(r"-?\d+\.\d+", from_fifos.stdout)


def test_leaderboard_build_reads_the_truth_once(case, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    write_submission(subs, case / "preds.csv")
    truth = _fifo(tmp_path, "truth.fifo", (case / "panel.csv").read_bytes())
    proc = _mb(
        "leaderboard", "build", subs, "--truth", truth, "--out", tmp_path / "site", "--bootstrap", "20", "--quiet"
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "site" / "index.html").is_file()
