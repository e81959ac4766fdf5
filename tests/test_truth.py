"""Truth files: the three kinds, the shapes that are refused, every validation fault."""

from __future__ import annotations

import re

import numpy as np
import pytest

from helpers import REFERENCE_DIR, csv_text, needs_reference, study_id, study_ids, write
from mura_bench.errors import InputError
from mura_bench.data.layout import read_labeled_studies
from mura_bench.data.tabular import file_sha256
from mura_bench.data.truth import Truth, read_truth

S0, S1, S2, S3 = study_ids(4)


def read_text(tmp_path, text) -> Truth:
    return read_truth(write(tmp_path, text))


def error_of(tmp_path, text) -> InputError:
    with pytest.raises(InputError) as info:
        read_text(tmp_path, text)
    return info.value


def assert_lines(err: InputError, lines: list[int], total: int) -> None:
    message = str(err)
    assert f"({total} row{'s' if total != 1 else ''})" in message, message
    for line in lines:
        assert re.search(rf"line {line}: ", message), (line, message)
    assert err.source is not None and err.source.endswith("input.csv")


# ---------------------------------------------------------------------------------------------
# Kinds
# ---------------------------------------------------------------------------------------------


def test_headerless_two_columns_is_labels(tmp_path):
    t = read_text(tmp_path, csv_text([(S2, 1), (S0, 0), (S1, 1)]))
    assert t.kind == "labels" and t.study_ids == [S0, S1, S2]
    assert t.labels.dtype == np.int8 and t.labels.tolist() == [0, 1, 1]
    assert t.readers is None and t.reader_names == [] and t.n_readers == 0


@pytest.mark.parametrize("header", [("study", "label"), ("Study", "LABEL"), ("path", "label")])
def test_header_study_label_is_labels(tmp_path, header):
    t = read_text(tmp_path, csv_text([(S1, 1), (S0, 0)], header=header))
    assert t.kind == "labels" and t.labels.tolist() == [0, 1] and t.readers is None


def test_panel_with_label_column(tmp_path):
    rows = [(S1, 1, 0, 1, 1), (S0, 0, 0, 1, 0)]
    t = read_text(tmp_path, csv_text(rows, header=("study", "reader_1", "reader_2", "reader_3", "label")))
    assert t.kind == "panel" and t.study_ids == [S0, S1]
    assert t.reader_names == ["reader_1", "reader_2", "reader_3"]
    assert t.readers.dtype == np.int8 and t.readers.shape == (2, 3)
    assert t.readers.tolist() == [[0, 0, 1], [1, 0, 1]]
    assert t.labels.tolist() == [0, 1]


def test_panel_label_column_anywhere(tmp_path):
    # reader columns keep their header order; the label column may sit between them
    text = csv_text([(S0, 1, 1, 0, 0), (S1, 0, 0, 1, 1)], header=("study", "ann", "label", "bob", "cy"))
    t = read_text(tmp_path, text)
    assert t.reader_names == ["ann", "bob", "cy"]
    assert t.labels.tolist() == [1, 0] and t.readers.tolist() == [[1, 0, 0], [0, 1, 1]]


def test_panel_without_label_column_and_six_readers(tmp_path):
    names = tuple(f"r{i}" for i in range(1, 7))
    rng = np.random.default_rng(0)
    votes = rng.integers(0, 2, size=(4, 6))
    ids = [S3, S1, S0, S2]
    t = read_text(tmp_path, csv_text([(s, *v) for s, v in zip(ids, votes.tolist())], header=("study", *names)))
    assert t.kind == "panel" and t.labels is None and t.reader_names == list(names)
    order = np.argsort(ids)
    assert t.readers.tolist() == votes[order].tolist()


def test_study_column_found_by_name(tmp_path):
    t = read_text(tmp_path, csv_text([(1, 0, S0, 1)], header=("a", "b", "study", "c")))
    assert t.study_ids == [S0] and t.reader_names == ["a", "b", "c"] and t.readers.tolist() == [[1, 0, 1]]


def test_headerless_four_columns_is_gold_panel(tmp_path):
    t = read_text(tmp_path, csv_text([(S1, 1, 1, 0), (S0, 0, 0, 1)]))
    assert t.kind == "gold-panel" and t.reader_names == ["r1", "r2", "r3"]
    assert t.labels is None and t.readers.tolist() == [[0, 0, 1], [1, 1, 0]]


def test_paths_are_normalised_and_sorted(tmp_path):
    rows = [("valid/XR_HAND/patient2/study1_negative", 0), ("/x/MURA-v1.1/valid/XR_ELBOW/patient9/study3_positive/", 1)]
    t = read_text(tmp_path, csv_text(rows))
    assert t.study_ids == [
        "MURA-v1.1/valid/XR_ELBOW/patient9/study3_positive/",
        "MURA-v1.1/valid/XR_HAND/patient2/study1_negative/",
    ]
    assert t.labels.tolist() == [1, 0]


def test_values_written_as_floats_are_accepted(tmp_path):
    t = read_text(tmp_path, csv_text([(S0, "1.0"), (S1, "0.0")]))
    assert t.labels.tolist() == [1, 0]


