"""Per-body-part class weights of the weighted binary cross-entropy (MURA paper §3.1).

For body part T with |A_T| abnormal and |N_T| normal *training images*:

    w_T,1 = |N_T| / (|A_T| + |N_T|)     (weight of an abnormal image's loss term)
    w_T,0 = |A_T| / (|A_T| + |N_T|)     (weight of a normal image's loss term)

so the rarer class of each body part weighs more, and the two weights add up to 1. An image's
class is its study's label (the labelled-studies file is the source of truth, not the folder name).
Pure numpy: no torch here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
from mura_bench.data.layout import BODY_PARTS, SplitIndex, parse_path

#: Weights used for a body part with no training images (it contributes no loss anyway).
EMPTY_PART_WEIGHTS: tuple[float, float] = (0.5, 0.5)


def image_counts(image_paths: Iterable[str], study_labels: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """``{part: (normal_images, abnormal_images)}`` for every body part (zeros where absent).

    ``study_labels`` maps normalised study ids to 0/1; every image's study must be in it
    (KeyError otherwise, naming the image).
    """
    counts = {part: [0, 0] for part in BODY_PARTS}
    for image in image_paths:
        info = parse_path(image)
        try:
            label = int(study_labels[info.study_id])
        except KeyError:
            raise KeyError(f"image of an unlabelled study: {image}") from None
        counts[info.part][label] += 1
    return {part: (normal, abnormal) for part, (normal, abnormal) in counts.items()}


def image_counts_of_split(index: SplitIndex) -> dict[str, tuple[int, int]]:
    """Image counts of a loaded split (see :func:`image_counts`)."""
    labels = dict(zip(index.studies, (int(v) for v in index.labels)))
    return image_counts((img for study in index.studies for img in index.images[study]), labels)


def class_weights(counts: Mapping[str, tuple[int, int]]) -> dict[str, tuple[float, float]]:
    """``{part: (w_T0, w_T1)}`` from ``{part: (normal, abnormal)}`` image counts.

    ``w_T0 = A/(A+N)`` weighs normal images, ``w_T1 = N/(A+N)`` abnormal ones; a part with no
    images gets :data:`EMPTY_PART_WEIGHTS`. Negative counts raise ValueError.
    """
    weights = {}
    for part in BODY_PARTS:
        normal, abnormal = counts.get(part, (0, 0))
        if normal < 0 or abnormal < 0:
            raise ValueError(f"negative image count for {part}: {normal}, {abnormal}")
        total = normal + abnormal
        weights[part] = EMPTY_PART_WEIGHTS if total == 0 else (abnormal / total, normal / total)
    return weights


def weight_matrix(weights: Mapping[str, tuple[float, float]]) -> np.ndarray:
    """float64 array of shape (len(BODY_PARTS), 2): row = body part index, column = class (0, 1)."""
    return np.array([weights[part] for part in BODY_PARTS], dtype=np.float64)


def image_weights(part_index: np.ndarray, labels: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The loss weight of each image: ``matrix[part_index, label]``."""
    return matrix[np.asarray(part_index, dtype=np.int64), np.asarray(labels, dtype=np.int64)]
