"""Simulated radiologists: per-body-part reader rates calibrated to the MURA paper's Table 2.

Readers are conditionally independent given the label, with per-body-part sensitivity and
specificity chosen so that the leave-one-out radiologist F1 of a six-reader panel matches Table 2
of the MURA paper.
"""

from __future__ import annotations

import numpy as np


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


def expected_loo_f1(
    sensitivity: np.ndarray, specificity: np.ndarray, prevalence: float, *, tie: str = "abnormal"
) -> float:
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


def calibrate_reader_accuracy(target_f1: float, prevalence: float, *, readers: int = 6, tol: float = 1e-5) -> float:
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
