"""Synthetic data in the exact MURA-v1.1 layout, with a simulated radiologist panel.

MURA itself may not be redistributed, so examples, tests and the demo run on data made here:

* :func:`synth_panel` builds the study table of one split (study ids, body parts, labels, images per
  study and a reader matrix) without touching the disk;
* :func:`render_image` draws one grayscale radiograph-like image: soft tissue, one or more bright bone
  shafts, noise, random pose and contrast; abnormal images carry very bright fixation hardware
  (a plate with screws, or screws alone, or a pin) and sometimes a dark fracture line;
* :func:`generate` writes ``OUT/MURA-v1.1/{train,valid}/XR_<PART>/patient<ID>/study<K>_<suffix>/
  image<J>.png``, both headerless CSVs per split and ``OUT/MURA-v1.1/valid_panel.csv``
  (``study,reader_1..reader_N,label``).

Proportions follow the real MURA-v1.1 release: studies per body part, the abnormal fraction per
body part and images per study are taken from the aggregate counts below (per split), and the
number of studies per patient from the aggregate distribution of the release. Readers are
conditionally independent given the label, with per-body-part sensitivity and specificity calibrated
so that the leave-one-out radiologist F1 of a six-reader panel matches Table 2 of the MURA paper.

Determinism: everything derives from ``np.random.default_rng([seed, split, patient, ...])``, one
stream per patient (study table), per study (readers) and per study (images). Asking for more
studies therefore appends patients and never changes the studies already there, and the same seed
writes byte-identical files.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mura_bench.errors import InputError
from mura_bench.layout import BODY_PARTS, ROOT_NAME
from mura_bench.outputs import check_name_length, display, ensure_output_dir, owned_by_mura_bench, staging_dir

# ---------------------------------------------------------------------------------------------
# Aggregate counts of the real release (counts, not MURA files)
# ---------------------------------------------------------------------------------------------

#: Studies, abnormal studies and images per body part and split of MURA-v1.1
#: (``counts-by-part.csv`` computed from the official ``*_labeled_studies.csv`` and
#: ``*_image_paths.csv``), in :data:`BODY_PARTS` order.
REAL_COUNTS: dict[str, dict[str, tuple[int, int, int]]] = {
    "valid": {
        "elbow": (158, 66, 465),
        "finger": (175, 83, 461),
        "forearm": (133, 64, 301),
        "hand": (167, 66, 460),
        "humerus": (135, 67, 288),
        "shoulder": (194, 95, 563),
        "wrist": (237, 97, 659),
    },
    "train": {
        "elbow": (1754, 660, 4931),
        "finger": (1935, 655, 5106),
        "forearm": (877, 287, 1825),
        "hand": (2018, 521, 5543),
        "humerus": (592, 271, 1272),
        "shoulder": (2821, 1457, 8379),
        "wrist": (3460, 1326, 9752),
    },
}

#: How many patients of MURA-v1.1 have 1, 2, ... studies (all body parts together); the tail
#: beyond six studies (six train and two valid patients) is folded into six.
_STUDIES_PER_PATIENT: dict[str, tuple[int, ...]] = {
    "valid": (515, 171, 68, 16, 7, 6),
    "train": (9437, 1383, 259, 70, 19, 16),
}

#: Chance that a patient's next study is of the same body part as the previous one (the release
#: has about a third of its multi-study patients imaged at one body part only). A Markov chain
#: that repeats the part or redraws it from the marginal keeps the marginal proportions.
_SAME_PART_AGAIN = 0.35

#: First patient number per split. MURA-v1.1 numbers its patients below 20,000; synthetic patients
#: start at 500,001 (train) and 900,001 (valid), so no synthetic study id is ever a real one.
#: Train patients that would reach the valid range continue at 1,500,001: the splits never share
#: a patient.
_FIRST_PATIENT = {"train": 500_001, "valid": 900_001}
_TRAIN_OVERFLOW_START = 1_500_001
_MAX_STUDIES = 500_000

_MAX_IMAGES_PER_STUDY = 5
#: Chance that an image of an abnormal study shows the abnormality (at least one always does).
FINDING_RATE = 0.9

_SPLIT_CODE = {"train": 1, "valid": 2}
_STREAM_TABLE, _STREAM_READERS, _STREAM_IMAGES = 0, 1, 2

# ---------------------------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------------------------

#: Radiologist F1 per body part and overall, leave-one-out against the majority of the other five
#: of six board-certified radiologists on the 207-study test set: Rajpurkar et al., "MURA: Large
#: Dataset for Abnormality Detection in Musculoskeletal Radiographs", arXiv:1712.06957v1, Table 2.
PAPER_RADIOLOGIST_F1: dict[str, float] = {
    "elbow": 0.858,
    "finger": 0.781,
    "forearm": 0.899,
    "hand": 0.854,
    "humerus": 0.895,
    "shoulder": 0.925,
    "wrist": 0.958,
    "overall": 0.884,
}

#: Base reader accuracy per body part. A reader's sensitivity is ``accuracy - SPEC_MARGIN / 2 +
#: skill + bias`` and specificity ``accuracy + SPEC_MARGIN / 2 + skill - bias`` (clipped to
#: [0.5, 0.995]), with the reader offsets of :func:`reader_offsets`.
#: Calibrated once offline: for each body part, bisection on the accuracy until
#: :func:`expected_loo_f1` of six readers at the valid split's abnormal fraction equals
#: :data:`PAPER_RADIOLOGIST_F1` (to 1e-4); see ``calibrate_reader_accuracy``.
READER_ACCURACY: dict[str, float] = {
    "elbow": 0.8874,
    "finger": 0.8216,
    "forearm": 0.9090,
    "hand": 0.8888,
    "humerus": 0.9038,
    "shoulder": 0.9300,
    "wrist": 0.9675,
}
#: Radiologists are a little more specific than sensitive.
SPEC_MARGIN = 0.03
_SKILL_SPREAD = 0.03
_BIAS_SPREAD = 0.015
_RATE_BOUNDS = (0.5, 0.995)


def reader_offsets(readers: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-reader (skill, bias) offsets: skill evenly spread over ±0.03, bias alternating ±0.015.

    Fixed (not random) so that the panel's calibration does not depend on the seed.
    """
    skill = _SKILL_SPREAD * np.linspace(-1.0, 1.0, readers)
    bias = _BIAS_SPREAD * np.where(np.arange(readers) % 2 == 0, 1.0, -1.0)
    return skill, bias


