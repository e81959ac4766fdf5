"""Pairing predictions with truth: indices, missing studies, extra studies, split mismatch."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import REFERENCE_DIR, csv_text, needs_reference, study_ids, write
from mura_bench.data.alignment import Alignment, align
from mura_bench.errors import InputError
from mura_bench.data.predictions import predictions_from_scores, read_predictions
from mura_bench.data.truth import read_truth

VALID = study_ids(10)
TRAIN = study_ids(10, split="train")


def truth_for(tmp_path, ids, name="truth.csv"):
    return read_truth(write(tmp_path, csv_text([(s, i % 2) for i, s in enumerate(ids)]), name))


def preds_for(ids, seed=0):
    return predictions_from_scores(ids, np.random.default_rng(seed).random(len(ids)), path="preds.csv")


def test_full_overlap_indices_point_at_the_same_study(tmp_path):
    truth = truth_for(tmp_path, VALID[::-1])
    preds = preds_for(VALID)
    a = align(preds, truth)
    assert isinstance(a, Alignment) and a.missing == [] and len(a) == 10
    assert a.study_ids == sorted(VALID)
    assert a.prediction_index.dtype == np.int64 and a.truth_index.dtype == np.int64
    assert [preds.study_ids[i] for i in a.prediction_index] == a.study_ids
    assert [truth.study_ids[i] for i in a.truth_index] == a.study_ids


def test_missing_studies_are_an_error_that_lists_them_and_suggests_allow_missing(tmp_path):
    truth = truth_for(tmp_path, VALID)
    with pytest.raises(InputError) as info:
        align(preds_for(VALID[:7]), truth)
    message = str(info.value)
    assert "3 of 10 studies" in message and "no prediction" in message and "(3 rows)" in message
    for s in VALID[7:]:
        assert s in message
    assert "--allow-missing" in message and "7 studies present" in message


def test_allow_missing_scores_the_subset_and_lists_the_rest(tmp_path):
    truth = truth_for(tmp_path, VALID)
    preds = preds_for(VALID[2:9])
    a = align(preds, truth, allow_missing=True)
    assert a.study_ids == sorted(VALID[2:9])
    assert a.missing == sorted(VALID[:2] + VALID[9:])
    assert [truth.study_ids[i] for i in a.truth_index] == a.study_ids
    assert [preds.study_ids[i] for i in a.prediction_index] == a.study_ids


def test_studies_not_in_the_truth_file_are_listed(tmp_path):
    truth = truth_for(tmp_path, VALID[:8])
    with pytest.raises(InputError) as info:
        align(preds_for(VALID), truth, allow_missing=True)
    message = str(info.value)
    assert "studies not in the truth file" in message and "(2 rows)" in message
    assert VALID[8] in message and VALID[9] in message


def test_train_predictions_against_valid_truth_say_split_mismatch(tmp_path):
    truth = truth_for(tmp_path, VALID)
    with pytest.raises(InputError) as info:
        align(preds_for(TRAIN), truth)
    message = str(info.value)
    assert "split mismatch" in message and "10 train" in message and "10 valid" in message
    assert "not in the truth" not in message


def test_some_studies_of_another_split_are_a_split_mismatch(tmp_path):
    truth = truth_for(tmp_path, VALID)
    with pytest.raises(InputError, match="split mismatch") as info:
        align(preds_for(VALID + TRAIN[:1]), truth)
    assert "(1 row)" in str(info.value) and TRAIN[0] in str(info.value)


def test_no_overlap_at_all(tmp_path):
    truth = truth_for(tmp_path, VALID[:5])
    with pytest.raises(InputError, match="no study in common") as info:
        align(preds_for(VALID[5:]), truth, allow_missing=True)
    assert "predicted: " in str(info.value) and "in truth: " in str(info.value)


def test_alignment_works_with_panels(tmp_path):
    rows = [(s, 1, 0, i % 2) for i, s in enumerate(VALID)]
    truth = read_truth(write(tmp_path, csv_text(rows, header=("study", "a", "b", "c"))))
    preds = read_predictions(write(tmp_path, csv_text([(s + "image1.png", 0.3) for s in VALID[3:]]), "p.csv"))
    a = align(preds, truth, allow_missing=True)
    assert a.study_ids == sorted(VALID[3:]) and len(a.missing) == 3
    assert truth.readers[a.truth_index].shape == (7, 3)


@needs_reference()
def test_official_train_labels_against_valid_truth_are_a_split_mismatch():
    base = REFERENCE_DIR / "mura-v1.1"
    truth = read_truth(base / "valid_labeled_studies.csv")
    preds = read_predictions(base / "train_labeled_studies.csv")
    with pytest.raises(InputError, match="split mismatch") as info:
        align(preds, truth)
    assert "13457 train" in str(info.value) and "1199 valid" in str(info.value)


@needs_reference()
def test_third_party_file_aligns_fully_with_the_valid_labels():
    truth = read_truth(REFERENCE_DIR / "mura-v1.1" / "valid_labeled_studies.csv")
    preds = read_predictions(
        REFERENCE_DIR / "third-party-predictions" / "ds5500-densenet169-valid-per-image-labels.csv",
        path_col="Path",
        score_col="Abormal_Prediction",
    )
    a = align(preds, truth)
    assert len(a) == 1199 and a.missing == []


def test_errors_name_the_file_lines_when_the_inputs_came_from_files(tmp_path):
    truth = read_truth(write(tmp_path, csv_text([(s, 1) for s in VALID[:6]]), "truth.csv"))
    rows = [(s + "image1.png", 0.3) for s in VALID[2:8]]
    preds = read_predictions(write(tmp_path, csv_text(rows, header=("image", "probability")), "p.csv"))
    with pytest.raises(InputError) as info:
        align(preds, truth)
    message = str(info.value)  # VALID[6], VALID[7] are on lines 6 and 7 of p.csv (line 1 is the header)
    assert info.value.source == preds.path and "line 6: " + VALID[6] in message and "line 7: " + VALID[7] in message
    preds = read_predictions(write(tmp_path, csv_text(rows[:3]), "p2.csv"))
    with pytest.raises(InputError) as info:
        align(preds, truth)
    message = str(info.value)  # VALID[0], VALID[1], VALID[5] are on lines 1, 2 and 6 of truth.csv
    assert info.value.source == truth.path and "(3 rows)" in message
    assert all(f"line {n}: {VALID[i]}" in message for n, i in ((1, 0), (2, 1), (6, 5)))
