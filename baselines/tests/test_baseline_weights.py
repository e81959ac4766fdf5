"""Loss weights from training-image counts (paper §3.1), against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import REFERENCE_DIR, needs_reference
from hypothesis import given
from hypothesis import strategies as st
from mura_bench.data.layout import BODY_PARTS, load_split, read_image_paths, read_labeled_studies

from mura_baseline.train import weighted_bce
from mura_baseline.weights import (
    EMPTY_PART_WEIGHTS,
    class_weights,
    image_counts,
    image_counts_of_split,
    image_weights,
    weight_matrix,
)

#: MURA-v1.1 training images per body part (normal, abnormal), as published in the release's
#: aggregate counts; the weights below are these divided by hand.
REAL_TRAIN_IMAGES = {
    "elbow": (2925, 2006),
    "finger": (3138, 1968),
    "forearm": (1164, 661),
    "hand": (4059, 1484),
    "humerus": (673, 599),
    "shoulder": (4211, 4168),
    "wrist": (5765, 3987),
}
#: (w_T0, w_T1) = (A/(A+N), N/(A+N)), computed by hand from the counts above.
REAL_WEIGHTS = {
    "elbow": (2006 / 4931, 2925 / 4931),  # 0.40682, 0.59318
    "finger": (1968 / 5106, 3138 / 5106),  # 0.38543, 0.61457
    "forearm": (661 / 1825, 1164 / 1825),  # 0.36219, 0.63781
    "hand": (1484 / 5543, 4059 / 5543),  # 0.26773, 0.73227
    "humerus": (599 / 1272, 673 / 1272),  # 0.47091, 0.52909
    "shoulder": (4168 / 8379, 4211 / 8379),  # 0.49743, 0.50257
    "wrist": (3987 / 9752, 5765 / 9752),  # 0.40884, 0.59116
}


def test_hand_computed_synthetic_counts():
    counts = {"wrist": (6, 2), "hand": (1, 3), "elbow": (5, 0)}
    weights = class_weights(counts)
    assert weights["wrist"] == (0.25, 0.75)  # 2 abnormal of 8: abnormal images weigh 6/8
    assert weights["hand"] == (0.75, 0.25)
    assert weights["elbow"] == (0.0, 1.0)  # no abnormal image: normal ones weigh 0
    assert weights["finger"] == EMPTY_PART_WEIGHTS  # absent part
    assert set(weights) == set(BODY_PARTS)


def test_image_counts_use_the_study_label_not_the_folder_name():
    study_a = "MURA-v1.1/train/XR_WRIST/patient1/study1_positive/"
    study_b = "MURA-v1.1/train/XR_HAND/patient2/study1_negative/"
    images = [study_a + "image1.png", study_a + "image2.png", "train/XR_HAND/patient2/study1_negative/image1.png"]
    counts = image_counts(images, {study_a: 1, study_b: 1})  # study_b labelled abnormal on purpose
    assert counts["wrist"] == (0, 2)
    assert counts["hand"] == (0, 1)
    assert counts["elbow"] == (0, 0)
    with pytest.raises(KeyError, match="unlabelled"):
        image_counts(images, {study_a: 1})


def test_counts_of_a_synthetic_split_match_the_files_on_disk(synth_root):
    index = load_split(synth_root, "train")
    counts = image_counts_of_split(index)
    for part in BODY_PARTS:
        folder = synth_root / "MURA-v1.1" / "train" / f"XR_{part.upper()}"
        normal = len(list(folder.glob("*/*_negative/*.png")))
        abnormal = len(list(folder.glob("*/*_positive/*.png")))
        assert counts[part] == (normal, abnormal)
    assert sum(n + a for n, a in counts.values()) == sum(len(v) for v in index.images.values())


@given(st.dictionaries(st.sampled_from(BODY_PARTS), st.tuples(st.integers(0, 10_000), st.integers(0, 10_000))))
def test_weights_add_to_one_and_favour_the_rarer_class(counts):
    for part, (w0, w1) in class_weights(counts).items():
        normal, abnormal = counts.get(part, (0, 0))
        assert math.isclose(w0 + w1, 1.0)
        if normal + abnormal:
            assert (w1 > w0) == (normal > abnormal)
            assert math.isclose(w1 * (normal + abnormal), normal)


def test_negative_counts_are_refused():
    with pytest.raises(ValueError, match="negative"):
        class_weights({"wrist": (-1, 3)})


def test_weight_matrix_and_per_image_lookup():
    weights = class_weights({"elbow": (3, 1), "wrist": (1, 1)})
    matrix = weight_matrix(weights)
    assert matrix.shape == (7, 2)
    assert matrix[BODY_PARTS.index("elbow")].tolist() == [0.25, 0.75]
    got = image_weights(np.array([0, 0, 6]), np.array([0, 1, 1]), matrix)
    assert got.tolist() == [0.25, 0.75, 0.5]


def test_weighted_bce_is_the_papers_formula():
    matrix = torch.tensor(weight_matrix(class_weights({"elbow": (3, 1), "hand": (1, 4)})), dtype=torch.float32)
    logits = torch.tensor([0.3, -1.2, 2.0, -0.1])
    labels = torch.tensor([1, 0, 0, 1])
    parts = torch.tensor([0, 0, 3, 3])  # elbow, elbow, hand, hand
    p = torch.sigmoid(logits).double()
    w = [(0.25, 0.75), (0.25, 0.75), (0.8, 0.2), (0.8, 0.2)]
    expected = [
        -(w1 * y * math.log(pi) + w0 * (1 - y) * math.log(1 - pi))
        for (w0, w1), y, pi in zip(w, labels.tolist(), p.tolist())
    ]
    got = weighted_bce(logits, labels, parts, matrix)
    assert torch.allclose(got.double(), torch.tensor(expected, dtype=torch.float64), atol=1e-6)


@needs_reference
def test_weights_from_the_real_training_csvs():
    base = REFERENCE_DIR / "mura-v1.1"
    studies, labels = read_labeled_studies(base / "train_labeled_studies.csv")
    images = read_image_paths(base / "train_image_paths.csv")
    counts = image_counts(images, dict(zip(studies, labels.tolist())))
    assert counts == REAL_TRAIN_IMAGES
    weights = class_weights(counts)
    for part in BODY_PARTS:
        assert weights[part] == pytest.approx(REAL_WEIGHTS[part], abs=1e-12)
    assert weights["wrist"] == pytest.approx((0.40884, 0.59116), abs=1e-5)
    assert weights["hand"] == pytest.approx((0.26773, 0.73227), abs=1e-5)


@needs_reference
def test_real_counts_agree_with_the_published_aggregate_file():
    import csv

    with open(REFERENCE_DIR / "mura-v1.1" / "counts-by-part.csv") as handle:
        rows = [r for r in csv.DictReader(handle) if r["split"] == "train"]
    published = {
        r["part"].removeprefix("XR_").lower(): (int(r["normal_images"]), int(r["abnormal_images"])) for r in rows
    }
    assert published == REAL_TRAIN_IMAGES
