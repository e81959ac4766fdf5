"""The analysis core against slow, obviously-correct loops and scikit-learn.

Brute force: every candidate threshold (-inf and each distinct probability) is tried in a Python
loop, per reference and per resample (a resample is the original studies repeated by their counts).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss

from mura_bench.analysis.analyze import AnalysisOptions, group_values
from mura_bench.stats.bootstrap import draw_indices, percentile_interval
from mura_bench.stats.calibration import bin_sums, brier_score, expected_calibration_error, quantile_edges, reliability
from mura_bench.stats.protocols import leave_one_out_references, make_plan
from mura_bench.stats.triage import TOLERANCE, Running, SortedGroup, Totals, Window, locate_sensitivity, prefix_counts

LEVELS = np.array([0.0, 0.0, 0.1, 0.25, 0.5, 0.5, 0.5, 0.75, 0.9, 1.0, 1.0])  # ties, exact 0 and 1


def rate(y: np.ndarray, called: np.ndarray, w: np.ndarray, positive: bool) -> float:
    """Sensitivity (positive) or specificity of one reference; 1.0 without a denominator."""
    cls = y == (1 if positive else 0)
    den = float(w[cls].sum())
    hit = called if positive else ~called
    return 1.0 if den == 0 else float(w[cls & hit].sum()) / den


def brute_t_star(p, refs, w, target):
    """(threshold, cleared share, cleared normal share, missed per 1000) by scanning candidates."""
    best = None
    for t in [-np.inf, *np.unique(p)]:
        called = p > t
        sens = np.mean([rate(refs[:, k], called, w, True) for k in range(refs.shape[1])])
        if sens >= target - TOLERANCE:
            best = t  # candidates ascend: the last one reaching the target is the largest
    called = p > best
    spec = np.mean([rate(refs[:, k], called, w, False) for k in range(refs.shape[1])])
    missed = np.mean([w[(refs[:, k] == 1) & ~called].sum() for k in range(refs.shape[1])])
    return best, w[~called].sum() / w.sum(), spec, 1000 * missed / w.sum()


def random_case(rng, n, k, levels=True):
    p = rng.choice(LEVELS, n) if levels else rng.random(n)
    truth = (rng.random(n) < 0.2 + 0.6 * p).astype(np.int8)
    refs = np.stack([np.where(rng.random(n) < 0.9, truth, 1 - truth) for _ in range(k)], axis=1)
    return p, refs


def located(p, refs, weights, target, window=None):
    group = SortedGroup.of(p, refs)
    w_sorted = np.take(weights, group.order, axis=1)
    totals = Totals.of(w_sorted, group.references)
    win = None if window is None else Window.between(weights, group, *window)
    found = locate_sensitivity(weights, group, totals, target, win)
    return group, totals, found


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("k", [1, 3, 6])
def test_t_star_matches_brute_force_scan(seed, k):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    p, refs = random_case(rng, n, k, levels=seed % 2 == 0)
    weights = np.concatenate([np.ones((1, n)), rng.multinomial(n, np.ones(n) / n, size=30)]).astype(np.float32)
    target = rng.uniform(0.3, 1.0, size=weights.shape[0])
    target[:3] = [1.0, 0.0, 0.5]
    group, totals, found = located(p, refs, weights, target)
    for b in range(weights.shape[0]):
        if (totals.positives[b] == 0).all():
            continue
        t, share, normal_share, missed = brute_t_star(p, refs, weights[b].astype(float), target[b])
        assert group.thresholds[found.index[b]] == t
        assert found.counts.studies[b] / totals.weight[b] == pytest.approx(share, abs=1e-12)
        assert found.counts.specificity(totals)[b] == pytest.approx(normal_share, abs=1e-12)
        assert 1000 * found.counts.missed[b].mean() / totals.weight[b] == pytest.approx(missed, abs=1e-9)


def test_target_reached_exactly_at_a_tie_block():
    # abnormal studies at 0.2, 0.5, 0.5, 0.8, 0.9: clearing 0.2 leaves 4/5 = 0.8 found; clearing the
    # tied 0.5 block would leave 2/5. Target 0.8 is reached exactly: t* = 0.2, never inside the tie.
    p = np.array([0.1, 0.2, 0.5, 0.5, 0.5, 0.8, 0.9, 0.3])
    y = np.array([0, 1, 1, 1, 0, 1, 1, 0])
    group, totals, found = located(p, y, np.ones((1, p.size)), np.array([0.8]))
    assert group.thresholds[found.index[0]] == 0.3
    assert found.counts.studies[0] == 3  # 0.1, 0.2 and 0.3 cleared
    group, totals, found = located(p, y, np.ones((1, p.size)), np.array([0.8 + 1e-6]))
    assert group.thresholds[found.index[0]] == 0.1


def test_probabilities_of_exactly_zero_and_one():
    p = np.array([0.0, 0.0, 1.0, 1.0, 1.0, 0.0])
    y = np.array([0, 1, 1, 1, 0, 0])
    group, totals, found = located(p, y, np.ones((1, 6)), np.array([2 / 3]))
    assert group.thresholds[found.index[0]] == 0.0  # p = 0 studies cleared, the 1s kept
    assert found.counts.studies[0] == 3 and found.counts.missed[0, 0] == 1
    group, totals, found = located(p, y, np.ones((1, 6)), np.array([1.0]))
    assert group.thresholds[found.index[0]] == -np.inf  # nothing can be cleared


def test_one_study_group():
    group, totals, found = located(np.array([0.7]), np.array([1]), np.ones((1, 1)), np.array([1.0]))
    assert group.thresholds[found.index[0]] == -np.inf and found.counts.studies[0] == 0
    group, totals, found = located(np.array([0.7]), np.array([1]), np.ones((1, 1)), np.array([0.0]))
    assert group.thresholds[found.index[0]] == 0.7 and found.counts.studies[0] == 1


@pytest.mark.parametrize("seed", range(6))
def test_narrow_windows_give_the_full_answer(seed):
    rng = np.random.default_rng(100 + seed)
    n = 60
    p, refs = random_case(rng, n, 6, levels=seed % 2 == 0)
    weights = rng.multinomial(n, np.ones(n) / n, size=200).astype(np.float32)
    target = rng.uniform(0.5, 1.0, size=200)
    group, totals, full = located(p, refs, weights, target)
    c = group.candidates
    for lo, hi in [(0, c.size - 1), (1, c.size // 2), (c.size // 3, c.size - 1), (c.size // 3, c.size // 3 + 1)]:
        _, _, part = located(p, refs, weights, target, window=(int(c[lo]), int(c[hi])))
        np.testing.assert_array_equal(part.index, full.index)
        np.testing.assert_array_equal(part.counts.studies, full.counts.studies)
        np.testing.assert_array_equal(part.counts.missed, full.counts.missed)


def test_prefix_counts_are_the_sums_before_the_start():
    rng = np.random.default_rng(3)
    p, refs = random_case(rng, 30, 2)
    weights = rng.multinomial(30, np.ones(30) / 30, size=5).astype(np.float32)
    group = SortedGroup.of(p, refs)
    prefix = prefix_counts(weights, [group], [11])[0]
    first = group.order[:11]
    np.testing.assert_array_equal(prefix.studies, weights[:, first].sum(axis=1))
    np.testing.assert_array_equal(prefix.missed, weights[:, first] @ refs[first])


def test_running_and_masked_counts_agree():
    from mura_bench.stats.triage import cleared_counts

    rng = np.random.default_rng(8)
    p, refs = random_case(rng, 50, 3)
    weights = rng.multinomial(50, np.ones(50) / 50, size=40).astype(np.float32)
    group = SortedGroup.of(p, refs)
    window = Window.full(weights, group)
    cleared = rng.integers(0, 51, size=40)
    a, b = Running.of(window, group).counts(cleared), cleared_counts(window, group, cleared)
    np.testing.assert_array_equal(a.studies, b.studies)
    np.testing.assert_array_equal(a.missed, b.missed)
    w_sorted = weights[:, group.order]
    np.testing.assert_array_equal(a.studies, [w_sorted[i, :c].sum() for i, c in enumerate(cleared)])


def expanded(p, y, counts):
    return np.repeat(p, counts.astype(int)), np.repeat(y, counts.astype(int))


def sklearn_ece(y, p, bins):
    """ECE from calibration_curve's bin means; each bin's size found by marking one study at a time."""
    prob_true, prob_pred = calibration_curve(y, p, n_bins=bins, strategy="quantile")
    size = np.zeros(prob_true.size)
    for j in range(p.size):
        marked = np.zeros(p.size, dtype=int)
        marked[j] = 1
        if p.size == 1:
            size[0] = 1
            break
        share, _ = calibration_curve(marked, p, n_bins=bins, strategy="quantile")
        b = np.flatnonzero(share)[0]
        size[b] += 1
    return float(np.sum(size / p.size * np.abs(prob_pred - prob_true))), prob_true, prob_pred, size


@pytest.mark.parametrize("seed,bins", [(0, 10), (1, 10), (2, 5), (3, 7), (4, 10), (5, 3)])
def test_ece_matches_scikit_learn_on_the_sample_and_on_resamples(seed, bins):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(15, 80))
    p, refs = random_case(rng, n, 1, levels=seed % 2 == 0)
    y = refs[:, 0]
    counts = rng.multinomial(n, np.ones(n) / n, size=4)
    weights = np.concatenate([np.ones((1, n)), counts]).astype(np.float32)
    group = SortedGroup.of(p, refs)
    running = Running.of(Window.full(weights, group), group)
    sums = bin_sums(running, group, bins)
    ece = expected_calibration_error(sums)
    for b in range(weights.shape[0]):
        pe, ye = expanded(p, y, weights[b])
        expected, prob_true, prob_pred, size = sklearn_ece(ye, pe, bins)
        assert ece[b] == pytest.approx(expected, abs=1e-12)
        edges = np.percentile(pe, np.linspace(0, 1, bins + 1) * 100)[1:-1]
        np.testing.assert_array_equal(quantile_edges(running, group, bins)[b], edges)
        if b == 0:
            bins_out = np.array(reliability(sums))
            np.testing.assert_allclose(bins_out[:, 0], prob_pred, atol=1e-12)
            np.testing.assert_allclose(bins_out[:, 1], prob_true, atol=1e-12)
            np.testing.assert_array_equal(bins_out[:, 2], size)


def test_ece_leave_one_out_is_the_mean_over_references():
    rng = np.random.default_rng(9)
    p, refs = random_case(rng, 50, 4)
    group = SortedGroup.of(p, refs)
    running = Running.of(Window.full(np.ones((1, 50)), group), group)
    ece = expected_calibration_error(bin_sums(running, group, 10))[0]
    assert ece == pytest.approx(np.mean([sklearn_ece(refs[:, k], p, 10)[0] for k in range(4)]), abs=1e-12)


def test_brier_exact():
    p = np.array([0.0, 0.25, 0.5, 1.0, 0.75, 0.5])
    y = np.array([0, 1, 1, 1, 0, 0])
    group = SortedGroup.of(p, y)
    got = brier_score(Window.full(np.ones((1, 6)), group), group)[0]
    assert got == (0 + 0.5625 + 0.25 + 0 + 0.5625 + 0.25) / 6
    rng = np.random.default_rng(4)
    p, refs = random_case(rng, 70, 3, levels=False)
    counts = rng.multinomial(70, np.ones(70) / 70, size=3).astype(np.float32)
    group = SortedGroup.of(p, refs)
    got = brier_score(Window.full(counts, group), group)
    for b in range(3):
        pe = np.repeat(p, counts[b].astype(int))
        want = np.mean([brier_score_loss(np.repeat(refs[:, k], counts[b].astype(int)), pe) for k in range(3)])
        assert got[b] == pytest.approx(want, rel=1e-13)


def plain_group_loop(p, readers, weights_rows, thresholds, tie="abnormal"):
    """Leave-one-out analysis of one group, one resample at a time, in plain Python."""
    refs = leave_one_out_references(readers, tie)
    out = []
    for w in weights_rows:
        w = w.astype(float)
        reader_sens = np.mean([rate(refs[:, i], readers[:, i] == 1, w, True) for i in range(refs.shape[1])])
        reader_spec = np.mean([rate(refs[:, i], readers[:, i] == 1, w, False) for i in range(refs.shape[1])])
        t, share, normal_share, missed = brute_t_star(p, refs, w, reader_sens)
        row = {
            "triage.target_sensitivity": reader_sens,
            "triage.threshold": t,
            "triage.cleared_share": share,
            "triage.cleared_normal_share": normal_share,
            "triage.missed_per_1000": missed,
            "matched.specificity_at_reader_sensitivity": normal_share,
            "matched.specificity_at_reader_sensitivity.difference": normal_share - reader_spec,
        }
        for cand in [-np.inf, *np.unique(p)]:  # smallest candidate at least as specific as the readers
            spec = np.mean([rate(refs[:, k], p > cand, w, False) for k in range(refs.shape[1])])
            if spec >= reader_spec - TOLERANCE:
                sens = np.mean([rate(refs[:, k], p > cand, w, True) for k in range(refs.shape[1])])
                row["matched.sensitivity_at_reader_specificity"] = sens
                row["matched.sensitivity_at_reader_specificity.difference"] = sens - reader_sens
                break
        for thr in thresholds:
            called = p > thr
            tp = [w[(refs[:, k] == 1) & called].sum() for k in range(refs.shape[1])]
            fp = [w[(refs[:, k] == 0) & called].sum() for k in range(refs.shape[1])]
            tn = [w[(refs[:, k] == 0) & ~called].sum() for k in range(refs.shape[1])]
            fn = [w[(refs[:, k] == 1) & ~called].sum() for k in range(refs.shape[1])]
            ratio = lambda a, b: np.mean([1.0 if x + z == 0 else x / (x + z) for x, z in zip(a, b)])  # noqa: E731
            row[f"op:{thr!r}:sensitivity"] = ratio(tp, fn)
            row[f"op:{thr!r}:specificity"] = ratio(tn, fp)
            row[f"op:{thr!r}:ppv"] = ratio(tp, fp)
            row[f"op:{thr!r}:npv"] = ratio(tn, fn)
        out.append(row)
    return out


@pytest.mark.parametrize("n_readers", [6, 5])
def test_leave_one_out_analysis_matches_a_plain_loop(n_readers):
    rng = np.random.default_rng(n_readers)
    n = 45
    p, _ = random_case(rng, n, 1)
    truth = (rng.random(n) < 0.2 + 0.6 * p).astype(np.int8)
    readers = np.stack([np.where(rng.random(n) < 0.85, truth, 1 - truth) for _ in range(n_readers)], axis=1)
    plan = make_plan("leave-one-out", labels=None, readers=readers, reader_names=[f"r{i}" for i in range(n_readers)])
    counts = rng.multinomial(n, np.ones(n) / n, size=25)
    weights = np.concatenate([np.ones((1, n)), counts]).astype(np.float32)
    values, _ = group_values(p, plan, weights, AnalysisOptions(thresholds=(0.3,)))
    expected = plain_group_loop(p, readers, weights, (0.3, 0.5))
    for b, row in enumerate(expected):
        for name, want in row.items():
            assert values[name][b] == pytest.approx(want, abs=1e-12), (b, name)


def test_bootstrap_rows_are_the_engine_draws():
    """CIs come from the very resamples ``score`` draws: rebuild them from draw_indices."""
    rng = np.random.default_rng(5)
    n, b = 40, 60
    p, _ = random_case(rng, n, 1)
    readers = (rng.random((n, 6)) < 0.5).astype(np.int8)
    plan = make_plan("leave-one-out", labels=None, readers=readers, reader_names=[f"r{i}" for i in range(6)])
    idx = draw_indices(n, b, 3, 7)
    counts = np.stack([np.bincount(row, minlength=n) for row in idx])
    from mura_bench.scoring.engine import Options, resample_counts

    np.testing.assert_array_equal(resample_counts(n, 7, Options(resamples=b, seed=3)), counts)
    values, _ = group_values(p, plan, np.concatenate([np.ones((1, n)), counts]).astype(np.float32), AnalysisOptions())
    plain = plain_group_loop(p, readers, counts, ())
    lo, hi = percentile_interval(np.array([r["triage.cleared_share"] for r in plain])[:, None], 0.95)
    lo2, hi2 = percentile_interval(values["triage.cleared_share"][1:, None], 0.95)
    assert (lo2[0], hi2[0]) == pytest.approx((lo[0], hi[0]), abs=1e-12)
