"""Prediction files: format detection, normalisation, every validation fault, atomic writing."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mura_bench.errors import InputError
from mura_bench.data.layout import read_labeled_studies
from mura_bench.data.prediction_writer import write_image_predictions
from mura_bench.data.predictions import Predictions, predictions_from_scores, read_predictions, study_means
from mura_bench.data.tabular import file_sha256
from helpers import REFERENCE_DIR, csv_text, needs_reference, study_id, study_ids, write

S0, S1, S2 = study_ids(3)


def read_text(tmp_path, text, **options) -> Predictions:
    return read_predictions(write(tmp_path, text), **options)


def error_of(tmp_path, text, **options) -> InputError:
    with pytest.raises(InputError) as info:
        read_text(tmp_path, text, **options)
    return info.value


def kappa(truth: np.ndarray, pred: np.ndarray) -> float:
    """Cohen's kappa from the confusion counts (an independent oracle for the reference checks)."""
    n = len(truth)
    p_o = np.mean(truth == pred)
    p_e = np.mean(truth) * np.mean(pred) + np.mean(1 - truth) * np.mean(1 - pred)
    assert n and p_e < 1
    return float((p_o - p_e) / (1 - p_e))


# ---------------------------------------------------------------------------------------------
# Format detection
# ---------------------------------------------------------------------------------------------


def test_official_format_is_labels(tmp_path):
    p = read_text(tmp_path, csv_text([(S1, 1), (S0, 0), (S2, 1)]))
    assert p.kind == "labels" and not p.has_probabilities
    assert p.study_ids == sorted([S0, S1, S2])
    assert p.probabilities.dtype == np.float64 and p.labels.dtype == np.int8
    expected = {S0: 0, S1: 1, S2: 1}
    assert p.labels.tolist() == [expected[s] for s in p.study_ids]
    assert p.probabilities.tolist() == [float(expected[s]) for s in p.study_ids]


def test_zero_point_zero_and_one_point_zero_are_probabilities(tmp_path):
    p = read_text(tmp_path, csv_text([(S0, "0.0"), (S1, "1.0")]))
    assert p.kind == "study-probabilities" and p.has_probabilities
    assert p.labels.tolist() == [0, 1]


def test_one_decimal_value_makes_the_whole_file_probabilities(tmp_path):
    p = read_text(tmp_path, csv_text([(S0, "0"), (S1, "1"), (S2, "0.25")]))
    assert p.kind == "study-probabilities"


def test_headerless_study_probabilities(tmp_path):
    p = read_text(tmp_path, csv_text([(S0, 0.2), (S1, 0.9)]))
    assert p.kind == "study-probabilities"
    assert p.probabilities.tolist() == [0.2, 0.9]
    assert p.labels.tolist() == [0, 1]


@pytest.mark.parametrize(
    "header",
    [("study", "probability"), ("Study", "PROB"), ("path", "score"), ("Path", "Prediction"), ("STUDY", "label")],
)
def test_header_names_are_recognised_case_insensitively(tmp_path, header):
    p = read_text(tmp_path, csv_text([(S0, "0"), (S1, "1")], header=header))
    assert p.study_ids == [S0, S1] and p.labels.tolist() == [0, 1]


def test_header_columns_found_in_any_order_among_extra_columns(tmp_path):
    text = csv_text([("x", 0.9, S0, "a"), ("y", 0.1, S1, "b")], header=("model", "prob", "study", "note"))
    p = read_text(tmp_path, text)
    assert p.study_ids == [S0, S1] and p.probabilities.tolist() == [0.9, 0.1]


def test_two_column_header_with_unknown_names_is_positional(tmp_path):
    p = read_text(tmp_path, csv_text([(S0, 0.7)], header=("filename", "p_abnormal")))
    assert p.study_ids == [S0] and p.probabilities.tolist() == [0.7]


