"""Study means are exact at the 0.5 threshold and independent of row order.

Oracle: the exact mean of the numbers as written (``fractions.Fraction`` of the text), compared with
1/2 exactly; for in-memory floats, the exact value of each float.
"""

from __future__ import annotations

import random
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mura_bench.data.predictions import read_predictions, study_means
from mura_bench.data.study_mean import study_means_and_labels

PART = "XR_FOREARM"


def image(study: int, k: int) -> str:
    return f"MURA-v1.1/valid/{PART}/patient{9000 + study}/study1_negative/image{k}.png"


def write_rows(folder: Path, rows: list[tuple[str, str]], name: str = "p.csv") -> Path:
    path = folder / name
    path.write_text("image,probability\n" + "".join(f"{p},{v}\n" for p, v in rows))
    return path


def exact_label(texts: list[str]) -> int:
    return int(sum(map(Fraction, texts)) / len(texts) > Fraction(1, 2))


# The two examples of a study averaging exactly 0.5 that float sums get wrong, and more of our own.
EXACT_HALF = [
    ["0.529", "0.335", "0.803", "0.333"],
    ["0.68", "0.08", "0.55", "0.17", "0.93", "0.81", "0.28"],
    ["0.1", "0.2", "0.7", "1", "0.5"],
    ["0.3", "0.6", "0.1", "0.999", "0.001", "0.7", "0.8"],
    ["5e-1"],
    ["0.25", "7.5E-1"],
    ["0.123456789", "0.876543211"],
]


@pytest.mark.parametrize("texts", EXACT_HALF)
def test_exact_half_means_are_normal_in_every_row_order(tmp_path, texts):
    assert sum(map(Fraction, texts)) / len(texts) == Fraction(1, 2)
    rows = [(image(1, k + 1), t) for k, t in enumerate(texts)]
    rng = random.Random(len(texts))
    for trial in range(20):
        rng.shuffle(rows)
        preds = read_predictions(write_rows(tmp_path, rows, f"p{trial}.csv"))
        assert preds.probabilities[0] == 0.5 and preds.labels[0] == 0


def test_a_hair_above_half_is_abnormal_even_where_floats_round_to_half(tmp_path):
    # Study-level: 0.50000000000000001 is 0.5 as a float, but the number written is above 0.5.
    path = tmp_path / "s.csv"
    path.write_text(
        "MURA-v1.1/valid/XR_HAND/patient1/study1_positive/,0.50000000000000001\n"
        "MURA-v1.1/valid/XR_HAND/patient2/study1_positive/,0.49999999999999999\n"
        "MURA-v1.1/valid/XR_HAND/patient3/study1_positive/,0.5\n"
    )
    preds = read_predictions(path)
    assert preds.labels.tolist() == [1, 0, 0]
    # The probability stays consistent with the label: the next float above 0.5.
    assert preds.probabilities.tolist() == [float(np.nextafter(0.5, 1)), 0.5, 0.5]
    # Image-level: the exact mean 0.500000000000000005 is above 0.5.
    rows = [(image(2, 1), "0.5"), (image(2, 2), "0.50000000000000001")]
    assert read_predictions(write_rows(tmp_path, rows)).labels.tolist() == [1]


def test_in_memory_floats_use_each_floats_exact_value():
    # 0.1 and 0.9 as floats are slightly above their decimal values: the exact mean is > 0.5.
    ids, means, labels = study_means_and_labels(["s/", "s/"], np.array([0.1, 0.9]))
    assert Fraction(0.1) + Fraction(0.9) > 1 and labels.tolist() == [1]
    # 0.25 and 0.75 are exact binary fractions: mean exactly 0.5 -> normal.
    _, means, labels = study_means_and_labels(["s/", "s/"], np.array([0.75, 0.25]))
    assert means.tolist() == [0.5] and labels.tolist() == [0]


def test_study_means_keeps_its_two_value_signature_and_is_order_free():
    owners = ["b/", "a/", "b/", "a/", "b/"]
    values = np.array([0.529, 0.25, 0.335, 0.75, 0.803])
    ids, means = study_means(owners, values)
    ids2, means2 = study_means(owners[::-1], values[::-1])
    assert ids == ids2 == ["a/", "b/"] and means.tobytes() == means2.tobytes()


