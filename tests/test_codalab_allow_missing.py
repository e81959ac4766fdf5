"""``--output codalab --allow-missing`` warns on stderr exactly as table/json do, and names the body
parts left empty (their keys are null)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import write_case

PARTS = ("Elbow", "Finger", "Forearm", "Hand", "Humerus", "Shoulder", "Wrist")


def mb(*args):
    return subprocess.run(
        [sys.executable, "-m", "mura_bench", *map(str, args)], capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def case(tmp_path):
    write_case(tmp_path, seed=31)
    return tmp_path


def drop_rows(case, keep) -> None:
    lines = (case / "preds.csv").read_text().splitlines()
    (case / "subset.csv").write_text("\n".join([lines[0], *[l for l in lines[1:] if keep(l)]]) + "\n")


def warning_block(stderr: str) -> list[str]:
    lines = stderr.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("WARNING: --allow-missing"))
    end = start + 1
    while end < len(lines) and lines[end].startswith("  "):
        end += 1
    return lines[start:end]


@pytest.mark.parametrize("dropped", [["XR_WRIST"], ["XR_ELBOW", "XR_HAND"], ["patient105/", "patient120/"]])
def test_codalab_warns_like_json_and_names_empty_parts(case, dropped):
    drop_rows(case, lambda line: not any(d in line for d in dropped))
    codalab = mb("score", case / "subset.csv", "--truth", case / "labels.csv", "--output", "codalab", "--allow-missing")
    as_json = mb(
        "score",
        case / "subset.csv",
        "--truth",
        case / "labels.csv",
        "--output",
        "json",
        "--allow-missing",
        "--bootstrap",
        0,
    )
    assert codalab.returncode == 0 == as_json.returncode, codalab.stderr
    assert warning_block(codalab.stderr) == warning_block(as_json.stderr)
    scores = json.loads(codalab.stdout)
    empty = [p for p in PARTS if f"XR_{p.upper()}" in dropped]
    for part in PARTS:
        assert (scores[f"{part}_Mean"] is None) == (part in empty)
    if empty:
        line = next(l for l in codalab.stderr.splitlines() if l.startswith("WARNING: no scored study"))
        assert all(p in line for p in empty) and not any(p in line for p in PARTS if p not in empty)
    else:
        assert "no scored study" not in codalab.stderr


def test_codalab_without_allow_missing_still_refuses_a_subset(case):
    drop_rows(case, lambda line: "XR_WRIST" not in line)
    cp = mb("score", case / "subset.csv", "--truth", case / "labels.csv", "--output", "codalab")
    assert cp.returncode == 2 and "XR_WRIST" in cp.stderr and cp.stdout == ""


def test_codalab_with_every_study_is_silent(case):
    cp = mb("score", case / "preds.csv", "--truth", case / "labels.csv", "--output", "codalab", "--allow-missing")
    assert cp.returncode == 0 and cp.stderr == ""
    assert all(json.loads(cp.stdout)[f"{p}_Mean"] is not None for p in PARTS)


def test_codalab_to_a_file_still_warns_on_stderr(case):
    drop_rows(case, lambda line: "XR_FINGER" not in line)
    out = case / "scores.json"
    cp = mb(
        "score",
        case / "subset.csv",
        "--truth",
        case / "labels.csv",
        "--output",
        "codalab",
        "--allow-missing",
        "--out",
        out,
    )
    assert cp.returncode == 0 and cp.stdout == ""
    assert "WARNING: --allow-missing" in cp.stderr and "Finger" in cp.stderr
    assert json.loads(out.read_text())["Finger_Mean"] is None
