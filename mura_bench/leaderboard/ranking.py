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

from mura_bench.stats.bootstrap import is_degenerate


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

    The percentile interval of ``replicates[j] - replicates[i]`` is computed exactly only where
    counting cannot decide (:func:`_column_by_counts`); the result is that of
    :func:`significantly_better_by_quantiles`, which computes every interval.
    """
    reps = _checked(replicates, confidence)
    k = reps.shape[0]
    if reps.shape[1] == 0 or k < 2 or not np.isfinite(reps).all():
        return significantly_better_by_quantiles(reps, confidence=confidence)
    ranks = _dense_ranks(reps)
    means = reps.mean(axis=1)
    better = np.zeros((k, k), dtype=bool)

    def column(i: int) -> None:
        better[:, i] = _column_by_counts(reps, ranks, means, i, confidence)

    _each_column(column, k, reps.size)
    better[np.arange(k), np.arange(k)] = False
    return better


def significantly_better_by_quantiles(replicates: np.ndarray, *, confidence: float = 0.95) -> np.ndarray:
    """:func:`significantly_better` computed pair by pair from the percentile intervals (the
    reference: every pair whose interval could lie above 0 gets its quantiles)."""
    reps = _checked(replicates, confidence)
    k = reps.shape[0]
    better = np.zeros((k, k), dtype=bool)
    if reps.shape[1] == 0:
        return better
    # The lower bound interpolates between the sorted differences at positions floor(h) and
    # floor(h) + 1, h = (B - 1) alpha: it can only be > 0 when at most floor(h) + 1 differences
    # are <= 0. Counting is cheap; the exact quantiles are computed for the pairs that pass only
    # (at most one direction of each pair), with the same numbers as for all rows.

    def column(i: int) -> None:
        better[:, i] = _decided(reps - reps[i], confidence)

    _each_column(column, k, reps.size)
    better[np.arange(k), np.arange(k)] = False
    return better


def significantly_better_given(replicates: np.ndarray, known: np.ndarray, *, confidence: float = 0.95) -> np.ndarray:
    """:func:`significantly_better` when some pairs are already decided (an incremental build).

    ``known`` (K, K) int8: ``known[j, i]`` is 1 when entry j is known to be significantly better
    than entry i, 0 when known not to be, -1 when undecided. Only the undecided pairs are computed
    (as :func:`significantly_better_by_quantiles` computes them), so adding one entry to K costs
    about 2K pairs instead of K². The result equals :func:`significantly_better` of the same
    replicates when the known decisions are right ones."""
    reps = _checked(replicates, confidence)
    k = reps.shape[0]
    known = np.asarray(known)
    if known.shape != (k, k):
        raise ValueError(f"known must have shape {(k, k)}, not {known.shape}")
    better = known == 1
    unknown = known < 0
    unknown[np.arange(k), np.arange(k)] = False
    # entries with no decided pair (new ones): their row and column at once
    new = np.flatnonzero(unknown.sum(axis=1) == k - 1) if k > 1 else np.zeros(0, dtype=np.int64)
    if new.size > k // 4 or not np.isfinite(reps).all():  # mostly undecided: the whole matrix costs less
        return significantly_better(reps, confidence=confidence)
    for n in new:
        better[:, n] = _decided(reps - reps[n], confidence)  # j better than n
        better[n, :] = _decided(reps[n] - reps, confidence)  # n better than i
        unknown[:, n] = unknown[n, :] = False
    for i in np.flatnonzero(unknown.any(axis=0)):  # any other undecided pair, column by column
        rows = np.flatnonzero(unknown[:, i])
        better[rows, i] = _decided(reps[rows] - reps[i], confidence)
    better[np.arange(k), np.arange(k)] = False
    return better


def _decided(differences: np.ndarray, confidence: float) -> np.ndarray:
    """Per row of paired differences (pairs, B): the pair is significantly better (its percentile
    interval lies above 0, not degenerate), counting first as :func:`significantly_better_by_quantiles`."""
    out = np.zeros(differences.shape[0], dtype=bool)
    if differences.shape[1] == 0:
        return out
    most_non_positive = int(np.floor((differences.shape[1] - 1) * (1.0 - confidence) / 2.0)) + 2
    candidates = np.flatnonzero(np.count_nonzero(differences <= 0.0, axis=1) <= most_non_positive)
    if candidates.size:
        out[candidates] = _above_zero(differences[candidates], confidence)
    return out


def _checked(replicates: np.ndarray, confidence: float) -> np.ndarray:
    reps = np.asarray(replicates, dtype=np.float64)
    if reps.ndim != 2:
        raise ValueError(f"replicates must have shape (entries, resamples), not {reps.shape}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), not {confidence}")
    return reps


def _each_column(column, k: int, size: int) -> None:
    if k * size < PARALLEL_ELEMENTS:
        for i in range(k):
            column(i)
    else:  # columns are independent; numpy releases the GIL in the heavy loops
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(column, range(k)))


def _above_zero(differences: np.ndarray, confidence: float) -> np.ndarray:
    """Per row of paired differences: the percentile interval lies above 0 and is not degenerate."""
    lower, upper = _interval(differences, confidence)
    return (lower > 0.0) & ~is_degenerate(lower, upper)  # zero width: never significant


def _dense_ranks(reps: np.ndarray) -> np.ndarray:
    """Per resample (column), the dense rank of each entry's value (equal values, equal ranks):
    ``ranks[j, b] <= ranks[i, b]`` iff ``reps[j, b] <= reps[i, b]``, in 2-byte integers when they fit."""
    k = reps.shape[0]
    by_resample = np.ascontiguousarray(reps.T)  # (B, K): one resample a row
    order = np.argsort(by_resample, axis=1)
    ordered = np.take_along_axis(by_resample, order, axis=1)
    steps = np.zeros(by_resample.shape, dtype=np.int32)
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=steps[:, 1:], casting="unsafe")
    dense = np.cumsum(steps, axis=1, dtype=np.int32)
    ranks = np.empty(by_resample.shape, dtype=np.int16 if k <= np.iinfo(np.int16).max else np.int32)
    np.put_along_axis(ranks, order, dense, axis=1)
    return np.ascontiguousarray(ranks.T)


#: Subset of resamples on which a pair's interval is shown to have non-zero width by counting.
_WIDTH_SAMPLE = 1024


def _column_by_counts(reps: np.ndarray, ranks: np.ndarray, means: np.ndarray, i: int, confidence: float) -> np.ndarray:
    """``better[:, i]`` from counts, exact quantiles only for the pairs counts cannot decide.

    With d = reps[j] - reps[i] sorted, the lower bound interpolates between d[h0] and d[h0 + 1]
    (h0 = floor((B - 1) alpha)), so it is > 0 when at most h0 differences are <= 0 and <= 0 when
    at least h0 + 2 are (d <= 0 iff ranks[j] <= ranks[i]: no subtraction). A pair whose bound is
    > 0 is significant unless its interval is degenerate (zero width), which needs nearly all
    differences equal: when, on a subset of resamples, more than h0 + 1 differences lie at or
    below a value v and more than B - k0 lie a clear gap above it (k0 the upper index), the
    interval is wide. Every other pair gets its quantiles exactly as
    :func:`significantly_better_by_quantiles` computes them."""
    b = reps.shape[1]
    alpha = (1.0 - confidence) / 2.0
    h0 = int(np.floor((b - 1) * alpha))
    k0 = int(np.floor((b - 1) * (1.0 - alpha)))
    flags = np.less_equal(ranks, ranks[i])
    non_positive = np.add.reduce(flags.view(np.uint8), axis=1, dtype=np.uint16 if b <= 65535 else np.int64)
    out = np.zeros(reps.shape[0], dtype=bool)
    above = np.flatnonzero(non_positive <= h0)
    exact = list(np.flatnonzero(non_positive == h0 + 1))
    if above.size:
        sample = slice(0, min(b, _WIDTH_SAMPLE))
        diffs = reps[above, sample] - reps[i, sample]
        v = (means[above] - means[i])[:, None]
        gap = 1e-9 * np.maximum(1.0, np.abs(v) + np.abs(diffs).max(axis=1, keepdims=True))
        wide = (np.count_nonzero(diffs <= v, axis=1) >= h0 + 2) & (np.count_nonzero(diffs >= v + gap, axis=1) >= b - k0)
        out[above[wide]] = True
        exact.extend(above[~wide])
    if exact:
        rows = np.asarray(exact, dtype=np.int64)
        out[rows] = _above_zero(reps[rows] - reps[i], confidence)
    return out


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
