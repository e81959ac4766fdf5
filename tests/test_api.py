"""``mura_bench.evaluate`` (arrays in) gives what ``score`` gives for the same data in files."""

from __future__ import annotations

import doctest
import inspect
import json

import numpy as np
import pandas as pd
import pytest

import mura_bench
from mura_bench import InputError, evaluate, score
from mura_bench.data.layout import GROUPS
from helpers import write_case


def groups_json(result):
    return json.dumps(result.to_dict()["groups"], sort_keys=True)


@pytest.fixture
def case(tmp_path):
    write_case(tmp_path, seed=11, n_readers=5)
    panel = pd.read_csv(tmp_path / "panel.csv")
    preds = pd.read_csv(tmp_path / "preds.csv")
    return tmp_path, panel, preds


def test_panel_dataframe_matches_the_file_scorer(case):
    root, panel, preds = case
    from_files = score(root / "preds.csv", root / "panel.csv", bootstrap=300, seed=4)
    shuffled = panel.sample(frac=1.0, random_state=1).set_index("study")  # aligned by index
    from_arrays = evaluate(preds["study"], preds["probability"].to_numpy(), shuffled, bootstrap=300, seed=4)
    assert from_arrays.protocol == "leave-one-out"
    assert from_arrays.truth.readers == ("r1", "r2", "r3", "r4", "r5")  # 'label' is not a reader
    assert groups_json(from_arrays) == groups_json(from_files)
    assert from_arrays.notes == from_files.notes
    with_column = evaluate(
        preds["study"], preds["probability"].to_numpy(), panel.sample(frac=1.0, random_state=2), bootstrap=300, seed=4
    )  # a 'study' column aligns too
    assert groups_json(with_column) == groups_json(from_files)


def test_positional_numpy_inputs_and_protocols(case):
    root, panel, preds = case
    panel = panel.set_index("study").loc[preds["study"]]  # same order as the predictions
    readers = panel[["r1", "r2", "r3", "r4", "r5"]].to_numpy()
    ids, probs = preds["study"].tolist(), preds["probability"].to_numpy()
    loo = evaluate(ids, probs, readers, bootstrap=200, seed=2)
    assert groups_json(loo) == groups_json(score(root / "preds.csv", root / "panel.csv", bootstrap=200, seed=2))
    single = evaluate(ids, probs, panel["label"].to_numpy(), bootstrap=200, seed=2)
    assert single.protocol == "single" and single.truth.kind == "labels"
    assert groups_json(single) == groups_json(score(root / "preds.csv", root / "labels.csv", bootstrap=200, seed=2))
    gold = evaluate(ids, probs, readers, protocol="gold-panel", bootstrap=200, seed=2)
    assert gold.protocol == "gold-panel" and set(gold.groups["overall"].readers) == {"r4", "r5"}


def test_integer_predictions_are_labels_and_floats_probabilities(case):
    _, panel, preds = case
    ids = preds["study"].tolist()
    truth = panel.set_index("study")["label"]
    hard = (preds["probability"].to_numpy() > 0.5).astype(int)
    as_labels = evaluate(ids, hard, truth, bootstrap=50)
    assert as_labels.predictions.kind == "labels" and "auroc" not in as_labels.groups["overall"].model
    as_probs = evaluate(ids, hard.astype(float), truth, bootstrap=50)
    assert as_probs.predictions.kind == "study-probabilities" and "auroc" in as_probs.groups["overall"].model
    assert any("0.0 or 1.0" in n for n in as_probs.notes)


def test_image_ids_are_averaged_per_study(case):
    _, panel, preds = case
    truth = panel.set_index("study")["label"]
    images, values = [], []
    for s, p in zip(preds["study"], preds["probability"]):
        images += [f"{s}image1.png", f"{s}image2.png"]
        values += [min(1.0, p + 0.1), max(0.0, p - 0.1)] if 0.1 <= p <= 0.9 else [p, p]
    result = evaluate(images, np.array(values), truth, bootstrap=100, seed=1)
    expected = evaluate(preds["study"], preds["probability"].to_numpy(), truth, bootstrap=100, seed=1)
    assert result.predictions.kind == "image-probabilities" and result.predictions.rows == len(images)
    assert result.groups["overall"].model["f1"] == expected.groups["overall"].model["f1"]


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda ids, p, t: (ids[:-1], p, t), "study ids but predictions"),
        (lambda ids, p, t: (ids, p * 3, t), "in [0, 1]"),
        (lambda ids, p, t: (ids, p, t[:, :2]), "at least 3 reader columns"),
        (lambda ids, p, t: (ids, p, t * 2), "truth values must be 0 or 1"),
        (lambda ids, p, t: (ids, (p * 3).astype(int), t), "must be 0 or 1"),
        (lambda ids, p, t: (["not/a/mura/path"] + ids[1:], p, t), "MURA layout"),
        (lambda ids, p, t: ([ids[0] + "image1.png"] + ids[1:], p, t), "mixed image and study"),
        (lambda ids, p, t: ([i + "image1.png" for i in ids], p, t), "indexed by study id"),
        (lambda ids, p, t: (ids, p, t[:-1]), "give one truth row per study"),
    ],
)
def test_bad_arrays_raise_one_input_error(case, bad, message):
    _, panel, preds = case
    panel = panel.set_index("study").loc[preds["study"]]
    args = bad(
        preds["study"].tolist(), preds["probability"].to_numpy(), panel[["r1", "r2", "r3", "r4", "r5"]].to_numpy()
    )
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        evaluate(*args, bootstrap=10)


def test_to_frame_holds_the_rows(case):
    root, _, _ = case
    result = score(root / "preds.csv", root / "panel.csv", bootstrap=100)
    frame = result.to_frame()
    assert list(frame.columns) == [
        "group",
        "subject",
        "metric",
        "value",
        "ci_lower",
        "ci_upper",
        "p_value",
        "p_adjusted",
        "significant",
        "studies",
        "positives",
    ]
    assert len(frame) == len(result.rows())
    assert set(frame.group) == set(GROUPS)
    row = frame[(frame.group == "overall") & (frame.subject == "difference") & (frame.metric == "f1")].iloc[0]
    est = result.groups["overall"].difference["f1"]
    assert (row.value, row.ci_lower, row.ci_upper, bool(row.significant)) == (est.value, *est.ci, est.significant)


def test_options_are_visible_keyword_only_parameters():
    for fn in (evaluate, score):
        params = inspect.signature(fn).parameters
        for name in ("protocol", "metrics", "resamples", "seed", "confidence", "tie", "allow_missing"):
            assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, (fn, name)
    assert "evaluate" in mura_bench.__all__


@pytest.mark.parametrize("module", ["mura_bench.api", "mura_bench.results"])
def test_docstring_examples_run(module):
    import importlib

    outcome = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert outcome.attempted > 0 and outcome.failed == 0
