"""Threshold analysis of study probabilities, vectorised over bootstrap resamples.

A study is *called abnormal* at threshold t iff p > t, so the studies it *clears* (calls normal)
are those with p <= t. The candidate thresholds are -inf (nothing cleared) and the distinct study
probabilities; in ascending-probability order, candidate c clears the first ``candidates[c]``
studies (a whole block of tied probabilities at once).

Every function takes a matrix of resample weights (rows = resamples, the original sample being a
row of ones) and returns one value per row; the model is compared with K reference label vectors
(leave-one-out: one per left-out reader) and its rates are the means over the references, with the
conventions of :mod:`mura_bench.stats.metrics` (a rate whose denominator is 0 is 1.0).

Searches compare with a tolerance of :data:`TOLERANCE`, so a rate that equals the target up to
rounding counts as reaching it (4/5 reaches a target of 0.8 however both were computed).

Speed: the searches need one cumulative sum per resample row, over the studies that can move the
rate (abnormal ones for sensitivity, normal ones for specificity), of ``w_j * (y_j . v)`` with ``v``
the per-row weight of each reference (``1 / (K * P_k)``); counts at the chosen thresholds are exact
integer sums from one masked matrix product. :func:`locate_sensitivity` can restrict the search to
a window of candidates around the original sample's answer (rows whose answer may fall outside it
are recomputed in full), which is what makes the analysis of many submissions cheap; the results do
not depend on the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mura_bench.stats.metrics import precision_from_counts, sensitivity_from_counts, specificity_from_counts

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
        return SortedGroup(order, p_sorted, np.ascontiguousarray(refs[order]), candidates.astype(np.int64), thresholds)

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
        return Window(
            0, np.take(weights, group.order, axis=1), Cleared(np.zeros(b), np.zeros((b, group.references.shape[1])))
        )

    @staticmethod
    def between(
        weights: np.ndarray, group: SortedGroup, start: int, stop: int, prefix: Cleared | None = None
    ) -> "Window":
        """Sorted positions [start, stop); ``prefix`` may be given when computed in a batch
        (:func:`prefix_counts`)."""
        if prefix is None:
            prefix = prefix_counts(weights, [group], [start])[0]
        return Window(start, np.take(weights, group.order[start:stop], axis=1), prefix)


@dataclass(frozen=True)
class Running:
    """Running weighted sums along the sorted order of a full window, for every row: the sums over
    the first c sorted studies of ``w_bj * f_j`` for the features ``[1, p, y_1 .. y_K]``
    (:func:`features_of`), read with :meth:`at`. Counts read from it are exact integers; every
    per-row position (t*, bin edges) is one gather.

    References mostly agree (leave-one-out majorities differ only on closely split studies), so
    ``y_k = y_1 + d_k`` is stored as the running sums of ``[1, p, y_1]`` (``dense``, (3, B, n + 1))
    and those of the differences ``d_k`` over the studies where some reference differs from the first
    (``sparse``, (K, B, c + 1); ``contested`` their sorted positions). One cumulative sum per
    feature, the K - 1 difference features only over the contested studies."""

    dense: np.ndarray
    sparse: np.ndarray
    contested: np.ndarray

    @staticmethod
    def of(window: Window, group: SortedGroup) -> "Running":
        if window.start != 0 or window.weights.shape[1] != group.size:
            raise ValueError("running sums need the full window")
        w = np.asarray(window.weights, dtype=np.float64)
        b, n = w.shape
        refs = group.references
        dense = np.empty((3, b, n + 1))
        dense[:, :, 0] = 0.0
        np.cumsum(w, axis=1, out=dense[0, :, 1:])
        for f, column in ((1, group.probabilities), (2, refs[:, 0])):
            np.cumsum(w * column, axis=1, out=dense[f, :, 1:])
        contested = np.flatnonzero((refs != refs[:, :1]).any(axis=1))
        diffs = refs[contested] - refs[contested, :1]
        sparse = np.zeros((refs.shape[1], b, contested.size + 1))
        w_contested = w[:, contested]
        for k in range(1, refs.shape[1]):
            np.cumsum(w_contested * diffs[:, k], axis=1, out=sparse[k, :, 1:])
        return Running(dense, sparse, contested)

    def at(self, cleared) -> np.ndarray:
        """(B, 2 + K): the sums over the first ``cleared[b]`` studies of row b (or one number for all)."""
        b = self.dense.shape[1]
        rows = np.arange(b)
        cleared = np.broadcast_to(np.asarray(cleared, dtype=np.int64), (b,))
        dense = self.dense[:, rows, cleared]  # (3, B)
        before = np.searchsorted(self.contested, cleared, side="left")
        labels = dense[2][None, :] + self.sparse[:, rows, before]  # (K, B)
        return np.concatenate([dense[:2], labels]).T

    def at_each(self, cleared: np.ndarray) -> np.ndarray:
        """(B, E, 2 + K): :meth:`at` for E positions per row at once (``cleared`` (B, E)), the
        same sums element for element."""
        rows = np.arange(self.dense.shape[1])[:, None]
        cleared = np.asarray(cleared, dtype=np.int64)
        dense = self.dense[:, rows, cleared]  # (3, B, E)
        before = np.searchsorted(self.contested, cleared, side="left")
        labels = dense[2][None] + self.sparse[:, rows, before]  # (K, B, E)
        return np.concatenate([dense[:2], labels]).transpose(1, 2, 0)

    def counts(self, cleared) -> Cleared:
        sums = self.at(cleared)
        return Cleared(sums[:, 0], sums[:, 2:])


def features_of(group: SortedGroup) -> np.ndarray:
    """(n, 2 + K) sorted features ``[1, p, y_1 .. y_K]``."""
    return np.concatenate([np.ones((group.size, 1)), group.probabilities[:, None], group.references], axis=1)


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
        out.append(Cleared(counts[:, at], counts[:, at + 1 : at + width]))
        at += width
    return out


def masked_sums(window: Window, features: np.ndarray, cleared, *, counts: bool = False) -> np.ndarray:
    """Per row b, the weighted sums of ``features`` (n, F; sorted order) over the first
    ``cleared[b]`` sorted studies, which must lie in the window (the window's prefix is not added).
    ``cleared``: (B,) or one number. One masked matrix product per block: (B, F). ``counts``: the
    features are 0/1, so sums stay in the weights' dtype (exact integers) instead of float64."""
    w = window.weights
    b, cols = w.shape
    local = np.broadcast_to(np.asarray(cleared, dtype=np.int64) - window.start, (b,))
    dtype = w.dtype if counts else np.float64
    features = np.asarray(features[window.start : window.start + cols], dtype=dtype)
    out = np.empty((b, features.shape[1]))
    positions = np.arange(cols)
    for rows in rows_in_blocks(b, cols):
        masked = np.where(positions[None, :] < local[rows, None], w[rows], np.zeros((), dtype))
        out[rows] = masked.astype(dtype, copy=False) @ features
    return out


def cleared_counts(window: Window, group: SortedGroup, cleared) -> Cleared:
    """Exact counts when the first ``cleared[b]`` sorted studies of row b are cleared (each
    ``cleared[b]`` within the window). ``cleared``: (B,) or one number (a fixed threshold)."""
    features = np.concatenate([np.ones((group.size, 1)), group.references], axis=1)
    sums = masked_sums(window, features, cleared, counts=True)
    return Cleared(sums[:, 0] + window.prefix.studies, sums[:, 1:] + window.prefix.missed)


def _reference_weights(totals: Totals, which: str) -> tuple[np.ndarray, np.ndarray]:
    """(v (B, K), base (B,)): the weight of each reference's missed count in the mean rate, and the
    share of references whose denominator is 0 (their rate is 1.0 whatever the threshold)."""
    k = totals.positives.shape[1]
    count = totals.positives if which == "sensitivity" else totals.negatives
    v = np.zeros_like(count)
    np.divide(1.0, k * count, out=v, where=count > 0)
    return v, (count == 0).sum(axis=1) / k


def _crossing(
    window: Window, labels: np.ndarray, coef: np.ndarray, start_value: np.ndarray, limit: np.ndarray, strict: bool
) -> np.ndarray:
    """Per row, the sorted position of the first study of the window at which the running sum
    ``start_value + sum_j w_j (labels_j . coef)`` passes ``limit`` (``>`` if ``strict``, else ``>=``);
    -1 when ``start_value`` already does, the window's end when no study does.

    Only studies with a nonzero label can move the sum, so only their columns are summed: one
    cumulative sum per row over them. ``labels`` (n, K) sorted; ``coef`` (B, K)."""
    stop = window.start + window.weights.shape[1]
    local = labels[window.start : stop]
    moving = np.flatnonzero(local.any(axis=1))
    weights = window.weights[:, moving]
    rows_all = np.arange(weights.shape[0])
    out = np.full(weights.shape[0], stop, dtype=np.int64)
    room = limit - start_value
    for rows in rows_in_blocks(weights.shape[0], moving.size) if moving.size else ():
        running = coef[rows] @ local[moving].T
        np.multiply(running, weights[rows], out=running)
        np.cumsum(running, axis=1, out=running)
        hit = (running > room[rows, None]) if strict else (running >= room[rows, None])
        first = np.argmax(hit, axis=1)
        found = hit[rows_all[: first.size], first]
        out[rows] = np.where(found, window.start + moving[first], stop)
    out[(start_value > limit) if strict else (start_value >= limit)] = -1
    return out


@dataclass(frozen=True)
class Located:
    """The chosen candidate per row (index into ``group.candidates``) and the exact counts there."""

    index: np.ndarray
    counts: Cleared


def locate_sensitivity(
    weights: np.ndarray,
    group: SortedGroup,
    totals: Totals,
    target: np.ndarray,
    window: Window | None = None,
    running: Running | None = None,
) -> Located:
    """t* per row: the largest candidate whose mean sensitivity reaches ``target`` (B,).

    Mean sensitivity = 1 - sum_k missed_k / (K P_k) (a reference without abnormal studies counts
    1.0), so t* is the last candidate before the first abnormal study whose clearing would push the
    missed share past 1 - target. ``weights`` (B, n) are in the group's row order. With a narrow
    ``window``, rows whose answer may lie outside it are recomputed on the full sorted order, so
    the result never depends on the window.
    """
    if window is None:
        window = Window.full(weights, group)
    target = np.asarray(target, dtype=np.float64)
    v, _ = _reference_weights(totals, "sensitivity")
    stop = window.start + window.weights.shape[1]
    pos = _crossing(
        window, group.references, v, (window.prefix.missed * v).sum(axis=1), 1.0 - target + TOLERANCE, strict=True
    )
    index = np.searchsorted(group.candidates, pos, side="right") - 1
    unsure = (pos < 0) | ((pos == stop) & (stop < group.size))
    chosen = group.candidates[np.maximum(index, 0)]
    counts = running.counts(chosen) if running is not None else cleared_counts(window, group, chosen)
    if unsure.any() and (window.start > 0 or stop < group.size):
        rows = np.flatnonzero(unsure)
        sub_totals = Totals(totals.weight[rows], totals.positives[rows], totals.negatives[rows])
        redo = locate_sensitivity(weights[rows], group, sub_totals, target[rows])
        index[rows] = redo.index
        counts.studies[rows] = redo.counts.studies
        counts.missed[rows] = redo.counts.missed
    return Located(index, counts)


def locate_specificity(
    window: Window, group: SortedGroup, totals: Totals, target: np.ndarray, running: Running | None = None
) -> Located:
    """Per row, the smallest candidate whose mean specificity reaches ``target`` (full window):
    the most sensitive operating point at least as specific as the target."""
    u, base = _reference_weights(totals, "specificity")
    start = base + ((window.prefix.studies[:, None] - window.prefix.missed) * u).sum(axis=1)
    pos = _crossing(
        window, 1.0 - group.references, u, start, np.asarray(target, dtype=np.float64) - TOLERANCE, strict=False
    )
    index = np.minimum(np.searchsorted(group.candidates, pos + 1, side="left"), group.candidates.size - 1)
    chosen = group.candidates[index]
    return Located(index, running.counts(chosen) if running is not None else cleared_counts(window, group, chosen))


def sensitivity_at_candidates(group: SortedGroup) -> np.ndarray:
    """Mean sensitivity of the original sample at every candidate (C,)."""
    missed = np.concatenate([np.zeros((1, group.references.shape[1])), np.cumsum(group.references, axis=0)])
    positives = group.references.sum(axis=0)
    sens = np.ones((group.candidates.size, positives.size))
    np.divide(positives - missed[group.candidates], positives, out=sens, where=positives > 0)
    return sens.mean(axis=1)
