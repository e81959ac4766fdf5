"""The hidden-truth publication policy's pieces: calibration bins of at least 20 studies, no
study-resolution threshold, no ROC curve, on a reader-panel board built with --hidden-truth."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from hosting_helpers import write_panel, write_probabilities
from mura_bench.cli.main import cli
from mura_bench.leaderboard.hidden_truth import MIN_BIN_STUDIES, ece_of, merge_small_bins


@pytest.mark.parametrize("sizes", [[20] * 10, [1, 199], [5, 5, 5, 5, 30, 3], [199, 1], [7, 8], [25, 19, 19, 40]])
def test_merged_bins_hold_20_studies_each_and_keep_the_totals(sizes):
    rng = np.random.default_rng(len(sizes))
    bins = [[float(p), float(y), n] for p, y, n in zip(np.sort(rng.random(len(sizes))), rng.random(len(sizes)), sizes)]
    merged = merge_small_bins(bins)
    total = sum(sizes)
    if total < MIN_BIN_STUDIES:
        assert merged == []
        return
    assert all(b[2] >= MIN_BIN_STUDIES for b in merged) and sum(b[2] for b in merged) == total
    for column in (0, 1):  # weighted means of the merged bins add up to the same sums
        assert sum(b[column] * b[2] for b in merged) == pytest.approx(sum(b[column] * b[2] for b in bins))
    assert [b[0] for b in merged] == sorted(b[0] for b in merged)
    if all(n >= MIN_BIN_STUDIES for n in sizes):
        assert np.allclose(np.array(merged, dtype=float), np.array(bins, dtype=float))
    naive = sum(n * abs(p - y) for p, y, n in merged) / total
    assert ece_of(merged) == pytest.approx(naive)


def test_a_hidden_truth_board_shows_no_curve_no_threshold_and_says_why(tmp_path):
    truth = write_panel(tmp_path / "panel.csv", 200, seed=8)
    subs = tmp_path / "subs"
    (subs / "model").mkdir(parents=True)
    write_probabilities(subs / "model" / "predictions.csv", truth)
    (subs / "model" / "submission.toml").write_text('name = "Model"\nreported = false\n', encoding="utf-8")
    pages = {}
    for hidden in (False, True):
        site = tmp_path / f"site-{hidden}"
        args = [
            "leaderboard",
            "build",
            str(subs),
            "--truth",
            str(truth),
            "--out",
            str(site),
            "--bootstrap",
            "20",
            "--quiet",
        ] + (["--hidden-truth"] if hidden else [])
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        pages[hidden] = (
            (site / "entry" / "model.html").read_text(encoding="utf-8"),
            (site / "index.html").read_text(encoding="utf-8"),
        )
    open_page, hidden_page = pages[False][0], pages[True][0]
    assert "Threshold t*" in open_page and "Threshold t*" not in hidden_page
    assert "ROC curve from the study probabilities" in open_page and "no ROC curve is drawn" in hidden_page
    assert "at least 20 studies" in hidden_page and "Share of studies cleared" in hidden_page
    assert "The truth is hidden" in pages[True][1] and "The truth is hidden" not in pages[False][1]
