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
from mura_bench.stats.metrics import metric_score


@dataclass(frozen=True)
class Records:
    """Per-image validation outputs: item index, P(abnormal), and weighted loss."""

    index: np.ndarray  # int64
    prob: np.ndarray  # float64
    loss: np.ndarray  # float64

    @staticmethod
    def concat(parts: list["Records"]) -> "Records":
        if not parts:
            return Records(np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
        return Records(
            np.concatenate([p.index for p in parts]).astype(np.int64),
            np.concatenate([p.prob for p in parts]).astype(np.float64),
            np.concatenate([p.loss for p in parts]).astype(np.float64),
        )


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


def study_metrics(study_labels: np.ndarray, study_prob: np.ndarray) -> dict[str, float]:
    """Study-level AUROC, κ and accuracy with the paper's rule (abnormal iff mean > 0.5).

    The metrics are mura-bench's own (:func:`mura_bench.stats.metrics.metric_score`, the definitions
    ``mura-bench score`` reports): AUROC NaN with one class only, κ 1.0 when chance agreement is 1.
    """
    predicted = study_prob > 0.5
    return {
        "auroc": metric_score("auroc", study_labels, study_prob),
        "kappa": metric_score("kappa", study_labels, predicted),
        "accuracy": metric_score("accuracy", study_labels, predicted),
    }
