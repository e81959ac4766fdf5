"""The committed example board reads like MURA's: the readers above the image models, the DenseNet-169
baseline above the pixel heuristic (``image-statistics``) and chance.

Built exactly as the site is (``mura-bench leaderboard build submissions --truth
site/truth/valid_panel.csv``), with fewer resamples; the board's own CSV is read back.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from mura_bench.cli.main import cli

REPO = Path(__file__).resolve().parent.parent
BASELINE = "baseline-densenet169-synthetic"
HEURISTIC = "builtin-image-statistics"


@pytest.fixture(scope="module")
def board(tmp_path_factory) -> dict[str, dict[str, str]]:
    out = tmp_path_factory.mktemp("board") / "site"
    result = CliRunner().invoke(
        cli,
        [
            "leaderboard",
            "build",
            str(REPO / "submissions"),
            "--truth",
            str(REPO / "site" / "truth" / "valid_panel.csv"),
            "--out",
            str(out),
            "--bootstrap",
            "2000",
            "--quiet",
            "--strict",
        ],
    )
    assert result.exit_code == 0, result.output
    with (out / "leaderboard.csv").open(newline="", encoding="utf-8") as handle:
        return {row["key"]: row for row in csv.DictReader(handle)}


def _value(row: dict[str, str], metric: str, group: str = "overall") -> float:
    return float(row[f"{group}_{metric}"])


@pytest.mark.slow
def test_readers_are_above_every_image_model_on_the_metrics_they_share(board):
    readers = board["radiologists"]
    for key in (BASELINE, HEURISTIC):
        for metric in ("f1", "kappa"):
            assert _value(readers, metric) > _value(board[key], metric) + 0.2, (key, metric)


@pytest.mark.slow
def test_the_baseline_is_clearly_above_the_pixel_heuristic_and_chance(board):
    baseline, heuristic = board[BASELINE], board[HEURISTIC]
    assert _value(baseline, "auroc") >= _value(heuristic, "auroc") + 0.1
    for metric in ("f1", "kappa"):
        assert _value(baseline, metric) > _value(heuristic, metric), metric
    assert _value(baseline, "auroc") > _value(board["example-chance"], "auroc") + 0.1
    # the board's rank (paired F1 test): significantly better than the heuristic
    assert int(baseline["rank"]) < int(heuristic["rank"])


@pytest.mark.slow
def test_the_baseline_is_above_chance_on_every_body_part(board):
    baseline = board[BASELINE]
    for group in ("elbow", "finger", "forearm", "hand", "humerus", "shoulder", "wrist"):
        assert _value(baseline, "auroc", group) > 0.6, group