def reader_rates(accuracy: float, readers: int) -> tuple[np.ndarray, np.ndarray]:
    """Sensitivity and specificity per reader (arrays of length ``readers``) for a base accuracy."""
    skill, bias = reader_offsets(readers)
    sensitivity = np.clip(accuracy - SPEC_MARGIN / 2 + skill + bias, *_RATE_BOUNDS)
    specificity = np.clip(accuracy + SPEC_MARGIN / 2 + skill - bias, *_RATE_BOUNDS)
    return sensitivity, specificity


def _count_distribution(p_positive: np.ndarray) -> np.ndarray:
    """P(k of the independent Bernoulli(p_j) are 1), k = 0..len(p) (Poisson-binomial)."""
    dist = np.array([1.0])
    for p in p_positive:
        dist = np.convolve(dist, [1.0 - p, p])
    return dist


def expected_loo_f1(sensitivity: np.ndarray, specificity: np.ndarray, prevalence: float,
                    *, tie: str = "abnormal") -> float:
    """Large-sample leave-one-out radiologist F1 of conditionally independent readers.

    Reader i is scored by F1 (reader i as prediction) against the majority of the other N-1
    readers (a tie of an even N-1 counts as abnormal for ``tie="abnormal"``); the result is the
    mean over readers of ``2 E[TP] / (2 E[TP] + E[FP] + E[FN])``, the limit of the sample F1 as the
    number of studies grows. ``prevalence`` is the abnormal fraction.
    """
    sensitivity = np.asarray(sensitivity, dtype=float)
    specificity = np.asarray(specificity, dtype=float)
    n = len(sensitivity)
    scores = []
    for i in range(n):
        others = np.delete(np.arange(n), i)
        tp = fp = fn = 0.0
        for label, weight in ((1, prevalence), (0, 1.0 - prevalence)):
            says_abnormal = sensitivity if label else 1.0 - specificity
            counts = _count_distribution(says_abnormal[others])
            k = np.arange(n)
            ref_abnormal = (2 * k > n - 1) | ((2 * k == n - 1) & (tie == "abnormal"))
            p_ref = counts[ref_abnormal].sum()
            p_reader = says_abnormal[i]
            tp += weight * p_reader * p_ref
            fp += weight * p_reader * (1.0 - p_ref)
            fn += weight * (1.0 - p_reader) * p_ref
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def calibrate_reader_accuracy(target_f1: float, prevalence: float, *, readers: int = 6,
                              tol: float = 1e-5) -> float:
    """The base accuracy whose :func:`expected_loo_f1` equals ``target_f1`` (bisection).

    This is how :data:`READER_ACCURACY` was obtained; it is not called at generation time.
    """
    lo, hi = 0.5, 1.0
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if expected_loo_f1(*reader_rates(mid, readers), prevalence) < target_f1:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


