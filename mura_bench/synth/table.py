"""The study table of a synthetic split: study ids, body parts, labels, views and reader reads.

Proportions follow the real MURA-v1.1 release: studies per body part, the abnormal fraction per
body part and images per study are taken from the aggregate counts below (per split), and the
number of studies per patient from the aggregate distribution of the release.

Determinism: everything derives from ``np.random.default_rng([seed, split, patient, ...])``, one
stream per patient (study table) and per study (readers, images). Asking for more studies therefore
appends patients and never changes the studies already there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mura_bench.errors import InputError
from mura_bench.data.layout import BODY_PARTS, ROOT_NAME
from mura_bench.synth.readers import READER_ACCURACY, reader_rates

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

SPLIT_CODE = {"train": 1, "valid": 2}
_STREAM_TABLE, _STREAM_READERS = 0, 1
#: Stream key of a study's images (used by :mod:`mura_bench.synth.views`).
STREAM_IMAGES = 2

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
    code = SPLIT_CODE[split]
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


def _read_panel(
    labels: np.ndarray, parts: np.ndarray, keys: np.ndarray, *, readers: int, seed: int, split: str
) -> np.ndarray:
    """Reader reads (int8, (n, readers)): reader j calls a study abnormal with probability
    sensitivity_j (abnormal) or 1 - specificity_j (normal) of the study's body part."""
    rates = {p: reader_rates(READER_ACCURACY[BODY_PARTS[p]], readers) for p in range(len(BODY_PARTS))}
    code = SPLIT_CODE[split]
    reads = np.zeros((len(labels), readers), dtype=np.int8)
    for row, (label, part, (patient, index)) in enumerate(zip(labels, parts, keys)):
        u = np.random.default_rng([seed, code, int(patient), int(index), _STREAM_READERS]).random(readers)
        sensitivity, specificity = rates[int(part)]
        reads[row] = u < (sensitivity if label else 1.0 - specificity)
    return reads


def check_count(value: int, name: str, *, minimum: int, maximum: int) -> int:
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
    if split not in SPLIT_CODE:
        raise InputError(f"synthetic data has splits {', '.join(SPLIT_CODE)}, not {split!r}", source="split")
    n_studies = check_count(n_studies, "studies", minimum=1, maximum=_MAX_STUDIES)
    seed = check_count(seed, "seed", minimum=0, maximum=2**63 - 1)
    if readers != 0:
        readers = check_count(readers, "readers", minimum=3, maximum=100)
    rows = _study_rows(n_studies, split, seed)
    parts = np.array([r[1] for r in rows], dtype=np.int64)
    labels = np.array([r[2] for r in rows], dtype=np.int8)
    keys = np.array([(r[4], r[5]) for r in rows], dtype=np.int64).reshape(-1, 2)
    reads = (
        _read_panel(labels, parts, keys, readers=readers, seed=seed, split=split)
        if readers
        else np.zeros((len(rows), 0), dtype=np.int8)
    )
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


def is_synthetic_study(study_id: str) -> bool:
    """Whether ``study_id`` (any form :func:`mura_bench.data.layout.parse_path` accepts) names a
    synthetic patient: number :data:`_FIRST_PATIENT` or above (MURA's are below 20,000)."""
    from mura_bench.data.layout import parse_path

    try:
        number = int(parse_path(study_id).patient[len("patient") :])
    except (InputError, ValueError):
        return False
    return number >= min(_FIRST_PATIENT.values())