def test_path_and_hash(tmp_path):
    path = write(tmp_path, csv_text([(S0, 1)]))
    t = read_truth(path)
    assert t.path == str(path) and t.sha256 == file_sha256(path)


# ---------------------------------------------------------------------------------------------
# Shapes that are refused
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [1, 3, 5, 7])
def test_headerless_with_unrecognised_width(tmp_path, width):
    rows = [(s, *([1] * (width - 1))) for s in (S0, S1)]
    err = error_of(tmp_path, csv_text(rows))
    assert f"headerless with {width} columns" in str(err) and "needs a header" in str(err)
    assert_lines(err, [1, 2], 2)


@pytest.mark.parametrize("readers", [("r1",), ("r1", "r2")])
@pytest.mark.parametrize("with_label", [False, True])
def test_header_with_one_or_two_readers(tmp_path, readers, with_label):
    header = ("study", *readers) + (("label",) if with_label else ())
    err = error_of(tmp_path, csv_text([(S0, *([1] * (len(header) - 1)))], header=header))
    assert "at least 3 readers" in str(err) and f"has {len(readers)} reader column" in str(err)
    assert "study,label" in str(err)  # the hint for single labels
    assert_lines(err, [1], 1)


def test_label_column_in_place_of_the_study_column(tmp_path):
    err = error_of(tmp_path, csv_text([(1, S0)], header=("label", "x")))
    assert "study paths, not labels" in str(err)


def test_repeated_or_empty_header_names(tmp_path):
    assert "repeats column names" in str(error_of(tmp_path, csv_text([(S0, 1, 1, 1)], header=("study", "a", "A", "b"))))
    assert "empty column name" in str(error_of(tmp_path, csv_text([(S0, 1, 1, 1)], header=("study", "a", "", "b"))))


def test_ambiguous_study_column(tmp_path):
    err = error_of(tmp_path, csv_text([(S0, S0, 1, 1, 1)], header=("study", "path", "a", "b", "c")))
    assert "ambiguous study column" in str(err)


# ---------------------------------------------------------------------------------------------
# Validation faults
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "\n \n"])
def test_empty_file(tmp_path, text):
    assert "truth file is empty" in str(error_of(tmp_path, text))


def test_header_without_rows(tmp_path):
    assert "no rows" in str(error_of(tmp_path, "study,label\n"))


def test_undecodable_bytes(tmp_path):
    err = error_of(tmp_path, (S0 + ",1\n").encode() + b"caf\xe9,0\n")
    assert "not UTF-8" in str(err) and "line 2" in str(err)


def test_wrong_column_count_headerless(tmp_path):
    err = error_of(tmp_path, csv_text([(S0, 1), (S1, 0, 1), (S2, 1), (S3, 0)]))
    assert "wrong column count" in str(err)
    assert_lines(err, [2], 1)


def test_wrong_column_count_with_header(tmp_path):
    rows = [(S0, 1, 1, 1), (S1, 1, 1), (S2, 1, 0, 1, 1)]
    err = error_of(tmp_path, csv_text(rows, header=("study", "a", "b", "c")))
    assert "header has 4 columns" in str(err)
    assert_lines(err, [3, 4], 2)


def test_header_in_the_wrong_place(tmp_path):
    rows = [(S0, 1, 0, 1), ("study", "a", "b", "c"), (S1, 1, 0, 0)]
    err = error_of(tmp_path, csv_text(rows, header=("study", "a", "b", "c")))
    assert "header row in the wrong place" in str(err)
    assert_lines(err, [3], 1)


def test_header_row_inside_a_headerless_file(tmp_path):
    err = error_of(tmp_path, csv_text([(S0, 1), ("study", "label"), (S1, 0)]))
    assert "header row in the wrong place" in str(err)
    assert_lines(err, [2], 1)


def test_non_numeric_values(tmp_path):
    rows = [(S0, 1, "yes", 0), (S1, 1, 1, "")]
    err = error_of(tmp_path, csv_text(rows, header=("study", "a", "b", "c")))
    assert "non-numeric" in str(err) and "b='yes'" in str(err) and "c=''" in str(err)
    assert_lines(err, [2, 3], 2)


def test_first_row_with_a_path_and_a_word_is_data_not_a_header(tmp_path):
    err = error_of(tmp_path, csv_text([(S0, "abnormal"), (S1, 0)]))
    assert "non-numeric" in str(err)
    assert_lines(err, [1], 1)


@pytest.mark.parametrize("bad", ["nan", "inf", "-Infinity"])
def test_nan_and_infinity(tmp_path, bad):
    err = error_of(tmp_path, csv_text([(S0, 1), (S1, bad)]))
    assert "NaN or infinite" in str(err)
    assert_lines(err, [2], 1)


def test_labels_must_be_binary(tmp_path):
    err = error_of(tmp_path, csv_text([(S0, 1), (S1, 2), (S2, 0.5), (S3, -1)]))
    assert "labels must be 0 or 1" in str(err)
    assert_lines(err, [2, 3, 4], 3)


