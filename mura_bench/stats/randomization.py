"""Paired randomization tests: model against radiologists, and model against model.

**Model - radiologists** (:func:`model_vs_readers_p_values`). Under the null hypothesis the model is
one more rater, exchangeable with the readers. Each permutation treats every study independently:
one rater is drawn uniformly from the R = J + 1 raters (the model and the J scored readers; drawing
the model leaves the study unchanged) and the model's read is exchanged with that rater's. Every
reference that depends on the readers is then rebuilt from the permuted reads (leave-one-out:
reference i = majority of the permuted readers other than i; a gold-panel reference is not a scored
reader and stays) and the model - radiologists difference is recomputed exactly as the scorer
computes it. Swapping per (study, reader) or keeping the references fixed does not hold the size
under the leave-one-out protocol; this scheme does.

**Model - model** (:func:`pairwise_p_values`): one fair coin per study exchanges the two models'
reads; the references (readers) stay.

Draws: group g (its index in :data:`mura_bench.data.layout.GROUPS`) uses
``rng = np.random.default_rng([seed, g, 1])`` and ``rng.integers(0, R, size=(P, n), dtype=np.uint8)``
over the group's studies in sorted-id order (R = 2 for model - model), so a run is reproducible and
separate from the bootstrap resamples. Two-sided p = (1 + #{|d*| >= |d| - 1e-12}) / (P + 1).

Speed: a study's contribution to every confusion count after a swap depends only on its pattern of
reads (model, readers, references) and on the drawn rater, so each permutation is a histogram of
(pattern, rater) pairs, and all confusion counts of all permutations are one matrix product of
that histogram with a small table of indicators. No Python loop runs over permutations.
"""

from __future__ import annotations

import numpy as np

from mura_bench.stats.bootstrap import indices_to_counts
from mura_bench.stats.metrics import COUNT_METRICS, counts_from_indicators, pair_indicators
from mura_bench.stats.protocols import Plan, leave_one_out_references

TESTS: tuple[str, ...] = ("ci", "randomization")
ADJUSTMENTS: tuple[str, ...] = ("none", "holm")
#: Significance level at the default confidence 0.95 (every test uses 1 - confidence).
ALPHA = 0.05
#: Absolute tolerance of the two-sided comparison |d*| >= |d| - TOLERANCE.
TOLERANCE = 1e-12
#: Upper bound of the number of permutations (the draws come in blocks, so memory does not grow with
#: P x n; time does).
MAX_PERMUTATIONS = 1_000_000
#: Permutations per block: keeps the (block x patterns) histogram in cache; fewer where the block's
#: draws (block x studies) would pass :data:`DRAW_BLOCK_CELLS`.
BLOCK = 1024


