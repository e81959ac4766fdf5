"""Leaderboard units: ranking, ROC curves, submissions, reported entries, table renderings."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix
from sklearn.metrics import roc_curve as sk_roc_curve

from helpers import REPO, REPORTED_TOML
from mura_bench.leaderboard.curves import operating_point, reference_and_readers, roc_curve, trapezoid_auc
from mura_bench.stats.protocols import majority
from mura_bench.leaderboard.ranking import display_order, paired_ranks, significantly_better
from mura_bench.leaderboard.reported import parse_reported
from mura_bench.leaderboard.submissions import (
    ReportedSubmission,
    RescoredSubmission,
    SubmissionError,
    load_submission,
    load_submissions,
    safe_link,
)
from mura_bench.leaderboard.table import BoardRow, latex_escape, to_csv, to_json, to_latex
from mura_bench.leaderboard.submissions import Metadata
from mura_bench.data.layout import GROUPS
from mura_bench.results import Estimate

# ---------------------------------------------------------------------------------------------
# Ranking
# ---------------------------------------------------------------------------------------------


def _slow_better(reps: np.ndarray, confidence: float) -> np.ndarray:
    k = reps.shape[0]
    out = np.zeros((k, k), dtype=bool)
    for j in range(k):
        for i in range(k):
            if i != j:
                out[j, i] = np.percentile(reps[j] - reps[i], 100 * (1 - confidence) / 2) > 0
    return out


def test_ranks_separated_entries_are_ordered():
    rng = np.random.default_rng(1)
    base = rng.normal(0, 0.01, 2000)
    reps = np.stack([0.9 + base, 0.8 + base + rng.normal(0, 0.001, 2000), 0.7 + base + rng.normal(0, 0.001, 2000)])
    assert paired_ranks(reps).tolist() == [1, 2, 3]


def test_ranks_indistinguishable_entries_tie():
    rng = np.random.default_rng(2)
    shared = rng.normal(0.8, 0.02, 1000)
    reps = np.stack([shared + rng.normal(0, 0.02, 1000) for _ in range(4)])
    assert paired_ranks(reps).tolist() == [1, 1, 1, 1]


def test_pairing_matters_shared_noise_cancels():
    # Marginal intervals overlap widely, but the paired difference is always positive.
    rng = np.random.default_rng(3)
    shared = rng.normal(0.8, 0.05, 1000)
    reps = np.stack([shared + 0.01 + rng.normal(0, 0.001, 1000), shared])
    assert paired_ranks(reps).tolist() == [1, 2]


def test_a_zero_width_difference_interval_is_never_significant():
    # Every resample gives the same difference (e.g. a one-study truth file): no evidence either way.
    shared = np.random.default_rng(3).normal(0.8, 0.05, 1000)
    assert paired_ranks(np.stack([shared + 0.01, shared])).tolist() == [1, 1]
    assert paired_ranks(np.array([[1.0] * 50, [0.0] * 50])).tolist() == [1, 1]


def test_better_matrix_matches_direct_percentiles():
    rng = np.random.default_rng(4)
    shared = rng.normal(0, 0.03, 500)
    reps = np.stack([m + shared + rng.normal(0, 0.02, 500) for m in (0.8, 0.81, 0.83, 0.9, 0.7)])
    for confidence in (0.9, 0.95):
        assert (significantly_better(reps, confidence=confidence) == _slow_better(reps, confidence)).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6), st.integers(5, 60), st.integers(0, 2**31))
def test_some_entry_always_ranks_first(k, b, seed):
    rng = np.random.default_rng(seed)
    reps = rng.normal(rng.normal(0, 0.05, (k, 1)), 0.02, (k, b))
    ranks = paired_ranks(reps)
    assert ranks.min() == 1 and ranks.max() <= k
    better = significantly_better(reps)
    assert not (better & better.T).any()


def test_display_order_rank_then_value_then_name():
    order = display_order(np.array([2, 1, 1, 3]), np.array([0.9, 0.5, 0.7, 0.1]), ["a", "b", "c", "d"])
    assert order == [2, 1, 0, 3]


def test_ranking_rejects_bad_shapes():
    with pytest.raises(ValueError):
        paired_ranks(np.zeros(5))
    with pytest.raises(ValueError):
        paired_ranks(np.zeros((2, 5)), confidence=1.0)


# ---------------------------------------------------------------------------------------------
# ROC curves and operating points (scikit-learn is the oracle)
# ---------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 80), st.integers(0, 2**31), st.sampled_from([2, 5, 1000]))
def test_roc_curve_matches_sklearn(n, seed, levels):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[0], y[1] = 0, 1
    scores = rng.integers(0, levels, n) / max(levels - 1, 1)
    fpr, tpr, thresholds = roc_curve(scores, y)
    sk_fpr, sk_tpr, sk_thr = sk_roc_curve(y, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thresholds[1:], sk_thr[1:])
    from sklearn.metrics import roc_auc_score

    assert trapezoid_auc(fpr, tpr) == pytest.approx(roc_auc_score(y, scores))


def test_roc_curve_one_class_is_none():
    assert roc_curve(np.array([0.1, 0.9]), np.array([1, 1])) is None
    assert operating_point("r", np.array([0, 1]), np.array([0, 0])) is None


def test_operating_point_matches_confusion_matrix():
    rng = np.random.default_rng(5)
    ref, reads = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    tn, fp, fn, tp = confusion_matrix(ref, reads).ravel()
    point = operating_point("r1", reads, ref)
    assert point.fpr == pytest.approx(fp / (fp + tn)) and point.tpr == pytest.approx(tp / (tp + fn))


def test_majority_tie_rule():
    reads = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 0, 1]])
    assert majority(reads).tolist() == [1, 1, 0]
    assert majority(reads, tie="normal").tolist() == [0, 1, 0]


def test_reference_per_truth_kind():
    readers = np.array([[1, 1, 0, 1], [0, 0, 1, 1], [1, 0, 0, 0]], dtype=np.int8)
    names = ["g1", "g2", "g3", "x"]
    ref, shown = reference_and_readers("panel", None, readers, names)
    assert ref.tolist() == [1, 1, 0] and shown == [0, 1, 2, 3]
    ref, shown = reference_and_readers("gold-panel", None, readers, names)
    assert ref.tolist() == [1, 0, 0] and shown == [3]
    ref, shown = reference_and_readers("labels", np.array([0, 1, 1]), None, [])
    assert ref.tolist() == [0, 1, 1] and shown == []


# ---------------------------------------------------------------------------------------------
# Submissions
# ---------------------------------------------------------------------------------------------


def _write(folder: Path, toml: str, predictions: str | None = "study,probability\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "submission.toml").write_text(toml, encoding="utf-8")
    if predictions is not None:
        (folder / "predictions.csv").write_text(predictions, encoding="utf-8")
    return folder


def test_load_rescored_and_reported(tmp_path):
    _write(
        tmp_path / "a-model",
        'name = "A"\nreported = false\nteam = "T"\ndate = 2024-01-02\n'
        'url = "https://example.org/x"\npath_col = "Path"\n',
    )
    _write(tmp_path / "paper", REPORTED_TOML, predictions=None)
    (tmp_path / "README.md").write_text("not a submission")
    _write(tmp_path / "_drafts", "garbage")
    subs = load_submissions(tmp_path)
    assert subs.skipped == []
    (a,) = subs.rescored
    assert isinstance(a, RescoredSubmission)
    assert (a.meta.slug, a.meta.name, a.meta.team, a.meta.date, a.meta.link, a.path_col) == (
        "a-model",
        "A",
        "T",
        "2024-01-02",
        "https://example.org/x",
        "Path",
    )
    (paper,) = subs.reported
    assert isinstance(paper, ReportedSubmission)
    (row,) = paper.results
    assert row.figures["f1"]["overall"].ci == (0.7, 0.9) and row.figures["f1"]["elbow"].ci is None
    assert row.status == "scored"


@pytest.mark.parametrize(
    "toml, predictions, reason",
    [
        (None, True, "no submission.toml"),
        ('name = "A"\nreported = false\n', False, "no predictions.csv"),
        ('name = "A"\n', True, "missing key 'reported'"),
        ('name = "A"\nreported = "no"\n', True, "'reported' must be true or false"),
        ('name = "A"\nreported = false\ncolour = 1\n', True, "unknown key(s) colour"),
        ('name = ""\nreported = false\n', True, "'name' must be a non-empty string"),
        ('name = "A"\nreported = false\ndate = "yesterday"\n', True, "'date' must be a date"),
        ('name = "A"\nreported = false\nteam = 3\n', True, "'team' must be a string"),
        ('name = "A" reported', True, "not valid TOML"),
        (REPORTED_TOML, True, "remove predictions.csv"),
        ('name = "A"\nreported = true\n', False, "needs a [source] table"),
    ],
)
def test_bad_submission_reasons(tmp_path, toml, predictions, reason):
    folder = tmp_path / "entry"
    folder.mkdir()
    if toml is not None:
        (folder / "submission.toml").write_text(toml)
    if predictions:
        (folder / "predictions.csv").write_text("x")
    with pytest.raises(SubmissionError, match=__import__("re").escape(reason)):
        load_submission(folder)
    skipped = load_submissions(tmp_path).skipped
    assert [s.slug for s in skipped] == ["entry"] and reason in skipped[0].reason


def test_submission_errors_belong_to_the_error_family(tmp_path):
    from mura_bench.errors import EntryError, MuraBenchError

    (tmp_path / "entry").mkdir()
    with pytest.raises(MuraBenchError) as raised:
        load_submission(tmp_path / "entry")
    assert isinstance(raised.value, SubmissionError) and isinstance(raised.value, EntryError)
    assert not isinstance(raised.value, ValueError)


def test_reported_does_not_import_submissions():
    """submissions.py reads reported entries through reported.py, never the other way round (not
    even inside a function): no import circle."""
    import ast

    import mura_bench.leaderboard.reported as reported

    tree = ast.parse(Path(reported.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert "mura_bench.errors" in imported
    assert not {m for m in imported if m and m.endswith("submissions")}


def test_bad_slug_and_missing_folder(tmp_path):
    _write(tmp_path / "bad slug!", 'name = "A"\nreported = false\n')
    (skipped,) = load_submissions(tmp_path).skipped
    assert "folder name" in skipped.reason
    from mura_bench.errors import InputError

    with pytest.raises(InputError, match="submissions folder not found"):
        load_submissions(tmp_path / "nope")


def test_hostile_url_is_kept_as_text_with_a_warning(tmp_path):
    _write(tmp_path / "x", 'name = "<b>x</b>"\nreported = false\nurl = "javascript:alert(1)"\n')
    (entry,) = load_submissions(tmp_path).rescored
    assert entry.meta.link is None and entry.meta.url == "javascript:alert(1)"
    assert "not an http(s) address" in entry.warnings[0]


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://a.org/b?c=d", True),
        ("http://a.org", True),
        ("javascript:alert(1)", False),
        ("JavaScript:alert(1)", False),
        ("data:text/html,<script>", False),
        ("//evil.org", False),
        ('https://a.org/" onmouseover="x', False),
        (" https://a.org", False),
        ("https:///x", False),
        ("ftp://a.org", False),
        ("", False),
    ],
)
def test_safe_link(url, ok):
    assert (safe_link(url) == url) is ok


# ---------------------------------------------------------------------------------------------
# Reported entries
# ---------------------------------------------------------------------------------------------

SOURCE = {"citation": "c", "test_set": "t", "metric": "kappa"}


@pytest.mark.parametrize(
    "results, reason",
    [
        ([{"label": "x", "kappa": {"toe": {"value": 0.1}}}], "unknown group 'toe'"),
        ([{"label": "x", "kappa": {"overall": {"value": 0.5, "ci": [0.6, 0.4]}}}], "lower bound"),
        ([{"label": "x", "kappa": {"overall": {"value": "high"}}}], "finite number"),
        ([{"label": "x", "status": "scored"}], "status 'scored' does not match"),
        ([{"label": "x", "kind": "wizard"}], "kind must be one of"),
        ([{"kappa": {}}], "non-empty string 'label'"),
        ([{"label": "x", "colour": {}}], "unknown key 'colour'"),
    ],
)
def test_reported_validation(results, reason):
    with pytest.raises(SubmissionError, match=__import__("re").escape(reason)):
        parse_reported(SOURCE, results)


def test_reported_status_is_derived_from_figures():
    rows = parse_reported(
        SOURCE,
        [
            {"label": "ok", "kappa": {"overall": {"value": 0.5}}},
            {"label": "failed", "status": "failed"},
            {"label": "neg", "kappa": {"overall": {"value": 0.2}, "finger": {"value": -0.1}}},
        ],
    )
    assert [r.status for r in rows] == ["scored", "failed", "negative-kappa"]
    assert rows[2].negative_groups == ["finger"]
    with pytest.raises(SubmissionError, match="needs a non-empty string 'citation'"):
        parse_reported({"test_set": "t", "metric": "f1"}, [{"label": "x"}])


def test_committed_reported_entries_are_valid():
    subs = load_submissions(REPO / "submissions")
    assert subs.skipped == []
    by_slug = {r.meta.slug: r for r in subs.reported}
    board = by_slug["reported-mura-leaderboard"].results
    assert len(board) == 130
    statuses = [r.status for r in board]
    assert statuses.count("failed") == 32 and statuses.count("negative-kappa") == 11
    assert len(by_slug["reported-paper-v1-table2"].results) == 2
    assert len(by_slug["reported-paper-kappa"].results) == 4
    assert {r.meta.slug for r in subs.rescored} >= {"example-noisy-oracle", "example-chance"}


# ---------------------------------------------------------------------------------------------
# Table renderings
# ---------------------------------------------------------------------------------------------


def _rows() -> list[BoardRow]:
    cells = {g: {"f1": Estimate(0.5, (0.4, 0.6)), "kappa": Estimate(0.1, (0.0, 0.2))} for g in GROUPS}
    meta = Metadata("evil", '=HYPERLINK("x") & 50% $x$ <b>', "_team_", "d", "https://a.org", "2024-01-01")
    return [
        BoardRow("evil", "submission", meta.name, cells, 1, meta, "study-probabilities", "ab"),
        BoardRow(
            "radiologists", "radiologists", "Radiologists (mean of 6)", {g: {"f1": Estimate(0.9, None)} for g in GROUPS}
        ),
    ]


def test_csv_download_neutralises_formulas():
    text = to_csv(_rows())
    table = list(csv.DictReader(io.StringIO(text)))
    assert table[0]["name"].startswith("'=HYPERLINK")
    assert table[0]["overall_f1"] == "0.5" and table[0]["overall_f1_ci_lower"] == "0.4"
    assert table[1]["rank"] == "" and table[1]["overall_f1_ci_lower"] == ""


def test_json_download_has_every_row():
    doc = json.loads(to_json(_rows(), {"title": "t"}))
    assert doc["schema"] == "mura-bench/leaderboard/v1"
    assert [r["kind"] for r in doc["rows"]] == ["submission", "radiologists"]
    assert doc["rows"][0]["groups"]["wrist"]["kappa"] == {"value": 0.1, "ci": [0.0, 0.2]}


def test_latex_download_escapes_text():
    tex = to_latex(_rows(), caption="100% of $x")
    assert r"50\% \$x\$ \textless{}b\textgreater{}" in tex and r"100\% of \$x" in tex
    assert "0.500 {\\scriptsize [0.400, 0.600]}" in tex
    assert latex_escape("a\\b{c}~^_#&") == r"a\textbackslash{}b\{c\}\textasciitilde{}\textasciicircum{}\_\#\&"


def test_significantly_better_matches_every_pair_interval_loop():
    """The shortcut (exact quantiles only for pairs that can pass) agrees with computing every
    pair's percentile interval, ties, NaN replicates and coarse values included."""
    rng = np.random.default_rng(7)
    for trial in range(40):
        reps = _random_board(rng, max_entries=25, with_nan=trial % 4 == 0)
        confidence = float(rng.choice([0.5, 0.9, 0.95, 0.99]))
        expected = _every_pair_interval(reps, confidence)
        assert np.array_equal(significantly_better(reps, confidence=confidence), expected), trial


