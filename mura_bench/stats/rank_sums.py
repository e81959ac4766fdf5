"""Weighted Mann-Whitney rank sums of many resamples at once, summed run by run.

For one score column in ascending (stable) order, integer resample weights ``w_j`` and a 0/1 truth
column ``y_j``, the rank sum that AUROC needs (before tied scores are corrected) is

    S = sum_j w_j y_j R_j,        R_j = w_1 + ... + w_j   (the running weight, inclusive).

Because ``w_j R_j = (R_j**2 - R_{j-1}**2 + w_j**2) / 2``,

    2 S = sum_j y_j w_j**2  +  sum_j d_j R_j**2,        d_j = y_j - y_{j+1}  (y_{n+1} = 0),

and ``d_j`` is non-zero only where the truth changes between neighbours in score order. The first
sum does not depend on the scores (the caller computes it once for every score column); the second
needs the running weight at the change points only. The running weight of *all* resamples grows
by one vector addition per study, with the resamples on the contiguous axis, so the work is one
pass over the (n, B) counts per score column, a square and an addition per change point, and no
sort, gather or matrix product per resample. All arithmetic is exact integer arithmetic, so the
sums equal the direct ones of :func:`mura_bench.stats.metrics._rank_sums` bit for bit (tests check it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TieBlocks:
    """Positions (in ascending-score order) of studies whose score is shared with another study,
    grouped into blocks of equal scores: ``positions`` (T,), block ``starts`` and ``ends`` as
    offsets into ``positions``, and ``block_of`` (T,) the block of each position."""

    positions: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    block_of: np.ndarray

    @staticmethod
    def of(sorted_scores: np.ndarray) -> "TieBlocks | None":
        equal_next = sorted_scores[1:] == sorted_scores[:-1]
        if not equal_next.any():
            return None
        tied = np.zeros(sorted_scores.size, dtype=bool)
        tied[1:] |= equal_next
        tied[:-1] |= equal_next
        positions = np.flatnonzero(tied)
        values = sorted_scores[positions]
        starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
        ends = np.r_[starts[1:], positions.size] - 1
        return TieBlocks(positions, starts, ends, np.repeat(np.arange(starts.size), ends - starts + 1))


@dataclass(frozen=True)
class ScoreRanking:
    """The sort order and tie blocks of each score column: what
    :func:`mura_bench.stats.metrics.auroc_weighted` needs of the scores, computed once and reusable
    for every block of resamples."""

    scores: np.ndarray  # (n, S) float64
    orders: list[np.ndarray]
    ties: list["TieBlocks | None"]

    @staticmethod
    def of(scores: np.ndarray) -> "ScoreRanking":
        scores = np.asarray(scores, dtype=np.float64)
        cols = scores[:, None] if scores.ndim == 1 else scores
        orders = [np.argsort(cols[:, s], kind="stable") for s in range(cols.shape[1])]
        return ScoreRanking(cols, orders, [TieBlocks.of(cols[o, s]) for s, o in enumerate(orders)])


def runs_dtype(total_weight: int, n: int):
    """The integer type in which the running sums, their squares and the signed sums of squares of
    ``n`` studies whose resamples weigh at most ``total_weight`` are exact: int32 where they fit,
    else int64, or None where not even int64 holds them (callers sum block by block then)."""
    bound = (n + 1) * total_weight**2
    if bound < 2**31:
        return np.int32
    return np.int64 if bound < 2**62 else None


def rank_sums_by_runs(
    counts_by_study: np.ndarray, truth: np.ndarray, ranking: ScoreRanking, weighted_squares: np.ndarray, acc_dtype
) -> np.ndarray:
    """Rank sums ``sum_j w_j y_j (midrank_j + (w_j - 1) / 2)`` of every resample, score column and
    truth column: (B, S, K) float64, as :func:`mura_bench.stats.metrics._rank_sums` gives them.

    ``counts_by_study``: (n, B) integer counts, study-major (each study's counts over the resamples
    contiguous); ``truth``: (n, K) 0/1; ``ranking``: the score columns' orders and tie blocks;
    ``weighted_squares``: (B, K) ``sum_j w_j**2 y_j`` (order-free, computed once by the caller);
    ``acc_dtype``: :func:`runs_dtype` of the largest resample weight.
    """
    b = counts_by_study.shape[1]
    y = np.asarray(truth, dtype=np.int8)
    columns = range(len(ranking.orders))

    # One thread: the loop is Python between short vector operations, and two such loops only
    # trade the GIL (slower than one); callers run it beside GIL-free work instead.
    doubled = [_column_rank_sums(counts_by_study, ranking.orders[s], ranking.ties[s], y, acc_dtype) for s in columns]
    out = np.empty((b, len(columns), y.shape[1]))
    for s, (twice, twice_correction) in enumerate(doubled):
        if twice_correction is not None:
            twice += twice_correction
        out[:, s] = (twice + weighted_squares) / 2.0  # exact: integers and halves below 2**52
    return out


#: What happens at a study, in score order, besides adding its counts to the running weight.
_ADD, _PLUS_SHARED, _MINUS_SHARED, _PER_COLUMN = 0, 1, 2, 3


def _column_rank_sums(
    counts_by_study: np.ndarray, order: np.ndarray, ties: TieBlocks | None, y: np.ndarray, acc_dtype
) -> tuple[np.ndarray, np.ndarray | None]:
    """For one score column: ``sum_j d_j R_j**2`` per (resample, truth column), (B, K) float64, and
    the tied-score correction (B, K) or None. One pass over the studies in score order."""
    n, b = counts_by_study.shape
    k = y.shape[1]
    y_sorted = y[order]
    change = y_sorted - np.concatenate([y_sorted[1:], np.zeros((1, k), dtype=np.int8)])
    shared = (change == change[:, :1]).all(axis=1)  # every truth column changes alike
    action = np.where(
        ~change.any(axis=1),
        _ADD,
        np.where(shared, np.where(change[:, 0] > 0, _PLUS_SHARED, _MINUS_SHARED), _PER_COLUMN),
    )
    tied_at = [] if ties is None else ties.positions.tolist()
    run_tied = np.empty((len(tied_at), b), dtype=acc_dtype)
    running = np.zeros(b, dtype=acc_dtype)
    square = np.empty(b, dtype=acc_dtype)
    acc = np.zeros((k + 1, b), dtype=acc_dtype)  # one row per truth column, then the shared row
    shared_acc = acc[k]
    add, subtract, multiply = np.add, np.subtract, np.multiply
    rows = [counts_by_study[study] for study in order.tolist()]
    next_tie = tied_at[0] if tied_at else -1
    at_tie = 0
    for j, (row, act) in enumerate(zip(rows, action.tolist())):  # resamples vectorised
        add(running, row, out=running)
        if j == next_tie:
            run_tied[at_tie] = running
            at_tie += 1
            next_tie = tied_at[at_tie] if at_tie < len(tied_at) else -1
        if act == _ADD:
            continue
        multiply(running, running, out=square)
        if act == _PLUS_SHARED:
            add(shared_acc, square, out=shared_acc)
        elif act == _MINUS_SHARED:
            subtract(shared_acc, square, out=shared_acc)
        else:
            for c, v in enumerate(change[j].tolist()):
                if v:
                    (add if v > 0 else subtract)(acc[c], square, out=acc[c])
    twice = (acc[:k] + shared_acc).T.astype(np.float64)
    if ties is None:
        return twice, None
    return twice, _twice_tie_correction(
        counts_by_study[order[ties.positions]], run_tied, ties, y_sorted[ties.positions]
    )


def _twice_tie_correction(w_tied: np.ndarray, run_tied: np.ndarray, ties: TieBlocks, y_tied: np.ndarray) -> np.ndarray:
    """Twice what tied scores add to ``sum_j w_j y_j R_j``, (B, K) float64. A tied study's term is
    ``w_j (mid + (w_j - 1) / 2)`` with its block's mid-rank ``mid = R_before + (W_block + 1) / 2``
    instead of ``w_j R_j``; twice the difference is ``w_j (R_before + R_end - 2 R_j + w_j)``.
    ``w_tied``, ``run_tied``: (T, B) weights and running weights at the tied positions (study-major);
    ``y_tied``: (T, K). Integer arithmetic, then one exact float64 product."""
    w = w_tied.astype(run_tied.dtype)
    end = run_tied[ties.ends][ties.block_of]  # R_end of each tied study's block
    first = ties.starts[ties.block_of]
    before = run_tied[first] - w[first]  # R_before: the block's first study
    twice = w * (before + end - 2 * run_tied + w)
    return (y_tied.T.astype(np.float64) @ twice.astype(np.float64)).T