def test_reader_values_must_be_binary(tmp_path):
    rows = [(S0, 1, 0, 1, 1), (S1, 1, 0, 0.7, 0), (S2, 0, 0, 0, 3)]
    err = error_of(tmp_path, csv_text(rows, header=("study", "r1", "r2", "r3", "label")))
    message = str(err)
    assert "reader values and labels must be 0 or 1" in message
    assert "r3='0.7'" in message and "label='3'" in message
    assert_lines(err, [3, 4], 2)


def test_gold_panel_values_must_be_binary(tmp_path):
    err = error_of(tmp_path, csv_text([(S0, 1, 0, 1), (S1, 1, 0, 2)]))
    assert "r3='2'" in str(err)
    assert_lines(err, [2], 1)


@pytest.mark.parametrize("second_label, note", [(1, "same values"), (0, "conflicting values")])
def test_duplicate_studies(tmp_path, second_label, note):
    rows = [(S0, 1), (S1, 0), ("valid/" + S0.split("/valid/")[1].rstrip("/"), second_label)]
    err = error_of(tmp_path, csv_text(rows))
    assert "duplicate study rows" in str(err) and "first on line 1" in str(err) and note in str(err)
    assert_lines(err, [3], 1)


@pytest.mark.parametrize(
    "bad", ["MURA-v1.1/valid/XR_KNEE/patient1/study1_positive/", "not a path", "MURA-v1.1/valid/XR_HAND/patient1/"]
)
def test_paths_not_in_mura_layout(tmp_path, bad):
    err = error_of(tmp_path, csv_text([(S0, 1), (bad, 0)]))
    assert "not in MURA layout" in str(err)
    assert_lines(err, [2], 1)


def test_image_paths_are_not_studies(tmp_path):
    err = error_of(tmp_path, csv_text([(S0, 1), (S1 + "image1.png", 0)]))
    assert "image path where a study is expected" in str(err)
    assert_lines(err, [2], 1)


def test_many_faults_show_the_first_five_and_the_total(tmp_path):
    message = str(error_of(tmp_path, csv_text([(s, 7) for s in study_ids(9)])))
    assert "(9 rows)" in message and "... and 4 more" in message


# ---------------------------------------------------------------------------------------------
# Reality
# ---------------------------------------------------------------------------------------------


@needs_reference()
def test_official_valid_labels_read_as_labels():
    path = REFERENCE_DIR / "mura-v1.1" / "valid_labeled_studies.csv"
    t = read_truth(path)
    assert t.kind == "labels" and len(t.study_ids) == 1199
    assert int(t.labels.sum()) == 538 and int((t.labels == 0).sum()) == 661
    ids, labels = read_labeled_studies(path)
    assert t.study_ids == sorted(ids)
    assert dict(zip(t.study_ids, t.labels.tolist())) == dict(zip(ids, labels.tolist()))


@needs_reference()
@pytest.mark.parametrize("name, readers", [("panel6.csv", 6), ("panel5.csv", 5)])
def test_golden_panels_read_as_panels(name, readers):
    t = read_truth(REFERENCE_DIR / "golden" / name)
    assert t.kind == "panel" and len(t.study_ids) == 70 and t.readers.shape == (70, readers)
    assert t.reader_names == [f"reader_{i}" for i in range(1, readers + 1)] and t.labels is None


def test_synthetic_official_shaped_label_file(tmp_path):
    """The same checks as the real valid file, on a synthetic file of the same shape."""
    ids = [study_id(i, label=i % 3 == 0) for i in range(50)]
    labels = [int(i % 3 == 0) for i in range(50)]
    t = read_text(tmp_path, csv_text(list(zip(ids, labels))))
    assert t.kind == "labels" and len(t.study_ids) == 50 and int(t.labels.sum()) == sum(labels)
    assert dict(zip(t.study_ids, t.labels.tolist())) == dict(zip(ids, labels))


def test_lines_follow_the_sorted_studies(tmp_path):
    t = read_text(tmp_path, csv_text([(S2, 1), (S0, 0), (S1, 1)], header=("study", "label")))
    assert t.study_ids == [S0, S1, S2] and t.lines.tolist() == [3, 4, 2]


def test_header_with_numeric_reader_names_is_explained(tmp_path):
    err = error_of(tmp_path, csv_text([(S0, 1, 0, 1)], header=("study", 1, 2, 3)))
    assert "looks like a header" in str(err) and "reader_1" in str(err)
    assert_lines(err, [1], 1)


# ---------------------------------------------------------------------------------------------
# Body parts, read once
# ---------------------------------------------------------------------------------------------


def test_truth_carries_each_studys_body_part_in_sorted_study_order(tmp_path):
    from mura_bench.data.layout import BODY_PARTS, parse_path

    ids = study_ids(15)
    truth = read_text(tmp_path, csv_text([(s, i % 2) for i, s in reversed(list(enumerate(ids)))]))
    assert truth.parts.dtype == np.int64 and truth.parts.shape == (15,)
    assert [BODY_PARTS[p] for p in truth.parts] == [parse_path(s).part for s in truth.study_ids]
    built = Truth("memory", "0" * 64, "labels", truth.study_ids, truth.labels, None, [])
    np.testing.assert_array_equal(built.parts, truth.parts)
