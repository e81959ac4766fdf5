"""Binary-classification metrics, vectorised over bootstrap resamples.

Everything is computed from *weighted* confusion counts: a resample is a vector of counts ``w``
(how often each study was drawn), so for one (truth, prediction) pair

    TP = w @ (truth & pred),  FP = w @ (~truth & pred),  FN = w @ (truth & ~pred),  TN = sum(w) - TP - FP - FN

and a whole matrix of resamples ``W`` (B x n) gives all B confusion tables in one matrix product.
The original sample is the special case ``W = ones((1, n))``.

Degenerate cases (documented contract; every value is a float, no NaN from these):
- F1 = 1.0 when TP + FP + FN = 0 (no positives predicted or present: perfect agreement);
- kappa = 1.0 when p_e = 1 (both raters used a single, identical class: perfect agreement);
- sensitivity, specificity, precision = 1.0 when their denominator is 0 (nothing to miss / no false
  alarm possible), like scikit-learn's ``zero_division=1``;
- AUROC is undefined (NaN) when the sample holds only one class; callers report this.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from mura_bench.stats.metric_registry import METRIC_SPECS, metric_spec
from mura_bench.stats.metric_registry import METRICS as METRICS  # re-exported
from mura_bench.stats.rank_sums import ScoreRanking, TieBlocks, rank_sums_by_runs, runs_dtype

Counts = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _ratio(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, empty, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> np.ndarray:
    """F1 = 2TP / (2TP + FP + FN); 1.0 when TP + FP + FN = 0."""
    tp = np.asarray(tp, dtype=np.float64)
    return _ratio(2 * tp, 2 * tp + fp + fn, 1.0)


def kappa_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> np.ndarray:
    """Cohen's kappa = (p_o - p_e) / (1 - p_e); 1.0 when p_e = 1.

    Computed as 2 (TP TN - FN FP) / ((TP + FP)(FP + TN) + (TP + FN)(FN + TN)), the same quantity
    with fewer operations; the denominator is 0 exactly when p_e = 1.
    """
    tp, fp, fn, tn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn, tn))
    return _ratio(2.0 * (tp * tn - fn * fp), (tp + fp) * (fp + tn) + (tp + fn) * (fn + tn), 1.0)


def accuracy_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> np.ndarray:
    """(TP + TN) / n."""
    tp, tn = np.asarray(tp, dtype=np.float64), np.asarray(tn, dtype=np.float64)
    return _ratio(tp + tn, tp + fp + fn + tn, 1.0)


def sensitivity_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> np.ndarray:
    """Recall, TP / (TP + FN); 1.0 without positives."""
    return _ratio(tp, np.asarray(tp, dtype=np.float64) + fn, 1.0)


def specificity_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> np.ndarray:
    """TN / (TN + FP); 1.0 without negatives."""
    return _ratio(tn, np.asarray(tn, dtype=np.float64) + fp, 1.0)


def precision_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> np.ndarray:
    """PPV, TP / (TP + FP); 1.0 without predicted positives."""
    return _ratio(tp, np.asarray(tp, dtype=np.float64) + fp, 1.0)


#: The count metrics of the registry: name -> f(tp, fp, fn, tn), in display order.
COUNT_METRICS: dict[str, Callable[..., np.ndarray]] = {
    spec.name: globals()[spec.function_name] for spec in METRIC_SPECS if not spec.needs_probabilities
}


def pair_indicators(truth: np.ndarray, pred: np.ndarray, dtype: DTypeLike = np.float32) -> np.ndarray:
    """The (n, 3K + 1) indicator matrix of K (truth, prediction) column pairs: for each pair
    truth & pred, ~truth & pred, truth & ~pred, then a column of ones (the sample size).
    Built once per group; :func:`counts_from_indicators` then needs one matrix product per block."""
    truth = np.asarray(truth, dtype=bool)
    pred = np.asarray(pred, dtype=bool)
    if truth.ndim == 1:
        truth, pred = truth[:, None], pred[:, None]
    ones = np.ones((truth.shape[0], 1), dtype=bool)
    return np.concatenate([truth & pred, ~truth & pred, truth & ~pred, ones], axis=1).astype(dtype)


def counts_from_indicators(weights: np.ndarray, indicators: np.ndarray) -> Counts:
    """TP, FP, FN, TN (each (B, K) float64) of every pair, for every resample row of ``weights``."""
    k = (indicators.shape[1] - 1) // 3
    stacked = np.asarray(weights @ indicators, dtype=np.float64)
    tp, fp, fn, total = stacked[:, :k], stacked[:, k : 2 * k], stacked[:, 2 * k : 3 * k], stacked[:, 3 * k :]
    return tp, fp, fn, total - tp - fp - fn


@dataclass(frozen=True)
class CrossPairs:
    """Confusion counts of every (truth column k, prediction column s) pair of a truth matrix and a
    prediction matrix, plus R separate extra pairs, from one matrix product per block of resamples.

    A crossed pair needs only its true positives from the product: FP = (predicted positives of s)
    - TP and FN = (positives of k) - TP, so the product has S*K + S + K + 3R + 1 columns instead
    of 3(S*K + R) + 1 (every count is an exact integer, so the values equal
    :func:`counts_from_indicators` over the pairs listed one by one).
    Count columns: pair (s, k) at k*S + s (reference-major, so that averaging over the references
    adds contiguous slices), then the extra pairs.
    """

    indicators: np.ndarray
    n_truth: int
    n_pred: int

    @staticmethod
    def of(
        truth: np.ndarray,
        pred: np.ndarray,
        extra_truth: np.ndarray,
        extra_pred: np.ndarray,
        dtype: DTypeLike = np.float32,
    ) -> "CrossPairs":
        truth, pred = np.asarray(truth, dtype=bool), np.asarray(pred, dtype=bool)
        both = (truth[:, :, None] & pred[:, None, :]).reshape(truth.shape[0], -1)
        extra = pair_indicators(extra_truth, extra_pred, dtype=bool)
        return CrossPairs(
            np.concatenate([both, pred, truth, extra], axis=1).astype(dtype), truth.shape[1], pred.shape[1]
        )

    def counts(self, weights: np.ndarray) -> Counts:
        """TP, FP, FN, TN (each (B, S*K + R) float64) for every resample row of ``weights``."""
        return self._split(np.asarray(weights @ self.indicators, dtype=np.float64))

    def column_totals(self) -> np.ndarray:
        """The counts' columns summed over all studies (float64): what :meth:`leave_one_out_counts` needs."""
        return self.indicators.sum(axis=0, dtype=np.float64)

    def leave_one_out_counts(self, start: int, stop: int, totals: np.ndarray | None = None) -> Counts:
        """:meth:`counts` of the samples that leave out study i, for i in ``start..stop`` (the rows
        of the jackknife weights), without the matrix product: each is the column totals
        (:meth:`column_totals`) minus study i's row. Below :data:`EXACT_FLOAT32_COUNTS` studies every
        count is an exact integer either way, so the values equal :meth:`counts` bit for bit."""
        totals = self.column_totals() if totals is None else totals
        return self._split(totals - self.indicators[start:stop])

    def _split(self, stacked: np.ndarray) -> Counts:
        k, s = self.n_truth, self.n_pred
        crossed = s * k
        tp_x = stacked[:, :crossed]
        fp_x = np.tile(stacked[:, crossed : crossed + s], (1, k)) - tp_x
        fn_x = np.repeat(stacked[:, crossed + s : crossed + s + k], s, axis=1) - tp_x
        r = (stacked.shape[1] - crossed - s - k - 1) // 3
        extra = crossed + s + k
        tp = np.concatenate([tp_x, stacked[:, extra : extra + r]], axis=1)
        fp = np.concatenate([fp_x, stacked[:, extra + r : extra + 2 * r]], axis=1)
        fn = np.concatenate([fn_x, stacked[:, extra + 2 * r : extra + 3 * r]], axis=1)
        return tp, fp, fn, stacked[:, -1:] - tp - fp - fn


