"""Validation bookkeeping in numpy: per-image records → de-duplicated → study probabilities → metrics.

Under DDP every rank evaluates a shard of the validation images; ``DistributedSampler`` pads the
last shard with repeated images so that all ranks get the same count. The records of all ranks are
gathered and de-duplicated by image index *before* anything is averaged (:func:`dedupe_records`);
per-rank metrics are never averaged.

These are training-time monitors only; scores that count come from ``mura-bench score``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Records:
    """Per-image validation outputs: item index, P(abnormal), and weighted loss."""

    index: np.ndarray   # int64
    prob: np.ndarray    # float64
    loss: np.ndarray    # float64

    @staticmethod
    def concat(parts: list["Records"]) -> "Records":
        if not parts:
            return Records(np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
        return Records(np.concatenate([p.index for p in parts]).astype(np.int64),
                       np.concatenate([p.prob for p in parts]).astype(np.float64),
                       np.concatenate([p.loss for p in parts]).astype(np.float64))


def dedupe_records(records: Records, expected: int) -> Records:
    """One record per item index ``0..expected-1``, sorted by index (the first of repeats is kept).

    Raises ValueError when an index is out of range or an item has no record at all (a shard was
    lost), naming the first missing indices.
    """
    index = records.index
    if index.size and (index.min() < 0 or index.max() >= expected):
        raise ValueError(f"record index out of range 0..{expected - 1}")
    unique, first = np.unique(index, return_index=True)
    if unique.size != expected:
        missing = np.setdiff1d(np.arange(expected), unique)
        raise ValueError(f"{missing.size} of {expected} items have no record (first: {missing[:5].tolist()})")
    return Records(unique, records.prob[first], records.loss[first])


def study_probabilities(study_index: np.ndarray, image_prob: np.ndarray, studies: int) -> np.ndarray:
    """Arithmetic mean of image probabilities per study (the paper's rule); NaN for a study
    without images."""
    sums = np.bincount(study_index, weights=image_prob, minlength=studies)
    counts = np.bincount(study_index, minlength=studies)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (ties count 1/2); NaN when only one class is present."""
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(scores.size, dtype=np.float64)
    # average ranks over ties
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [scores.size]])
    average = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(average, ends - starts)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


def cohen_kappa(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Cohen's κ of two 0/1 vectors; 1.0 when chance agreement is 1 (one class throughout)."""
    labels = np.asarray(labels).astype(bool)
    predicted = np.asarray(predicted).astype(bool)
    n = labels.size
    observed = float(np.mean(labels == predicted))
    chance = float(labels.mean() * predicted.mean() + (1 - labels.mean()) * (1 - predicted.mean()))
    if n == 0 or chance >= 1.0:
        return 1.0
    return (observed - chance) / (1.0 - chance)


def study_metrics(study_labels: np.ndarray, study_prob: np.ndarray) -> dict[str, float]:
    """Study-level AUROC, κ and accuracy with the paper's rule (abnormal iff mean > 0.5)."""
    predicted = study_prob > 0.5
    return {"auroc": auroc(study_labels, study_prob),
            "kappa": cohen_kappa(study_labels, predicted),
            "accuracy": float(np.mean(predicted == study_labels.astype(bool)))}
