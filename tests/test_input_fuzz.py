"""Fuzzing both readers: whatever the bytes, the result is a valid object or one InputError."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mura_bench.errors import InputError
from mura_bench.data.layout import parse_path
from mura_bench.data.predictions import KINDS as PREDICTION_KINDS
from mura_bench.data.predictions import Predictions, read_predictions
from mura_bench.data.truth import KINDS as TRUTH_KINDS
from mura_bench.data.truth import Truth, read_truth

FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

STUDIES = [
    "MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/",
    "MURA-v1.1/valid/XR_HAND/patient11186/study2_negative",
    "valid/XR_ELBOW/patient3/study1_negative/",
    "/data/MURA-v1.1/train/XR_FINGER/patient4/study1_positive/",
    "MURA-v1.1/test/XR_SHOULDER/patient5/study3/",
    "MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive",
]
IMAGE_NAMES = ["image1.png", "image2.png", "image3.PNG", "image1.jpg"]
BAD_PATHS = [
    "MURA-v1.1/valid/XR_KNEE/patient1/study1_positive/",
    "valid/patient1/",
    "x.png",
    "",
    "/",
    "MURA-v1.1/",
    "MURA-v1.1/valid/XR_HAND/patient1/study1_positive/image1.txt",
]
NUMBERS = [
    "0",
    "1",
    "0.0",
    "1.0",
    "0.5",
    "0.25",
    "0.75",
    "1e-3",
    "-0.1",
    "2",
    "1.5",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "",
    " ",
    "x",
    "01",
    "+1",
    "0.5000001",
    "1_0",
    "٣",
]
HEADER_WORDS = [
    "study",
    "Study",
    "path",
    "Path",
    "image",
    "probability",
    "prob",
    "score",
    "label",
    "prediction",
    "reader_1",
    "reader_2",
    "reader_3",
    "r1",
    "Abormal_Prediction",
    "trial",
    "",
]

paths = st.one_of(
    st.sampled_from(STUDIES),
    st.builds(lambda s, i: s.rstrip("/") + "/" + i, st.sampled_from(STUDIES), st.sampled_from(IMAGE_NAMES)),
    st.sampled_from(BAD_PATHS),
)
fields = st.one_of(
    paths,
    st.sampled_from(NUMBERS),
    st.sampled_from(HEADER_WORDS),
    st.builds(lambda f: f'"{f}"', st.sampled_from(NUMBERS + HEADER_WORDS)),
    st.sampled_from(['"', '""', "a,b", '"a,b"', "\t", "﻿", "\x00"]),
)
rows = st.lists(fields, min_size=0, max_size=7).map(",".join)
csvish = st.builds(
    lambda lines, sep, tail: sep.join(lines) + tail,
    st.lists(rows, min_size=0, max_size=12),
    st.sampled_from(["\n", "\r\n", "\r", "\n\n"]),
    st.sampled_from(["", "\n", "\r\n", ","]),
)


@st.composite
def near_valid_predictions(draw) -> str:
    """Mostly well-formed prediction files with a few mutations, to reach the deeper checks."""
    image_level = draw(st.booleans())
    n = draw(st.integers(1, 8))
    body = []
    for _ in range(n):
        path = draw(st.sampled_from(STUDIES))
        if image_level:
            path = path.rstrip("/") + "/" + draw(st.sampled_from(IMAGE_NAMES))
        body.append([path, draw(st.sampled_from(NUMBERS[:8]) | st.floats(0, 1).map(repr))])
    for _ in range(draw(st.integers(0, 2))):
        row = draw(st.integers(0, n - 1))
        body[row][draw(st.integers(0, 1))] = draw(fields)
    header = draw(
        st.sampled_from(
            [None, ["study", "probability"], ["image", "prob"], ["Path", "label"], ["path", "score", "note"]]
        )
    )
    if header and len(header) == 3:
        body = [r + ["x"] for r in body]
    lines = ([",".join(header)] if header else []) + [",".join(r) for r in body]
    return "\n".join(lines) + "\n"


@st.composite
def near_valid_truth(draw) -> str:
    shape = draw(st.sampled_from(["labels", "labels-header", "panel", "gold", "panel-label"]))
    n = draw(st.integers(1, 8))
    width = {"labels": 1, "labels-header": 1, "panel": draw(st.integers(1, 6)), "gold": 3, "panel-label": 4}[shape]
    body = [
        [draw(st.sampled_from(STUDIES))] + [draw(st.sampled_from(["0", "1", "1.0"])) for _ in range(width)]
        for _ in range(n)
    ]
    for _ in range(draw(st.integers(0, 2))):
        row = draw(st.integers(0, n - 1))
        body[row][draw(st.integers(0, width))] = draw(fields)
    header = {
        "labels": None,
        "gold": None,
        "labels-header": ["study", "label"],
        "panel": ["study"] + [f"reader_{i}" for i in range(1, width + 1)],
        "panel-label": ["study", "a", "label", "b", "c"],
    }[shape]
    lines = ([",".join(header)] if header else []) + [",".join(r) for r in body]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "input.csv"


def check_predictions(p: Predictions, source: str) -> None:
    assert p.kind in PREDICTION_KINDS and p.path == source and len(p.sha256) == 64
    n = len(p.study_ids)
    assert n >= 1 and p.study_ids == sorted(set(p.study_ids))
    for s in p.study_ids:
        info = parse_path(s)
        assert info.study_id == s and info.image is None
    assert p.probabilities.dtype == np.float64 and p.probabilities.shape == (n,)
    assert np.all(np.isfinite(p.probabilities))
    assert np.all((p.probabilities >= 0) & (p.probabilities <= 1))
    assert p.labels.dtype == np.int8 and p.labels.tolist() == (p.probabilities > 0.5).astype(int).tolist()
    assert p.has_probabilities == (p.kind != "labels")
    if p.kind == "labels":
        assert set(p.probabilities.tolist()) <= {0.0, 1.0}


def check_truth(t: Truth, source: str) -> None:
    assert t.kind in TRUTH_KINDS and t.path == source and len(t.sha256) == 64
    n = len(t.study_ids)
    assert n >= 1 and t.study_ids == sorted(set(t.study_ids))
    for s in t.study_ids:
        info = parse_path(s)
        assert info.study_id == s and info.image is None
    for table in (t.labels, t.readers):
        if table is not None:
            assert table.dtype == np.int8 and table.shape[0] == n and set(np.unique(table).tolist()) <= {0, 1}
    if t.kind == "labels":
        assert t.labels is not None and t.labels.shape == (n,) and t.readers is None and t.reader_names == []
    else:
        assert t.readers is not None and t.readers.shape == (n, len(t.reader_names))
        assert len(t.reader_names) >= 3 and len(set(t.reader_names)) == len(t.reader_names)
    if t.kind == "gold-panel":
        assert t.reader_names == ["r1", "r2", "r3"] and t.labels is None


def outcome_of_predictions(path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        p = read_predictions(path)
    except InputError as exc:
        assert str(exc).startswith(str(path))
        return
    check_predictions(p, str(path))


def outcome_of_truth(path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        t = read_truth(path)
    except InputError as exc:
        assert str(exc).startswith(str(path))
        return
    check_truth(t, str(path))


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes(scratch, data):
    outcome_of_predictions(scratch, data)
    outcome_of_truth(scratch, data)


@FUZZ
@given(text=csvish)
def test_random_csvish_text(scratch, text):
    outcome_of_predictions(scratch, text.encode("utf-8"))
    outcome_of_truth(scratch, text.encode("utf-8"))


@FUZZ
@given(text=near_valid_predictions())
def test_near_valid_prediction_files(scratch, text):
    outcome_of_predictions(scratch, text.encode("utf-8"))


@FUZZ
@given(text=near_valid_truth())
def test_near_valid_truth_files(scratch, text):
    outcome_of_truth(scratch, text.encode("utf-8"))


def test_near_valid_strategies_reach_both_outcomes(scratch):
    """Guard against a fuzz strategy that only ever produces errors (or never does)."""
    outcomes = {"predictions": set(), "truth": set()}

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(p=near_valid_predictions(), t=near_valid_truth())
    def run(p, t):
        for name, reader, text in (("predictions", read_predictions, p), ("truth", read_truth, t)):
            scratch.write_text(text)
            try:
                reader(scratch)
                outcomes[name].add("ok")
            except InputError:
                outcomes[name].add("error")

    run()
    assert outcomes == {"predictions": {"ok", "error"}, "truth": {"ok", "error"}}
