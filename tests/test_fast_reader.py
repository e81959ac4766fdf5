"""The fast readers (one regular expression per block of lines) give exactly what the row-by-row
readers give, on every file they take, and hand every other file to the row readers.

The oracle is the row reader itself, reached by making the fast reader decline."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mura_bench.data.predictions as predictions_module
import mura_bench.data.truth as truth_module
from mura_bench.errors import InputError
from mura_bench.data.fast_csv import Declined
from mura_bench.data.layout import BODY_PARTS, parse_path, parse_path_column, part_index
from mura_bench.io.outputs import display
from mura_bench.data.predictions import read_predictions
from mura_bench.data.tabular import read_checked
from mura_bench.data.truth import read_truth


def _declined(*args, **kwargs):
    raise Declined("row reader wanted")


def row_predictions(path, **kwargs):
    """The row-by-row reader's result (the fast reader made to decline)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(predictions_module, "_read_simple", _declined)
        return read_predictions(path, **kwargs)


def row_truth(path):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(truth_module, "_read_simple", _declined)
        return read_truth(path)


def fast_predictions(path, path_col=None, score_col=None):
    """The fast reader's result; Declined when it does not take the file."""
    return predictions_module._read_simple(
        read_checked(path), source=display(path), path_col=path_col, score_col=score_col
    )


def fast_truth(path):
    return truth_module._read_simple(read_checked(path), display(path))


def same_arrays(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_same_predictions(a, b) -> None:
    for name in ("path", "sha256", "kind", "study_ids", "rows", "binary_values"):
        assert getattr(a, name) == getattr(b, name), name
    for name in ("probabilities", "labels", "lines"):
        assert same_arrays(getattr(a, name), getattr(b, name)), name


def assert_same_truth(a, b) -> None:
    for name in ("path", "sha256", "kind", "study_ids", "reader_names"):
        assert getattr(a, name) == getattr(b, name), name
    for name in ("labels", "readers", "lines", "parts"):
        assert same_arrays(getattr(a, name), getattr(b, name)), name


def outcome(read, path, **kwargs):
    try:
        return read(path, **kwargs), None
    except InputError as exc:
        return None, str(exc)


# --- generated files -------------------------------------------------------------------------

PREFIXES = ["", "MURA-v1.1/", "/data/MURA-v1.1/", "./MURA-v1.1/", "/", "C:/x y/MURA-v1.1/", "MURA-v1.1/MURA-v1.1/"]
VALUES = ["0", "1", "0.5", "0.25", "1e-3", ".75", "5.", "0.1234567890123456789", "+0.5", "-0", "1.0", "0.0"]


@st.composite
def prediction_files(draw):
    """(bytes, path_col, score_col) of a predictions file in one of the many accepted forms,
    sometimes with a fault."""
    n_studies = draw(st.integers(1, 6))
    image_rows = draw(st.booleans())
    split = draw(st.sampled_from(["valid", "train", "test"]))
    rows = []
    for k in range(n_studies):
        part = draw(st.sampled_from(BODY_PARTS)).upper()
        suffix = draw(st.sampled_from(["_positive", "_negative", ""]))
        study = f"{split}/XR_{part}/patient{draw(st.integers(1, 3)):05d}/study{k + 1}{suffix}"
        prefix = draw(st.sampled_from(PREFIXES))
        if image_rows:
            for j in range(draw(st.integers(1, 3))):
                ext = draw(st.sampled_from([".png", ".PNG", ".jpg", ".jpeg", ".JpEg", ".gif"]))
                rows.append([f"{prefix}{study}/image{j + 1}{ext}", draw(st.sampled_from(VALUES))])
        else:
            slash = draw(st.sampled_from(["/", ""]))
            rows.append([f"{prefix}{study}{slash}", draw(st.sampled_from(VALUES))])
    if draw(st.booleans()):
        rows = draw(st.permutations(rows))
    if draw(st.integers(0, 4)) == 0 and rows:  # a fault or an unusual form
        i = draw(st.integers(0, len(rows) - 1))
        rows[i][draw(st.integers(0, 1))] = draw(
            st.sampled_from(
                [
                    "nan",
                    "inf",
                    "abc",
                    "2",
                    "-0.1",
                    "1e999",
                    "",
                    " ",
                    "probability",
                    "0x1",
                    "1_0",
                    "valid/XR_WRIST/x",
                    "MURA-v1.1/valid/XR_WRIST/patient1/study1_positive/image1.png",
                    "MURA-v1.1\\valid\\XR_HAND\\patient1\\study1\\",
                ]
            )
        )
    layout = draw(st.sampled_from(["headerless", "header", "extra-columns", "swapped"]))
    blank = draw(st.sampled_from(["", " ", "\t"]))
    path_col = score_col = None
    if layout == "headerless":
        lines = [f"{blank}{p}{blank},{v}" for p, v in rows]
    elif layout == "header":
        lines = ["image,probability" if image_rows else "study,prob"] + [f"{p},{blank}{v}" for p, v in rows]
    elif layout == "swapped":
        lines = ["score,path"] + [f"{v},{p}" for p, v in rows]
    else:
        path_col, score_col = "Path", "Abormal_Prediction"
        lines = ["part,trial,Path,Abormal_Prediction,Label"] + [f"Hand,{i},{p},{v},1" for i, (p, v) in enumerate(rows)]
    end = draw(st.sampled_from(["\n", "\r\n"]))
    text = end.join(lines) + draw(st.sampled_from(["", end, end * 2]))
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text.encode("utf-8"), path_col, score_col


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=prediction_files())
def test_fast_predictions_equal_row_predictions(tmp_path, case):
    data, path_col, score_col = case
    path = tmp_path / "predictions.csv"
    path.write_bytes(data)
    row, row_error = outcome(row_predictions, path, path_col=path_col, score_col=score_col)
    full, full_error = outcome(read_predictions, path, path_col=path_col, score_col=score_col)
    assert full_error == row_error  # same message for every fault
    if row is not None:
        assert_same_predictions(full, row)
    try:
        fast = fast_predictions(path, path_col, score_col)
    except Declined:
        return
    assert row is not None, row_error  # the fast reader never takes a faulty file
    assert_same_predictions(fast, row)


