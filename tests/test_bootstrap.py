"""The paired bootstrap against a slow per-resample loop and scipy.stats.bootstrap."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import scipy.stats
from sklearn import metrics as skm

import reference_impl as ref
from mura_bench.stats.bootstrap import draw_counts, draw_indices, indices_to_counts
from mura_bench.data.layout import GROUPS
from mura_bench.scoring.engine import score, score_many
from helpers import write_case

#: scipy.stats.bootstrap's seed keyword: `rng` from scipy 1.15, `random_state` before (scipy 1.10 is
#: the declared lower bound).
RNG_KEYWORD = "rng" if "rng" in inspect.signature(scipy.stats.bootstrap).parameters else "random_state"


def test_counts_are_the_bincount_of_the_indices():
    idx = draw_indices(7, 5, seed=3, group=2)
    counts = indices_to_counts(idx, 7)
    assert counts.shape == (5, 7) and (counts.sum(axis=1) == 7).all()
    for b in range(5):
        assert counts[b].tolist() == np.bincount(idx[b], minlength=7).tolist()
    assert np.array_equal(draw_counts(7, 5, 3, 2), counts)
    assert not np.array_equal(draw_counts(7, 5, 3, 1), counts)  # groups draw independently


def test_replicates_match_slow_loop_over_resamples(tmp_path):
    studies, panel, model, _ = write_case(tmp_path, n_per_part=8, n_readers=5, seed=4)
    B = 25
    result = score(
        tmp_path / "preds.csv",
        tmp_path / "panel.csv",
        bootstrap=B,
        seed=7,
        keep_replicates=True,
        metrics=["f1", "kappa"],
    )
    for g_index, group in [(GROUPS.index("wrist"), "wrist"), (GROUPS.index("overall"), "overall")]:
        ids = [s for s in studies if group == "overall" or ref.part_of(s) == group]
        indices = draw_indices(len(ids), B, 7, g_index)
        reps = result.replicates[group]
        for b in range(B):
            sample = [ids[i] for i in indices[b]]
            rows = [panel[s] for s in sample]
            model_scores, reader_scores = [], []
            for i in range(5):
                truth = [ref.vote([r[j] for j in range(5) if j != i]) for r in rows]
                reader_scores.append(ref.kappa(truth, [r[i] for r in rows]))
                model_scores.append(ref.kappa(truth, [model[s] for s in sample]))
            assert reps["model"]["kappa"][b] == pytest.approx(np.mean(model_scores), abs=1e-9)
            assert reps["radiologists"]["kappa"][b] == pytest.approx(np.mean(reader_scores), abs=1e-9)
            assert reps["difference"]["kappa"][b] == pytest.approx(
                np.mean(model_scores) - np.mean(reader_scores), abs=1e-9
            )
            assert reps["reader:r3"]["kappa"][b] == pytest.approx(reader_scores[2], abs=1e-9)


def _single_case(tmp_path, seed=5):
    studies, _, model, truth = write_case(tmp_path, n_per_part=12, seed=seed)
    y = np.array([truth[s] for s in studies])
    p = np.array([model[s] for s in studies])
    return y, p


@pytest.mark.parametrize("method", ["percentile", "BCa"])
def test_intervals_match_scipy_on_the_same_resamples(tmp_path, method):
    y, p = _single_case(tmp_path)
    seed, B = 11, 2000
    ours = (
        score(
            tmp_path / "preds.csv",
            tmp_path / "labels.csv",
            bootstrap=B,
            seed=seed,
            metrics=["f1", "kappa"],
            ci_method=method.lower(),
        )
        .groups["overall"]
        .model
    )
    for metric, fn in (("f1", lambda t, q: skm.f1_score(t, q, zero_division=1.0)), ("kappa", ref.kappa)):
        res = scipy.stats.bootstrap(
            (y, p),
            lambda t, q: fn(t, q),
            paired=True,
            vectorized=False,
            n_resamples=B,
            method=method,
            confidence_level=0.95,
            **{RNG_KEYWORD: np.random.default_rng([seed, GROUPS.index("overall")])},
        )
        assert ours[metric].ci == pytest.approx((res.confidence_interval.low, res.confidence_interval.high), abs=1e-9)


def test_row_order_and_separate_runs_share_resamples(tmp_path):
    write_case(tmp_path, seed=8)
    a = score(tmp_path / "preds.csv", tmp_path / "panel.csv", bootstrap=300, seed=1, keep_replicates=True)
    lines = (tmp_path / "preds.csv").read_text().splitlines()
    (tmp_path / "shuffled.csv").write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    b = score(tmp_path / "shuffled.csv", tmp_path / "panel.csv", bootstrap=300, seed=1, keep_replicates=True)
    assert a.groups == b.groups
    both = score_many(
        [tmp_path / "preds.csv", tmp_path / "shuffled.csv"],
        tmp_path / "panel.csv",
        bootstrap=300,
        seed=1,
        keep_replicates=True,
    )
    assert both[0].groups == a.groups and both[1].groups == a.groups
    assert np.array_equal(both[1].replicates["overall"]["model"]["f1"], a.replicates["overall"]["model"]["f1"])
    c = score(tmp_path / "preds.csv", tmp_path / "panel.csv", bootstrap=300, seed=2)
    assert c.groups["overall"].model["f1"].ci != a.groups["overall"].model["f1"].ci


def test_point_estimates_come_from_the_original_sample_and_significance_from_the_ci(tmp_path):
    write_case(tmp_path, seed=9)
    point = score(tmp_path / "preds.csv", tmp_path / "panel.csv", bootstrap=0)
    boot = score(tmp_path / "preds.csv", tmp_path / "panel.csv", bootstrap=500)
    for group in GROUPS:
        for metric, est in boot.groups[group].model.items():
            assert est.value == point.groups[group].model[metric].value
            assert est.ci[0] <= est.ci[1]
        for _metric, est in boot.groups[group].difference.items():
            assert est.significant == (est.ci[0] > 0 or est.ci[1] < 0)
    assert point.groups["overall"].model["f1"].ci is None


def test_model_vs_model_differences_are_paired(tmp_path):
    """Two submissions scored together: their replicate difference equals the difference of replicates."""
    write_case(tmp_path, seed=10)
    lines = (tmp_path / "preds.csv").read_text().splitlines()
    rng = np.random.default_rng(0)
    noisy = [lines[0]] + [
        f"{l.split(',')[0]},{min(1.0, max(0.0, float(l.split(',')[1]) + rng.normal(0, 0.2)))!r}" for l in lines[1:]
    ]
    (tmp_path / "noisy.csv").write_text("\n".join(noisy) + "\n")
    a, b = score_many(
        [tmp_path / "preds.csv", tmp_path / "noisy.csv"], tmp_path / "panel.csv", bootstrap=400, keep_replicates=True
    )
    alone = score(tmp_path / "noisy.csv", tmp_path / "panel.csv", bootstrap=400, keep_replicates=True)
    assert np.array_equal(alone.replicates["overall"]["model"]["f1"], b.replicates["overall"]["model"]["f1"])
    diff = a.replicates["overall"]["model"]["f1"] - b.replicates["overall"]["model"]["f1"]
    assert diff.shape == (400,) and np.isfinite(diff).all()


def test_percentile_interval_split_over_threads_equals_numpy_percentile():
    """Large inputs are split over two threads; every column's interval is numpy's."""
    from mura_bench.stats.bootstrap import PARALLEL_PERCENTILE_ELEMENTS, percentile_interval

    rng = np.random.default_rng(11)
    columns = PARALLEL_PERCENTILE_ELEMENTS // 2000 + 3
    reps = np.round(rng.random((2000, columns)), 3)
    alpha = (1 - 0.9) / 2
    lo, hi = percentile_interval(reps, 0.9)
    expected = np.percentile(reps, [100 * alpha, 100 * (1 - alpha)], axis=0)
    assert reps.size >= PARALLEL_PERCENTILE_ELEMENTS
    assert np.array_equal(lo, expected[0]) and np.array_equal(hi, expected[1])
