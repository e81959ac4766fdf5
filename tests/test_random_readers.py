"""``--readers random``: the Obuchowski-Rockette test of model - radiologists through score, the CLI,
``evaluate`` and the marks; the deprecated two-way bootstrap; the randomization test at 1 - confidence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mura_bench import evaluate
from mura_bench.data.layout import BODY_PARTS, GROUPS
from mura_bench.stats.obuchowski_rockette import model_vs_readers
from mura_bench.stats.protocols import leave_one_out_references
from helpers import REPO, run, write_case

PANEL = REPO / "site" / "truth" / "valid_panel.csv"


@pytest.fixture
def case(tmp_path):
    write_case(tmp_path, n_per_part=25)
    return tmp_path


def test_json_difference_is_the_or_analysis_of_the_reader_differences(case):
    cp = run(
        "score",
        case / "preds.csv",
        "--truth",
        case / "panel.csv",
        "--readers",
        "random",
        "--output",
        "json",
        "--bootstrap",
        50,
        "--metrics",
        "f1,kappa,auroc",
        "--confidence",
        "0.9",
    )
    assert cp.returncode == 0, cp.stderr
    doc = json.loads(cp.stdout)
    assert doc["bootstrap"]["readers"] == "random"
    panel = pd.read_csv(case / "panel.csv").sort_values("study")
    preds = pd.read_csv(case / "preds.csv").set_index("study").loc[panel.study]
    readers = panel[[f"r{i}" for i in range(1, 7)]].to_numpy()
    model = (preds.probability.to_numpy() > 0.5).astype(int)
    parts = np.array([BODY_PARTS.index(s.split("/")[2][3:].lower()) for s in panel.study])
    refs = leave_one_out_references(readers)
    for g in GROUPS:
        rows = np.arange(parts.size) if g == "overall" else np.flatnonzero(parts == BODY_PARTS.index(g))
        diff = doc["groups"][g]["difference"]
        assert "auroc" not in diff  # binary reads: no AUROC difference
        for metric in ("f1", "kappa"):
            expected = model_vs_readers(refs[rows], readers[rows], np.arange(6), model[rows], metric, 0.9)
            d = diff[metric]
            assert d["method"] == "obuchowski-rockette"
            assert d["value"] == pytest.approx(expected.value, abs=1e-12)
            assert d["df"] == pytest.approx(expected.df, rel=1e-12)
            assert d["ci"] == pytest.approx(list(expected.ci), abs=1e-12)
            assert d["p_value"] == pytest.approx(expected.p_value, rel=1e-9)
            assert d["significant"] == (expected.p_value < 0.1)
    # the model's own intervals stay the bootstrap's
    fixed = json.loads(
        run(
            "score",
            case / "preds.csv",
            "--truth",
            case / "panel.csv",
            "--output",
            "json",
            "--bootstrap",
            50,
            "--metrics",
            "f1,kappa,auroc",
            "--confidence",
            "0.9",
        ).stdout
    )
    assert fixed["groups"]["overall"]["model"] == doc["groups"]["overall"]["model"]
    assert "method" not in fixed["groups"]["overall"]["difference"]["f1"]


def test_holm_applies_to_the_or_p_values(case):
    res = evaluate(*_arrays(case), readers="random", adjust="holm", bootstrap=0, metrics=["f1"])
    ps = np.array([res.groups[g].difference["f1"].p_value for g in GROUPS])
    from mura_bench.stats.randomization import holm

    adjusted = holm(ps)
    for g, p_adj in zip(GROUPS, adjusted):
        est = res.groups[g].difference["f1"]
        assert est.p_adjusted == pytest.approx(p_adj) and est.significant == (p_adj < 0.05)


def _arrays(case: Path):
    panel = pd.read_csv(case / "panel.csv").sort_values("study").set_index("study")
    preds = pd.read_csv(case / "preds.csv").set_index("study").loc[panel.index]
    return list(panel.index), preds.probability.to_numpy(), panel[[f"r{i}" for i in range(1, 7)]]


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (("--resample-readers",), "--resample-readers"),
        (("--test", "randomization"), "drop --test randomization"),
    ],
)
def test_refused_combinations_exit_2(case, extra, fragment):
    cp = run("score", case / "preds.csv", "--truth", case / "panel.csv", "--readers", "random", *extra)
    assert cp.returncode == 2 and fragment in cp.stderr and "Traceback" not in cp.stderr


def test_labels_only_truth_exits_2(case):
    cp = run("score", case / "preds.csv", "--truth", case / "labels.csv", "--readers", "random")
    assert cp.returncode == 2 and "holds no readers" in cp.stderr and "Traceback" not in cp.stderr


def test_resample_readers_is_deprecated_with_a_pointer(case):
    cp = run(
        "score",
        case / "preds.csv",
        "--truth",
        case / "panel.csv",
        "--resample-readers",
        "--bootstrap",
        50,
        "--output",
        "json",
    )
    assert cp.returncode == 0 and "deprecated" in cp.stderr and "--readers random" in cp.stderr
    assert "FutureWarning" not in cp.stderr
    with pytest.warns(FutureWarning, match='readers="random"'):
        evaluate(*_arrays(case), resample_readers=True, bootstrap=20, metrics=["f1"])


def test_randomization_test_honours_confidence(case):
    common = dict(test="randomization", permutations=199, bootstrap=0, metrics=["f1"])
    at95 = evaluate(*_arrays(case), **common)
    at80 = evaluate(*_arrays(case), confidence=0.8, **common)
    for g in GROUPS:
        a, b = at95.groups[g].difference["f1"], at80.groups[g].difference["f1"]
        assert a.p_value == b.p_value
        assert a.significant == (a.p_value < 0.05) and b.significant == (b.p_value < 0.2)


def test_table_marks_only_overall_unless_adjusted(case):
    res = evaluate(*_arrays(case), bootstrap=200, metrics=["f1"], confidence=0.5)  # wide net: marks everywhere
    from mura_bench.console.results_table import shows_mark

    flagged = [g for g in GROUPS if res.groups[g].difference["f1"].significant]
    assert any(g != "overall" for g in flagged)  # the JSON keeps per-group significance
    cp = run(
        "score",
        case / "preds.csv",
        "--truth",
        case / "panel.csv",
        "--bootstrap",
        200,
        "--metrics",
        "f1",
        "--confidence",
        "0.5",
        "--seed",
        "0",
    )
    body = cp.stdout
    marked_lines = [line for line in body.splitlines() if " * " in line or line.rstrip().endswith("*")]
    parts_marked = [line for line in marked_lines if any(p in line for p in BODY_PARTS)]
    assert not parts_marked
    assert "overall only" in body and "not tested" in body
    assert (
        shows_mark("wrist", res.groups["overall"].difference["f1"], adjusted=True)
        == res.groups["overall"].difference["f1"].significant
    )
    assert not shows_mark("wrist", res.groups["overall"].difference["f1"], adjusted=False)


def test_each_reader_of_the_panel_as_the_model_is_not_called_different_from_radiologists():
    """Each of the six readers of the embedded panel, submitted as the model against the other five:
    the pre-specified comparison (overall F1) is not significant under --readers random with Holm, and
    over every group and count metric the test flags no more than its nominal share."""
    panel = pd.read_csv(PANEL)
    names = [c for c in panel.columns if c.startswith("reader_")]
    flags = cells = 0
    for name in names:
        others = panel[["study"] + [c for c in names if c != name]].set_index("study")
        res = evaluate(
            list(panel.study), panel[name].to_numpy().astype(int), others, bootstrap=0, readers="random", adjust="holm"
        )
        assert not res.groups["overall"].difference["f1"].significant, name
        for g in GROUPS:
            for est in res.groups[g].difference.values():
                cells += 1
                flags += bool(est.significant)
    assert cells == 6 * 8 * 6
    assert flags / cells <= 0.05