@st.composite
def truth_files(draw):
    n = draw(st.integers(1, 8))
    kind = draw(st.sampled_from(["labels", "labels-header", "panel", "gold"]))
    readers = {"labels": 1, "labels-header": 1, "panel": draw(st.integers(3, 6)), "gold": 3}[kind]
    rows = []
    for k in range(n):
        part = draw(st.sampled_from(BODY_PARTS)).upper()
        prefix = draw(st.sampled_from(PREFIXES))
        study = (
            f"{prefix}valid/XR_{part}/patient{draw(st.integers(1, 3))}/study{k + 1}{draw(st.sampled_from(['/', '']))}"
        )
        rows.append([study] + [draw(st.sampled_from(["0", "1"])) for _ in range(readers)])
    if draw(st.integers(0, 4)) == 0:
        i = draw(st.integers(0, n - 1))
        rows[i][draw(st.integers(0, readers))] = draw(
            st.sampled_from(["2", "1.0", "nan", "x", "", "valid/XR_HAND/patient1/study1/image1.png", rows[0][0]])
        )
    if kind == "labels-header":
        lines = ["study,label"]
    elif kind == "panel":
        with_label = draw(st.booleans())
        names = [f"reader_{i + 1}" for i in range(readers - (1 if with_label else 0))] + (
            ["label"] if with_label else []
        )
        order = draw(st.permutations(range(readers + 1)))
        lines = [",".join((["study"] + names)[i] for i in order)]
        rows = [[r[i] for i in order] for r in rows]
    else:
        lines = []
    lines += [",".join(r) for r in rows]
    end = draw(st.sampled_from(["\n", "\r\n"]))
    return (end.join(lines) + draw(st.sampled_from(["", end]))).encode("utf-8")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=truth_files())
def test_fast_truth_equals_row_truth(tmp_path, data):
    path = tmp_path / "truth.csv"
    path.write_bytes(data)
    row, row_error = outcome(row_truth, path)
    full, full_error = outcome(read_truth, path)
    assert full_error == row_error
    if row is not None:
        assert_same_truth(full, row)
    try:
        fast = fast_truth(path)
    except Declined:
        return
    assert row is not None, row_error
    assert_same_truth(fast, row)