def _random_board(rng, *, max_entries: int, with_nan: bool) -> np.ndarray:
    """Replicates (entries, resamples) of a random board: shared resample noise, coarse values
    (ties), and one NaN replicate when ``with_nan``."""
    k, b = int(rng.integers(2, max_entries)), int(rng.integers(1, 300))
    shared = rng.normal(0, 0.05, (1, b))
    reps = np.round(rng.uniform(0, 0.2, (k, 1)) + shared + rng.normal(0, 0.02, (k, b)), int(rng.integers(1, 4)))
    if with_nan:
        reps[rng.integers(k), rng.integers(b)] = np.nan
    return reps


def _every_pair_interval(reps: np.ndarray, confidence: float) -> np.ndarray:
    """The rule computed pair by pair: ``[j, i]`` when the percentile interval of reps[j] - reps[i]
    lies above 0 and is not degenerate."""
    from mura_bench.stats.bootstrap import is_degenerate

    k = reps.shape[0]
    expected = np.zeros((k, k), dtype=bool)
    for i in range(k):
        for j in range(k):
            lo, hi = np.quantile(reps[j] - reps[i], [(1 - confidence) / 2, 1 - (1 - confidence) / 2])
            expected[j, i] = i != j and lo > 0 and not is_degenerate(lo, hi)
    return expected