def test_two_column_header_with_one_known_name_takes_the_other_column(tmp_path):
    p = read_text(tmp_path, csv_text([(0.7, S0)], header=("p_abnormal", "study")))
    assert p.study_ids == [S0] and p.probabilities.tolist() == [0.7]


def test_image_rows_give_image_probabilities_with_the_mean_per_study(tmp_path):
    rows = [(S0 + "image1.png", 0.2), (S0 + "image2.png", 0.6), (S0 + "image3.png", 1.0), (S1 + "image1.png", 0.4)]
    p = read_text(tmp_path, csv_text(rows, header=("image", "probability")))
    assert p.kind == "image-probabilities"
    assert p.study_ids == [S0, S1]
    np.testing.assert_allclose(p.probabilities, [0.6, 0.4])
    assert p.labels.tolist() == [1, 0]


def test_image_zero_one_values_are_averaged_not_labels(tmp_path):
    rows = [(S0 + "image1.png", 1), (S0 + "image2.png", 0), (S1 + "image1.png", 1)]
    p = read_text(tmp_path, csv_text(rows))
    assert p.kind == "image-probabilities" and p.has_probabilities
    assert p.probabilities.tolist() == [0.5, 1.0]
    assert p.labels.tolist() == [0, 1]  # exactly 0.5 is normal


@pytest.mark.parametrize(
    "value, label", [("0.5", 0), ("0.5000000001", 1), ("0.4999999999", 0), ("0.50", 0), ("5e-1", 0)]
)
def test_threshold_is_strictly_greater_than_one_half(tmp_path, value, label):
    p = read_text(tmp_path, csv_text([(S0, value)]))
    assert p.labels.tolist() == [label]


def test_image_mean_exactly_one_half_is_normal(tmp_path):
    rows = [(S0 + "image1.png", 0.25), (S0 + "image2.png", 0.75)]
    p = read_text(tmp_path, csv_text(rows))
    assert p.probabilities.tolist() == [0.5] and p.labels.tolist() == [0]


def test_study_means_matches_a_plain_loop():
    rng = np.random.default_rng(3)
    owners = [study_id(int(i)) for i in rng.integers(0, 20, size=200)]
    values = rng.random(200)
    ids, means = study_means(owners, values)
    assert ids == sorted(set(owners))
    for s, m in zip(ids, means):
        assert m == pytest.approx(np.mean([v for o, v in zip(owners, values) if o == s]))


def test_row_order_does_not_matter(tmp_path):
    rows = [(s, round(0.1 * i, 2)) for i, s in enumerate(study_ids(8))]
    a = read_predictions(write(tmp_path, csv_text(rows), "a.csv"))
    b = read_predictions(write(tmp_path, csv_text(rows[::-1]), "b.csv"))
    assert a.study_ids == b.study_ids == sorted(a.study_ids)
    assert a.probabilities.tolist() == b.probabilities.tolist()


def test_path_and_hash_are_recorded(tmp_path):
    path = write(tmp_path, csv_text([(S0, 0.3)]))
    p = read_predictions(path)
    assert p.path == str(path) and p.sha256 == file_sha256(path) and len(p.sha256) == 64


def test_byte_order_mark_and_crlf_are_accepted(tmp_path):
    p = read_text(tmp_path, "\ufeffstudy,probability\r\n" + S0 + ",0.3\r\n\r\n")
    assert p.study_ids == [S0]


# ---------------------------------------------------------------------------------------------
# Path normalisation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/",
        "MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive",
        "valid/XR_WRIST/patient11185/study1_positive/",
        "valid/XR_WRIST/patient11185/study1_positive",
        "/data/sets/MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/",
        "./MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/",
        "C:\\data\\MURA-v1.1\\valid\\XR_WRIST\\patient11185\\study1_positive\\",
    ],
)
def test_study_paths_are_normalised(tmp_path, written):
    p = read_text(tmp_path, csv_text([(written, 0.8)]))
    assert p.study_ids == ["MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/"]


