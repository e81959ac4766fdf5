"""The synthetic MURA-layout generator: layout, proportions, reader calibration, images, determinism."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import REFERENCE_DIR, needs_reference
from mura_bench.errors import InputError
from mura_bench.data.layout import BODY_PARTS, load_split, parse_path
from mura_bench.synth import (
    PAPER_RADIOLOGIST_F1,
    READER_ACCURACY,
    REAL_COUNTS,
    SynthSummary,
    calibrate_reader_accuracy,
    expected_loo_f1,
    generate,
    reader_rates,
    render_image,
    study_findings,
    study_images,
    synth_panel,
)


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory) -> tuple[Path, SynthSummary]:
    out = tmp_path_factory.mktemp("synth")
    return out, generate(out, studies=40, train_studies=60, readers=5, seed=7)


# ---------------------------------------------------------------------------------------------
# Helpers computed here, independently of the library
# ---------------------------------------------------------------------------------------------


def loo_reader_f1(reads: np.ndarray, tie_abnormal: bool = True) -> float:
    """Mean over readers of F1(reader i vs majority of the others), by a plain loop."""
    n_readers = reads.shape[1]
    scores = []
    for i in range(n_readers):
        tp = fp = fn = 0
        for row in reads:
            others = sum(int(v) for j, v in enumerate(row) if j != i)
            half = (n_readers - 1) / 2
            ref = 1 if others > half or (others == half and tie_abnormal) else 0
            pred = int(row[i])
            tp += pred and ref
            fp += pred and not ref
            fn += (not pred) and ref
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mann-Whitney AUROC with ties counted half."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


# ---------------------------------------------------------------------------------------------
# Layout on disk
# ---------------------------------------------------------------------------------------------


def test_both_splits_load_and_match_the_summary(small_dataset):
    out, summary = small_dataset
    assert summary.root == out and summary.readers == 5 and summary.seed == 7
    assert summary.splits == {"train": 60, "valid": 40}
    for split in ("train", "valid"):
        index = load_split(out, split)
        assert len(index.studies) == summary.splits[split]
        assert sum(len(v) for v in index.images.values()) == summary.images[split]
        assert all(len(images) >= 1 for images in index.images.values())
        for study, label in zip(index.studies, index.labels):
            info = parse_path(study)
            assert info.split == split
            assert info.folder_label == int(label)
            for image in index.images[study]:
                assert index.image_file(image).is_file()
        n_files = sum(1 for _ in (out / "MURA-v1.1" / split).rglob("*.png"))
        assert n_files == summary.images[split]


def test_splits_share_no_patient_and_patients_can_have_several_studies(small_dataset):
    out, _ = small_dataset
    patients = {split: [parse_path(s).patient for s in load_split(out, split).studies] for split in ("train", "valid")}
    assert not set(patients["train"]) & set(patients["valid"])
    big = synth_panel(600, readers=0, seed=1, split="train")
    per_patient = np.unique([parse_path(s).patient for s in big.study_ids], return_counts=True)[1]
    assert per_patient.max() >= 2 and (per_patient == 1).mean() > 0.5


def test_easy_images_are_grayscale_png_of_the_requested_size(tmp_path):
    summary = generate(tmp_path, studies=3, train_studies=2, image_size=48, seed=2, difficulty="easy")
    first = next((tmp_path / "MURA-v1.1").rglob("*.png"))
    with Image.open(first) as image:
        assert image.format == "PNG" and image.mode == "L" and image.size == (48, 48)
    assert summary.images["valid"] >= 3 and summary.difficulty == "easy"


def test_realistic_images_are_grayscale_png_that_vary_in_size_and_aspect(tmp_path):
    summary = generate(tmp_path, studies=30, train_studies=1, image_size=64, seed=2)
    assert summary.difficulty == "realistic"
    sizes = set()
    for path in (tmp_path / "MURA-v1.1" / "valid").rglob("*.png"):
        with Image.open(path) as image:
            assert image.format == "PNG" and image.mode == "L"
            sizes.add(image.size)
    widths, heights = zip(*sizes)
    assert len(sizes) > 10
    assert min(min(widths), min(heights)) >= 16 and max(max(widths), max(heights)) <= 64 * 1.25 + 1
    assert any(w > h for w, h in sizes) and any(w < h for w, h in sizes)


def test_panel_csv_header_and_values(small_dataset):
    out, _ = small_dataset
    rows = read_csv(out / "MURA-v1.1" / "valid_panel.csv")
    assert rows[0] == ["study", "reader_1", "reader_2", "reader_3", "reader_4", "reader_5", "label"]
    index = load_split(out, "valid")
    labels = dict(zip(index.studies, index.labels))
    assert [r[0] for r in rows[1:]] == index.studies
    for row in rows[1:]:
        assert all(v in ("0", "1") for v in row[1:])
        assert int(row[-1]) == labels[row[0]]
    reads = np.array([[int(v) for v in r[1:-1]] for r in rows[1:]])
    assert 0 < reads.mean() < 1


def test_official_csvs_are_headerless(small_dataset):
    out, _ = small_dataset
    for split in ("train", "valid"):
        labeled = read_csv(out / "MURA-v1.1" / f"{split}_labeled_studies.csv")
        assert labeled[0][0].startswith(f"MURA-v1.1/{split}/XR_") and labeled[0][0].endswith("/")
        assert all(len(r) == 2 and r[1] in ("0", "1") for r in labeled)
        images = read_csv(out / "MURA-v1.1" / f"{split}_image_paths.csv")
        assert all(len(r) == 1 and r[0].endswith(".png") for r in images)


def test_refuses_to_overwrite_unless_asked(tmp_path):
    generate(tmp_path, studies=2, train_studies=2, seed=0)
    before = (tmp_path / "MURA-v1.1" / "valid_labeled_studies.csv").read_bytes()
    with pytest.raises(InputError, match="already exists"):
        generate(tmp_path, studies=3, train_studies=2, seed=1)
    assert (tmp_path / "MURA-v1.1" / "valid_labeled_studies.csv").read_bytes() == before
    summary = generate(tmp_path, studies=3, train_studies=2, seed=1, overwrite=True)
    assert len(load_split(tmp_path, "valid").studies) == summary.splits["valid"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MURA-v1.1"]  # no staging folder left


@pytest.mark.parametrize(
    "options",
    [
        {"studies": 0},
        {"studies": 2, "train_studies": 0},
        {"studies": 2, "readers": 2},
        {"studies": 2, "seed": -1},
        {"studies": 2, "image_size": 4},
        {"studies": 2.5},
    ],
)
def test_bad_options_are_input_errors(tmp_path, options):
    with pytest.raises(InputError):
        generate(tmp_path, **options)
    assert not (tmp_path / "MURA-v1.1").exists()


def test_refuses_a_file_as_output_folder(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        generate(target, studies=2)


# ---------------------------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------------------------


def _all_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_writes_identical_bytes_and_other_seeds_differ(tmp_path):
    a = _all_bytes(generate(tmp_path / "a", studies=15, train_studies=10, seed=3).dataset_dir)
    b = _all_bytes(generate(tmp_path / "b", studies=15, train_studies=10, seed=3).dataset_dir)
    c = _all_bytes(generate(tmp_path / "c", studies=15, train_studies=10, seed=4).dataset_dir)
    assert a == b and len(a) > 20
    assert a != c
    assert a["valid_labeled_studies.csv"] != c["valid_labeled_studies.csv"]
    assert a["valid_panel.csv"] != c["valid_panel.csv"]


def test_more_studies_keep_the_earlier_ones():
    small = synth_panel(50, seed=11)
    large = synth_panel(200, seed=11)
    position = {s: i for i, s in enumerate(large.study_ids)}
    # every study of the smaller table but the last patient's (which may be cut short) is unchanged
    last_patient = small.stream_keys[:, 0].max()
    kept = [i for i in range(len(small)) if small.stream_keys[i, 0] != last_patient]
    assert len(kept) >= 40
    for i in kept:
        j = position[small.study_ids[i]]
        assert small.labels[i] == large.labels[j]
        assert (small.readers[i] == large.readers[j]).all()
        assert small.images_per_study[i] == large.images_per_study[j]
        assert all((x == y).all() for x, y in zip(study_images(small, i), study_images(large, j)))


# ---------------------------------------------------------------------------------------------
# Proportions like the real release
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("split", ["valid", "train"])
def test_part_proportions_abnormal_rates_and_images_follow_the_real_counts(split):
    panel = synth_panel(6000, readers=0, seed=5, split=split)
    counts = np.array([REAL_COUNTS[split][p] for p in BODY_PARTS], dtype=float)
    real_share = counts[:, 0] / counts[:, 0].sum()
    for k, part in enumerate(BODY_PARTS):
        here = panel.parts == part
        assert abs(here.mean() - real_share[k]) < 0.02, part
        assert abs(panel.labels[here].mean() - counts[k, 1] / counts[k, 0]) < 0.05, part
        assert abs(panel.images_per_study[here].mean() - counts[k, 2] / counts[k, 0]) < 0.15, part
    assert panel.images_per_study.min() >= 1
    assert set(np.unique(panel.images_per_study)) >= {1, 2, 3, 4}


@needs_reference("mura-v1.1/counts-by-part.csv")
def test_embedded_counts_equal_the_reference_file():
    rows = read_csv(REFERENCE_DIR / "mura-v1.1" / "counts-by-part.csv")
    header, body = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(header)}
    seen = 0
    for row in body:
        part = row[col["part"]].removeprefix("XR_").lower()
        expected = (int(row[col["studies"]]), int(row[col["abnormal_studies"]]), int(row[col["images"]]))
        assert REAL_COUNTS[row[col["split"]]][part] == expected
        seen += 1
    assert seen == 14


@needs_reference("paper-v1-table2-f1.csv")
def test_embedded_paper_f1_equals_the_reference_table():
    rows = read_csv(REFERENCE_DIR / "paper-v1-table2-f1.csv")
    published = {r[0].lower(): float(r[1]) for r in rows[1:]}
    assert published == PAPER_RADIOLOGIST_F1


# ---------------------------------------------------------------------------------------------
# Reader panel calibration
# ---------------------------------------------------------------------------------------------


def test_leave_one_out_radiologist_f1_matches_the_paper_per_part_and_overall():
    panel = synth_panel(8000, readers=6, seed=0)
    reads = panel.readers
    assert reads.shape == (8000, 6)
    for group, published in PAPER_RADIOLOGIST_F1.items():
        rows = reads if group == "overall" else reads[panel.parts == group]
        assert len(rows) > 400, group
        assert abs(loo_reader_f1(rows) - published) <= 0.05, group


def test_readers_differ_from_each_other_and_from_the_label():
    panel = synth_panel(3000, readers=6, seed=2)
    agreement = (panel.readers == panel.labels[:, None]).mean(axis=0)
    assert np.all((agreement > 0.8) & (agreement < 0.98))
    assert agreement.max() - agreement.min() > 0.01
    finger, wrist = panel.parts == "finger", panel.parts == "wrist"
    assert (panel.readers[wrist] == panel.labels[wrist, None]).mean() > (
        panel.readers[finger] == panel.labels[finger, None]
    ).mean()


def test_five_readers_make_a_valid_panel():
    panel = synth_panel(500, readers=5, seed=4)
    assert panel.readers.shape == (500, 5) and panel.readers.dtype == np.int8
    assert panel.reader_names == [f"reader_{i}" for i in range(1, 6)]
    assert set(np.unique(panel.readers)) == {0, 1}
    assert 0.7 < loo_reader_f1(panel.readers) < 1.0
    assert loo_reader_f1(panel.readers, tie_abnormal=False) != loo_reader_f1(panel.readers)


def test_hard_coded_accuracies_are_the_calibration_result():
    for part, accuracy in READER_ACCURACY.items():
        studies, abnormal, _ = REAL_COUNTS["valid"][part]
        assert calibrate_reader_accuracy(PAPER_RADIOLOGIST_F1[part], abnormal / studies) == pytest.approx(
            accuracy, abs=2e-4
        )


def test_expected_loo_f1_agrees_with_a_simulated_panel():
    rng = np.random.default_rng(0)
    sensitivity, specificity = reader_rates(0.85, 4)
    labels = rng.random(20000) < 0.4
    reads = np.where(
        labels[:, None], rng.random((20000, 4)) < sensitivity, rng.random((20000, 4)) < 1 - specificity
    ).astype(np.int8)
    # vectorised leave-one-out here (the loop version is checked above on smaller panels)
    scores = []
    for i in range(4):
        others = np.delete(reads, i, axis=1).sum(axis=1)
        ref, pred = 2 * others >= 3, reads[:, i] == 1
        scores.append(2 * (ref & pred).sum() / (2 * (ref & pred).sum() + (pred & ~ref).sum() + (ref & ~pred).sum()))
    assert expected_loo_f1(sensitivity, specificity, 0.4) == pytest.approx(np.mean(scores), abs=0.01)


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------


def test_render_image_contract():
    rng = np.random.default_rng(0)
    for abnormal in (False, True):
        for part in (*BODY_PARTS, None):
            image = render_image(abnormal, rng, 40, part=part, difficulty="easy")
            assert image.shape == (40, 40) and image.dtype == np.uint8
            assert image.std() > 5  # not blank
            image = render_image(abnormal, rng, 40, part=part)
            assert image.ndim == 2 and image.dtype == np.uint8 and min(image.shape) >= 16
            assert image.std() > 5  # not blank


def test_easy_near_white_fraction_separates_normal_from_abnormal_images():
    panel = synth_panel(150, seed=9)
    labels, fractions = [], []
    for row in range(len(panel)):
        for image in study_images(panel, row, difficulty="easy"):
            labels.append(int(panel.labels[row]))
            fractions.append(float((image >= 240).mean()))
    labels, fractions = np.array(labels), np.array(fractions)
    assert 0.3 < labels.mean() < 0.6
    assert auroc(labels, fractions) >= 0.9
    # both classes vary: not every normal image is free of bright pixels, abnormal ones differ
    assert (fractions[labels == 0] > 0).any()
    assert np.unique(fractions[labels == 1]).size > 20
    # the finding is a region, not a single pixel
    assert np.median(fractions[(labels == 1) & (fractions > 0)]) * 64 * 64 >= 5


def test_easy_abnormal_studies_show_the_finding_and_normal_ones_do_not():
    panel = synth_panel(200, seed=12)
    shown = total = 0
    for row in range(len(panel)):
        findings = study_findings(panel, row, difficulty="easy")
        images = study_images(panel, row, difficulty="easy")
        assert len(images) == len(findings) == panel.images_per_study[row]
        if panel.labels[row]:
            assert findings.any(), panel.study_ids[row]
            shown += findings.sum()
            total += len(findings)
        else:
            assert not findings.any()
        for image, finding in zip(images, findings):
            if finding:  # bright hardware: a region of near-white pixels
                assert np.count_nonzero(image >= 240) >= 4
            else:  # at most a small side marker, never fully white
                assert np.count_nonzero(image >= 253) <= 2
    assert 0.8 < shown / total < 0.97  # most, not all, images of an abnormal study


def test_images_vary_within_a_study_and_between_classes():
    panel = synth_panel(60, seed=1)
    multi = [r for r in range(len(panel)) if panel.images_per_study[r] >= 2]
    images = study_images(panel, multi[0])
    assert not np.array_equal(images[0], images[1])
    means = [study_images(panel, r)[0].mean() for r in range(20)]
    assert np.std(means) > 2


def test_embedded_constants_are_consistent():
    """Always runs (the reference files may be absent): the embedded aggregates make sense."""
    for _split, parts in REAL_COUNTS.items():
        assert tuple(parts) == BODY_PARTS
        for studies, abnormal, images in parts.values():
            assert 0 < abnormal < studies <= images
    assert sum(s for s, _, _ in REAL_COUNTS["valid"].values()) == 1199
    assert sum(s for s, _, _ in REAL_COUNTS["train"].values()) == 13457
    assert set(PAPER_RADIOLOGIST_F1) == {*BODY_PARTS, "overall"}
    assert all(0.7 < f1 < 1.0 for f1 in PAPER_RADIOLOGIST_F1.values())


def test_synthetic_ids_are_never_real_mura_ids():
    """Synthetic patients live far above MURA-v1.1's numbering (below 20,000), in both splits."""
    for split in ("train", "valid"):
        panel = synth_panel(3000, readers=3, seed=4, split=split)
        numbers = [int(parse_path(s).patient[len("patient") :]) for s in panel.study_ids]
        assert min(numbers) > 100_000
    train = {parse_path(s).patient for s in synth_panel(3000, readers=3, split="train").study_ids}
    valid = {parse_path(s).patient for s in synth_panel(3000, readers=3, split="valid").study_ids}
    assert not train & valid


@needs_reference("mura-v1.1/train_labeled_studies.csv", "mura-v1.1/valid_labeled_studies.csv")
def test_no_synthetic_study_id_occurs_in_the_real_release():
    real = set()
    for name in ("train_labeled_studies.csv", "valid_labeled_studies.csv"):
        real |= {line.split(",")[0] for line in (REFERENCE_DIR / "mura-v1.1" / name).read_text().split()}
    for split in ("train", "valid"):
        assert not set(synth_panel(5000, readers=3, split=split).study_ids) & real
