"""Every metric of the registry, one table of checks (in the style of scikit-learn's
``sklearn/metrics/tests/test_common.py``): each against scikit-learn, integer weights equal
duplicated rows, study order does not matter, the symmetry flag holds, higher is better.

A metric added to the registry without an oracle here fails :func:`test_every_metric_has_an_oracle`.
"""

from __future__ import annotations

import subprocess
import sys

import click
import numpy as np
import pytest
from sklearn import metrics as skm

from mura_bench.cli.main import parse_metrics
from mura_bench.errors import InputError
from mura_bench.stats.metric_registry import METRIC_SPECS, METRICS, check_metric_names, metric_spec
from mura_bench.stats.metrics import COUNT_METRICS, confusion_counts, metric_score
from mura_bench.scoring.score_options import Options

#: scikit-learn's value of each metric: (y_true, predictions or scores, sample_weight) -> float.
ORACLES = {
    "f1": lambda y, x, w=None: skm.f1_score(y, x, zero_division=1.0, sample_weight=w),
    "kappa": lambda y, x, w=None: skm.cohen_kappa_score(y, x, sample_weight=w),
    "auroc": lambda y, x, w=None: skm.roc_auc_score(y, x, sample_weight=w),
    "accuracy": lambda y, x, w=None: skm.accuracy_score(y, x, sample_weight=w),
    "sensitivity": lambda y, x, w=None: skm.recall_score(y, x, zero_division=1.0, sample_weight=w),
    "specificity": lambda y, x, w=None: skm.recall_score(y, x, pos_label=0, zero_division=1.0, sample_weight=w),
    "precision": lambda y, x, w=None: skm.precision_score(y, x, zero_division=1.0, sample_weight=w),
}

EVERY_METRIC = pytest.mark.parametrize("spec", METRIC_SPECS, ids=METRICS)


def ours(spec, y, x, weights=None) -> float:
    """The registry's function of ``spec`` on one sample; ``weights`` are counts per row."""
    w = np.ones((1, y.size)) if weights is None else np.asarray(weights, dtype=np.float64)[None, :]
    if spec.needs_probabilities:
        return float(spec.function(w, y, x)[0])
    return float(spec.function(*confusion_counts(w, y, x))[0, 0])


def cases(n_cases=30, seed=0):
    """(y, x) per case: x the scores for a metric that needs probabilities, else 0/1 predictions.
    Both classes present in truth and predictions (every oracle defined); a third of the cases has
    tied scores."""
    rng = np.random.default_rng(seed)
    for i in range(n_cases):
        n = int(rng.integers(6, 60))
        y = (rng.random(n) < rng.uniform(0.2, 0.8)).astype(int)
        y[:2] = (0, 1)
        scores = np.clip(0.5 + (y - 0.5) * rng.uniform(0, 0.6) + rng.normal(0, 0.3, n), 0, 1)
        if i % 3 == 0:
            scores = np.round(scores, 1)
        pred = (scores > 0.5).astype(int)
        pred[2:4] = (0, 1)
        yield y, scores, pred


def sample(spec, y, scores, pred):
    return scores if spec.needs_probabilities else pred


def test_every_metric_has_an_oracle():
    assert set(ORACLES) == set(METRICS)
    assert len(set(METRICS)) == len(METRICS)


@EVERY_METRIC
def test_matches_sklearn(spec):
    for y, scores, pred in cases():
        x = sample(spec, y, scores, pred)
        assert ours(spec, y, x) == pytest.approx(ORACLES[spec.name](y, x), abs=1e-12)
        assert metric_score(spec.name, y, x) == pytest.approx(ORACLES[spec.name](y, x), abs=1e-12)


@EVERY_METRIC
def test_integer_weights_equal_duplicated_rows(spec):
    rng = np.random.default_rng(1)
    checked = 0
    for y, scores, pred in cases(seed=2):
        x = sample(spec, y, scores, pred)
        weights = rng.integers(0, 4, y.size)
        weights[:4] = np.maximum(weights[:4], 1)  # both classes stay present
        repeated = np.repeat(np.arange(y.size), weights)
        weighted = ours(spec, y, x, weights)
        assert weighted == pytest.approx(ours(spec, y[repeated], x[repeated]), abs=1e-12)
        assert weighted == pytest.approx(ORACLES[spec.name](y[repeated], x[repeated]), abs=1e-12)
        assert weighted == pytest.approx(ORACLES[spec.name](y, x, weights), abs=1e-12)
        checked += 1
    assert checked == 30