def test_image_paths_are_normalised_to_their_study(tmp_path):
    rows = [
        ("/data/MURA-v1.1/valid/XR_HAND/patient1/study2_negative/image1.png", 0.2),
        ("valid/XR_HAND/patient1/study2_negative/image2.png", 0.4),
    ]
    p = read_text(tmp_path, csv_text(rows))
    assert p.study_ids == ["MURA-v1.1/valid/XR_HAND/patient1/study2_negative/"]
    assert p.probabilities.tolist() == pytest.approx([0.3])


def test_duplicates_are_found_after_normalisation(tmp_path):
    rows = [("MURA-v1.1/valid/XR_HAND/patient1/study1_negative/", 0.2), ("valid/XR_HAND/patient1/study1_negative", 0.2)]
    err = error_of(tmp_path, csv_text(rows))
    assert "duplicate study rows" in str(err) and "line 2" in str(err) and "first on line 1" in str(err)


# ---------------------------------------------------------------------------------------------
# Column selection options
# ---------------------------------------------------------------------------------------------


def test_path_col_and_score_col_pick_any_columns(tmp_path):
    text = csv_text(
        [("m", S0 + "image1.png", 1, 0), ("m", S0 + "image2.png", 0, 1)],
        header=("part_model", "Path", "Abormal_Prediction", "Abnormal_Label"),
    )
    p = read_text(tmp_path, text, path_col="Path", score_col="Abormal_Prediction")
    assert p.kind == "image-probabilities" and p.probabilities.tolist() == [0.5]
    same = read_text(tmp_path, text, score_col="abormal_prediction")  # case-insensitive fallback
    assert same.probabilities.tolist() == [0.5]


def test_unknown_score_column_is_an_error_that_suggests_the_option(tmp_path):
    text = csv_text([("m", S0, 1, 0)], header=("part_model", "Path", "Abormal_Prediction", "Abnormal_Label"))
    err = error_of(tmp_path, text)
    assert "no score column" in str(err) and "--score-col" in str(err) and "line 1" in str(err)


def test_unknown_path_column_is_an_error_that_suggests_the_option(tmp_path):
    err = error_of(tmp_path, csv_text([("m", S0, 0.1)], header=("model", "file", "prob")))
    assert "no path column" in str(err) and "--path-col" in str(err)


def test_named_column_that_does_not_exist(tmp_path):
    err = error_of(tmp_path, csv_text([(S0, 0.1)], header=("study", "prob")), score_col="nope")
    assert "--score-col 'nope': no such column" in str(err) and "'prob'" in str(err)


def test_ambiguous_score_columns_are_refused(tmp_path):
    text = csv_text([(S0, 0.3, 1)], header=("study", "probability", "label"))
    err = error_of(tmp_path, text)
    assert "ambiguous score column" in str(err) and "--score-col" in str(err)
    assert read_text(tmp_path, text, score_col="probability").probabilities.tolist() == [0.3]


def test_ambiguous_path_columns_are_refused(tmp_path):
    err = error_of(tmp_path, csv_text([(S0, S0 + "image1.png", 0.3)], header=("study", "image", "prob")))
    assert "ambiguous path column" in str(err) and "--path-col" in str(err)


def test_column_options_on_a_headerless_file_are_refused(tmp_path):
    err = error_of(tmp_path, csv_text([(S0, 0.1)]), path_col="study")
    assert "no header" in str(err)


def test_path_and_score_column_cannot_be_the_same(tmp_path):
    err = error_of(tmp_path, csv_text([(S0, 0.1)], header=("study", "prob")), path_col="study", score_col="study")
    assert "same column" in str(err)


def test_repeated_named_column_is_refused(tmp_path):
    err = error_of(tmp_path, csv_text([(S0, 0.1, 0.2)], header=("study", "p", "p")), score_col="p")
    assert "more than once" in str(err)


# ---------------------------------------------------------------------------------------------
# Validation: every fault is one InputError with the line numbers and the total
# ---------------------------------------------------------------------------------------------


