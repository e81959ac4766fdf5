"""Crossed (submission, reference) pairs counted from their true positives and the marginals equal
the pairs counted one by one, and each pair's counts equal scikit-learn's confusion matrix."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from mura_bench.stats.bootstrap import draw_counts
from mura_bench.stats.metrics import CrossPairs, counts_from_indicators, pair_indicators


@pytest.mark.parametrize("n_readers", [0, 1, 6])
def test_crossed_counts_equal_pairs_listed_one_by_one(n_readers):
    rng = np.random.default_rng(n_readers)
    n, k, s = 150, 4, 7
    truth = rng.integers(0, 2, (n, k))
    pred = rng.integers(0, 2, (n, s))
    reader_truth = rng.integers(0, 2, (n, n_readers))
    reader_pred = rng.integers(0, 2, (n, n_readers))
    weights = draw_counts(n, 300, 0, 0)
    crossed = CrossPairs.of(truth, pred, reader_truth, reader_pred).counts(weights)
    truth_cols = np.concatenate([np.repeat(truth, s, axis=1), reader_truth], axis=1)  # column k*S + s
    pred_cols = np.concatenate([np.tile(pred, (1, k)), reader_pred], axis=1)
    listed = counts_from_indicators(weights, pair_indicators(truth_cols, pred_cols))
    for ours, theirs in zip(crossed, listed):
        assert ours.shape == (300, s * k + n_readers)
        np.testing.assert_array_equal(ours, theirs)
    tp, fp, fn, tn = crossed
    row = 17
    for col, (t, p) in enumerate(zip(truth_cols.T, pred_cols.T)):
        (etn, efp), (efn, etp) = skm.confusion_matrix(t, p, labels=[0, 1], sample_weight=weights[row])
        assert (tp[row, col], fp[row, col], fn[row, col], tn[row, col]) == (etp, efp, efn, etn)