@EVERY_METRIC
def test_study_order_does_not_matter(spec):
    rng = np.random.default_rng(3)
    for y, scores, pred in cases(seed=4):
        x = sample(spec, y, scores, pred)
        weights = rng.integers(0, 4, y.size)
        weights[:4] = np.maximum(weights[:4], 1)
        order = rng.permutation(y.size)
        assert ours(spec, y[order], x[order], weights[order]) == pytest.approx(ours(spec, y, x, weights), abs=1e-12)


@pytest.mark.parametrize(
    "spec",
    [s for s in METRIC_SPECS if not s.needs_probabilities],
    ids=[s.name for s in METRIC_SPECS if not s.needs_probabilities],
)
def test_symmetric_flag_holds(spec):
    """Symmetric metrics do not change when truth and prediction swap; the others do, somewhere
    (and scikit-learn agrees on both)."""
    differs = 0
    for y, _, pred in cases(seed=5):
        direct, swapped = ours(spec, y, pred), ours(spec, pred, y)
        assert swapped == pytest.approx(ORACLES[spec.name](pred, y), abs=1e-12)
        if spec.symmetric:
            assert swapped == pytest.approx(direct, abs=1e-12)
        differs += abs(swapped - direct) > 1e-9
    assert (differs == 0) == spec.symmetric


def test_metrics_of_scores_make_no_symmetry_claim():
    assert all(not s.symmetric for s in METRIC_SPECS if s.needs_probabilities)


@EVERY_METRIC
def test_higher_is_better_orders_perfect_above_inverted(spec):
    y = np.array([0, 1, 1, 0, 1, 0, 0, 1, 0, 0])
    perfect, inverted = (y.astype(float), 1.0 - y) if spec.needs_probabilities else (y, 1 - y)
    best, worst = ours(spec, y, perfect), ours(spec, y, inverted)
    assert best == 1.0
    assert (best > worst) == spec.higher_is_better


def test_count_metrics_are_the_registry_count_metrics_in_order():
    assert list(COUNT_METRICS) == [s.name for s in METRIC_SPECS if not s.needs_probabilities]
    for name, fn in COUNT_METRICS.items():
        assert fn is metric_spec(name).function


def test_titles_are_set_for_every_metric():
    for spec in METRIC_SPECS:
        assert spec.title and spec.short_title and spec.latex
    assert metric_spec("kappa").latex == r"Cohen's $\kappa$"


def test_unknown_metric_is_a_key_error_naming_the_known_ones():
    with pytest.raises(KeyError, match="known: f1, kappa"):
        metric_spec("auc")


def test_registry_imports_no_numpy():
    code = "import sys, mura_bench.stats.metric_registry, mura_bench.cli.main; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("names", [("auc",), (), ("f1", "f1x")])
def test_cli_and_library_refuse_metric_names_by_one_rule(names):
    from mura_bench.scoring.engine import score

    with pytest.raises(InputError) as library:
        score("no-such-predictions.csv", "no-such-truth.csv", metrics=names)  # refused before any reading
    with pytest.raises(click.BadParameter) as cli:
        parse_metrics(None, None, ",".join(names))
    assert cli.value.message == library.value.problem
    assert library.value.problem.startswith("unknown metric(s)")


def test_library_refuses_a_metric_named_twice():
    with pytest.raises(InputError, match="f1 given more than once"):
        check_metric_names(["f1", "kappa", "f1"])
    assert parse_metrics(None, None, "f1,F1,kappa") == ("f1", "kappa")


def test_options_are_keyword_only():
    with pytest.raises(TypeError):
        Options("auto")  # type: ignore[misc]
    assert Options(resamples=5).resamples == 5
