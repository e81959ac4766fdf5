"""Ranking under uncertainty with paired bootstrap tests.

Every entry is scored on the same bootstrap resamples, so ``replicates[i, b]`` and
``replicates[j, b]`` (overall F1 of entries i and j on resample b) are paired. Entry j is
*significantly better* than entry i when the percentile confidence interval of
``replicates[j] - replicates[i]`` lies entirely above 0 and is not degenerate (zero width). The
rank of i is 1 + the number of entries
significantly better than i (Chatbot Arena's "Rank (UB)"); equal ranks form a tie group.
"""
from __future__ import annotations

import numpy as np

from mura_bench.bootstrap import is_degenerate


#: Entries^2 x resamples above which the columns of :func:`significantly_better` run on two threads.
PARALLEL_ELEMENTS = 10_000_000


def _interval(differences: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval per row (numpy's default linear interpolation)."""
    alpha = (1.0 - confidence) / 2.0
    lower, upper = np.quantile(differences, [alpha, 1.0 - alpha], axis=-1)
    return lower, upper


def significantly_better(replicates: np.ndarray, *, confidence: float = 0.95) -> np.ndarray:
    """Boolean (K, K) matrix ``better[j, i]``: entry j significantly better than entry i.

    ``replicates`` has shape (K, B): one row per entry on the shared resamples. The diagonal is
    False. Memory stays at O(K·B): one column of the matrix at a time.
    """
    reps = np.asarray(replicates, dtype=np.float64)
    if reps.ndim != 2:
        raise ValueError(f"replicates must have shape (entries, resamples), not {reps.shape}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), not {confidence}")
    k = reps.shape[0]
    better = np.zeros((k, k), dtype=bool)
    if reps.shape[1] == 0:
        return better
    # The lower bound interpolates between the sorted differences at positions floor(h) and
    # floor(h) + 1, h = (B - 1) alpha: it can only be > 0 when at most floor(h) + 1 differences
    # are <= 0. Counting is cheap; the exact quantiles are computed for the pairs that pass only
    # (at most one direction of each pair), with the same numbers as for all rows.
    most_non_positive = int(np.floor((reps.shape[1] - 1) * (1.0 - confidence) / 2.0)) + 2

    def column(i: int) -> None:
        differences = reps - reps[i]
        candidates = np.flatnonzero(np.count_nonzero(differences <= 0.0, axis=1) <= most_non_positive)
        if candidates.size:
            lower, upper = _interval(differences[candidates], confidence)
            better[candidates, i] = (lower > 0.0) & ~is_degenerate(lower, upper)  # zero width: never significant

    if k * reps.size < PARALLEL_ELEMENTS:
        for i in range(k):
            column(i)
    else:  # columns are independent; numpy releases the GIL in the heavy loops
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(column, range(k)))
    better[np.arange(k), np.arange(k)] = False
    return better


def ranks_from_better(better: np.ndarray) -> np.ndarray:
    """Rank per entry: 1 + the number of entries significantly better (int64)."""
    return 1 + np.asarray(better, dtype=bool).sum(axis=0).astype(np.int64)


def paired_ranks(replicates: np.ndarray, *, confidence: float = 0.95) -> np.ndarray:
    """Rank of each entry (int64, shape (K,)) by the rule above."""
    return ranks_from_better(significantly_better(replicates, confidence=confidence))


def display_order(ranks: np.ndarray, points: np.ndarray, names: list[str]) -> list[int]:
    """Indices sorted by rank, then by point estimate (descending), then by name: a stable,
    deterministic order for the table (ties in rank stay a tie group; the order inside a group
    only follows the point estimate)."""
    return sorted(range(len(names)), key=lambda i: (int(ranks[i]), -float(points[i]), names[i]))
