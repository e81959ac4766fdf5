"""Calibration of study probabilities against reference labels, vectorised over resamples.

- Brier score: mean (p - y)^2.
- ECE with equal-mass bins formed exactly as scikit-learn's
  ``calibration_curve(y, p, n_bins, strategy="quantile")`` forms them: the bin edges are
  ``np.percentile(p, linspace(0, 1, n_bins + 1) * 100)`` (linear interpolation) and a study goes to
  the bin given by ``np.searchsorted(edges[1:-1], p)`` (a probability equal to an edge joins the
  lower bin; duplicate edges leave empty bins, which are dropped).
  ECE = sum_b (n_b / n) |mean p_b - mean y_b|.

A resample is the original studies repeated by their counts: its edges are the percentiles of that
expanded sample, computed here from the cumulative counts without expanding it (numpy's linear
percentile rule: virtual index (N - 1) q, interpolated as ``numpy`` interpolates). With K references
(leave-one-out) every statistic is the mean over the references; the bins depend on p only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mura_bench.stats.triage import Running, SortedGroup, Window


def quantile_levels(bins: int) -> np.ndarray:
    """The percentile levels ``calibration_curve`` asks ``np.percentile`` for, as fractions."""
    return np.true_divide(np.linspace(0, 1, bins + 1) * 100, 100)


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """numpy's percentile interpolation, operation for operation (so edges match it exactly)."""
    diff = b - a
    out = a + diff * t
    upper = np.broadcast_to(t >= 0.5, out.shape)
    out[upper] = (b - diff * (1 - t))[upper]
    return out


def quantile_edges(running: Running, group: SortedGroup, bins: int) -> np.ndarray:
    """Interior bin edges (B, bins - 1) of every resample row."""
    counts = running.dense[0, :, 1:]  # inclusive counts, non-decreasing
    b, n = counts.shape
    levels = quantile_levels(bins)[1:-1]
    size = counts[:, -1]
    virtual = (size[:, None] - 1) * levels[None, :]
    prev = np.floor(virtual)
    gamma = virtual - prev
    above = virtual >= size[:, None] - 1  # one study: numpy takes the last
    prev = np.where(above, size[:, None] - 1, prev)
    nxt = np.where(above, prev, prev + 1)
    # the study holding expanded rank r: the first whose inclusive count exceeds r (per row, in one
    # searchsorted over the rows laid end to end with offsets that keep them apart)
    offset = (np.arange(b) * (size.max() + 1))[:, None]
    flat = (counts + offset).ravel()

    def value_at(rank: np.ndarray) -> np.ndarray:
        found = np.searchsorted(flat, (rank + offset).ravel(), side="right").reshape(rank.shape)
        return group.probabilities[found - np.arange(b)[:, None] * n]

    return _lerp(value_at(prev), value_at(nxt), gamma)


@dataclass(frozen=True)
class BinSums:
    """Per row and bin: total weight (B, bins), weighted sum of p (B, bins) and of each
    reference's labels (B, bins, K)."""

    weight: np.ndarray
    probability: np.ndarray
    labels: np.ndarray


def bin_sums(running: Running, group: SortedGroup, bins: int) -> BinSums:
    """Weighted sums per quantile bin for every row: differences of the running sums at the bins'
    boundaries (a study equal to an edge joins the lower bin)."""
    splits = np.searchsorted(group.probabilities, quantile_edges(running, group, bins), side="right")
    b = splits.shape[0]
    bounds = np.concatenate([np.zeros((b, 1), np.int64), splits, np.full((b, 1), group.size)], axis=1)
    at = running.at_each(bounds)  # (B, bins + 1, F)
    per_bin = np.diff(at, axis=1)
    return BinSums(per_bin[:, :, 0], per_bin[:, :, 1], per_bin[:, :, 2:])


def expected_calibration_error(sums: BinSums) -> np.ndarray:
    """ECE per row: mean over references of sum_b |S_p,b - S_y,b| / N."""
    total = sums.weight.sum(axis=1)
    gaps = np.abs(sums.probability[:, :, None] - sums.labels).sum(axis=1)  # (B, K)
    return (gaps / total[:, None]).mean(axis=1)


def reliability(sums: BinSums, row: int = 0) -> list[list[float]]:
    """``[mean_p, mean_y, n]`` of each non-empty bin of one row (mean_y: mean over references).

    The sums are differences of running sums, a few ulps off: the means are clipped to [0, 1]
    (a bin of probabilities 1.0 has mean_p 1.0, never 1.0000000000000002)."""
    out = []
    for weight, prob, labels in zip(sums.weight[row], sums.probability[row], sums.labels[row]):
        if weight > 0:
            out.append([_unit_interval(prob / weight), _unit_interval(labels.mean() / weight), int(round(weight))])
    return out


def _unit_interval(x: float) -> float:
    return float(min(max(x, 0.0), 1.0))


def brier_score(window: Window, group: SortedGroup) -> np.ndarray:
    """Brier score per row: mean over references of sum_j w_j (p_j - y_j)^2 / sum_j w_j."""
    squared = (group.probabilities[:, None] - group.references) ** 2
    w = np.asarray(window.weights, dtype=np.float64)
    return ((w @ squared) / w.sum(axis=1)[:, None]).mean(axis=1)