def test_significantly_better_on_two_threads_matches_the_plain_loop():
    from mura_bench.stats.bootstrap import is_degenerate
    from mura_bench.leaderboard.ranking import PARALLEL_ELEMENTS

    rng = np.random.default_rng(3)
    k = 50
    reps = np.round(np.linspace(0.5, 0.9, k)[:, None] + rng.normal(0, 0.03, (k, PARALLEL_ELEMENTS // k**2 + 1)), 3)
    expected = np.zeros((k, k), dtype=bool)
    for i in range(k):
        alpha = (1 - 0.95) / 2
        lo, hi = np.quantile(reps - reps[i], [alpha, 1 - alpha], axis=1)
        expected[:, i] = (lo > 0) & ~is_degenerate(lo, hi)
    expected[np.arange(k), np.arange(k)] = False
    assert k * reps.size >= PARALLEL_ELEMENTS and expected.any()
    assert np.array_equal(significantly_better(reps), expected)


def test_significantly_better_given_known_pairs_equals_the_whole_matrix():
    """An incremental build decides only the pairs of new entries; the rest comes from the cache.
    Against the plain pair-by-pair percentile loop, with ties, coarse values and NaN."""
    from mura_bench.leaderboard.ranking import significantly_better_given

    rng = np.random.default_rng(11)
    for trial in range(40):
        reps = _random_board(rng, max_entries=30, with_nan=trial % 5 == 0)
        k = reps.shape[0]
        confidence = float(rng.choice([0.5, 0.9, 0.95]))
        expected = _every_pair_interval(reps, confidence)
        new = rng.choice(k, size=int(rng.integers(0, max(1, k // 4) + 1)), replace=False)
        known = expected.astype(np.int8)
        known[new, :] = -1
        known[:, new] = -1
        if trial % 3 == 0 and k > 2:  # and a few stray undecided pairs
            known[rng.integers(k), rng.integers(k)] = -1
        assert np.array_equal(significantly_better_given(reps, known, confidence=confidence), expected), trial
    # the known decisions are taken as they are: a wrong one stays wrong (the cache is trusted)
    reps = np.stack([np.full(20, 0.9), np.full(20, 0.1) + np.linspace(0, 0.01, 20)])
    known = np.array([[-1, 0], [1, -1]], dtype=np.int8)
    assert significantly_better_given(reps, known).tolist() == [[False, False], [True, False]]
    with pytest.raises(ValueError, match="shape"):
        significantly_better_given(reps, known[:1])
