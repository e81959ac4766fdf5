"""BCa's jackknife from closed forms (O(n) per left-out study) gives, bit for bit, the statistics
of the jackknife weights' rows; the weights path is the slow, obviously-correct reference, and
scikit-learn the oracle for the leave-one-out AUROC itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from helpers import write_case
from mura_bench import score
from mura_bench.scoring import group_statistics
from mura_bench.stats.bootstrap import jackknife_weights
from mura_bench.stats.metrics import CrossPairs, LeaveOneOutAuroc, auroc_weighted
from mura_bench.stats.rank_sums import ScoreRanking


def _inputs(n: int, k: int, s: int, levels: int | None, seed: int):
    rng = np.random.default_rng(seed)
    truth = (rng.random((n, k)) < rng.uniform(0.1, 0.9)).astype(np.int8)
    scores = rng.random((n, s)) if levels is None else rng.integers(0, levels, (n, s)) / levels
    return truth, scores


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 40),
    k=st.integers(1, 4),
    s=st.integers(1, 3),
    levels=st.sampled_from([None, 1, 2, 5]),
    seed=st.integers(0, 2**16),
)
def test_leave_one_out_auroc_equals_the_jackknife_weights_bit_for_bit(n, k, s, levels, seed):
    truth, scores = _inputs(n, k, s, levels, seed)
    ranking = ScoreRanking.of(scores)
    expected = auroc_weighted(jackknife_weights(n), truth, scores, ranking)
    loo = LeaveOneOutAuroc.of(truth, ranking)
    np.testing.assert_array_equal(loo.values(0, n), expected)
    split = n // 2  # any slice of the samples is those rows
    np.testing.assert_array_equal(loo.values(split, n), expected[split:])


@pytest.mark.parametrize("n", [2047, 2048, 2500])  # both sides of auroc_weighted's float32 switch
@pytest.mark.parametrize("levels", [None, 7])
def test_leave_one_out_auroc_bit_for_bit_on_larger_samples(n, levels):
    truth, scores = _inputs(n, 3, 2, levels, n)
    ranking = ScoreRanking.of(scores)
    expected = auroc_weighted(jackknife_weights(n), truth, scores, ranking)
    np.testing.assert_array_equal(LeaveOneOutAuroc.of(truth, ranking).values(0, n), expected)


@pytest.mark.parametrize("levels", [None, 4])
def test_leave_one_out_auroc_matches_scikit_learn(levels):
    n = 30
    truth, scores = _inputs(n, 2, 2, levels, 11)
    truth[:2, 0] = [1, 0]  # both classes whatever is left out
    got = LeaveOneOutAuroc.of(truth, ScoreRanking.of(scores)).values(0, n)
    for i in range(n):
        keep = np.arange(n) != i
        for si in range(2):
            for ki in range(2):
                y = truth[keep, ki]
                want = roc_auc_score(y, scores[keep, si]) if 0 < y.sum() < y.size else np.nan
                np.testing.assert_allclose(got[i, si, ki], want, rtol=0, atol=1e-12)


def test_leave_one_out_auroc_of_one_truth_column_and_one_class_left():
    truth = np.array([1, 0, 0])
    loo = LeaveOneOutAuroc.of(truth, ScoreRanking.of(np.array([0.9, 0.1, 0.5])))
    values = loo.values(0, 3)  # leaving the only positive out leaves one class: NaN
    assert values.shape == (3, 1, 1) and np.isnan(values[0, 0, 0]) and values[1, 0, 0] == values[2, 0, 0] == 1.0


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 50), k=st.integers(1, 4), s=st.integers(1, 3), r=st.integers(0, 5), seed=st.integers(0, 999))
def test_leave_one_out_counts_equal_the_jackknife_weights_bit_for_bit(n, k, s, r, seed):
    rng = np.random.default_rng(seed)
    pairs = CrossPairs.of(
        rng.random((n, k)) < 0.5, rng.random((n, s)) < 0.5, rng.random((n, r)) < 0.5, rng.random((n, r)) < 0.5
    )
    expected = pairs.counts(jackknife_weights(n))
    for got, want in zip(pairs.leave_one_out_counts(0, n), expected):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    for got, want in zip(pairs.leave_one_out_counts(n // 3, n), expected):
        np.testing.assert_array_equal(got, want[n // 3 :])


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("jackknife")
    write_case(folder, n_per_part=9, n_readers=6, seed=8)
    preds = pd.read_csv(folder / "preds.csv")
    column = [c for c in preds.columns if c != preds.columns[0]][0]
    preds[column] = (preds[column] * 4).round() / 4  # many tied scores
    preds.to_csv(folder / "tied.csv", index=False)
    return folder


def _weights_path(monkeypatch) -> None:
    """The reference: every jackknife sample's statistics from its row of weights."""
    monkeypatch.setattr(group_statistics, "EXACT_FLOAT32_COUNTS", 0)


SCORINGS = [
    ("panel.csv", {}),
    ("panel.csv", {"protocol": "gold-panel"}),
    ("panel.csv", {"metrics": ("auroc",)}),
    ("panel.csv", {"metrics": ("f1", "kappa")}),
    ("labels.csv", {}),
    ("labels.csv", {"metrics": ("auroc",)}),
]


@pytest.mark.parametrize("preds", ["preds.csv", "tied.csv"])
@pytest.mark.parametrize("truth,options", SCORINGS, ids=lambda x: str(x))
def test_bca_results_are_those_of_the_weights_path_byte_for_byte(case, monkeypatch, preds, truth, options):
    run = lambda: score(case / preds, case / truth, bootstrap=150, ci_method="bca", seed=5, **options)  # noqa: E731
    closed_forms = []
    real = CrossPairs.leave_one_out_counts
    with monkeypatch.context() as spy:
        spy.setattr(CrossPairs, "leave_one_out_counts", lambda *a: closed_forms.append(1) or real(*a))
        fast = run().to_json()
    assert closed_forms  # the closed forms were used
    _weights_path(monkeypatch)
    assert run().to_json() == fast