def _rows(n: int) -> int:
    return max(1, min(BLOCK, DRAW_BLOCK_CELLS // max(n, 1)))


def draw_raters(n: int, permutations: int, raters: int, seed: int, group: int) -> np.ndarray:
    """(P, n) uint8: the rater each study's model read is exchanged with (0 = the model itself)."""
    rng = np.random.default_rng([seed, group, 1])
    return rng.integers(0, raters, size=(permutations, n), dtype=np.uint8)


#: Cells (permutations x studies) of one block of :func:`rater_blocks`.
DRAW_BLOCK_CELLS = 1 << 21


def rater_blocks(n: int, permutations: int, raters: int, seed: int, group: int, rows: int | None = None):
    """The rows of :func:`draw_raters` in consecutive blocks ``(start, drawn)`` of ``rows``
    permutations (default: about :data:`DRAW_BLOCK_CELLS` cells), in bounded memory.

    numpy draws small bounded integers from a buffer of random bytes that it discards at the end of
    each call, so drawing block by block with ``integers`` would change the draws; this reproduces
    the single call instead (:class:`_BoundedBytes`), value for value."""
    rows = max(1, DRAW_BLOCK_CELLS // max(n, 1)) if rows is None else max(1, int(rows))
    stream = _BoundedBytes(np.random.default_rng([seed, group, 1]), raters)
    for start in range(0, permutations, rows):
        m = min(rows, permutations - start)
        yield start, stream.take(m * n).reshape(m, n)


class _BoundedBytes:
    """``rng.integers(0, R, size=N, dtype=np.uint8)`` of a fresh generator, taken in pieces.

    What numpy does for it (Lemire's method on bytes): the 32-bit words of the bit generator (the
    low, then the high half of each 64-bit output) are cut into bytes, lowest first; a byte x gives
    ``m = x * R``, accepted when ``m mod 256 >= (256 - R) mod R`` (else the next byte is tried),
    and the value is ``m >> 8``. Here the 64-bit outputs come from ``bit_generator.random_raw``,
    accepted values not yet used are carried to the next piece. Checked against numpy's single
    call in the tests."""

    def __init__(self, rng: np.random.Generator, raters: int) -> None:
        if not 1 <= raters <= 256:
            raise ValueError("raters must lie in 1..256")
        self.bit_generator = rng.bit_generator
        self.raters = raters
        self.threshold = (256 - raters) % raters
        self.carry = np.empty(0, dtype=np.uint8)

    def take(self, count: int) -> np.ndarray:
        if self.raters == 1:  # numpy draws nothing for a single value
            return np.zeros(count, dtype=np.uint8)
        pieces, have = [self.carry], self.carry.size
        accept_rate = 1.0 - self.threshold / 256.0
        while have < count:
            words = int((count - have) / accept_rate / 8 * 1.01) + 2
            raw = np.asarray(self.bit_generator.random_raw(words), dtype="<u8").view(np.uint8)
            scaled = raw.astype(np.uint16) * self.raters
            kept = (scaled[(scaled & 0xFF) >= self.threshold] >> 8).astype(np.uint8)
            pieces.append(kept)
            have += kept.size
        stream = np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
        self.carry = stream[count:].copy()
        return stream[:count]


def two_sided_p(observed: np.ndarray, permuted: np.ndarray) -> np.ndarray:
    """p = (1 + #{|d*| >= |d| - 1e-12}) / (P + 1), permutations on axis 0."""
    extreme = np.abs(permuted) >= np.abs(observed) - TOLERANCE
    return (1.0 + extreme.sum(axis=0)) / (permuted.shape[0] + 1.0)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family = all entries of ``p_values``; NaN entries are
    not part of the family and stay NaN)."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    defined = np.flatnonzero(~np.isnan(p.ravel()))
    m = defined.size
    if m == 0:
        return out
    order = defined[np.argsort(p.ravel()[defined], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p.ravel()[order])
    out.ravel()[order] = np.maximum.accumulate(scaled)
    return out


def _swap_indicators(
    patterns: np.ndarray, n_refs: int, n_readers: int, reader_reference: np.ndarray, rebuild: bool, tie: str
) -> np.ndarray:
    """Indicator rows of every (pattern, rater) pair, (Q * (J + 1), 3 (K + J) + 1).

    ``patterns`` (Q, 1 + J + K): model read, the J scored readers' reads, the K references."""
    q = patterns.shape[0]
    raters = n_readers + 1
    reads = np.repeat(patterns[:, :raters], raters, axis=0)  # (Q * R, R), row = (q, k)
    refs = np.repeat(patterns[:, raters:], raters, axis=0)
    k = np.tile(np.arange(raters), q)
    rows = np.arange(q * raters)
    model_read = reads[:, 0].copy()
    reads[:, 0] = reads[rows, k]
    reads[rows, k] = model_read
    if rebuild:
        refs = leave_one_out_references(reads[:, 1:], tie)
    truth = np.concatenate([refs, refs[:, reader_reference]], axis=1)
    pred = np.concatenate([np.repeat(reads[:, :1], n_refs, axis=1), reads[:, 1:]], axis=1)
    return pair_indicators(truth, pred)


def _difference(counts, n_refs: int, metric: str) -> np.ndarray:
    values = COUNT_METRICS[metric](*counts)
    return values[:, :n_refs].mean(axis=1) - values[:, n_refs:].mean(axis=1)


def model_vs_readers_p_values(
    plan: Plan, model_labels: np.ndarray, metrics: list[str], *, permutations: int, seed: int, group: int, tie: str
) -> dict[str, np.ndarray]:
    """Two-sided p-values of model - radiologists for each submission column of ``model_labels``
    (n, S) on one group's studies: metric -> (S,). ``plan`` must have scored readers."""
    n, n_readers, n_refs = plan.readers.shape[0], plan.readers.shape[1], plan.references.shape[1]
    raters = n_readers + 1
    out = {m: np.empty(model_labels.shape[1]) for m in metrics}
    for s in range(model_labels.shape[1]):
        reads = np.concatenate([model_labels[:, s : s + 1], plan.readers, plan.references], axis=1).astype(np.int8)
        patterns, pattern_of = np.unique(reads, axis=0, return_inverse=True)
        indicators = _swap_indicators(
            patterns, n_refs, n_readers, plan.reader_reference, plan.protocol == "leave-one-out", tie
        )
        n_bins = indicators.shape[0]
        base = (pattern_of.ravel() * raters).astype(np.int64)
        observed_hist = np.bincount(base, minlength=n_bins)[None, :].astype(np.float32)
        observed = counts_from_indicators(observed_hist, indicators)
        permuted = {m: np.empty(permutations) for m in metrics}
        # blocks of permutations drawn as they are needed (the same draws for every submission),
        # vectorised inside
        for start, drawn in rater_blocks(n, permutations, raters, seed, group, rows=_rows(n)):
            hist = indices_to_counts(base + drawn, n_bins)
            counts = counts_from_indicators(hist, indicators)
            for m in metrics:
                permuted[m][start : start + drawn.shape[0]] = _difference(counts, n_refs, m)
        for m in metrics:
            out[m][s] = two_sided_p(_difference(observed, n_refs, m)[0], permuted[m])
    return out


def pairwise_p_values(
    model_labels: np.ndarray, references: np.ndarray, metric: str, *, permutations: int, seed: int, group: int
) -> tuple[np.ndarray, np.ndarray]:
    """Model - model tests on one group: ``model_labels`` (n, S) 0/1, ``references`` (n, K).

    Returns (difference, p): (S, S) arrays, ``difference[a, b]`` = metric(a) - metric(b) (each the
    mean over the K references) and ``p[a, b]`` its two-sided p-value (diagonal NaN). One coin per
    study, shared by all pairs (each pair's test is exact; Holm holds under any dependence).
    """
    m = np.asarray(model_labels, dtype=np.float32)
    refs = np.asarray(references, dtype=np.float32)
    n, n_subs = m.shape
    n_refs = refs.shape[1]
    hits = (refs[:, None, :] * m[:, :, None]).reshape(n, -1)  # (n, S*K): ref & model
    pos = refs.sum(axis=0).astype(np.float64)  # (K,)
    tp0 = hits.sum(axis=0).reshape(n_subs, n_refs).astype(np.float64)  # (S, K)
    pp0 = m.sum(axis=0).astype(np.float64)  # (S,)
    fn_metric = COUNT_METRICS[metric]

    def value(tp, pp):  # metric from TP and predicted positives (broadcast over leading axes)
        return fn_metric(tp, pp - tp, pos - tp, n - pp - pos + tp).mean(axis=-1)

    point = value(tp0, pp0[:, None])  # (S,)
    observed = point[:, None] - point[None, :]
    p = np.full((n_subs, n_subs), np.nan)
    for _, drawn in rater_blocks(n, permutations, 2, seed, group, rows=_rows(n)):
        c = drawn.astype(np.float32)
        x = (c @ hits).astype(np.float64).reshape(-1, n_subs, n_refs)  # (P, S, K)
        y = (c @ m).astype(np.float64)  # (P, S)
        for a in range(n_subs - 1):  # pairs (a, b > a), vectorised over b and permutations
            dx = x[:, a + 1 :] - x[:, a : a + 1]  # moved hits: a gets b's reads
            dy = (y[:, a + 1 :] - y[:, a : a + 1])[:, :, None]
            va = value(tp0[a] + dx, pp0[a] + dy)
            vb = value(tp0[a + 1 :] - dx, pp0[a + 1 :, None] - dy)
            extreme = (np.abs(va - vb) >= np.abs(observed[a, a + 1 :]) - TOLERANCE).sum(axis=0)
            p[a, a + 1 :] = np.nan_to_num(p[a, a + 1 :]) + extreme
    upper = np.triu_indices(n_subs, 1)
    p[upper] = (1.0 + p[upper]) / (permutations + 1.0)
    p.T[upper] = p[upper]
    return observed, p