# ---------------------------------------------------------------------------------------------
# The study table
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SynthPanel:
    """The study table of one synthetic split, sorted by study id.

    ``parts`` holds body-part names, ``labels`` the clinical label (int8 0/1, agreeing with the
    folder suffix), ``images_per_study`` the number of views, ``readers`` the panel's reads (int8,
    shape ``(n_studies, len(reader_names))``; zero columns for a table without readers) and
    ``stream_keys`` (int64, shape ``(n_studies, 2)``) the patient index and the study's index within
    that patient: the keys of the study's random streams.
    """

    split: str
    seed: int
    study_ids: list[str]
    parts: np.ndarray
    labels: np.ndarray
    images_per_study: np.ndarray
    readers: np.ndarray
    reader_names: list[str]
    stream_keys: np.ndarray

    def __len__(self) -> int:
        return len(self.study_ids)


def _split_rates(split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative part proportions, abnormal fraction per part, mean images per study per part,
    cumulative studies-per-patient proportions of one split of the real release."""
    counts = np.array([REAL_COUNTS[split][p] for p in BODY_PARTS], dtype=float)
    studies, abnormal, images = counts.T
    part_cdf = np.cumsum(studies / studies.sum())
    per_patient = np.asarray(_STUDIES_PER_PATIENT[split], dtype=float)
    return part_cdf, abnormal / studies, images / studies, np.cumsum(per_patient / per_patient.sum())


def _draw(cdf: np.ndarray, u: float) -> int:
    return int(min(np.searchsorted(cdf, u, side="right"), len(cdf) - 1))


def _patient_number(split: str, index: int) -> int:
    number = _FIRST_PATIENT[split] + index
    if split == "train" and number >= _FIRST_PATIENT["valid"]:
        number = _TRAIN_OVERFLOW_START + index - (_FIRST_PATIENT["valid"] - _FIRST_PATIENT["train"])
    return number


def _study_rows(n_studies: int, split: str, seed: int) -> list[tuple[str, int, int, int, int, int]]:
    """(study id, part index, label, images, patient index, study index) for ``n_studies`` studies.

    Patients are drawn one after another from their own stream until there are enough studies;
    the last patient is cut short. Study folders are numbered per patient and body part.
    """
    part_cdf, abnormal_rate, mean_images, per_patient_cdf = _split_rates(split)
    code = _SPLIT_CODE[split]
    rows: list[tuple[str, int, int, int, int, int]] = []
    patient = 0
    while len(rows) < n_studies:
        rng = np.random.default_rng([seed, code, patient, 0, _STREAM_TABLE])
        n_here = 1 + _draw(per_patient_cdf, rng.random())
        folder = f"{ROOT_NAME}/{split}/XR_{{part}}/patient{_patient_number(split, patient):05d}"
        seen: dict[int, int] = {}
        part = -1
        for index in range(min(n_here, n_studies - len(rows))):
            u_part, u_again, u_label = rng.random(3)
            if part < 0 or u_again >= _SAME_PART_AGAIN:
                part = _draw(part_cdf, u_part)
            label = int(u_label < abnormal_rate[part])
            extra = (mean_images[part] - 1.0) / (_MAX_IMAGES_PER_STUDY - 1)
            images = 1 + int(rng.binomial(_MAX_IMAGES_PER_STUDY - 1, extra))
            seen[part] = seen.get(part, 0) + 1
            suffix = "positive" if label else "negative"
            study_id = folder.format(part=BODY_PARTS[part].upper()) + f"/study{seen[part]}_{suffix}/"
            rows.append((study_id, part, label, images, patient, index))
        patient += 1
    rows.sort(key=lambda row: row[0])
    return rows


def _read_panel(labels: np.ndarray, parts: np.ndarray, keys: np.ndarray, *, readers: int,
                seed: int, split: str) -> np.ndarray:
    """Reader reads (int8, (n, readers)): reader j calls a study abnormal with probability
    sensitivity_j (abnormal) or 1 - specificity_j (normal) of the study's body part."""
    rates = {p: reader_rates(READER_ACCURACY[BODY_PARTS[p]], readers) for p in range(len(BODY_PARTS))}
    code = _SPLIT_CODE[split]
    reads = np.zeros((len(labels), readers), dtype=np.int8)
    for row, (label, part, (patient, index)) in enumerate(zip(labels, parts, keys)):
        u = np.random.default_rng([seed, code, int(patient), int(index), _STREAM_READERS]).random(readers)
        sensitivity, specificity = rates[int(part)]
        reads[row] = u < (sensitivity if label else 1.0 - specificity)
    return reads


def _check_count(value: int, name: str, *, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{name} must be a whole number, not {value!r}", source=name)
    if not minimum <= value <= maximum:
        raise InputError(f"{name} must be between {minimum} and {maximum}, not {value}", source=name)
    return int(value)


def synth_panel(n_studies: int, *, readers: int = 6, seed: int = 0, split: str = "valid") -> SynthPanel:
    """The study table of ``n_studies`` synthetic studies with a panel of ``readers`` readers.

    Deterministic for (seed, split); a larger ``n_studies`` only adds studies (it never changes
    the ones a smaller call made). ``readers=0`` gives a table without reads (any other count
    below 3 is refused: a panel needs at least three readers). Names are ``reader_1..reader_N``.
    """
    if split not in _SPLIT_CODE:
        raise InputError(f"synthetic data has splits {', '.join(_SPLIT_CODE)}, not {split!r}", source="split")
    n_studies = _check_count(n_studies, "studies", minimum=1, maximum=_MAX_STUDIES)
    seed = _check_count(seed, "seed", minimum=0, maximum=2**63 - 1)
    if readers != 0:
        readers = _check_count(readers, "readers", minimum=3, maximum=100)
    rows = _study_rows(n_studies, split, seed)
    parts = np.array([r[1] for r in rows], dtype=np.int64)
    labels = np.array([r[2] for r in rows], dtype=np.int8)
    keys = np.array([(r[4], r[5]) for r in rows], dtype=np.int64).reshape(-1, 2)
    reads = (_read_panel(labels, parts, keys, readers=readers, seed=seed, split=split) if readers
             else np.zeros((len(rows), 0), dtype=np.int8))
    return SynthPanel(
        split=split,
        seed=seed,
        study_ids=[r[0] for r in rows],
        parts=np.array([BODY_PARTS[p] for p in parts], dtype=object),
        labels=labels,
        images_per_study=np.array([r[3] for r in rows], dtype=np.int64),
        readers=reads,
        reader_names=[f"reader_{j}" for j in range(1, readers + 1)],
        stream_keys=keys,
    )


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------

#: Anatomy per body part: (bones, bone radius range, half-length range, joint blob), lengths in
#: image half-widths. Bones are drawn side by side across the limb axis.
_ANATOMY: dict[str, tuple[tuple[int, int], tuple[float, float], tuple[float, float], bool]] = {
    "elbow": ((2, 2), (0.07, 0.11), (0.45, 0.75), True),
    "finger": ((1, 2), (0.05, 0.08), (0.35, 0.65), True),
    "forearm": ((2, 2), (0.06, 0.09), (0.75, 1.05), False),
    "hand": ((3, 4), (0.04, 0.06), (0.35, 0.6), False),
    "humerus": ((1, 1), (0.1, 0.14), (0.7, 1.05), False),
    "shoulder": ((1, 1), (0.1, 0.13), (0.45, 0.7), True),
    "wrist": ((2, 2), (0.06, 0.09), (0.4, 0.7), True),
}
#: Normal anatomy is tone-mapped below this grey level (noise adds at most 8 more); fixation
#: hardware is drawn at _HARDWARE_LEVELS, so "near-white" (>= 240) pixels come from hardware and
#: the occasional side marker only.
_ANATOMY_CEILING = 220.0
_HARDWARE_LEVELS = (246.0, 255.0)
#: A small bright side marker (like the lead "L"/"R" letters of real radiographs) appears in a
#: fifth of all images, normal or not, so that brightness alone is not a perfect cue.
_MARKER_RATE = 0.2
_MARKER_HALF = 0.04
_MARKER_LEVELS = (232.0, 252.0)


def _soft_box(along: np.ndarray, across: np.ndarray, half_length: float, half_width: float,
              pixels_per_unit: float) -> np.ndarray:
    """Anti-aliased mask (0..1) of a rectangle centred at the origin of the (along, across) frame."""
    inside = np.minimum(half_length - np.abs(along), half_width - np.abs(across))
    return np.clip(inside * pixels_per_unit + 0.5, 0.0, 1.0)


def _hardware_mask(along: np.ndarray, across: np.ndarray, rng: np.random.Generator, *, radius: float,
                   half_length: float, pixels_per_unit: float) -> np.ndarray:
    """Fixation hardware in a bone's frame: a plate with screws, screws alone, or a pin."""
    kind = rng.random()
    centre = rng.uniform(-0.4, 0.4) * half_length
    span = rng.uniform(0.25, 0.5) * max(half_length, 0.4)
    min_half = 1.0 / pixels_per_unit  # at least ~2 px wide at any image size
    if kind < 0.25:  # intramedullary pin along the shaft
        return _soft_box(along - centre, across, max(span * 1.6, 0.3),
                         max(radius * 0.25, min_half), pixels_per_unit)
    side = radius * (1.0 if rng.random() < 0.5 else -1.0)
    plate_half = max(rng.uniform(0.02, 0.04), min_half)
    mask = np.zeros_like(along)
    if kind < 0.75:  # plate on the bone's side
        mask = _soft_box(along - centre, across - side - np.sign(side) * plate_half, span, plate_half,
                         pixels_per_unit)
    screws = rng.integers(2, 6)
    screw_half = max(rng.uniform(0.012, 0.025), min_half)
    for at in np.linspace(-span * 0.85, span * 0.85, screws):
        screw = _soft_box(along - centre - at, across - side * 0.3, screw_half, radius * 1.15,
                          pixels_per_unit)
        mask = np.maximum(mask, screw)
    return mask


def render_image(abnormal: bool, rng: np.random.Generator, size: int, *, part: str | None = None) -> np.ndarray:
    """One synthetic radiograph as a ``(size, size)`` uint8 array.

    Soft tissue around one or more bright bone shafts (the number and thickness depend on the body
    part; a random one when ``part`` is None) at a random pose, contrast and noise level; normal
    anatomy stays at or below grey level 228, and a fifth of all images carry a small bright side
    marker in a corner. ``abnormal`` plants a finding: very bright fixation hardware (about 246-255:
    a plate with screws, screws alone or a pin) on one bone, and in half of the cases a dark
    fracture line across it. Vectorised numpy; all randomness comes from ``rng``.
    """
    if part is None:
        part = BODY_PARTS[int(rng.integers(len(BODY_PARTS)))]
    (bones_lo, bones_hi), radius_range, length_range, joint = _ANATOMY[part]
    pixels_per_unit = size / 2.0
    coords = (np.arange(size) + 0.5) / pixels_per_unit - 1.0
    y, x = coords[:, None], coords[None, :]

    theta = rng.uniform(-0.5, 0.5) + (np.pi / 2 if rng.random() < 0.5 else 0.0)
    cx, cy = rng.uniform(-0.15, 0.15, 2)
    cos, sin = np.cos(theta), np.sin(theta)
    along = (x - cx) * cos + (y - cy) * sin
    across = -(x - cx) * sin + (y - cy) * cos

    tissue_half_width = rng.uniform(0.45, 0.8)
    tissue = 1.0 / (1.0 + np.exp((np.abs(across) - tissue_half_width) / 0.06))
    image = rng.uniform(5, 30) + rng.uniform(30, 60) * tissue

    n_bones = int(rng.integers(bones_lo, bones_hi + 1))
    radii = rng.uniform(*radius_range, n_bones)
    gap = rng.uniform(0.02, 0.08)
    widths = 2 * radii + gap
    offsets = np.cumsum(widths) - widths / 2 - widths.sum() / 2
    bone_frames = []
    bones = np.zeros_like(image)
    for radius, offset in zip(radii, offsets):
        tilt = rng.uniform(-0.12, 0.12)
        shift = rng.uniform(-0.15, 0.15)
        b_along = along * np.cos(tilt) + (across - offset) * np.sin(tilt) - shift
        b_across = -along * np.sin(tilt) + (across - offset) * np.cos(tilt)
        half_length = rng.uniform(*length_range)
        beyond = np.maximum(np.abs(b_along) - half_length, 0.0)
        distance = np.sqrt(beyond ** 2 + b_across ** 2)
        mask = np.clip((radius - distance) * pixels_per_unit + 0.5, 0.0, 1.0)
        cortex = 0.7 + 0.3 * np.clip(distance / radius, 0.0, 1.0) ** 2  # brighter rim
        bones += rng.uniform(90, 150) * mask * cortex
        bone_frames.append((b_along, b_across, radius, half_length))
    if joint:
        end = offsets.mean(), bone_frames[0][3] * (1 if rng.random() < 0.5 else -1)
        blob_radius = radii.max() * rng.uniform(1.4, 2.0)
        distance = np.hypot(along - end[1], across - end[0])
        bones += rng.uniform(60, 110) * np.clip((blob_radius - distance) * pixels_per_unit + 0.5, 0, 1)

    target = int(rng.integers(n_bones))
    b_along, b_across, radius, half_length = bone_frames[target]
    if abnormal and rng.random() < 0.5:  # fracture: a dark line across the shaft
        at = rng.uniform(-0.6, 0.6) * half_length
        slant = rng.uniform(-0.5, 0.5)
        line = np.abs(b_along - at - slant * b_across)
        crack = np.clip((0.9 / pixels_per_unit - line) * pixels_per_unit + 0.5, 0.0, 1.0)
        bones *= 1.0 - rng.uniform(0.5, 0.8) * crack * (np.abs(b_across) < radius * 1.05)

    gain = rng.uniform(0.8, 1.2)
    image = _ANATOMY_CEILING * (1.0 - np.exp(-gain * (image + bones) / 170.0))
    image += rng.normal(0.0, rng.uniform(2.0, 6.0), image.shape)
    image = np.clip(image, 0.0, _ANATOMY_CEILING + 8.0)

    if rng.random() < _MARKER_RATE:  # a lead side marker in a corner, in normal images too
        mx, my = rng.uniform(0.7, 0.88, 2) * rng.choice([-1.0, 1.0], 2)
        marker = _soft_box(x - mx, y - my, _MARKER_HALF, _MARKER_HALF * rng.uniform(0.6, 1.0), pixels_per_unit)
        image = image * (1.0 - marker) + rng.uniform(*_MARKER_LEVELS) * marker
    if abnormal:
        hardware = _hardware_mask(b_along, b_across, rng, radius=radius, half_length=half_length,
                                  pixels_per_unit=pixels_per_unit)
        level = rng.uniform(*_HARDWARE_LEVELS) + rng.normal(0.0, 1.5, image.shape)
        cover = np.sqrt(hardware)  # metal dominates the pixels it partly covers
        image = image * (1.0 - cover) + level * cover
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _study_stream(panel: SynthPanel, row: int) -> np.random.Generator:
    patient, index = (int(k) for k in panel.stream_keys[row])
    return np.random.default_rng([panel.seed, _SPLIT_CODE[panel.split], patient, index, _STREAM_IMAGES])


def _draw_findings(rng: np.random.Generator, n_images: int, abnormal: bool) -> np.ndarray:
    shows = rng.random(n_images) < FINDING_RATE
    if not abnormal:
        return np.zeros(n_images, dtype=bool)
    if not shows.any():
        shows[rng.integers(n_images)] = True
    return shows


def study_findings(panel: SynthPanel, row: int) -> np.ndarray:
    """Which images of study ``row`` show the planted finding (bool per image).

    In an abnormal study each image shows it with probability :data:`FINDING_RATE`, and at least
    one always does; images of normal studies never do.
    """
    rng = _study_stream(panel, row)
    return _draw_findings(rng, int(panel.images_per_study[row]), bool(panel.labels[row]))


def study_images(panel: SynthPanel, row: int, *, image_size: int = 64) -> list[np.ndarray]:
    """The images of study ``row`` of ``panel`` (uint8 arrays), drawn from the study's own stream;
    image j shows the finding iff ``study_findings(panel, row)[j]``."""
    rng = _study_stream(panel, row)
    shows = _draw_findings(rng, int(panel.images_per_study[row]), bool(panel.labels[row]))
    part = str(panel.parts[row])
    return [render_image(bool(finding), rng, image_size, part=part) for finding in shows]


# ---------------------------------------------------------------------------------------------
# Writing a dataset
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SynthSummary:
    """What :func:`generate` wrote. ``root`` holds ``MURA-v1.1/``; ``splits`` and ``images`` count
    studies and images per split."""

    root: Path
    splits: dict[str, int]
    images: dict[str, int]
    readers: int
    seed: int

    @property
    def dataset_dir(self) -> Path:
        return self.root / ROOT_NAME

    @property
    def panel_csv(self) -> Path:
        return self.root / ROOT_NAME / "valid_panel.csv"


def _write_text(path: Path, lines: list[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write("".join(line + "\n" for line in lines))


def _write_split(dataset: Path, panel: SynthPanel, image_size: int) -> int:
    """Write one split's images and its two headerless CSVs under ``dataset`` (the MURA-v1.1
    folder); returns the number of images."""
    from PIL import Image

    image_paths: list[str] = []
    for row, study_id in enumerate(panel.study_ids):
        folder = dataset.parent / study_id
        folder.mkdir(parents=True, exist_ok=True)
        for number, pixels in enumerate(study_images(panel, row, image_size=image_size), 1):
            Image.fromarray(pixels).save(folder / f"image{number}.png", format="PNG", compress_level=6)
            image_paths.append(f"{study_id}image{number}.png")
    _write_text(dataset / f"{panel.split}_labeled_studies.csv",
                [f"{s},{int(label)}" for s, label in zip(panel.study_ids, panel.labels)])
    _write_text(dataset / f"{panel.split}_image_paths.csv", image_paths)
    return len(image_paths)


def _write_panel_csv(path: Path, panel: SynthPanel) -> None:
    header = ",".join(["study", *panel.reader_names, "label"])
    rows = [",".join([s, *(str(int(v)) for v in reads), str(int(label))])
            for s, reads, label in zip(panel.study_ids, panel.readers, panel.labels)]
    _write_text(path, [header, *rows])


#: Marker file inside a MURA-v1.1/ written by :func:`generate`: only such a folder is replaced.
SYNTH_MARKER = ".mura-bench-synthetic"


def generate(out_dir: str | Path, *, studies: int = 200, train_studies: int | None = None,
             readers: int = 6, seed: int = 0, image_size: int = 64, overwrite: bool = False) -> SynthSummary:
    """Write a synthetic MURA-v1.1 dataset to ``out_dir/MURA-v1.1`` and return what was written.

    ``studies`` valid studies (with a ``readers``-reader panel in ``valid_panel.csv``) and
    ``train_studies`` train studies (default ``2 * studies``), images ``image_size`` pixels square.
    Deterministic: one seed writes byte-identical files. The dataset is written into a temporary
    folder inside ``out_dir`` and renamed into place, so ``MURA-v1.1`` is either complete or absent.
    An existing ``out_dir/MURA-v1.1`` is an InputError unless ``overwrite`` is true (then it is
    replaced only once the new one is complete), and always when it lacks the marker file
    :data:`SYNTH_MARKER` (a real dataset is never replaced). Loads with :func:`mura_bench.layout.load_split`.
    """
    studies = _check_count(studies, "studies", minimum=1, maximum=_MAX_STUDIES)
    train_studies = 2 * studies if train_studies is None else train_studies
    train_studies = _check_count(train_studies, "train_studies", minimum=1, maximum=_MAX_STUDIES)
    readers = _check_count(readers, "readers", minimum=3, maximum=100)
    seed = _check_count(seed, "seed", minimum=0, maximum=2**63 - 1)
    image_size = _check_count(image_size, "image_size", minimum=16, maximum=1024)

    out_dir = Path(out_dir)
    check_name_length(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("output path exists and is not a folder", source=display(out_dir))
    final = out_dir / ROOT_NAME
    if (final.exists() or final.is_symlink()) and not overwrite:
        raise InputError(f"{ROOT_NAME}/ already exists here; refusing to overwrite it",
                         source=display(out_dir),
                         hint="Pass overwrite=True (mura-bench synth --overwrite) or choose another folder.")
    if (final.exists() or final.is_symlink()) and not owned_by_mura_bench(final, SYNTH_MARKER):
        raise InputError(f"{ROOT_NAME}/ here was not written by mura-bench synth (no {SYNTH_MARKER} file); "
                         "refusing to replace it, even with --overwrite", source=display(out_dir),
                         hint="choose another folder for synthetic data")
    ensure_output_dir(out_dir)

    with staging_dir(out_dir / ROOT_NAME) as staging:   # removed on errors, Ctrl-C and SIGTERM
        try:
            dataset = staging / ROOT_NAME
            dataset.mkdir()
            panels = {"train": synth_panel(train_studies, readers=0, seed=seed, split="train"),
                      "valid": synth_panel(studies, readers=readers, seed=seed, split="valid")}
            images = {split: _write_split(dataset, panel, image_size) for split, panel in panels.items()}
            _write_panel_csv(dataset / "valid_panel.csv", panels["valid"])
            _write_text(dataset / SYNTH_MARKER, ["synthetic MURA-layout data written by mura-bench synth; "
                                                 "synth --overwrite may replace this folder"])
            if final.exists() or final.is_symlink():
                os.replace(final, staging / "previous")
            os.replace(dataset, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return SynthSummary(root=out_dir, splits={s: len(p) for s, p in panels.items()}, images=images,
                        readers=readers, seed=seed)