def assert_lines(err: InputError, lines: list[int], total: int) -> None:
    message = str(err)
    assert f"({total} row{'s' if total != 1 else ''})" in message
    for line in lines:
        assert re.search(rf"line {line}: ", message), (line, message)
    assert err.source is not None and err.source.endswith("input.csv")


@pytest.mark.parametrize("text", ["", "\n\n  \n", " , \n"])
def test_empty_file(tmp_path, text):
    assert "empty" in str(error_of(tmp_path, text))


def test_header_without_rows(tmp_path):
    assert "no rows" in str(error_of(tmp_path, "study,probability\n"))


def test_undecodable_bytes(tmp_path):
    err = error_of(tmp_path, (S0 + ",0.5\n" + S1).encode() + b"\xff,0.2\n")
    assert "not UTF-8" in str(err) and "line 2" in str(err)


def test_binary_file(tmp_path):
    assert "NUL" in str(error_of(tmp_path, b"\x00\x01\x02,3\n"))


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_predictions(tmp_path / "nope.csv")


def test_wrong_column_count_headerless(tmp_path):
    rows = [(S0, 0.1), (S1, 0.2, "x"), (S2,), (study_id(5), 0.3)]
    err = error_of(tmp_path, csv_text(rows))
    assert "wrong column count" in str(err) and "2 columns" in str(err)
    assert_lines(err, [2, 3], 2)


def test_wrong_column_count_with_header(tmp_path):
    rows = [(S0, 0.1, "a"), (S1, 0.2), (S2, 0.3, "c")]
    err = error_of(tmp_path, csv_text(rows, header=("study", "prob", "note")))
    assert "header has 3 columns" in str(err)
    assert_lines(err, [3], 1)


def test_headerless_file_with_three_columns_suggests_a_header(tmp_path):
    err = error_of(tmp_path, csv_text([(S0, 0.1, 1), (S1, 0.2, 0)]))
    assert "needs a header" in str(err)
    assert_lines(err, [1, 2], 2)


def test_header_repeated_in_the_middle(tmp_path):
    text = csv_text([(S0, 0.1), ("study", "probability"), (S1, 0.2)], header=("study", "probability"))
    err = error_of(tmp_path, text)
    assert "header row in the wrong place" in str(err)
    assert_lines(err, [3], 1)


def test_header_row_in_a_headerless_file(tmp_path):
    text = csv_text([(S0, 0.1), (S1, 0.2), ("path", "score")])
    err = error_of(tmp_path, text)
    assert "header row in the wrong place" in str(err)
    assert_lines(err, [3], 1)


def test_non_numeric_values(tmp_path):
    rows = [(S0, 0.1), (S1, "high"), (S2, ""), (study_id(3), "0.2")]
    err = error_of(tmp_path, csv_text(rows))
    assert "non-numeric" in str(err) and "'high'" in str(err)
    assert_lines(err, [2, 3], 2)


def test_non_numeric_value_on_the_first_data_row_is_not_a_header(tmp_path):
    err = error_of(tmp_path, csv_text([(S0, "abc"), (S1, 0.2)]))
    assert "non-numeric" in str(err)
    assert_lines(err, [1], 1)


