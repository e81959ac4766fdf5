"""Obuchowski-Rockette analysis: the reference MRMC software's published Van Dyke output, the
single-treatment analysis the model-vs-readers test uses, and that test on reader panels.

Reference figures: OR-DBM MRMC 2.51 (Schartz, Hillis, Pesce, Berbaum; build 20181028), "VanDyke trap
area jackknife anova.txt", as distributed in RJafroc (https://github.com/dpc10ster/RJafroc,
tests/testthat/goodValues361/Iowa/VanDyke.txt): trapezoidal AUC, jackknife covariances,
2 treatments, 5 readers, 114 cases (69 normal, 45 abnormal). Ratings: tests/data/van_dyke/.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import f1_score, roc_auc_score

from mura_bench.stats.obuchowski_rockette import (
    error_covariances,
    jackknife_covariance,
    model_vs_readers,
    or_single_treatment,
    or_treatments,
    reader_differences,
    trapezoidal_auc,
)
from mura_bench.stats.protocols import leave_one_out_references

DATA = Path(__file__).parent / "data" / "van_dyke" / "van_dyke_1993.csv"

# --- OR-DBM MRMC 2.51 output for the Van Dyke data (figures as printed) ---
READER_AUCS = [
    [0.91964573, 0.85877617, 0.90386473, 0.97310789, 0.82979066],  # treatment 1, readers 1-5
    [0.94782609, 0.90531401, 0.92173913, 0.99935588, 0.92995169],
]  # treatment 2
TREATMENT_MEANS = [0.89703704, 0.94083736]
MEAN_DIFFERENCE = -0.04380032
MS_T, MS_R, MS_TR = 0.00479617, 0.00383620, 0.00055103
MS_R_SINGLE = [0.00308263, 0.00130460]
VAR_R, VAR_TR, COV1, COV2, COV3, VAR_ERROR = 0.00153500, 0.00020040, 0.00034661, 0.00034407, 0.00023903, 0.00080229
CORRELATIONS = {"cov1": 0.43203138, "cov2": 0.42886683, "cov3": 0.29793328}
# Analysis 1 (random readers and cases): (a) F test, (b) difference, (c) single treatments
F_VALUE, DDF_H, P_F = 4.46, 15.26, 0.0517
ERROR_TERM = 0.00107626
DIFF_SE, DIFF_T, DIFF_CI = 0.02075, -2.11, (-0.08796, 0.00036)
SINGLE = [  # AUC, SE, df, CI, Cov2
    (0.89703704, 0.03317360, 12.74, (0.82522360, 0.96885048), 0.00048396),
    (0.94083736, 0.02156637, 12.71, (0.89413783, 0.98753689), 0.00020419),
]
# Analysis 2 (fixed readers): X2 and p
X2_FIXED, P_FIXED = 5.47595, 0.0193


def van_dyke():
    """(theta (2, 5), jackknife values (114, 10)) of the Van Dyke ratings, by brute force."""
    import csv

    with DATA.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5 * 114
    theta = np.empty((2, 5))
    jack = np.empty((114, 10))
    for j in range(5):
        mine = sorted((r for r in rows if int(r["reader"]) == j + 1), key=lambda r: int(r["case"]))
        truth = np.array([int(r["truth"]) for r in mine])
        for i in range(2):
            x = np.array([int(r[f"rating_modality_{i + 1}"]) for r in mine])
            theta[i, j] = trapezoidal_auc(x[truth == 0], x[truth == 1])
            for k in range(114):
                keep = np.arange(114) != k
                jack[k, i * 5 + j] = trapezoidal_auc(x[keep & (truth == 0)], x[keep & (truth == 1)])
    return theta, jack


@pytest.fixture(scope="module")
def vd():
    theta, jack = van_dyke()
    return theta, jackknife_covariance(jack)


def printed(x, digits):
    return round(float(x), digits)


def test_reader_aucs_are_the_trapezoidal_areas_and_match_sklearn(vd):
    theta, _ = vd
    np.testing.assert_allclose(theta, READER_AUCS, atol=5e-9)
    rng = np.random.default_rng(0)
    y, s = rng.integers(0, 2, 40), rng.integers(1, 6, 40)
    assert trapezoidal_auc(s[y == 0], s[y == 1]) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_two_treatment_analysis_reproduces_the_published_output(vd):
    theta, cov = vd
    a = or_treatments(theta, cov)
    assert [printed(m, 8) for m in a.means] == TREATMENT_MEANS
    assert printed(a.means[0] - a.means[1], 8) == MEAN_DIFFERENCE
    assert (printed(a.ms_t, 8), printed(a.ms_r, 8), printed(a.ms_tr, 8)) == (MS_T, MS_R, MS_TR)
    e = a.errors
    assert (printed(a.var_r, 8), printed(a.var_tr, 8)) == (VAR_R, VAR_TR)
    assert (printed(e.cov1, 8), printed(e.cov2, 8), printed(e.cov3, 8), printed(e.var_error, 8)) == (
        COV1,
        COV2,
        COV3,
        VAR_ERROR,
    )
    for name, r in CORRELATIONS.items():
        assert printed(getattr(e, name) / e.var_error, 8) == r
    assert printed(a.ms_tr + 5 * max(e.cov2 - e.cov3, 0), 8) == ERROR_TERM
    assert (printed(a.f, 2), printed(a.ddf, 2), printed(a.p, 4)) == (F_VALUE, DDF_H, P_F)
    diff = a.means[0] - a.means[1]
    assert printed(a.se_difference, 5) == DIFF_SE
    assert printed(diff / a.se_difference, 2) == DIFF_T
    half = stats.t.ppf(0.975, a.ddf) * a.se_difference
    assert (printed(diff - half, 5), printed(diff + half, 5)) == DIFF_CI
    assert (printed(a.chi2_fixed_readers, 5), printed(a.p_fixed_readers, 4)) == (X2_FIXED, P_FIXED)


@pytest.mark.parametrize("treatment", [0, 1])
def test_single_treatment_analysis_reproduces_analysis_1c(vd, treatment):
    theta, cov = vd
    block = slice(5 * treatment, 5 * treatment + 5)
    s = or_single_treatment(theta[treatment], cov[block, block], confidence=0.95)
    auc, se, df, ci, cov2 = SINGLE[treatment]
    assert printed(s.value, 8) == auc
    assert printed(s.ms_r, 8) == MS_R_SINGLE[treatment]
    assert printed(s.cov2, 8) == cov2
    assert printed(s.se, 8) == se
    assert printed(s.df, 2) == df
    assert (printed(s.ci[0], 8), printed(s.ci[1], 8)) == ci


def test_error_covariances_average_the_right_pairs():
    # t = 2, r = 3 covariance with distinct values per kind of pair
    t, r = 2, 3
    cov = np.empty((t * r, t * r))
    for a in range(t * r):
        for b in range(t * r):
            same_t, same_r = a // r == b // r, a % r == b % r
            cov[a, b] = {(True, True): 4.0, (False, True): 3.0, (True, False): 2.0, (False, False): 1.0}[same_t, same_r]
    e = error_covariances(cov, t, r)
    assert (e.var_error, e.cov1, e.cov2, e.cov3) == (4.0, 3.0, 2.0, 1.0)


def test_jackknife_covariance_is_the_textbook_formula():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 4))
    n = x.shape[0]
    slow = np.zeros((4, 4))
    for a in range(4):
        for b in range(4):
            slow[a, b] = (n - 1) / n * sum((x[k, a] - x[:, a].mean()) * (x[k, b] - x[:, b].mean()) for k in range(n))
    np.testing.assert_allclose(jackknife_covariance(x), slow, rtol=1e-12)


def test_reader_differences_match_sklearn_on_every_jackknife_sample():
    rng = np.random.default_rng(2)
    n, r = 40, 5
    readers = rng.integers(0, 2, (n, r))
    refs = leave_one_out_references(readers, "abnormal")
    model = rng.integers(0, 2, n)
    point, jack = reader_differences(refs, readers, np.arange(r), model, "f1")
    for j in range(r):
        expected = f1_score(refs[:, j], model, zero_division=1.0) - f1_score(
            refs[:, j], readers[:, j], zero_division=1.0
        )
        assert point[j] == pytest.approx(expected, abs=1e-12)
        for k in (0, 17, n - 1):
            keep = np.arange(n) != k
            expected = f1_score(refs[keep, j], model[keep], zero_division=1.0) - f1_score(
                refs[keep, j], readers[keep, j], zero_division=1.0
            )
            assert jack[k, j] == pytest.approx(expected, abs=1e-12)


def test_model_vs_readers_is_the_single_treatment_analysis_of_the_differences():
    rng = np.random.default_rng(3)
    n, r = 80, 6
    readers = (rng.random((n, r)) < 0.4).astype(int)
    refs = leave_one_out_references(readers, "abnormal")
    model = (rng.random(n) < 0.4).astype(int)
    point, jack = reader_differences(refs, readers, np.arange(r), model, "kappa")
    res = model_vs_readers(refs, readers, np.arange(r), model, "kappa", confidence=0.9)
    direct = or_single_treatment(point, jackknife_covariance(jack), 0.9)
    assert res == direct
    assert res.value == pytest.approx(point.mean())
    # the t interval and the p-value agree: p < 0.10 iff the 90 % CI excludes 0
    assert (res.p_value < 0.10) == (res.ci[0] > 0 or res.ci[1] < 0)


def test_single_treatment_without_spread_has_infinite_df_and_a_degenerate_case():
    s = or_single_treatment(np.full(4, 0.1), np.eye(4) * 0.01)
    assert s.df == float("inf") and s.se == pytest.approx(0.0)
    assert s.ci == (0.1, 0.1) and np.isnan(s.p_value)
    s = or_single_treatment(np.full(4, 0.1), np.full((4, 4), 0.01))
    assert s.df == float("inf") and s.se == pytest.approx(0.1)
    assert s.p_value == pytest.approx(2 * stats.norm.sf(1.0))
