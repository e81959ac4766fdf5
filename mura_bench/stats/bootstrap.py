"""Paired bootstrap engine: resample counts, percentile and BCa intervals, significance.

Resamples of a group depend only on the seed, the group's index in :data:`mura_bench.data.layout.GROUPS`
and the group's studies in sorted-id order: group g draws ``rng = np.random.default_rng([seed, g])``,
``idx = rng.integers(0, n, size=(B, n))`` (the same draw as ``scipy.stats.bootstrap``), turned into a
(B, n) matrix of counts. Every statistic (model, readers, radiologists, differences, other models) is
computed from that one matrix, so all comparisons are paired, and no Python loop runs over resamples.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import DTypeLike

from mura_bench.errors import InputError

CI_METHODS: tuple[str, ...] = ("percentile", "bca")


def draw_indices(n: int, resamples: int, seed: int, group: int) -> np.ndarray:
    """The (B, n) resampled study indices of one group (sorted-id positions)."""
    rng = np.random.default_rng([seed, group])
    return rng.integers(0, n, size=(resamples, n))


#: Bins of one ``bincount`` call in :func:`indices_to_counts`: a histogram of this size stays in the
#: CPU cache (3x faster than one bincount over all B*n bins).
BINCOUNT_CELLS = 1 << 16


def indices_to_counts(
    indices: np.ndarray, n: int, dtype: DTypeLike = np.float32, chunk: int | None = None
) -> np.ndarray:
    """(B, n) indices -> (B, n) counts: how often each study was drawn in each resample.

    One ``bincount`` per block of ``chunk`` resamples (default: about :data:`BINCOUNT_CELLS` bins)
    keeps the histogram in cache."""
    b = indices.shape[0]
    chunk = max(1, BINCOUNT_CELLS // max(n, 1)) if chunk is None else chunk
    out = np.empty((b, n), dtype=dtype)
    offsets = (np.arange(min(chunk, b), dtype=np.int64) * n)[:, None]
    for start in range(0, b, chunk):  # blocks of resamples, not single resamples
        block = indices[start : start + chunk]
        m = block.shape[0]
        out[start : start + m] = np.bincount((block + offsets[:m]).ravel(), minlength=m * n).reshape(m, n)
    return out


def draw_counts(n: int, resamples: int, seed: int, group: int) -> np.ndarray:
    """Resample-count matrix (B, n) of one group (float32; exact for counts < 2**24): the counts
    of :func:`draw_indices`, drawn block by block (:func:`count_blocks`, the same values) so that
    the (B, n) indices are never all held at once."""
    out = np.empty((resamples, n), dtype=np.float32)
    for start, counts in count_blocks(n, resamples, seed, group):
        out[start : start + counts.shape[0]] = counts
    return out


#: Cells (resamples x studies) of one block of resample counts: the engine never holds more of the
#: (B, n) count matrix than a few such blocks (each cell costs 8 bytes while it is drawn: a 4-byte
#: index and a 4-byte count), so its memory does not grow with B x n.
COUNT_BLOCK_CELLS = 1 << 22


def block_rows(n: int, cells: int | None = None) -> int:
    """Resample rows per block for ``n`` studies: about ``cells`` (default :data:`COUNT_BLOCK_CELLS`)
    cells, at least one row."""
    return max(1, (COUNT_BLOCK_CELLS if cells is None else cells) // max(n, 1))


def count_blocks(
    n: int, resamples: int, seed: int, group: int, rows: int | None = None, relabel: np.ndarray | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """The rows of :func:`draw_counts` in consecutive blocks of ``rows`` resamples (default
    :func:`block_rows`), drawn one block at a time from the same generator: block by block they
    are exactly the matrix ``draw_counts`` returns (numpy's bounded integers below 2**32 take one
    32-bit word stream whatever the size of each call, and the index type does not change the
    values), so no statistic depends on the block size. Yields ``(start, counts)``.

    ``relabel`` (a permutation of 0..n-1) moves study i's counts to column ``relabel[i]``: the same
    resamples with the studies in another order (the engine's score order)."""
    rows = block_rows(n) if rows is None else max(1, int(rows))
    rng = np.random.default_rng([seed, group])
    index_type = np.int32 if n <= np.iinfo(np.int32).max else np.int64
    for start in range(0, resamples, rows):
        m = min(rows, resamples - start)
        indices = rng.integers(0, n, size=(m, n), dtype=index_type)
        yield start, indices_to_counts(indices if relabel is None else relabel[indices], n)


def jackknife_weights(n: int) -> np.ndarray:
    """(n, n) weights of the n leave-one-out samples (row i drops study i), for BCa."""
    return (1.0 - np.eye(n, dtype=np.float32)).astype(np.float32)


def jackknife_blocks(n: int, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """The rows of :func:`jackknife_weights` in consecutive blocks (default :func:`block_rows`),
    built one block at a time: ``(start, weights)``."""
    rows = block_rows(n) if rows is None else max(1, int(rows))
    for start in range(0, n, rows):
        m = min(rows, n - start)
        block = np.ones((m, n), dtype=np.float32)
        block[np.arange(m), start + np.arange(m)] = 0.0
        yield start, block


def percentile_interval(replicates: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile CI along axis 0. NaN replicates (an undefined statistic) are left out of that
    column's interval (callers say so in a note)."""
    by_statistic = np.array(replicates.reshape(replicates.shape[0], -1).T, order="C")  # a private copy
    lo, hi = percentile_interval_by_statistic(by_statistic, confidence)
    return lo.reshape(replicates.shape[1:]), hi.reshape(replicates.shape[1:])


def percentile_interval_by_statistic(rows: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile CI of each row of a private (statistics, resamples) C-ordered matrix, which is
    overwritten (partitioned in place): (lower, upper), one value per row. NaN replicates are left
    out of their row's interval; an all-NaN row gives NaN (undefined)."""
    alpha = (1.0 - confidence) / 2.0
    q = [100 * alpha, 100 * (1 - alpha)]
    nan_rows = np.isnan(rows).any(axis=1)
    if not nan_rows.any():  # contiguous rows per statistic: partitions run on contiguous memory
        out = _percentile_of_rows(rows, q)
        return out[0], out[1]
    out = np.empty((2, rows.shape[0]))
    out[:, ~nan_rows] = _percentile_of_rows(np.ascontiguousarray(rows[~nan_rows]), q)
    some = nan_rows & ~np.isnan(rows).all(axis=1)  # all-NaN rows stay NaN (undefined)
    out[:, nan_rows & ~some] = np.nan
    out[:, some] = np.nanpercentile(rows[some], q, axis=1)
    return out[0], out[1]


#: Statistics (rows) x resamples above which :func:`_percentile_of_rows` splits the rows over two
#: threads (numpy's partition releases the GIL; each row's percentiles do not depend on the split).
PARALLEL_PERCENTILE_ELEMENTS = 2_000_000


def _percentile_of_rows(rows: np.ndarray, q: list[float]) -> np.ndarray:
    """``np.percentile(rows, q, axis=1)`` of a private C-ordered matrix (overwritten), (2, rows)."""
    if rows.size < PARALLEL_PERCENTILE_ELEMENTS or rows.shape[0] < 2:
        return np.percentile(rows, q, axis=1, overwrite_input=True)
    from concurrent.futures import ThreadPoolExecutor

    half = rows.shape[0] // 2
    with ThreadPoolExecutor(max_workers=2) as pool:
        parts = list(
            pool.map(lambda part: np.percentile(part, q, axis=1, overwrite_input=True), (rows[:half], rows[half:]))
        )
    return np.concatenate(parts, axis=1)


def bca_interval(
    point: np.ndarray, replicates: np.ndarray, jackknife: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Bias-corrected and accelerated CI (Efron 1987), as ``scipy.stats.bootstrap(method="BCa")``.

    ``point`` (...), ``replicates`` (B, ...), ``jackknife`` (n, ...). The bias correction z0 counts
    only the defined (non-NaN) replicates, and a replicate within :data:`TIE_TOLERANCE` of the
    point estimate counts as tied with it (half below, half above): the same statistic summed in
    another order (readers listed in another column order) lands on the same side, so the interval
    does not depend on rounding. Where the bias or acceleration is undefined (all replicates equal,
    an undefined jackknife sample) the percentile interval is returned.
    """
    from scipy.special import ndtr, ndtri

    alpha = (1.0 - confidence) / 2.0
    point = np.asarray(point, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        tol = TIE_TOLERANCE * np.maximum(1.0, np.abs(point))
        below = np.sum(replicates < point - tol, axis=0) + np.sum(replicates <= point + tol, axis=0)
        defined = np.sum(~np.isnan(replicates), axis=0)
        z0 = ndtri(below / (2.0 * defined))  # 'mean' percentile of the point among defined replicates
        jack_mean = jackknife.mean(axis=0)
        dev = jack_mean - jackknife
        accel = (dev**3).sum(axis=0) / (6.0 * ((dev**2).sum(axis=0)) ** 1.5)
        z_lo, z_hi = ndtri(alpha), ndtri(1 - alpha)
        a1 = ndtr(z0 + (z0 + z_lo) / (1 - accel * (z0 + z_lo)))
        a2 = ndtr(z0 + (z0 + z_hi) / (1 - accel * (z0 + z_hi)))
    lo_p, hi_p = percentile_interval(replicates, confidence)
    flat_rep = replicates.reshape(replicates.shape[0], -1)
    a1f, a2f = np.broadcast_to(a1, point.shape).ravel(), np.broadcast_to(a2, point.shape).ravel()
    lo, hi = lo_p.ravel().copy(), hi_p.ravel().copy()
    for j in range(flat_rep.shape[1]):  # loop over statistics (a handful), never over resamples
        if np.isfinite(a1f[j]) and np.isfinite(a2f[j]):
            lo[j], hi[j] = np.nanpercentile(flat_rep[:, j], [100 * a1f[j], 100 * a2f[j]])
    return lo.reshape(lo_p.shape), hi.reshape(hi_p.shape)


#: Relative distance below which a replicate counts as equal to the point estimate (BCa's z0) and a
#: permuted statistic as equal to the observed one (randomization p-values): float rounding of sums
#: taken in another order is far below it, real differences of the metrics far above.
TIE_TOLERANCE = 1e-12


def is_degenerate(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """A zero-width interval (every resample, or all but a tail, gave the same value): it carries no
    evidence of a difference and is never called significant."""
    lower, upper = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    return np.abs(upper - lower) <= TIE_TOLERANCE * np.maximum(1.0, np.abs(lower))


def excludes_zero(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Significance of a paired difference: its CI lies entirely above or below 0 and is not
    degenerate (:func:`is_degenerate`)."""
    lower, upper = np.asarray(lower), np.asarray(upper)
    return ((lower > 0) | (upper < 0)) & ~is_degenerate(lower, upper)


#: Most bootstrap resamples accepted. The counts are drawn in blocks (:func:`count_blocks`), so
#: memory grows with resamples x statistics (8 bytes each), not with resamples x studies; time grows
#: with resamples x studies.
MAX_RESAMPLES = 100_000


def check_resamples(resamples: int) -> int:
    """``resamples`` when it is 0 (point estimates only) or in [2, MAX_RESAMPLES]; InputError
    otherwise (one resample gives a zero-width interval that means nothing)."""
    if isinstance(resamples, bool) or int(resamples) != resamples:
        raise InputError(
            f"the number of bootstrap resamples must be an integer, got {resamples!r}", source="--bootstrap"
        )
    resamples = int(resamples)
    if resamples < 0:
        raise InputError("the number of bootstrap resamples cannot be negative", source="--bootstrap")
    if resamples == 1:
        raise InputError(
            "1 bootstrap resample gives no interval; use 0 (point estimates only) or at least 2", source="--bootstrap"
        )
    if resamples > MAX_RESAMPLES:
        raise InputError(
            f"{resamples:,} bootstrap resamples is above the limit of {MAX_RESAMPLES:,} "
            "(memory grows with resamples x studies)",
            source="--bootstrap",
        )
    return resamples