def test_the_fast_readers_take_the_common_forms(tmp_path):
    """Not a vacuous equality: the usual files really go through the fast readers."""
    study = "MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/"
    cases = {
        "headerless.csv": f"{study}image1.png,0.25\n{study}image2.png,0.75\n",
        "header.csv": f"image,probability\r\n/data/{study}image1.png,0.5\r\n",
        "studies.csv": f"study,prob\n{study[:-1]},0.5\nvalid/XR_HAND/patient1/study2_negative/,0.125\n",
        "labels.csv": f"{study},1\n",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        assert_same_predictions(fast_predictions(tmp_path / name), row_predictions(tmp_path / name))
    (tmp_path / "panel.csv").write_text(
        f"study,r1,r2,r3,label\n{study},1,0,1,1\nvalid/XR_HAND/patient1/study2/,0,0,1,0\n"
    )
    assert_same_truth(fast_truth(tmp_path / "panel.csv"), row_truth(tmp_path / "panel.csv"))
    extra = tmp_path / "third-party.csv"
    extra.write_text(
        "part_model,trial,Path,Abormal_Prediction,Abnormal_Label\n"
        f"Wrist,15,{study}image1.png,0,1\nWrist,15,{study}image2.png,1,1\n"
    )
    fast = fast_predictions(extra, "Path", "Abormal_Prediction")
    assert fast.kind == "image-probabilities" and fast.probabilities.tolist() == [0.5] and fast.labels.tolist() == [0]
    assert_same_predictions(fast, row_predictions(extra, path_col="Path", score_col="Abormal_Prediction"))


def test_a_fault_anywhere_is_named_by_the_row_reader(tmp_path):
    study = "MURA-v1.1/valid/XR_WRIST/patient1/study{}/"
    lines = [f"{study.format(k)},0.{k}" for k in range(1, 5000)]
    lines[4321] = f"{study.format(4322)},1.5"
    path = tmp_path / "p.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(Declined):
        fast_predictions(path)
    with pytest.raises(InputError, match="probabilities must be in") as caught:
        read_predictions(path)
    assert "line 4322" in str(caught.value)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(PREFIXES + ["", " ", "\t", "//"]),
            st.sampled_from(BODY_PARTS + ("wrist", "knee")),
            st.sampled_from(["", "_positive", "_negative", "_x"]),
            st.sampled_from(["", "/", "/a.png", "/b.JPG", "/c.txt", "image1.png", "/d e.jpeg"]),
            st.sampled_from(["", " ", "\t"]),
        ),
        min_size=1,
        max_size=8,
    )
)
@settings(max_examples=300, deadline=None)
def test_path_column_equals_parse_path(items):
    paths = [
        f"{pre}valid/XR_{part.upper() if part != 'wrist' else part}/patient1/study2{suffix}{tail}{blank}"
        for pre, part, suffix, tail, blank in items
    ]
    column = parse_path_column(paths)
    parsed = []
    for p in paths:
        try:
            parsed.append(parse_path(p))
        except ValueError:
            parsed.append(None)
    if column is None:
        return
    assert None not in parsed
    assert column.study_ids == [p.study_id for p in parsed]
    assert column.images == [p.image or "" for p in parsed]
    assert column.parts.tolist() == [BODY_PARTS.index(p.part) for p in parsed]
    assert part_index(paths).tolist() == column.parts.tolist()


def test_path_column_declines_what_it_does_not_cover():
    assert parse_path_column(["./valid/XR_HAND/patient1/study1/"]) is None
    assert parse_path_column(["MURA-v1.1\\valid\\XR_HAND\\patient1\\study1\\"]) is None
    assert parse_path_column(["valid/XR_KNEE/patient1/study1/"]) is None
    assert part_index(["./valid/XR_HAND/patient1/study1/"]).tolist() == [BODY_PARTS.index("hand")]
    with pytest.raises(ValueError, match="unknown body part"):
        part_index(["valid/XR_KNEE/patient1/study1/"])


def test_number_texts_read_like_float():
    """The number form of the fast reader is read by float() exactly as the row reader reads it."""
    from mura_bench.data.fast_csv import NUMBER_FIELD
    import re

    form = re.compile(NUMBER_FIELD)
    for text in ["0.1", "1e-5", ".5", "5.", "+1E+2", "-0", "0.30000000000000004441", "1" * 40]:
        match = form.fullmatch(text)
        assert match is not None and float(match.group(1)) == float(text)
    for text in ["nan", "inf", "1_0", "0x1", "1e", ".", "--1", "1.2.3"]:
        assert form.fullmatch(text) is None
