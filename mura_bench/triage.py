"""Threshold analysis of study probabilities, vectorised over bootstrap resamples.

A study is *called abnormal* at threshold t iff p > t, so the studies it *clears* (calls normal)
are those with p <= t. The candidate thresholds are -inf (nothing cleared) and the distinct study
probabilities; in ascending-probability order, candidate c clears the first ``candidates[c]``
studies (a whole block of tied probabilities at once).

Every function takes a matrix of resample weights (rows = resamples, the original sample being a
row of ones) and returns one value per row; the model is compared with K reference label vectors
(leave-one-out: one per left-out reader) and its rates are the means over the references, with the
conventions of :mod:`mura_bench.metrics` (a rate whose denominator is 0 is 1.0).

Searches compare with a tolerance of :data:`TOLERANCE`, so a rate that equals the target up to
rounding counts as reaching it (4/5 reaches a target of 0.8 however both were computed).

Speed: rates at *all* candidates come from one cumulative sum per resample row of
``w_j * (y_j . v)``, with ``v`` the per-row weight of each reference (``1 / (K * P_k)``); counts at the
chosen thresholds are exact integer sums from one masked matrix product. :func:`locate_target`
can restrict the cumulative sums to a window of candidates around the original sample's answer
(rows whose answer falls outside it are recomputed in full), which is what makes the analysis of
many submissions cheap; the results do not depend on the window.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mura_bench.metrics import precision_from_counts, sensitivity_from_counts, specificity_from_counts

#: Rates within this distance of a target count as reaching it (absorbs rounding only).
TOLERANCE = 1e-10
#: Resample rows per block: keeps the per-block temporaries (rows x studies) near the CPU cache.
BLOCK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class SortedGroup:
    """The studies of one group in ascending-probability order (stable for ties).

    ``order`` (n,) maps sorted positions to the group's rows; ``probabilities`` (n,) and
    ``references`` (n, K float64) are sorted the same way. ``candidates`` (m + 1,) holds the number
    of studies cleared at each candidate threshold, ``thresholds`` (m + 1,) the thresholds themselves
    (-inf, then the m distinct probabilities, ascending).
    """

    order: np.ndarray
    probabilities: np.ndarray
    references: np.ndarray
    candidates: np.ndarray
    thresholds: np.ndarray

    @staticmethod
    def of(probabilities: np.ndarray, references: np.ndarray) -> "SortedGroup":
        p = np.asarray(probabilities, dtype=np.float64)
        refs = np.asarray(references, dtype=np.float64)
        refs = refs[:, None] if refs.ndim == 1 else refs
        order = np.argsort(p, kind="stable")
        p_sorted = p[order]
        block_ends = np.flatnonzero(p_sorted[1:] != p_sorted[:-1]) + 1
        candidates = np.concatenate([[0], block_ends, [p.size]]) if p.size else np.zeros(1, np.int64)
        thresholds = np.concatenate([[-np.inf], p_sorted[candidates[1:] - 1]])
        return SortedGroup(order, p_sorted, np.ascontiguousarray(refs[order]), candidates.astype(np.int64),
                           thresholds)

    @property
    def size(self) -> int:
        return int(self.probabilities.size)

    def cleared_at(self, threshold: float) -> int:
        """Number of studies cleared (p <= threshold) at a fixed threshold."""
        return int(np.searchsorted(self.probabilities, threshold, side="right"))


@dataclass(frozen=True)
class Totals:
    """Per resample row: total weight (B,), weight of abnormal (B, K) and normal (B, K) studies
    under each reference."""

    weight: np.ndarray
    positives: np.ndarray
    negatives: np.ndarray

    @staticmethod
    def of(weights: np.ndarray, references: np.ndarray) -> "Totals":
        """``weights`` (B, n) and ``references`` (n, K) with their studies in the same order."""
        weight = weights.sum(axis=1, dtype=np.float64)
        positives = np.asarray(weights @ np.asarray(references, dtype=weights.dtype), dtype=np.float64)
        return Totals(weight, positives, weight[:, None] - positives)


@dataclass(frozen=True)
class Cleared:
    """Counts at one chosen threshold per resample row: ``studies`` (B,) cleared weight and
    ``missed`` (B, K) the cleared weight of abnormal studies under each reference."""

    studies: np.ndarray
    missed: np.ndarray

    def sensitivity(self, totals: Totals) -> np.ndarray:
        """Mean over references of TP / (TP + FN)."""
        tp = totals.positives - self.missed
        return sensitivity_from_counts(tp, None, self.missed, None).mean(axis=1)

    def specificity(self, totals: Totals) -> np.ndarray:
        """Mean over references of TN / (TN + FP)."""
        tn = self.studies[:, None] - self.missed
        return specificity_from_counts(None, totals.negatives - tn, None, tn).mean(axis=1)

    def ppv(self, totals: Totals) -> np.ndarray:
        """Mean over references of TP / (TP + FP) (1.0 when nothing is called abnormal)."""
        tp = totals.positives - self.missed
        fp = (totals.weight - self.studies)[:, None] - tp
        return precision_from_counts(tp, fp, None, None).mean(axis=1)

    def npv(self, totals: Totals) -> np.ndarray:
        """Mean over references of TN / (TN + FN) (1.0 when nothing is cleared)."""
        tn = self.studies[:, None] - self.missed
        return precision_from_counts(tn, self.missed, None, None).mean(axis=1)


def rows_in_blocks(n_rows: int, n_cols: int) -> list[slice]:
    """Slices of resample rows sized so that a (rows x n_cols) temporary stays small."""
    step = max(16, BLOCK_ELEMENTS // max(n_cols, 1))
    return [slice(i, min(i + step, n_rows)) for i in range(0, n_rows, step)]


@dataclass(frozen=True)
class Window:
    """Sorted positions ``start .. start + L - 1`` of a group for every resample row: their weights
    (B, L) and the exact counts of the studies before ``start`` (``prefix``). The full window
    (start 0, all columns) is what a single analysis uses; narrow ones serve many submissions."""

    start: int
    weights: np.ndarray
    prefix: Cleared

    @staticmethod
    def full(weights: np.ndarray, group: SortedGroup) -> "Window":
        b = weights.shape[0]
        return Window(0, np.take(weights, group.order, axis=1),
                      Cleared(np.zeros(b), np.zeros((b, group.references.shape[1]))))

    @staticmethod
    def between(weights: np.ndarray, group: SortedGroup, start: int, stop: int,
                prefix: Cleared | None = None) -> "Window":
        """Sorted positions [start, stop); ``prefix`` may be given when computed in a batch
        (:func:`prefix_counts`)."""
        if prefix is None:
            prefix = prefix_counts(weights, [group], [start])[0]
        return Window(start, np.take(weights, group.order[start:stop], axis=1), prefix)

    def rows(self, rows) -> "Window":
        return Window(self.start, self.weights[rows], Cleared(self.prefix.studies[rows], self.prefix.missed[rows]))


def prefix_counts(weights: np.ndarray, groups: list[SortedGroup], starts: list[int]) -> list[Cleared]:
    """Exact counts of the first ``starts[i]`` sorted studies of ``groups[i]`` (all sharing the
    columns of ``weights``), for every row: one matrix product for all groups."""
    n = weights.shape[1]
    columns = []
    for group, start in zip(groups, starts):
        before = np.zeros((n, 1 + group.references.shape[1]))
        rows = group.order[:start]
        before[rows, 0] = 1.0
        before[rows, 1:] = group.references[:start]
        columns.append(before)
    if not columns:
        return []
    counts = np.asarray(weights @ np.concatenate(columns, axis=1).astype(weights.dtype), dtype=np.float64)
    out, at = [], 0
    for block in columns:
        width = block.shape[1]
        out.append(Cleared(counts[:, at], counts[:, at + 1:at + width]))
        at += width
    return out


def masked_sums(window: Window, features: np.ndarray, cleared) -> np.ndarray:
    """Per row b, the weighted sums of ``features`` (n, F; sorted order) over the first
    ``cleared[b]`` sorted studies, which must lie in the window (the window's prefix is not added).
    ``cleared``: (B,) or one number. One masked matrix product per block: (B, F)."""
    w = window.weights
    b, cols = w.shape
    local = np.broadcast_to(np.asarray(cleared, dtype=np.int64) - window.start, (b,))
    features = np.asarray(features[window.start:window.start + cols], dtype=np.float64)
    out = np.empty((b, features.shape[1]))
    positions = np.arange(cols)
    for rows in rows_in_blocks(b, cols):
        masked = np.where(positions[None, :] < local[rows, None], w[rows], 0).astype(np.float64)
        out[rows] = masked @ features
    return out


def cleared_counts(window: Window, group: SortedGroup, cleared) -> Cleared:
    """Exact counts when the first ``cleared[b]`` sorted studies of row b are cleared (each
    ``cleared[b]`` within the window). ``cleared``: (B,) or one number (a fixed threshold)."""
    features = np.concatenate([np.ones((group.size, 1)), group.references], axis=1)
    sums = masked_sums(window, features, cleared)
    return Cleared(sums[:, 0] + window.prefix.studies, sums[:, 1:] + window.prefix.missed)


def _reference_weights(totals: Totals, which: str) -> tuple[np.ndarray, np.ndarray]:
    """(v (B, K), base (B,)): the weight of each reference's missed count in the mean rate, and the
    share of references whose denominator is 0 (their rate is 1.0 whatever the threshold)."""
    k = totals.positives.shape[1]
    count = totals.positives if which == "sensitivity" else totals.negatives
    v = np.zeros_like(count)
    np.divide(1.0, k * count, out=v, where=count > 0)
    return v, (count == 0).sum(axis=1) / k


def window_candidates(window: Window, group: SortedGroup) -> np.ndarray:
    """Indices (into ``group.candidates``) of the candidates whose cleared count lies in the window."""
    stop = window.start + window.weights.shape[1]
    return np.flatnonzero((group.candidates >= window.start) & (group.candidates <= stop))


def rate_curve(window: Window, group: SortedGroup, totals: Totals, which: str) -> np.ndarray:
    """Mean sensitivity or specificity (``which``) at every candidate of the window, for every
    row: (B, C) for the C candidates of :func:`window_candidates`.

    sensitivity = 1 - sum_k missed_k / (K P_k); specificity = sum_k (cleared - missed_k) / (K N_k);
    a reference whose denominator is 0 contributes 1 / K. One cumulative sum per row.
    """
    v, base = _reference_weights(totals, which)
    w = window.weights
    b, cols = w.shape
    refs = group.references[window.start:window.start + cols]
    local = group.candidates[window_candidates(window, group)] - window.start
    prefix_missed = (window.prefix.missed * v).sum(axis=1)
    out = np.empty((b, local.size))
    for rows in rows_in_blocks(b, cols):
        wb = w[rows].astype(np.float64)
        running = np.zeros((wb.shape[0], cols + 1))
        np.cumsum(wb * (v[rows] @ refs.T), axis=1, out=running[:, 1:])
        missed = running[:, local] + prefix_missed[rows, None]
        if which == "sensitivity":
            out[rows] = 1.0 - missed
            continue
        np.cumsum(wb, axis=1, out=running[:, 1:])
        cleared = running[:, local] + window.prefix.studies[rows, None]
        out[rows] = base[rows, None] + cleared * v[rows].sum(axis=1)[:, None] - missed
    return out


def largest_reaching(curve: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Index of the last column of each row with ``curve >= target - TOLERANCE`` (-1 if none)."""
    ok = curve >= (np.asarray(target, dtype=np.float64) - TOLERANCE)[:, None]
    last = curve.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1)
    return np.where(ok.any(axis=1), last, -1)