def confusion_counts(weights: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> Counts:
    """Weighted confusion counts for column pairs.

    ``weights``: (B, n) resample counts; ``truth`` and ``pred``: (n, K) 0/1 arrays whose k-th columns
    form the k-th pair. Returns TP, FP, FN, TN, each (B, K) float64. One matrix product for all.
    """
    return counts_from_indicators(weights, pair_indicators(truth, pred, dtype=weights.dtype))


#: Below this many studies, a float32 matrix product of 0/1 weights and 0/1 indicators is an exact
#: integer count (every partial sum is an integer below 2**24).
EXACT_FLOAT32_COUNTS = 2**24


#: Below this many studies, resample counts, mid-ranks and rank sums are exact in float32 (every
#: product and partial sum is a multiple of 1/2 below 2**23), which halves the memory traffic.
FLOAT32_EXACT_STUDIES = 2048


#: Rows of resamples processed together by :func:`auroc_weighted`: about this many elements per
#: block keeps the sorted weights and their running sums in the CPU cache (6x faster than whole
#: matrices at 10,000 x 1,199).
AUROC_BLOCK_ELEMENTS = 150_000

#: From this many resamples of integer counts on, :func:`auroc_weighted` sums ranks run by run over
#: all resamples at once (:mod:`mura_bench.stats.rank_sums`); below it, block by block.
RUNS_MIN_RESAMPLES = 1000


def _rank_sums(
    w_block: np.ndarray, order: np.ndarray, ties: "TieBlocks | None", truth_sorted: np.ndarray
) -> np.ndarray:
    """For a block of resamples: sum over studies of w_j y_j (midrank_j + (w_j - 1)/2), per truth column.

    (The caller subtracts the order-free sum of w_j y_j (w_j - 1)/2.) Untied studies: midrank_j =
    running_sum_j - (w_j - 1)/2. Tied studies get their block's shared mid-rank through a
    correction computed on the tied positions only.
    """
    # weights already in score order (the engine draws them so for one score column): no gather
    w_sorted = w_block if _is_identity(order) else np.take(w_block, order, axis=1)
    if w_sorted.dtype == np.int16:  # exact integer running sums: 2x faster than a float cumsum
        running = np.cumsum(w_sorted, axis=1, dtype=np.int32)
    else:
        running = np.cumsum(w_sorted, axis=1)
    if ties is not None:
        w_tied = w_sorted[:, ties.positions].astype(truth_sorted.dtype)
        run_tied = running[:, ties.positions].astype(truth_sorted.dtype)
    running *= w_sorted
    sums = running.astype(truth_sorted.dtype, copy=False) @ truth_sorted
    if ties is None:
        return sums
    return sums + tie_correction(w_tied, run_tied, ties, truth_sorted[ties.positions])


def _is_identity(order: np.ndarray) -> bool:
    """True when ``order`` is 0, 1, ..., n - 1 (checked once per order and remembered)."""
    key = id(order)
    cached = _IDENTITY.get(key)
    if cached is not None and cached[0] is order:
        return cached[1]
    result = bool(np.array_equal(order, np.arange(order.size)))
    if len(_IDENTITY) > 64:
        _IDENTITY.clear()
    _IDENTITY[key] = (order, result)
    return result


_IDENTITY: dict[int, tuple[np.ndarray, bool]] = {}


def tie_correction(w_tied: np.ndarray, run_tied: np.ndarray, ties: TieBlocks, truth_tied: np.ndarray) -> np.ndarray:
    """What tied scores add to the untied rank sums ``sum_j w_j y_j R_j``: each tied study takes
    its block's mid-rank instead of its own running weight. ``w_tied``, ``run_tied``: (B, T)
    weights and inclusive running weights at the tied positions; ``truth_tied``: (T, K)."""
    block_weight = np.add.reduceat(w_tied, ties.starts, axis=1)
    block_mid = run_tied[:, ties.ends] - (block_weight - 1) / 2
    correction = w_tied * (block_mid[:, ties.block_of] - run_tied + (w_tied - 1) / 2)
    return correction @ truth_tied


def auroc_weighted(
    weights: np.ndarray, truth: np.ndarray, scores: np.ndarray, ranking: ScoreRanking | None = None
) -> np.ndarray:
    """AUROC of each score column against each truth column, for every resample.

    ``weights`` (B, n) counts, ``truth`` (n,) or (n, K) 0/1, ``scores`` (n,) or (n, S). Mann-Whitney
    with mid-ranks: AUC = (R_pos - P(P+1)/2) / (P N), ties counted 1/2 (scikit-learn's definition
    with ``sample_weight``); rank sums of all K truth columns come from one matrix product per
    block of resamples. NaN where a resample holds one class only.
    Returns (B, S, K), dropping the S axis for 1-D scores and the K axis for 1-D truth.
    ``ranking``: ``ScoreRanking.of(scores)``, when the caller reuses it across calls.
    """
    truth = np.asarray(truth)
    scores = np.asarray(scores, dtype=np.float64)
    truth_cols = truth[:, None] if truth.ndim == 1 else truth
    ranking = ranking if ranking is not None else ScoreRanking.of(scores)
    n, b = truth_cols.shape[0], weights.shape[0]
    dtype = np.float32 if n < FLOAT32_EXACT_STUDIES else np.float64
    w = np.asarray(weights, dtype=dtype)
    y = truth_cols.astype(dtype)
    if dtype == np.float64 and weights.dtype == np.float32 and _float32_exact(weights):
        # integer counts whose sums stay below 2**24: the same exact sums in float32, half the traffic
        y32 = truth_cols.astype(np.float32)
        positives = np.asarray(weights @ y32, dtype=np.float64)
        self_ties = (np.asarray((weights * weights) @ y32, dtype=np.float64) - positives) / 2.0
    else:
        positives = np.asarray(w @ y, dtype=np.float64)  # (B, K), order-free
        self_ties = np.asarray((w * (w - 1)) @ y, dtype=np.float64) / 2.0  # (B, K)
    totals = np.asarray(w.sum(axis=1, keepdims=True), dtype=np.float64)  # (B, 1) resample weights
    negatives = totals - positives
    # Integer counts of fewer than 2048 studies: running sums and products in int16/int32 are exact
    # and their float32 image too (every value < 2**24).
    w_int = w.astype(np.int16) if dtype == np.float32 else None
    use_int = w_int is not None and np.array_equal(w_int, w)
    acc_dtype = runs_dtype(int(totals.max()), n) if use_int and b >= RUNS_MIN_RESAMPLES else None
    if acc_dtype is not None and w_int is not None:
        # Many resamples of integer counts: exact sums run by run over all resamples at once.
        rank_sum = (
            rank_sums_by_runs(
                np.ascontiguousarray(w_int.T, dtype=np.int32), y, ranking, 2.0 * self_ties + positives, acc_dtype
            )
            - self_ties[:, None, :]
        )
    else:
        rank_sum = _rank_sums_in_blocks(w_int if use_int and w_int is not None else w, ranking, y, self_ties)
    auc = _auc_of_rank_sums(rank_sum, positives[:, None, :], negatives[:, None, :])
    if truth.ndim == 1:
        auc = auc[:, :, 0]
    return auc[:, 0] if scores.ndim == 1 else auc


def _auc_of_rank_sums(rank_sum: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC from the positives' mid-rank sums and the class sizes (broadcast):
    ``(R_pos - P(P+1)/2) / (P N)``, NaN where a class is empty. The one last expression of
    :func:`auroc_weighted` and :class:`LeaveOneOutAuroc`, whose values are equal bit for bit."""
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
    auc[np.broadcast_to((pos == 0) | (neg == 0), auc.shape)] = np.nan
    return auc


def _float32_exact(weights: np.ndarray) -> bool:
    """True when ``weights`` are integer counts whose sums of squares per row stay below 2**24, so
    that float32 products and sums of them are exact."""
    if weights.size == 0:
        return True
    largest = float(weights.max())
    if not float(weights.shape[1]) * largest * largest < 2.0**24 or float(weights.min()) < 0:
        return False
    return not np.any(np.mod(weights, 1))


def _rank_sums_in_blocks(w: np.ndarray, ranking: ScoreRanking, y: np.ndarray, self_ties: np.ndarray) -> np.ndarray:
    """Rank sums (B, S, K) minus the self-ties, block of resamples by block (cache-sized blocks,
    never single resamples), one sort order gathered per block and score column."""
    b, n = w.shape
    rank_sum = np.empty((b, len(ranking.orders), y.shape[1]))
    block = max(16, AUROC_BLOCK_ELEMENTS // max(n, 1))
    for start in range(0, b, block):
        w_block = w[start : start + block]
        for s, order in enumerate(ranking.orders):
            rank_sum[start : start + block, s] = (
                _rank_sums(w_block, order, ranking.ties[s], y[order]) - self_ties[start : start + block]
            )
    return rank_sum


@dataclass(frozen=True)
class LeaveOneOutAuroc:
    """AUROC of each score column against each truth column on the samples that leave one study
    out (the jackknife), in O(n) per sample instead of the O(n) matrix row of weights per sample
    that :func:`auroc_weighted` reads (O(n^2) in all).

    Leaving study i out lowers by one the mid-rank of every study scored above it and by 1/2 that
    of every other study tied with it, so the positives' rank sum becomes
    ``R - y_i r_i - (positives above i) - (positives tied with i, i excluded) / 2``, with P - y_i
    positives among n - 1 studies. Every one of these numbers is a half-integer, exact in float64,
    as are the rank sums :func:`auroc_weighted` computes from the jackknife weights; both then go
    through the same last expression, so the values are equal bit for bit (tested).
    """

    truth: np.ndarray  # (n, K) float64 0/1
    positives: np.ndarray  # (K,) float64
    rank_sums: np.ndarray  # (S, K) float64: full-sample mid-rank sums of the positives
    positions: np.ndarray  # (S, n) int32: each study's position in column s's ascending order
    block_first: np.ndarray  # (S, n) int32, by position: first position of its tie block
    block_last: np.ndarray  # (S, n) int32, by position: last position of its tie block
    cumulative: np.ndarray  # (S, n + 1, K) int32: positives among the first p positions

    @staticmethod
    def of(truth: np.ndarray, ranking: ScoreRanking) -> "LeaveOneOutAuroc":
        """Prepared once for ``truth`` (n,) or (n, K) 0/1 and the score columns of ``ranking``."""
        truth = np.asarray(truth)
        y = (truth[:, None] if truth.ndim == 1 else truth).astype(np.float64)
        n = y.shape[0]
        positions, firsts, lasts, cumulative, rank_sums = [], [], [], [], []
        for order, ties in zip(ranking.orders, ranking.ties):
            first, last = np.arange(n, dtype=np.int32), np.arange(n, dtype=np.int32)
            if ties is not None:  # a tied position's block runs from its first to its last tied position
                first[ties.positions] = ties.positions[ties.starts[ties.block_of]]
                last[ties.positions] = ties.positions[ties.ends[ties.block_of]]
            position = np.empty(n, dtype=np.int32)
            position[order] = np.arange(n, dtype=np.int32)
            midrank = (first + last) / 2.0 + 1.0  # by position, 1-based
            cum = np.zeros((n + 1, y.shape[1]), dtype=np.int32)
            np.cumsum(y[order].astype(np.int32), axis=0, out=cum[1:])
            positions.append(position)
            firsts.append(first)
            lasts.append(last)
            cumulative.append(cum)
            rank_sums.append(midrank[position] @ y)
        return LeaveOneOutAuroc(
            y,
            y.sum(axis=0),
            np.array(rank_sums).reshape(len(ranking.orders), y.shape[1]),
            np.array(positions),
            np.array(firsts),
            np.array(lasts),
            np.array(cumulative),
        )

    def values(self, start: int, stop: int) -> np.ndarray:
        """(stop - start, S, K) AUROC of the samples leaving out study i, i in ``start..stop``:
        :func:`auroc_weighted` of those rows of the jackknife weights (NaN where one class is left)."""
        n = self.truth.shape[0]
        y_out = self.truth[start:stop]  # (m, K)
        pos = (self.positives - y_out)[:, None, :]  # (m, 1, K)
        neg = (n - 1.0) - pos
        rank_sum = np.empty((stop - start, self.rank_sums.shape[0], self.truth.shape[1]))
        for s in range(self.rank_sums.shape[0]):
            at = self.positions[s, start:stop]
            first, last = self.block_first[s, at], self.block_last[s, at]
            up_to_last = self.cumulative[s, last + 1].astype(np.float64)  # (m, K)
            above = self.positives - up_to_last
            tied_others = up_to_last - self.cumulative[s, first] - y_out
            midrank = ((first + last) / 2.0 + 1.0)[:, None]
            rank_sum[:, s] = self.rank_sums[s] - y_out * midrank - above - tied_others / 2.0
        return _auc_of_rank_sums(rank_sum, pos, neg)


# Scalar conveniences (one sample, unit weights) — the public, scikit-learn-like face of the module.


def _unit(n: int) -> np.ndarray:
    return np.ones((1, n), dtype=np.float64)


def metric_score(name: str, y_true: ArrayLike, y_pred_or_score: ArrayLike) -> float:
    """One metric on one sample: ``metric_score("f1", y_true, y_pred)``; a metric that needs
    probabilities (AUROC) takes scores."""
    spec = metric_spec(name)
    y_true = np.asarray(y_true)
    values = np.asarray(y_pred_or_score)
    if spec.needs_probabilities:
        return float(spec.function(_unit(y_true.size), y_true, values)[0])
    counts = confusion_counts(_unit(y_true.size), y_true, values)
    return float(spec.function(*counts)[0, 0])
