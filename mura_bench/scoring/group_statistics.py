"""Every statistic of one group on its resamples: the model's metrics (averaged over the references),
each reader's, the radiologists' mean and the model - radiologists difference, for the original
sample, the bootstrap resamples and the jackknife samples.

Count metrics come from one matrix product per block of resamples (:class:`CrossPairs`), blocks
stored statistic-major as they come in (:func:`stack_by_statistic`); metrics that need
probabilities (AUROC) run over all resamples at once (:mod:`mura_bench.stats.rank_sums`) on a second
thread beside the blocks.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from mura_bench.stats.bootstrap import block_rows, count_blocks, draw_counts, jackknife_blocks
from mura_bench.scoring.group_estimates import Stats, empty_stats
from mura_bench.stats.metric_registry import metric_spec
from mura_bench.stats.metrics import COUNT_METRICS, EXACT_FLOAT32_COUNTS, Counts, CrossPairs, LeaveOneOutAuroc
from mura_bench.stats.rank_sums import ScoreRanking
from mura_bench.stats.protocols import Plan
from mura_bench.scoring.score_options import Options


def resample_counts(n: int, g_index: int, opts: Options) -> np.ndarray:
    """The (B, n) resample counts of group ``g_index``: every statistic of that group, in every
    command, is computed on these, so all comparisons are paired. (The engine itself draws them in
    blocks, :func:`resample_blocks`; this whole matrix is for tests and small groups.)"""
    return draw_counts(n, opts.resamples, opts.seed, g_index)


def resample_blocks(n: int, g_index: int, opts: Options, rows: int | None = None, relabel: np.ndarray | None = None):
    """The rows of :func:`resample_counts` in consecutive blocks, ``(start, counts)``, drawn one
    block at a time (:func:`mura_bench.stats.bootstrap.count_blocks`): the same values, in bounded memory
    (with ``relabel``, the studies' columns permuted)."""
    return count_blocks(n, opts.resamples, opts.seed, g_index, rows, relabel)


def bootstrap_stats(
    stats, inputs: "GroupInputs", model_labels: np.ndarray, g_index: int, opts: Options
) -> "Stats | None":
    """Replicates of every statistic of a group: the paired study bootstrap, or with
    ``resample_readers`` the two-way bootstrap (its model, radiologists and difference replace the
    study bootstrap's; individual readers and AUROC keep the study bootstrap).

    The resample counts are drawn block by block and each block's statistics are computed as it
    comes (on worker threads, at most a few blocks in memory); only the statistics' replicates are
    kept, so memory grows with B x statistics, never with B x studies."""
    if opts.resamples == 0:
        return None
    n = model_labels.shape[0]
    relabel = None
    if inputs.ranking is not None and inputs.n_subs == 1:
        # one score column: the studies in its score order, so that AUROC reads each resample's
        # weights without a gather (the same resamples: every statistic is a sum over studies)
        order = inputs.ranking.orders[0]
        relabel = np.empty(n, dtype=np.int32 if n <= np.iinfo(np.int32).max else np.int64)  # gathers stay 4-byte
        relabel[order] = np.arange(n)
        model_labels = model_labels[order]
        inputs = GroupInputs.of(
            subset_plan(inputs.plan, order),
            model_labels,
            inputs.ranking.scores[order],
            list(inputs.count_metrics),
            list(inputs.score_metrics),
        )
    two_way = None
    if opts.resample_readers and inputs.plan.has_readers and inputs.count_metrics:
        from mura_bench.stats.two_way import TwoWay

        two_way = TwoWay.of(
            inputs.plan,
            model_labels,
            inputs.count_metrics,
            resamples=opts.resamples,
            seed=opts.seed,
            group=g_index,
            tie=opts.tie,
        )
    without_scores = replace(inputs, ranking=None, score_metrics=())

    def block_stats(start: int, counts: np.ndarray) -> Stats:
        # count metrics in cache-sized sub-blocks; metrics of scores (AUROC) over the whole block
        # (its rank sums run along the resamples)
        out = in_blocks(lambda w: statistics(w, without_scores), counts, inputs.n_subs, workers=1)
        if inputs.ranking is not None:
            out["model"].update(model_score_metrics(counts, inputs))
        if two_way is not None:
            for subject, values in two_way.block(counts, start).items():
                out[subject].update(values)
        return out

    # whole blocks of in_blocks' sub-blocks: the replicates are laid out as with all counts at once
    rows = stat_rows(n, inputs.n_subs)
    rows *= max(1, block_rows(n) // rows)
    return blocks_in_order(block_stats, resample_blocks(n, g_index, opts, rows, relabel))


#: Leave-one-out samples per block of :func:`jackknife_stats` (its memory: rows x statistics).
JACKKNIFE_BLOCK_ROWS = 4096


def jackknife_stats(inputs: "GroupInputs", n: int) -> Stats:
    """:func:`statistics` of the n leave-one-out samples (BCa's acceleration): the values it gives
    for the rows of :func:`mura_bench.stats.bootstrap.jackknife_weights`, bit for bit, in O(n x
    statistics) time and memory instead of O(n^2). The counts are the column totals minus the
    left-out study's row (:meth:`~mura_bench.stats.metrics.CrossPairs.leave_one_out_counts`),
    AUROC comes from the full sample's ranks
    (:class:`~mura_bench.stats.metrics.LeaveOneOutAuroc`). From
    :data:`~mura_bench.stats.metrics.EXACT_FLOAT32_COUNTS` studies on (where float32 counts are no
    longer exact) the weights themselves are used, block by block. Blocks are joined row-major, as
    one call on all n samples lays them out (BCa's acceleration sums over them, so the layout fixes
    the rounding)."""
    if n >= EXACT_FLOAT32_COUNTS or set(inputs.score_metrics) - {"auroc"}:
        return blocks_in_order(lambda start, w: statistics(w, inputs), jackknife_blocks(n), stack=_concatenate)
    totals = inputs.pairs.column_totals()
    auroc = (
        LeaveOneOutAuroc.of(inputs.plan.references, inputs.ranking)
        if inputs.ranking is not None and "auroc" in inputs.score_metrics
        else None
    )

    def block(start: int, stop: int) -> Stats:
        counts = inputs.pairs.leave_one_out_counts(start, stop, totals)
        scores = {} if auroc is None else {"auroc": auroc.values(start, stop).mean(axis=2)}
        return statistics_of(counts, scores, stop - start, inputs)

    starts = range(0, n, JACKKNIFE_BLOCK_ROWS)
    return blocks_in_order(block, ((a, min(a + JACKKNIFE_BLOCK_ROWS, n)) for a in starts), stack=_concatenate)


def _concatenate(blocks: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(blocks, axis=0)


def blocks_in_order(block_fn, blocks, stack=None) -> Stats:
    """``block_fn(start, weights)`` over an iterator of blocks, the results stacked along the
    resample axis in block order (by ``stack``, default :func:`stack_by_statistic`). Blocks are
    drawn on this thread (in order: they come from one generator) and evaluated on
    :data:`WORKERS` threads, with at most ``WORKERS + 1`` blocks drawn and not yet evaluated, so
    memory stays bounded."""
    stack = stack_by_statistic if stack is None else stack
    parts: list[Stats] = []
    if WORKERS <= 1:
        parts = [block_fn(start, weights) for start, weights in blocks]
    else:
        from collections import deque

        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            pending: deque = deque()
            for start, weights in blocks:
                pending.append(pool.submit(block_fn, start, weights))
                while len(pending) > WORKERS:
                    parts.append(pending.popleft().result())
            parts.extend(future.result() for future in pending)
    if len(parts) == 1:
        return parts[0]
    return {
        subject: {metric: stack([p[subject][metric] for p in parts]) for metric in parts[0][subject]}
        for subject in parts[0]
    }


#: Resamples per block when computing statistics: keeps the per-block confusion counts and metric
#: arrays (block x submissions x references) in the CPU cache; about 2x faster than whole matrices.
STAT_BLOCK_ELEMENTS = 400_000


#: Worker threads of :func:`in_blocks` and :func:`blocks_in_order` (numpy releases the GIL in the
#: heavy loops).
WORKERS = min(4, os.cpu_count() or 1)


def stat_rows(n: int, n_subs: int) -> int:
    """Resamples per sub-block of :func:`in_blocks` for ``n`` studies and ``n_subs`` submissions."""
    return max(64, STAT_BLOCK_ELEMENTS // max(n, 8 * n_subs))


def in_blocks(stats_fn, weights: np.ndarray, n_subs: int, workers: int | None = None) -> Stats:
    """``stats_fn`` over blocks of resamples (rows of ``weights``), concatenated along the resample
    axis; blocks run on ``workers`` threads, default :data:`WORKERS` (results do not depend on the
    thread count)."""
    workers = WORKERS if workers is None else workers
    rows = stat_rows(weights.shape[1], n_subs)
    starts = range(0, weights.shape[0], rows)
    if workers > 1 and len(starts) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(lambda i: stats_fn(weights[i : i + rows]), starts))
    else:
        parts = [stats_fn(weights[i : i + rows]) for i in starts]
    if len(parts) == 1:
        return parts[0]
    return {
        subject: {metric: stack_by_statistic([p[subject][metric] for p in parts]) for metric in parts[0][subject]}
        for subject in parts[0]
    }


def stack_by_statistic(blocks: list[np.ndarray]) -> np.ndarray:
    """Blocks (b_i, ...) of one statistic stacked along the resample axis, stored statistic-major:
    the result is a (B, ...) view of a C-ordered (statistics, B) matrix, so that the intervals read
    each statistic's resamples contiguously (:func:`_by_statistic`). Each block is transposed while
    it is small (cache-sized), never the whole matrix."""
    rest = blocks[0].shape[1:]
    total = sum(block.shape[0] for block in blocks)
    by_statistic = np.empty((int(np.prod(rest)), total), dtype=blocks[0].dtype)
    at = 0
    for block in blocks:
        by_statistic[:, at : at + block.shape[0]] = block.reshape(block.shape[0], -1).T
        at += block.shape[0]
    return by_statistic.T.reshape((total,) + rest)


def subset_plan(plan: Plan, rows: np.ndarray) -> Plan:
    return Plan(
        plan.protocol,
        plan.references[rows],
        plan.readers[rows],
        plan.reader_names,
        plan.reader_reference,
        plan.positives[rows],
    )


@dataclass(frozen=True)
class GroupInputs:
    """What the statistics of one group need, prepared once for all its resample blocks."""

    plan: Plan
    pairs: CrossPairs  # (submission, reference) pairs, then (reader, its reference) pairs
    n_subs: int
    ranking: ScoreRanking | None  # sort orders of the submissions' probabilities (score metrics only)
    count_metrics: tuple[str, ...]
    score_metrics: tuple[str, ...]  # metrics that need probabilities (none without probabilities)

    @staticmethod
    def of(
        plan: Plan,
        model_labels: np.ndarray,
        model_probs: np.ndarray,
        count_metrics: list[str],
        score_metrics: list[str],
    ) -> "GroupInputs":
        pairs = CrossPairs.of(plan.references, model_labels, plan.references[:, plan.reader_reference], plan.readers)
        return GroupInputs(
            plan,
            pairs,
            model_labels.shape[1],
            ScoreRanking.of(model_probs) if score_metrics else None,
            tuple(count_metrics),
            tuple(score_metrics),
        )


def statistics(weights: np.ndarray, inputs: GroupInputs) -> Stats:
    """All metric values of one group for every resample (rows of ``weights``).

    Model columns: the model's metric averaged over the K references. Readers: each against its
    reference. Radiologists: mean over readers. Difference: model - radiologists.
    """
    return statistics_of(inputs.pairs.counts(weights), model_score_metrics(weights, inputs), weights.shape[0], inputs)


def statistics_of(counts: Counts, score_values: dict[str, np.ndarray], b: int, inputs: GroupInputs) -> Stats:
    """:func:`statistics` of ``b`` samples from their confusion counts (``inputs.pairs``' columns)
    and their model's score metrics (metric -> (b, submissions), averaged over the references)."""
    plan = inputs.plan
    n_refs, n_subs = plan.references.shape[1], inputs.n_subs
    n_readers = plan.readers.shape[1]
    stats = empty_stats()
    split = n_subs * n_refs
    for name in inputs.count_metrics:
        values = COUNT_METRICS[name](*counts)
        stats["model"][name] = mean_over_references(values[:, :split].reshape(b, n_refs, n_subs))
        if n_readers:
            stats["readers"][name] = values[:, split:]
    stats["model"].update(score_values)
    if n_readers:
        for name, values in stats["readers"].items():
            rad = values.mean(axis=1)
            stats["radiologists"][name] = rad
            stats["difference"][name] = stats["model"][name] - rad[:, None]
    return stats


def mean_over_references(values: np.ndarray) -> np.ndarray:
    """(B, K, S) -> (B, S): the mean over the K references, summed in reference order
    (((v_0 + v_1) + v_2) + ...) / K, one contiguous slice at a time."""
    total = values[:, 0].copy()
    for k in range(1, values.shape[1]):
        total += values[:, k]
    total /= values.shape[1]
    return total


def model_score_metrics(weights: np.ndarray, inputs: GroupInputs) -> dict[str, np.ndarray]:
    """Metric -> (B, submissions) of each metric that needs probabilities (AUROC), averaged over
    the references (none when the group's inputs have no probabilities)."""
    ranking = inputs.ranking
    return {
        name: metric_spec(name).function(weights, inputs.plan.references, ranking.scores, ranking).mean(axis=2)
        for name in inputs.score_metrics
    }
