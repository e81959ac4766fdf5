"""Every statistic of one group on its resamples: the model's metrics (averaged over the references),
each reader's, the radiologists' mean and the model - radiologists difference, for the original
sample, the bootstrap resamples and the jackknife samples.

Count metrics come from one matrix product per block of resamples (:class:`CrossPairs`), blocks
stored statistic-major as they come in (:func:`stack_by_statistic`); metrics that need
probabilities (AUROC) run over all resamples at once (:mod:`mura_bench.rank_sums`) on a second
thread beside the blocks.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from mura_bench.bootstrap import draw_counts
from mura_bench.group_estimates import Stats, empty_stats
from mura_bench.metric_registry import metric_spec
from mura_bench.metrics import COUNT_METRICS, CrossPairs, ScoreRanking
from mura_bench.protocols import Plan
from mura_bench.score_options import Options


def resample_counts(n: int, g_index: int, opts: Options) -> np.ndarray:
    """The (B, n) resample counts of group ``g_index``: every statistic of that group, in every
    command, is computed on these, so all comparisons are paired."""
    return draw_counts(n, opts.resamples, opts.seed, g_index)


def bootstrap_stats(stats, inputs: "GroupInputs", model_labels: np.ndarray, g_index: int,
                     opts: Options) -> "Stats | None":
    """Replicates of every statistic of a group: the paired study bootstrap, or with
    ``resample_readers`` the two-way bootstrap (its model, radiologists and difference replace the
    study bootstrap's; individual readers and AUROC keep the study bootstrap)."""
    if opts.resamples == 0:
        return None
    n = model_labels.shape[0]
    counts = resample_counts(n, g_index, opts)
    if inputs.ranking is None:
        boot = in_blocks(stats, counts, inputs.n_subs)
    else:  # metrics of scores (AUROC) over all resamples at once (its rank sums run along the resamples) on a
        # second thread, while the count metrics run in blocks on this one: the first is mostly Python
        # between short vector operations, the second long numpy calls that release the GIL.
        without_scores = replace(inputs, ranking=None, score_metrics=())
        with ThreadPoolExecutor(max_workers=1) as pool:
            from_scores = pool.submit(model_score_metrics, counts, inputs)
            boot = in_blocks(lambda w: statistics(w, without_scores), counts, inputs.n_subs, workers=1)
            boot["model"].update(from_scores.result())
    if opts.resample_readers and inputs.plan.has_readers and inputs.count_metrics:
        from mura_bench.two_way import two_way_statistics

        two_way = two_way_statistics(counts, inputs.plan, model_labels, inputs.count_metrics,
                                     seed=opts.seed, group=g_index, tie=opts.tie)
        for subject in ("model", "radiologists", "difference"):
            boot[subject].update(two_way[subject])
    return boot


#: Resamples per block when computing statistics: keeps the per-block confusion counts and metric
#: arrays (block x submissions x references) in the CPU cache; about 2x faster than whole matrices.
STAT_BLOCK_ELEMENTS = 400_000


#: Worker threads of :func:`in_blocks` (numpy releases the GIL in the heavy loops).
WORKERS = min(4, os.cpu_count() or 1)


def in_blocks(stats_fn, weights: np.ndarray, n_subs: int, workers: int | None = None) -> Stats:
    """``stats_fn`` over blocks of resamples (rows of ``weights``), concatenated along the resample
    axis; blocks run on ``workers`` threads, default :data:`WORKERS` (results do not depend on the
    thread count)."""
    workers = WORKERS if workers is None else workers
    rows = max(64, STAT_BLOCK_ELEMENTS // max(weights.shape[1], 8 * n_subs))
    starts = range(0, weights.shape[0], rows)
    if workers > 1 and len(starts) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(lambda i: stats_fn(weights[i:i + rows]), starts))
    else:
        parts = [stats_fn(weights[i:i + rows]) for i in starts]
    if len(parts) == 1:
        return parts[0]
    return {subject: {metric: stack_by_statistic([p[subject][metric] for p in parts])
                      for metric in parts[0][subject]} for subject in parts[0]}


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
        by_statistic[:, at:at + block.shape[0]] = block.reshape(block.shape[0], -1).T
        at += block.shape[0]
    return by_statistic.T.reshape((total,) + rest)


def subset_plan(plan: Plan, rows: np.ndarray) -> Plan:
    return Plan(plan.protocol, plan.references[rows], plan.readers[rows], plan.reader_names,
                plan.reader_reference, plan.positives[rows])


@dataclass(frozen=True)
class GroupInputs:
    """What the statistics of one group need, prepared once for all its resample blocks."""

    plan: Plan
    pairs: CrossPairs          # (submission, reference) pairs, then (reader, its reference) pairs
    n_subs: int
    ranking: ScoreRanking | None   # sort orders of the submissions' probabilities (score metrics only)
    count_metrics: tuple[str, ...]
    score_metrics: tuple[str, ...]  # metrics that need probabilities (none without probabilities)

    @staticmethod
    def of(plan: Plan, model_labels: np.ndarray, model_probs: np.ndarray, count_metrics: list[str],
           score_metrics: list[str]) -> "GroupInputs":
        pairs = CrossPairs.of(plan.references, model_labels, plan.references[:, plan.reader_reference],
                              plan.readers)
        return GroupInputs(plan, pairs, model_labels.shape[1],
                            ScoreRanking.of(model_probs) if score_metrics else None, tuple(count_metrics),
                            tuple(score_metrics))


def statistics(weights: np.ndarray, inputs: GroupInputs) -> Stats:
    """All metric values of one group for every resample (rows of ``weights``).

    Model columns: the model's metric averaged over the K references. Readers: each against its
    reference. Radiologists: mean over readers. Difference: model - radiologists.
    """
    plan = inputs.plan
    n_refs, n_subs = plan.references.shape[1], inputs.n_subs
    n_readers = plan.readers.shape[1]
    counts = inputs.pairs.counts(weights)
    stats = empty_stats()
    split = n_subs * n_refs
    b = weights.shape[0]
    for name in inputs.count_metrics:
        values = COUNT_METRICS[name](*counts)
        stats["model"][name] = mean_over_references(values[:, :split].reshape(b, n_refs, n_subs))
        if n_readers:
            stats["readers"][name] = values[:, split:]
    stats["model"].update(model_score_metrics(weights, inputs))
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
    return {name: metric_spec(name).function(weights, inputs.plan.references, ranking.scores, ranking).mean(axis=2)
            for name in inputs.score_metrics}