@st.composite
def near_half_study(draw):
    """Decimal texts of one study whose exact mean is 0.5 - e, 0.5 or 0.5 + e (e one unit of the
    last digit), written in plain or scientific notation."""
    digits = draw(st.integers(1, 9))
    scale = 10**digits
    n = draw(st.integers(1, 9))
    target = n * scale // 2 if n * scale % 2 == 0 else None
    values = draw(st.lists(st.integers(0, scale), min_size=n - 1, max_size=n - 1))
    shift = draw(st.sampled_from([-1, 0, 1]))
    if target is not None:
        last = target - sum(values) + shift
        if 0 <= last <= scale:
            values.append(last)
    while len(values) < n:
        values.append(draw(st.integers(0, scale)))
    scientific = draw(st.booleans())
    return [f"{v}e-{digits}" if scientific else _decimal(v, digits) for v in values]


def _decimal(value: int, digits: int) -> str:
    whole, frac = divmod(value, 10**digits)
    return f"{whole}.{frac:0{digits}d}"


@settings(max_examples=150, deadline=None)
@given(studies=st.lists(near_half_study(), min_size=1, max_size=6), seed=st.integers(0, 2**32 - 1))
def test_labels_match_the_exact_decimal_mean_in_any_row_order(studies, seed):
    rows = [(image(s, k + 1), t) for s, texts in enumerate(studies) for k, t in enumerate(texts)]
    expected = [exact_label(texts) for texts in studies]
    exact_means = [float(sum(map(Fraction, texts)) / len(texts)) for texts in studies]
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    with tempfile.TemporaryDirectory() as folder:
        first = read_predictions(write_rows(Path(folder), rows, "a.csv"))
        second = read_predictions(write_rows(Path(folder), shuffled, "b.csv"))
    assert first.labels.tolist() == expected  # ids sort as the study numbers do
    assert first.labels.tobytes() == second.labels.tobytes()
    assert first.probabilities.tobytes() == second.probabilities.tobytes()
    assert first.labels.tolist() == (first.probabilities > 0.5).astype(int).tolist()
    for got, exact, want in zip(first.probabilities, exact_means, expected):
        # Exact (correctly rounded) near the threshold, moved just above 0.5 when the exact mean
        # is above 0.5 but rounds to it; within a few ulps elsewhere.
        if want and exact <= 0.5:
            exact = float(np.nextafter(0.5, 1))
        assert got == exact if abs(exact - 0.5) < 1e-12 else abs(got - exact) <= 4e-15


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=12), seed=st.integers(0, 2**32 - 1))
def test_in_memory_means_are_order_free_and_exact_at_the_threshold(values, seed):
    owners = [f"s{i % 3}/" for i in range(len(values))]
    order = np.random.default_rng(seed).permutation(len(values))
    a = study_means_and_labels(owners, np.array(values))
    b = study_means_and_labels([owners[i] for i in order], np.array(values)[order])
    assert a[0] == b[0] and a[1].tobytes() == b[1].tobytes() and a[2].tobytes() == b[2].tobytes()
    for j, study in enumerate(a[0]):
        members = [Fraction(v) for v, o in zip(values, owners) if o == study]
        assert a[2][j] == int(sum(members) / len(members) > Fraction(1, 2))


def test_score_is_identical_for_two_files_with_the_same_rows_in_another_order(tmp_path):
    rng = np.random.default_rng(3)
    rows, truth = [], []
    for s in range(40):
        texts = EXACT_HALF[s % len(EXACT_HALF)] if s % 3 == 0 else [f"{rng.random():.3f}" for _ in range(3)]
        rows += [(image(s, k + 1), t) for k, t in enumerate(texts)]
        truth.append(f"MURA-v1.1/valid/{PART}/patient{9000 + s}/study1_negative/,{s % 2}\n")
    (tmp_path / "truth.csv").write_text("".join(truth))
    from mura_bench.scoring.engine import score

    results = []
    for trial in range(3):
        random.Random(trial).shuffle(rows)
        results.append(score(write_rows(tmp_path, rows, f"p{trial}.csv"), tmp_path / "truth.csv", bootstrap=50))
    groups = [{g: r.groups[g] for g in r.groups} for r in results]
    assert groups[0] == groups[1] == groups[2]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**20), st.integers(-30, 400)), min_size=1, max_size=6))
def test_exact_label_and_mean_matches_fractions_over_wide_exponent_ranges(parts):
    from mura_bench.data.study_mean import exact_label_and_mean

    texts = [f"{m}e-{e}" if e >= 0 else f"{m}e{-e}" for m, e in parts]
    exact = sum(map(Fraction, texts)) / len(texts)
    label, mean = exact_label_and_mean(texts)
    assert label == int(exact > Fraction(1, 2))
    expected = float(exact) if exact < 2**1023 else None
    if expected is not None:
        assert mean == (float(np.nextafter(0.5, 1)) if label and expected <= 0.5 else expected)
