"""The run-by-run rank sums of many resamples equal the block-by-block ones bit for bit, and AUROC
from them matches scikit-learn (ties, several truth and score columns, one-class resamples)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from mura_bench.stats import metrics
from mura_bench.stats.bootstrap import draw_counts
from mura_bench.stats.metrics import auroc_weighted
from mura_bench.stats.rank_sums import ScoreRanking
from mura_bench.stats.rank_sums import rank_sums_by_runs, runs_dtype


def both_paths(monkeypatch, weights, truth, scores):
    """AUROC through the run-by-run path and through the block path, on the same inputs."""
    monkeypatch.setattr(metrics, "RUNS_MIN_RESAMPLES", 1)
    by_runs = auroc_weighted(weights, truth, scores)
    monkeypatch.setattr(metrics, "RUNS_MIN_RESAMPLES", 10**9)
    by_blocks = auroc_weighted(weights, truth, scores)
    return by_runs, by_blocks


@pytest.mark.parametrize("seed", range(6))
def test_runs_equal_blocks_bit_for_bit(monkeypatch, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 400))
    k, s = int(rng.integers(1, 7)), int(rng.integers(1, 5))
    base = rng.random(n) < rng.uniform(0.05, 0.95)
    truth = np.repeat(base[:, None], k, axis=1) ^ (rng.random((n, k)) < 0.1)  # references that mostly agree
    scores = rng.random((n, s)) + 0.3 * base[:, None]
    scores[:, 0] = np.round(scores[:, 0], int(rng.integers(0, 3)))  # heavy ties in one column
    if s > 1:
        scores[:, 1] = 0.5  # all tied
    weights = draw_counts(n, int(rng.integers(2, 300)), seed, 0)
    by_runs, by_blocks = both_paths(monkeypatch, weights, truth.astype(int), scores)
    np.testing.assert_array_equal(by_runs, by_blocks)  # NaN where one class, in the same places


def test_runs_match_sklearn_on_resamples(monkeypatch):
    rng = np.random.default_rng(11)
    n = 250
    truth = (rng.random(n) < 0.35).astype(int)
    scores = np.round(rng.random(n) + 0.4 * truth, 2)
    weights = draw_counts(n, 1200, 3, 1)
    monkeypatch.setattr(metrics, "RUNS_MIN_RESAMPLES", 1000)
    ours = auroc_weighted(weights, truth, scores)
    for b in (0, 1, 517, 1199):
        expected = skm.roc_auc_score(truth, scores, sample_weight=weights[b])
        assert ours[b] == pytest.approx(expected, abs=1e-12)


def test_unit_and_large_weights_direct_sum():
    """Against the definition: sum_j w_j y_j (midrank_j + (w_j - 1)/2), written as a double loop."""
    rng = np.random.default_rng(4)
    n, b = 40, 5
    truth = (rng.random((n, 2)) < 0.5).astype(int)
    scores = np.round(rng.random(n), 1)
    weights = rng.integers(0, 2000, (b, n))  # weights far above bootstrap counts: int64 sums
    ranking = ScoreRanking.of(scores)
    squares = (weights.astype(np.float64) ** 2) @ truth
    acc_dtype = runs_dtype(int(weights.sum(axis=1).max()), n)
    assert acc_dtype is np.int64  # weights this large leave int32
    got = rank_sums_by_runs(np.ascontiguousarray(weights.T), truth, ranking, squares, acc_dtype)[:, 0, :]
    for row in range(b):
        w = weights[row]
        for col in range(2):
            expected = 0.0
            for j in range(n):
                below = w[scores < scores[j]].sum()
                tied = w[scores == scores[j]].sum()
                midrank = below + (tied + 1) / 2
                expected += w[j] * truth[j, col] * (midrank + (w[j] - 1) / 2)
            assert got[row, col] == expected


def test_exactness_bound():
    assert runs_dtype(1199, 1199) is np.int32
    assert runs_dtype(8000, 40) is np.int64
    assert runs_dtype(2**30, 10) is None
