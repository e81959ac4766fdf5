"""The leaderboard's triage and calibration additions agree with `mura-bench analyze`."""

from __future__ import annotations

import html
import re

import pytest

from mura_bench.analysis.analyze import analyze
from mura_bench.analysis.analysis_batch import analyze_overall_many
from mura_bench.leaderboard.build import build_site
from mura_bench.data.predictions import read_predictions
from mura_bench.data.truth import read_truth
from helpers import make_submissions, write_truth

RESAMPLES = 300


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root = tmp_path_factory.mktemp("triage-board")
    truth, studies, labels = write_truth(root)
    subs = make_submissions(root, studies, labels)
    build_site(subs, truth, root / "site", resamples=RESAMPLES, seed=3, title="Triage board")
    return root, truth, subs


def test_batch_equals_single_analysis(board):
    root, truth, subs = board
    names = ["strong", "weak", "zero-one", "hostile"]
    preds = [read_predictions(subs / k / "predictions.csv") for k in names]
    many = analyze_overall_many(preds, read_truth(truth), resamples=RESAMPLES, seed=3)
    for name, pred, got in zip(names, preds, many):
        if not pred.has_probabilities:
            assert got is None
            continue
        one = analyze(pred, truth, bootstrap=RESAMPLES, seed=3).groups["overall"]
        assert got.triage == one.triage, name
        assert got.reliability == one.calibration["reliability"]
        assert got.brier == one.calibration["brier"].value and got.ece == one.calibration["ece"].value


def test_entry_pages_show_the_triage_of_analyze(board):
    root, truth, subs = board
    site = root / "site"
    for name in ("strong", "weak"):
        page = html.unescape((site / "entry" / f"{name}.html").read_text())
        one = analyze(subs / name / "predictions.csv", truth, bootstrap=RESAMPLES, seed=3).groups["overall"]
        share = one.triage["cleared_share"]
        row = re.search(
            r"Share of studies cleared</th>\s*<td class=\"num\">([^<]*)</td>\s*<td class=\"num ci\">([^<]*)<", page
        )
        assert row is not None
        assert row.group(1) == f"{share.value:.3f}"
        assert row.group(2) == f"{share.ci[0]:.3f}–{share.ci[1]:.3f}"
        assert f"reliability-{name}.svg" in page and (site / "plots" / f"reliability-{name}.svg").is_file()
    zero_one = (site / "entry" / "zero-one.html").read_text()
    assert "need probabilities" in zero_one and not (site / "plots" / "reliability-zero-one.svg").exists()


def test_index_has_a_sortable_cleared_column(board):
    root, truth, subs = board
    index = (root / "site" / "index.html").read_text()
    assert "Cleared at reader sensitivity" in index
    values = dict(re.findall(r'data-key="([^"]+)"[\s\S]*?<td class="num cleared" data-v="([^"]*)"', index))
    one = analyze(subs / "weak" / "predictions.csv", truth, bootstrap=RESAMPLES, seed=3).groups["overall"]
    assert float(values["weak"]) == one.triage["cleared_share"].value
    assert values["zero-one"] == "" and values["radiologists"] == ""


@pytest.mark.browser
def test_cleared_column_sorts_in_the_browser(board):
    from helpers import BROWSER_ARGS, CHROMIUM
    from playwright.sync_api import sync_playwright

    root, _, _ = board
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page()
        page.goto((root / "site" / "index.html").as_uri())
        header = page.locator("#leaderboard thead th[data-col='cleared'] button")
        cells = "rows => rows.map(r => r.querySelector('td.cleared').dataset.v)"
        for _ in range(2):
            header.click()
            got = [float(v) for v in page.eval_on_selector_all("#leaderboard tbody tr", cells) if v]
            direction = page.get_attribute("#leaderboard thead th[data-col='cleared']", "aria-sort")
            assert got == sorted(got, reverse=direction == "descending") and len(got) >= 2
        browser.close()


def test_no_readers_no_cleared_column(board, tmp_path):
    root, truth, subs = board
    panel = read_truth(truth)
    labels = tmp_path / "labels.csv"
    labels.write_text("".join(f"{s},{int(r.sum() * 2 >= r.size)}\n" for s, r in zip(panel.study_ids, panel.readers)))
    build_site(subs, labels, tmp_path / "site", resamples=50, seed=3)
    assert "Cleared at reader sensitivity" not in (tmp_path / "site" / "index.html").read_text()
    entry = (tmp_path / "site" / "entry" / "weak.html").read_text()
    assert "needs a reader panel" in entry and (tmp_path / "site" / "plots" / "reliability-weak.svg").is_file()
