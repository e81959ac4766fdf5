"""The arrays API aligns indexed inputs by their index, never by position, and refuses what it
cannot align or would silently change (repeated readers, None, fractional counts, a metric name
read letter by letter); the options' names and messages of the Python API."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mura_bench
from helpers import run, write_case
from mura_bench import InputError, evaluate, score

N = 28
IDS = [f"MURA-v1.1/valid/XR_{('WRIST', 'HAND', 'ELBOW')[i % 3]}/patient{i:05d}/study1/" for i in range(N)]
_rng = np.random.default_rng(8)
LABELS = (_rng.random(N) < 0.45).astype(int)
PROBS = np.clip(0.5 + (LABELS - 0.5) * 0.4 + _rng.normal(0, 0.25, N), 0, 1)
READERS = np.where(_rng.random((N, 5)) < 0.85, LABELS[:, None], 1 - LABELS[:, None])
OPTIONS = dict(bootstrap=60, seed=2)


def _json(*args, **kwargs) -> str:
    return evaluate(*args, **{**OPTIONS, **kwargs}).to_json()


@pytest.fixture(scope="module")
def expected():
    return {"labels": _json(IDS, PROBS, LABELS), "panel": _json(IDS, PROBS, READERS)}


permutations = st.permutations(list(range(N)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    p_order=permutations,
    t_order=permutations,
    i_order=permutations,
    truth_kind=st.sampled_from(["labels", "panel"]),
    ids_series=st.booleans(),
    truth_by_id=st.booleans(),
)
def test_any_permutation_of_any_indexed_input_gives_the_same_result(
    expected, p_order, t_order, i_order, truth_kind, ids_series, truth_by_id
):
    """Rows of the probabilities, of the truth and of the ids themselves in any order: the same JSON."""
    values = LABELS if truth_kind == "labels" else READERS
    keys = [f"k{i}" for i in range(N)]  # the ids' own index (not study ids)
    if ids_series:
        ids = pd.Series(IDS, index=keys).iloc[list(i_order)]
        probs = pd.Series(PROBS, index=keys).iloc[list(p_order)]
    else:
        ids = IDS
        probs = pd.Series(PROBS, index=IDS).iloc[list(p_order)]
    if truth_kind == "labels":
        truth = pd.Series(values, index=IDS if truth_by_id or not ids_series else keys)
    else:
        truth = pd.DataFrame(
            values, index=IDS if truth_by_id or not ids_series else keys, columns=[f"r{j + 1}" for j in range(5)]
        )
    truth = truth.iloc[list(t_order)]
    assert _json(ids, probs, truth) == expected[truth_kind]


def test_a_series_in_another_order_is_aligned_not_paired_by_position(expected):
    shuffled = pd.Series(PROBS, index=IDS).iloc[::-1]
    assert _json(IDS, shuffled, LABELS) == expected["labels"]
    assert _json(IDS, shuffled.to_numpy(), LABELS) != expected["labels"]  # what pairing by position gave


@pytest.mark.parametrize("index", [IDS[:-1] + ["MURA-v1.1/valid/XR_HAND/patient99999/study1/"], IDS[:-1] + IDS[:1]])
def test_an_index_that_disagrees_with_the_ids_is_refused(index):
    with pytest.raises(InputError, match="index"):
        evaluate(IDS, pd.Series(PROBS, index=index), LABELS, bootstrap=0)


def test_an_integer_index_that_is_not_positions_is_refused():
    shuffled = pd.Series(PROBS).sample(frac=1, random_state=0)  # e.g. after sort_values
    with pytest.raises(InputError, match="positions"):
        evaluate(IDS, shuffled, LABELS, bootstrap=0)
    with pytest.raises(InputError, match="positions"):
        evaluate(IDS, PROBS, pd.Series(LABELS).sample(frac=1, random_state=0), bootstrap=0)


@pytest.mark.parametrize("names", [["a", "b", "a", "c", "d"], ["r1", "r1", "r1", "r2", "r3"]])
def test_repeated_reader_names_are_refused(names):
    with pytest.raises(InputError, match="more than once"):
        evaluate(IDS, PROBS, pd.DataFrame(READERS, index=IDS, columns=names), bootstrap=0)


@pytest.mark.parametrize("which", ["study_ids", "probabilities", "truth"])
def test_none_inputs_are_input_errors(which):
    kwargs = dict(study_ids=IDS, probabilities=PROBS, truth=LABELS, bootstrap=0)
    kwargs[which] = None
    with pytest.raises(InputError, match="None"):
        evaluate(**kwargs)


@pytest.mark.parametrize(
    "option,value",
    [
        ("bootstrap", 10.7),
        ("bootstrap", "100"),
        ("seed", 1.5),
        ("seed", True),
        ("permutations", 99.5),
        ("bootstrap", float("nan")),
    ],
)
def test_fractional_or_non_numeric_counts_are_refused_not_truncated(option, value):
    extra = {"test": "randomization"} if option == "permutations" else {}
    with pytest.raises(InputError, match="integer"):
        evaluate(IDS, PROBS, READERS, **{"bootstrap": 20, **extra, option: value})


def test_whole_floats_are_accepted():
    assert evaluate(IDS, PROBS, LABELS, bootstrap=20.0, seed=3.0).bootstrap.resamples == 20


def test_a_metric_string_is_one_name_not_letters():
    assert evaluate(IDS, PROBS, LABELS, bootstrap=0, metrics="f1").metrics == ("f1",)
    assert evaluate(IDS, PROBS, LABELS, bootstrap=0, metrics="kappa,f1").metrics == ("kappa", "f1")


@pytest.mark.parametrize(
    "given,suggested", [("auc", "auroc"), ("recall", "sensitivity"), ("kapa", "kappa"), ("ppv", "precision")]
)
def test_unknown_metrics_suggest_the_registered_name(given, suggested, tmp_path):
    with pytest.raises(InputError, match=f"did you mean {suggested}"):
        evaluate(IDS, PROBS, LABELS, bootstrap=0, metrics=[given])
    write_case(tmp_path, n_per_part=3)
    proc = run("score", tmp_path / "preds.csv", "--truth", tmp_path / "panel.csv", "--metrics", f"{given},f1")
    assert proc.returncode == 2 and f"did you mean {suggested}" in proc.stderr


def test_bootstrap_is_the_option_and_resamples_a_deprecated_alias(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = evaluate(IDS, PROBS, LABELS, bootstrap=30).to_json()
    with pytest.warns(DeprecationWarning, match="bootstrap="):
        old = evaluate(IDS, PROBS, LABELS, resamples=30).to_json()
    assert old == new
    with pytest.raises(InputError, match="bootstrap= only"), pytest.warns(DeprecationWarning):
        evaluate(IDS, PROBS, LABELS, bootstrap=30, resamples=30)
    write_case(tmp_path, n_per_part=3)
    with pytest.warns(DeprecationWarning):
        by_alias = score(tmp_path / "preds.csv", tmp_path / "panel.csv", resamples=25)
    assert by_alias.to_json() == score(tmp_path / "preds.csv", tmp_path / "panel.csv", bootstrap=25).to_json()


@pytest.mark.parametrize(
    "table", [pd.DataFrame({"study": IDS, "probability": PROBS}), PROBS, pd.Series(PROBS, index=IDS)]
)
def test_score_on_a_table_points_to_evaluate(table, tmp_path):
    with pytest.raises(InputError, match=r"evaluate\("):
        score(table, tmp_path / "panel.csv")
    with pytest.raises(InputError, match=r"evaluate\("):
        score(tmp_path / "preds.csv", table)


def test_dir_lists_the_lazy_entry_points():
    names = dir(mura_bench)
    for name in ("score", "evaluate", "score_many", "read_predictions", "read_truth", "InputError"):
        assert name in names
    assert callable(mura_bench.score_many)


@pytest.mark.parametrize("value,shown", [(np.nan, "nan"), (np.inf, "inf"), (1.5, "1.5")])
def test_bad_values_are_shown_as_python_numbers(value, shown):
    probs = PROBS.copy()
    probs[3] = value
    with pytest.raises(InputError) as info:
        evaluate(IDS, probs, LABELS, bootstrap=0)
    assert f": {shown}" in str(info.value) and "np.float64" not in str(info.value)


def test_messages_about_arrays_do_not_speak_of_a_truth_file():
    for call in (
        lambda: evaluate(IDS[:20], PROBS[:20], pd.Series(LABELS, index=IDS), bootstrap=0),
        lambda: evaluate(
            IDS + ["MURA-v1.1/valid/XR_HAND/patient77777/study1/"],
            np.r_[PROBS, 0.5],
            pd.Series(LABELS, index=IDS),
            bootstrap=0,
        ),
    ):
        with pytest.raises(InputError) as info:
            call()
        assert "truth file" not in str(info.value) and "the truth" in str(info.value)
