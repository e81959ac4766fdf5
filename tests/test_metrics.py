"""Every metric against scikit-learn as the oracle, on shared random cases (weighted and not)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from mura_bench.stats.metrics import COUNT_METRICS, METRICS, auroc_weighted, confusion_counts, metric_score


def sklearn_metric(name, y_true, y_pred, weight=None):
    kw = {"sample_weight": weight}
    if name == "f1":
        return skm.f1_score(y_true, y_pred, zero_division=1.0, **kw)
    if name == "kappa":
        return skm.cohen_kappa_score(y_true, y_pred, **kw)
    if name == "accuracy":
        return skm.accuracy_score(y_true, y_pred, **kw)
    if name == "sensitivity":
        return skm.recall_score(y_true, y_pred, zero_division=1.0, **kw)
    if name == "specificity":
        return skm.recall_score(y_true, y_pred, pos_label=0, zero_division=1.0, **kw)
    if name == "precision":
        return skm.precision_score(y_true, y_pred, zero_division=1.0, **kw)
    if name == "auroc":
        return skm.roc_auc_score(y_true, y_pred, **kw)
    raise KeyError(name)


def random_cases(n_cases=40, seed=0):
    rng = np.random.default_rng(seed)
    for i in range(n_cases):
        n = int(rng.integers(5, 60))
        prevalence = rng.uniform(0.1, 0.9)
        y = (rng.random(n) < prevalence).astype(int)
        if y.min() == y.max():
            y[0] = 1 - y[0]
        noise = rng.normal(0, rng.uniform(0.1, 1.0), n)
        scores = np.clip(0.5 + (y - 0.5) * rng.uniform(0, 0.6) + noise * 0.3, 0, 1)
        if i % 3 == 0:  # ties on purpose
            scores = np.round(scores, 1)
        pred = (scores > 0.5).astype(int)
        yield i, y, pred, scores


@pytest.mark.parametrize("name", [m for m in METRICS if m != "auroc"])
def test_count_metrics_match_sklearn_unweighted(name):
    for _, y, pred, _ in random_cases():
        ours = metric_score(name, y, pred)
        assert ours == pytest.approx(sklearn_metric(name, y, pred), abs=1e-12)


def test_auroc_matches_sklearn_with_ties():
    for _, y, _, scores in random_cases():
        assert metric_score("auroc", y, scores) == pytest.approx(skm.roc_auc_score(y, scores), abs=1e-12)


@pytest.mark.parametrize("name", METRICS)
def test_weighted_resamples_match_sklearn_sample_weight(name):
    rng = np.random.default_rng(1)
    for _, y, pred, scores in random_cases(15, seed=2):
        n = y.size
        weights = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(8)]).astype(np.float32)
        if name == "auroc":
            ours = auroc_weighted(weights, y, scores)
        else:
            ours = COUNT_METRICS[name](*confusion_counts(weights, y, pred))[:, 0]
        for b in range(weights.shape[0]):
            w = weights[b]
            keep = w > 0
            yk, pk, sk = y[keep], pred[keep], scores[keep]
            if name == "auroc":
                if yk.min() == yk.max():
                    assert np.isnan(ours[b])
                    continue
                expected = skm.roc_auc_score(yk, sk, sample_weight=w[keep])
            elif name == "kappa" and len(set(yk)) == 1 and len(set(pk)) == 1 and yk[0] == pk[0]:
                expected = 1.0  # documented: p_e = 1 -> perfect agreement (sklearn says NaN)
            else:
                expected = sklearn_metric(name, yk, pk, w[keep])
            assert ours[b] == pytest.approx(expected, abs=1e-9), (name, b)


def test_confusion_counts_many_column_pairs_at_once():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, (30, 4))
    pred = rng.integers(0, 2, (30, 4))
    tp, fp, fn, tn = confusion_counts(np.ones((1, 30), np.float32), truth, pred)
    for k in range(4):
        (etn, efp), (efn, etp) = skm.confusion_matrix(truth[:, k], pred[:, k], labels=[0, 1])
        assert (tp[0, k], fp[0, k], fn[0, k], tn[0, k]) == (etp, efp, efn, etn)


def test_degenerate_cases_are_documented_floats():
    ones, zeros = np.ones(6, int), np.zeros(6, int)
    assert metric_score("f1", zeros, zeros) == 1.0  # TP+FP+FN = 0
    assert metric_score("kappa", ones, ones) == 1.0  # p_e = 1
    assert metric_score("kappa", zeros, zeros) == 1.0
    assert metric_score("sensitivity", zeros, ones) == 1.0  # no positives to miss
    assert metric_score("specificity", ones, zeros) == 1.0
    assert metric_score("precision", ones, zeros) == 1.0
    assert np.isnan(metric_score("auroc", ones, np.linspace(0, 1, 6)))
    assert metric_score("f1", ones, zeros) == 0.0


def test_auroc_of_many_score_columns_equals_one_at_a_time():
    rng = np.random.default_rng(5)
    n = 300
    truth = (rng.random((n, 3)) < 0.4).astype(int)
    scores = rng.random((n, 4))
    scores[:, 1] = np.round(scores[:, 1], 1)  # one column with ties
    weights = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(700)]).astype(np.float32)
    many = auroc_weighted(weights, truth, scores)
    assert many.shape == (700, 4, 3)
    for s in range(4):
        for k in range(3):
            single = auroc_weighted(weights, truth[:, k], scores[:, s])
            np.testing.assert_allclose(many[:, s, k], single, rtol=0, atol=1e-12)
            for b in (0, 399, 699):
                assert single[b] == pytest.approx(
                    skm.roc_auc_score(truth[:, k], scores[:, s], sample_weight=weights[b]), abs=1e-12
                )
