"""MURA layout: path parsing and the official CSV loaders, on synthetic files and (where present) the real ones."""

from __future__ import annotations

import csv
from collections import Counter

import numpy as np
import pytest

from helpers import REFERENCE_DIR, needs_reference
from mura_bench.errors import InputError
from mura_bench.data.layout import BODY_PARTS, load_split, parse_path, read_image_paths, read_labeled_studies
from mura_bench.synth import generate


@pytest.mark.parametrize(
    "given,expected",
    [
        (
            "MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/",
            "MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/",
        ),
        (
            "MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive",
            "MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/",
        ),
        (
            "/data/x/MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/image2.png",
            "MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/",
        ),
        ("valid/XR_WRIST/patient11185/study1_positive/", "MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/"),
        (
            "C:\\data\\MURA-v1.1\\train\\XR_HAND\\patient00001\\study2_negative\\image1.png",
            "MURA-v1.1/train/XR_HAND/patient00001/study2_negative/",
        ),
    ],
)
def test_parse_path_normalises_the_study_id(given, expected):
    assert parse_path(given).study_id == expected


def test_parse_path_fields():
    info = parse_path("MURA-v1.1/train/XR_SHOULDER/patient00012/study3_negative/image4.png")
    assert (info.split, info.part, info.patient, info.study, info.image) == (
        "train",
        "shoulder",
        "patient00012",
        "study3_negative",
        "image4.png",
    )
    assert info.folder_label == 0 and info.image_path.endswith("study3_negative/image4.png")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "MURA-v1.1/valid/XR_KNEE/patient1/study1_positive/",
        "MURA-v1.1/dev/XR_HAND/patient1/study1/",
        "MURA-v1.1/valid/XR_HAND/patient1/",
        "MURA-v1.1/valid/XR_HAND/patient1/study1_positive/notes.txt",
    ],
)
def test_parse_path_rejects(bad):
    with pytest.raises(ValueError):
        parse_path(bad)


def test_loaders_on_a_synthetic_dataset(tmp_path):
    summary = generate(tmp_path, studies=40, train_studies=50, seed=3)
    for split in ("valid", "train"):
        index = load_split(tmp_path, split)
        assert len(index.studies) == summary.splits[split]
        assert sum(len(v) for v in index.images.values()) == summary.images[split]
        assert index.studies == sorted(index.studies)
        assert all(parse_path(s).folder_label == y for s, y in zip(index.studies, index.labels))
        assert all(index.image_file(img).is_file() for imgs in index.images.values() for img in imgs)
    assert load_split(tmp_path / "MURA-v1.1", "valid").studies == load_split(tmp_path, "valid").studies


def test_loader_errors_name_the_rows(tmp_path):
    bad = tmp_path / "x_labeled_studies.csv"
    bad.write_text(
        "MURA-v1.1/valid/XR_HAND/patient1/study1_positive/,1\nMURA-v1.1/valid/XR_HAND/patient1/study1_positive/,1\n"
        "MURA-v1.1/valid/XR_HAND/patient2/study1_positive/,2\n"
    )
    with pytest.raises(InputError, match="line 3"):
        read_labeled_studies(bad)
    bad.write_text(
        "MURA-v1.1/valid/XR_HAND/patient1/study1_positive/,1\nMURA-v1.1/valid/XR_HAND/patient1/study1_positive/,1\n"
    )
    with pytest.raises(InputError, match=r"duplicate study.*\n.*line 2"):
        read_labeled_studies(bad)
    with pytest.raises(InputError, match="no MURA-v1.1"):
        load_split(tmp_path, "valid")


@needs_reference()
def test_real_valid_split_matches_counts_by_part():
    studies, labels = read_labeled_studies(REFERENCE_DIR / "mura-v1.1" / "valid_labeled_studies.csv")
    images = read_image_paths(REFERENCE_DIR / "mura-v1.1" / "valid_image_paths.csv")
    assert len(studies) == 1199 and int(labels.sum()) == 538 and len(images) == 3197
    with open(REFERENCE_DIR / "mura-v1.1" / "counts-by-part.csv") as fh:
        expected = {r["part"][3:].lower(): r for r in csv.DictReader(fh) if r["split"] == "valid"}
    per_part = Counter(parse_path(s).part for s in studies)
    abnormal = Counter(parse_path(s).part for s, y in zip(studies, labels) if y)
    img_part = Counter(parse_path(i).part for i in images)
    for part in BODY_PARTS:
        assert per_part[part] == int(expected[part]["studies"])
        assert abnormal[part] == int(expected[part]["abnormal_studies"])
        assert img_part[part] == int(expected[part]["images"])
    assert all(parse_path(s).folder_label == y for s, y in zip(studies, labels))


@needs_reference()
def test_real_train_split_sizes():
    studies, labels = read_labeled_studies(REFERENCE_DIR / "mura-v1.1" / "train_labeled_studies.csv")
    images = read_image_paths(REFERENCE_DIR / "mura-v1.1" / "train_image_paths.csv")
    assert (len(studies), len(images)) == (13457, 36808)
    assert np.isin(labels, [0, 1]).all()
