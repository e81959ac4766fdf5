"""ROC curves and readers' operating points, from study probabilities and 0/1 reads.

The reference of a curve (what "abnormal" means) depends on the truth:
the clinical label for kind ``labels``; for a reader panel the majority of all readers (a tie
follows ``tie``: abnormal by default); for a gold panel the majority of the gold readers. The
readers plotted as operating points are scored against the same reference: every reader of a
panel (each is part of the majority it is compared with, which flatters it slightly: said on the
page), the non-gold readers of a gold panel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mura_bench.stats.protocols import AUTO_PROTOCOL, make_plan


@dataclass(frozen=True)
class OperatingPoint:
    name: str
    fpr: float  # 1 - specificity
    tpr: float  # sensitivity


def reference_and_readers(
    kind: str,
    labels: np.ndarray | None,
    readers: np.ndarray | None,
    reader_names: list[str],
    *,
    tie: str = "abnormal",
    gold: list[str] | None = None,
) -> tuple[np.ndarray, list[int]]:
    """The reference labels of a truth and the indices of the readers to show against it: the
    protocol plan's ``positives`` and scored readers (``panel``: all readers; ``gold-panel``: the
    non-gold ones)."""
    if kind not in AUTO_PROTOCOL:
        raise ValueError(f"unknown truth kind {kind!r}")
    plan = make_plan(
        AUTO_PROTOCOL[kind], labels=labels, readers=readers, reader_names=reader_names, tie=tie, gold_readers=gold
    )
    return plan.positives, [list(reader_names).index(name) for name in plan.reader_names]


def roc_curve(scores: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(fpr, tpr, thresholds) over every distinct score, highest threshold first.

    The first point is (0, 0) at threshold +inf; a study is called abnormal at threshold t when
    its score >= t. None when the reference has only one class (the curve is undefined).
    """
    scores = np.asarray(scores, dtype=np.float64)
    reference = np.asarray(reference).astype(bool)
    positives, negatives = int(reference.sum()), int((~reference).sum())
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(-scores, kind="mergesort")
    ordered, hits = scores[order], reference[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(ordered)), len(ordered) - 1]
    tp = np.cumsum(hits)[last_of_run]
    fp = (last_of_run + 1) - tp
    fpr = np.r_[0.0, fp / negatives]
    tpr = np.r_[0.0, tp / positives]
    thresholds = np.r_[np.inf, ordered[last_of_run]]
    return fpr, tpr, thresholds


def trapezoid_auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Area under a curve given by increasing fpr."""
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def operating_point(name: str, reads: np.ndarray, reference: np.ndarray) -> OperatingPoint | None:
    """(1 - specificity, sensitivity) of 0/1 reads against the reference; None when one class."""
    reads = np.asarray(reads).astype(bool)
    reference = np.asarray(reference).astype(bool)
    positives, negatives = int(reference.sum()), int((~reference).sum())
    if positives == 0 or negatives == 0:
        return None
    return OperatingPoint(
        name, float((reads & ~reference).sum() / negatives), float((reads & reference).sum() / positives)
    )