def smallest_reaching(curve: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Index of the first column of each row with ``curve >= target - TOLERANCE`` (C if none)."""
    ok = curve >= (np.asarray(target, dtype=np.float64) - TOLERANCE)[:, None]
    return np.where(ok.any(axis=1), np.argmax(ok, axis=1), curve.shape[1])


@dataclass(frozen=True)
class Located:
    """The chosen candidate per row (index into ``group.candidates``) and the exact counts there."""

    index: np.ndarray
    counts: Cleared


def locate_sensitivity(weights: np.ndarray, group: SortedGroup, totals: Totals, target: np.ndarray,
                       window: Window | None = None) -> Located:
    """t* per row: the largest candidate whose mean sensitivity reaches ``target`` (B,).

    ``weights`` (B, n) are in the group's row order. With a narrow ``window``, rows whose answer
    may lie outside it (its first candidate misses the target, or its last one reaches it) are
    recomputed on the full sorted order, so the result never depends on the window.
    """
    last = group.candidates.size - 1
    if window is None:
        window = Window.full(weights, group)
    cand = window_candidates(window, group)
    local = largest_reaching(rate_curve(window, group, totals, "sensitivity"), target)
    index = cand[0] + local
    unsure = (local < 0) | ((local == cand.size - 1) & (cand[-1] != last))
    counts = cleared_counts(window, group, group.candidates[np.maximum(index, 0)])
    if unsure.any() and (window.start > 0 or cand[-1] != last):
        rows = np.flatnonzero(unsure)
        sub_totals = Totals(totals.weight[rows], totals.positives[rows], totals.negatives[rows])
        redo = locate_sensitivity(weights[rows], group, sub_totals, np.asarray(target)[rows])
        index[rows] = redo.index
        counts.studies[rows] = redo.counts.studies
        counts.missed[rows] = redo.counts.missed
    return Located(index, counts)


def locate_specificity(window: Window, group: SortedGroup, totals: Totals, target: np.ndarray) -> Located:
    """Per row, the smallest candidate whose mean specificity reaches ``target`` (full window):
    the most sensitive operating point at least as specific as the target."""
    index = smallest_reaching(rate_curve(window, group, totals, "specificity"), target)
    index = np.minimum(index, group.candidates.size - 1)
    return Located(index, cleared_counts(window, group, group.candidates[index]))