@pytest.mark.parametrize("bad", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_nan_and_infinity(tmp_path, bad):
    err = error_of(tmp_path, csv_text([(S0, 0.1), (S1, bad)]))
    assert "NaN or infinite" in str(err)
    assert_lines(err, [2], 1)


def test_probability_outside_the_unit_interval(tmp_path):
    rows = [(S0, -0.01), (S1, 0.5), (S2, 1.2)]
    err = error_of(tmp_path, csv_text(rows))
    assert "in [0, 1]" in str(err)
    assert_lines(err, [1, 3], 2)


def test_label_column_must_hold_zero_or_one(tmp_path):
    err = error_of(tmp_path, csv_text([(S0, 1), (S1, 0.7)], header=("study", "label")))
    assert "labels must be 0 or 1" in str(err) and "'label'" in str(err)
    assert_lines(err, [3], 1)


def test_integer_values_must_be_zero_or_one(tmp_path):
    err = error_of(tmp_path, csv_text([(S0, 1), (S1, 2), (S2, 0)]))
    assert "labels must be 0 or 1" in str(err)
    assert_lines(err, [2], 1)


@pytest.mark.parametrize("second", ["0.2", "0.9"])
def test_duplicate_study_rows_same_or_conflicting(tmp_path, second):
    err = error_of(tmp_path, csv_text([(S0, 0.2), (S1, 0.1), (S0, second)]))
    assert "duplicate study rows" in str(err) and "first on line 1" in str(err)
    assert ("same value" if second == "0.2" else "conflicting values") in str(err)
    assert_lines(err, [3], 1)


def test_duplicate_image_rows(tmp_path):
    rows = [(S0 + "image1.png", 0.2), (S0 + "image2.png", 0.2), (S0 + "image1.png", 0.3), (S0 + "image1.png", 0.2)]
    err = error_of(tmp_path, csv_text(rows))
    assert "duplicate image rows" in str(err)
    assert_lines(err, [3, 4], 2)


@pytest.mark.parametrize(
    "bad",
    [
        "MURA-v1.1/valid/XR_KNEE/patient1/study1_positive/",
        "valid/patient1/study1/",
        "something/else.txt",
        "MURA-v1.1/valid/XR_HAND/patient1/study1_positive/image1.dcm",
        "MURA-v1.1/holdout/XR_HAND/patient1/study1_positive/",
    ],
)
def test_paths_not_in_mura_layout(tmp_path, bad):
    err = error_of(tmp_path, csv_text([(S0, 0.2), (bad, 0.1)]))
    assert "not in MURA layout" in str(err)
    assert_lines(err, [2], 1)


def test_mixed_image_and_study_rows_list_the_minority(tmp_path):
    rows = [(S0 + "image1.png", 0.2), (S1 + "image1.png", 0.1), (S2, 0.3), (study_id(4) + "image1.png", 0.4)]
    err = error_of(tmp_path, csv_text(rows))
    assert "mixed image and study rows" in str(err) and "3 image rows and 1 study rows" in str(err)
    assert_lines(err, [3], 1)


def test_many_faults_show_the_first_few_and_the_total(tmp_path):
    rows = [(s, "x") for s in study_ids(12)]
    message = str(error_of(tmp_path, csv_text(rows)))
    assert "(12 rows)" in message and "... and 7 more" in message
    assert "line 1: " in message and "line 5: " in message and "line 6: " not in message


def test_every_fault_is_an_input_error_not_a_traceback(tmp_path):
    for text in [b"\xfe\xff", "a", "a,b\n", "1,2\n", ",\n,,\n", '"unterminated,1\n', "study,prob\nx\n"]:
        with pytest.raises(InputError):
            read_text(tmp_path, text)


# ---------------------------------------------------------------------------------------------
# In-memory construction
# ---------------------------------------------------------------------------------------------


def test_predictions_from_scores_normalises_and_sorts():
    p = predictions_from_scores(["valid/XR_HAND/patient2/study1_negative", S0], [0.5, 0.9])
    assert p.study_ids == sorted([S0, "MURA-v1.1/valid/XR_HAND/patient2/study1_negative/"])
    assert dict(zip(p.study_ids, p.labels.tolist()))[S0] == 1
    assert p.labels.sum() == 1


@pytest.mark.parametrize(
    "ids, values, kind, fault",
    [
        ([S0], [1.5], "study-probabilities", "in [0, 1]"),
        ([S0], [float("nan")], "study-probabilities", "in [0, 1]"),
        ([S0], [0.5], "labels", "0 or 1"),
        ([S0, S0], [0.1, 0.2], "study-probabilities", "duplicate"),
        (["nowhere"], [0.1], "study-probabilities", "MURA layout"),
        ([S0, S1], [0.1], "study-probabilities", "2 study ids but 1"),
        ([S0], [0.1], "votes", "unknown predictions kind"),
    ],
)
def test_predictions_from_scores_validates(ids, values, kind, fault):
    with pytest.raises(InputError, match=re.escape(fault)):
        predictions_from_scores(ids, values, kind=kind)


# ---------------------------------------------------------------------------------------------
# Writing format 3
# ---------------------------------------------------------------------------------------------


def test_write_image_predictions_round_trips_exactly(tmp_path):
    rng = np.random.default_rng(0)
    rows = [
        (f"valid/XR_ELBOW/patient{i}/study1_negative/image{j}.png", float(rng.random()))
        for i in range(5)
        for j in (1, 2)
    ]
    out = tmp_path / "predictions.csv"
    write_image_predictions(out, rows)
    text = out.read_text()
    assert text.splitlines()[0] == "image,probability"
    assert text.splitlines()[1].startswith("MURA-v1.1/valid/XR_ELBOW/patient0/study1_negative/image1.png,")
    p = read_predictions(out)
    assert p.kind == "image-probabilities" and len(p.study_ids) == 5
    expected = [(rows[2 * i][1] + rows[2 * i + 1][1]) / 2 for i in range(5)]
    assert p.probabilities.tolist() == expected  # bit-exact through repr
    assert sorted(x.name for x in tmp_path.iterdir()) == ["predictions.csv"]


def test_write_accepts_a_generator_and_numpy_values(tmp_path):
    out = tmp_path / "p.csv"
    write_image_predictions(out, ((S0 + f"image{j}.png", np.float32(0.25)) for j in (1, 2)))
    assert read_predictions(out).probabilities.tolist() == [0.25]


@pytest.mark.parametrize(
    "bad_row, fault",
    [
        ((S1 + "image1.png", float("nan")), "outside [0, 1]"),
        ((S1 + "image1.png", 1.5), "outside [0, 1]"),
        ((S1 + "image1.png", "x"), "outside [0, 1]"),
        ((S1, 0.5), "study path where an image"),
        (("elsewhere/image1.png", 0.5), "MURA layout"),
        ((S0 + "image1.png", 0.5), "duplicate image"),
    ],
)
def test_failed_write_leaves_the_existing_file_and_no_temporary(tmp_path, bad_row, fault):
    out = tmp_path / "predictions.csv"
    out.write_text("previous content\n")
    rows = [(S0 + "image1.png", 0.1), (S0 + "image2.png", 0.2), bad_row]
    with pytest.raises(InputError, match=re.escape(fault)):
        write_image_predictions(out, rows)
    assert out.read_text() == "previous content\n"
    assert [x.name for x in tmp_path.iterdir()] == ["predictions.csv"]


def test_exception_from_the_row_source_leaves_nothing_behind(tmp_path):
    def rows():
        yield S0 + "image1.png", 0.1
        raise KeyboardInterrupt

    out = tmp_path / "predictions.csv"
    with pytest.raises(KeyboardInterrupt):
        write_image_predictions(out, rows())
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Speed and reality
# ---------------------------------------------------------------------------------------------


def test_reading_3197_image_rows_groups_them_into_studies(tmp_path):
    # Reading speed is measured in benchmarks/score_end_to_end.py, not asserted here.
    rng = np.random.default_rng(1)
    rows = [(study_id(i // 3) + f"image{i % 3 + 1}.png", round(float(rng.random()), 6)) for i in range(3197)]
    path = write(tmp_path, csv_text(rows, header=("image", "probability")))
    preds = read_predictions(path)
    assert len(preds.study_ids) == 1066
    expected = [np.mean([p for (img, p) in rows if img.startswith(s)]) for s in preds.study_ids[:50]]
    np.testing.assert_allclose(preds.probabilities[:50], expected, rtol=0, atol=1e-12)


def _synthetic_third_party_file(tmp_path):
    """Same shape as the DS5500 file: extra columns, 'Path'/'Abormal_Prediction', image 0/1 values."""
    rng = np.random.default_rng(7)
    ids = study_ids(60)
    truth = np.array([i % 2 for i in range(60)], dtype=np.int8)
    rows, image_votes = [], {}
    for s, y in zip(ids, truth):
        votes = [int(v) for v in (rng.random(int(rng.integers(1, 5))) < (0.75 if y else 0.3))]
        image_votes[s] = votes
        for j, v in enumerate(votes, 1):
            rows.append(("Elbow", 7, s + f"image{j}.png", v, int(y), 0, 0))
    header = ("part_model", "trial", "Path", "Abormal_Prediction", "Abnormal_Label", "Body_Prediction", "Body_Label")
    return write(tmp_path, csv_text(rows, header=header)), ids, truth, image_votes


def test_third_party_shaped_file_reads_as_image_level_zero_one_predictions(tmp_path):
    path, ids, truth, votes = _synthetic_third_party_file(tmp_path)
    with pytest.raises(InputError, match="--score-col"):
        read_predictions(path)
    p = read_predictions(path, path_col="Path", score_col="Abormal_Prediction")
    assert p.kind == "image-probabilities" and p.study_ids == sorted(ids)
    mean = {s: sum(v) / len(v) for s, v in votes.items()}
    assert p.probabilities.tolist() == [mean[s] for s in p.study_ids]
    assert p.labels.tolist() == [int(mean[s] > 0.5) for s in p.study_ids]
    y = np.array([truth[ids.index(s)] for s in p.study_ids])
    strict = kappa(y, np.array([int(mean[s] > 0.5) for s in p.study_ids]))
    assert kappa(y, p.labels) == pytest.approx(strict, abs=1e-12)


@needs_reference()
def test_real_third_party_file_gives_the_published_study_level_kappa():
    path = REFERENCE_DIR / "third-party-predictions" / "ds5500-densenet169-valid-per-image-labels.csv"
    p = read_predictions(path, path_col="Path", score_col="Abormal_Prediction")
    assert p.kind == "image-probabilities" and len(p.study_ids) == 1199
    assert int(np.sum(p.probabilities == 0.5)) == 155
    ids, labels = read_labeled_studies(REFERENCE_DIR / "mura-v1.1" / "valid_labeled_studies.csv")
    truth = dict(zip(ids, labels.tolist()))
    y = np.array([truth[s] for s in p.study_ids])
    assert kappa(y, p.labels) == pytest.approx(0.4439, abs=5e-5)
    assert np.mean(y == p.labels) == pytest.approx(0.7281, abs=5e-5)
    assert kappa(y, (p.probabilities >= 0.5).astype(int)) == pytest.approx(0.4669, abs=5e-5)


@needs_reference()
def test_official_valid_labels_read_as_official_format_predictions():
    p = read_predictions(REFERENCE_DIR / "mura-v1.1" / "valid_labeled_studies.csv")
    assert p.kind == "labels" and len(p.study_ids) == 1199 and int(p.labels.sum()) == 538


def test_lines_give_each_studys_first_row(tmp_path):
    rows = [(S1 + "image1.png", 0.1), (S0 + "image1.png", 0.2), (S1 + "image2.png", 0.3)]
    p = read_text(tmp_path, csv_text(rows, header=("image", "probability")))
    assert p.study_ids == [S0, S1] and p.lines.tolist() == [3, 2]
    assert predictions_from_scores([S0], [0.1]).lines is None


def test_header_with_a_numeric_column_name_is_explained(tmp_path):
    err = error_of(tmp_path, csv_text([(S0, 0.3)], header=("study", 1)))
    assert "looks like a header" in str(err)
    assert_lines(err, [1], 1)
