"""``score``: the library's one entry point (files or tables in, a :class:`Result` out).

Flow: align predictions with the truth -> protocol plan (references per scored subject) -> per group,
one resample-count matrix -> confusion counts for every (reference, prediction) pair in one matrix
product -> metrics -> means over references/readers -> differences -> CIs.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mura_bench import __version__
from mura_bench.alignment import align
from mura_bench.bootstrap import (CI_METHODS, bca_interval, check_resamples, draw_counts, excludes_zero,
                                  is_degenerate, jackknife_weights, percentile_interval_by_statistic)
from mura_bench.errors import InputError, PredictionSetError
from mura_bench.layout import BODY_PARTS, GROUPS
from mura_bench.metric_registry import (METRICS, check_metric_names, count_metrics, metric_spec,
                                        probability_metrics)
from mura_bench.metrics import COUNT_METRICS, CrossPairs, ScoreRanking
from mura_bench.predictions import Predictions, read_predictions
from mura_bench.progress import ProgressCallback, report
from mura_bench.protocols import (Plan, canonical_reader_order, check_gold_readers_apply, make_plan,
                                  reference_names, resolve_protocol)
from mura_bench.randomization import (ADJUSTMENTS, ALPHA, MAX_PERMUTATIONS, TESTS, holm,
                                      model_vs_readers_p_values)
from mura_bench.results import BootstrapSettings, Estimate, GroupResult, InputInfo, Result
from mura_bench.truth import Truth, read_truth

#: Stats of one group: subject ("model", "readers", "radiologists", "difference") -> metric -> array
#: with resamples on axis 0 and the subject's columns (submissions or readers) on axis 1.
Stats = dict[str, dict[str, np.ndarray]]


@dataclass(frozen=True)
class Options:
    protocol: str = "auto"
    metrics: tuple[str, ...] = METRICS
    resamples: int = 10000
    seed: int = 0
    confidence: float = 0.95
    ci_method: str = "percentile"
    tie: str = "abnormal"
    gold_readers: tuple[str, ...] | None = None
    allow_missing: bool = False
    keep_replicates: bool = False
    test: str = "ci"
    permutations: int = 10000
    adjust: str = "none"
    resample_readers: bool = False


def score(predictions: Predictions | str | Path, truth: Truth | str | Path, *,
          protocol: str = "auto", metrics: Sequence[str] = METRICS, resamples: int = 10000,
          seed: int = 0, confidence: float = 0.95, ci_method: str = "percentile",
          tie: str = "abnormal", gold_readers: Sequence[str] | None = None,
          allow_missing: bool = False, keep_replicates: bool = False,
          progress: ProgressCallback | None = None, test: str = "ci", permutations: int = 10000,
          adjust: str = "none", resample_readers: bool = False) -> Result:
    """Score one prediction file (or :class:`Predictions`) against a truth file (or :class:`Truth`).

    The options are those of :func:`score_many`; for arrays in memory see :func:`mura_bench.evaluate`.
    """
    return score_many([predictions], truth, protocol=protocol, metrics=metrics, resamples=resamples,
                      seed=seed, confidence=confidence, ci_method=ci_method, tie=tie,
                      gold_readers=gold_readers, allow_missing=allow_missing,
                      keep_replicates=keep_replicates, progress=progress, test=test,
                      permutations=permutations, adjust=adjust, resample_readers=resample_readers)[0]


def score_many(predictions: Sequence[Predictions | str | Path], truth: Truth | str | Path, *,
               protocol: str = "auto", metrics: Sequence[str] = METRICS, resamples: int = 10000,
               seed: int = 0, confidence: float = 0.95, ci_method: str = "percentile",
               tie: str = "abnormal", gold_readers: Sequence[str] | None = None,
               allow_missing: bool = False, keep_replicates: bool = False,
               progress: ProgressCallback | None = None, test: str = "ci", permutations: int = 10000,
               adjust: str = "none", resample_readers: bool = False) -> list[Result]:
    """Score several prediction sets on the very same bootstrap resamples (paired across them).

    Options: ``protocol`` auto|single|leave-one-out|gold-panel; ``metrics`` a subset of
    :data:`mura_bench.metrics.METRICS`; ``resamples`` B (0: point estimates only); ``seed``;
    ``confidence``; ``ci_method`` percentile|bca; ``tie`` abnormal|normal (majority ties);
    ``gold_readers`` (gold-panel; default the first three); ``allow_missing`` scores the subset of
    truth studies present in each prediction set (listed in ``Result.missing``);
    ``keep_replicates`` keeps the raw bootstrap values in ``Result.replicates``;
    ``progress(stage, done, total)`` is called after each scored group, counting studies (see
    :mod:`mura_bench.progress`);
    ``test`` ci|randomization: what makes a model - radiologists difference significant (its CI
    excludes 0, or the paired randomization test of :mod:`mura_bench.randomization` with
    ``permutations`` P gives p < 0.05); ``adjust`` none|holm (randomization only): Holm over the
    8 groups of each metric; ``resample_readers``: two-way bootstrap (:mod:`mura_bench.two_way`).
    Raises :class:`InputError` for any inconsistency; a fault of one prediction set (unreadable, or
    not matching the truth) is a :class:`~mura_bench.errors.PredictionSetError` naming its index.
    """
    opts = Options(protocol, tuple(metrics), int(resamples), int(seed), float(confidence), ci_method, tie,
                   None if gold_readers is None else tuple(gold_readers), allow_missing, keep_replicates,
                   test, int(permutations), adjust, bool(resample_readers))
    _check_options(opts)
    truth_table = truth if isinstance(truth, Truth) else read_truth(truth)
    preds: list[Predictions] = []
    for i, p in enumerate(predictions):
        with _naming_set(i, p):
            preds.append(p if isinstance(p, Predictions) else read_predictions(p))
    chosen = resolve_protocol(opts.protocol, truth_table.kind)
    check_gold_readers_apply(opts.gold_readers, chosen)
    alignments = []
    for i, p in enumerate(preds):
        with _naming_set(i, p):
            alignments.append(align(p, truth_table, allow_missing=opts.allow_missing))
    # Prediction sets covering the same studies share one pass (and one set of resamples).
    batches: dict[tuple[str, ...], list[int]] = {}
    for i, a in enumerate(alignments):
        batches.setdefault(tuple(a.study_ids), []).append(i)
    results: list[Result | None] = [None] * len(preds)
    steps = _Steps(progress, sum(2 * len(studies) for studies in batches))
    with one_blas_thread():
        for members in batches.values():
            batch_results = _score_aligned([preds[i] for i in members], [alignments[i] for i in members],
                                           truth_table, chosen, opts, steps)
            for i, r in zip(members, batch_results):
                results[i] = r
    return [r for r in results if r is not None]


@contextmanager
def _naming_set(index: int, predictions: Predictions | str | Path):
    """An :class:`InputError` raised inside becomes a :class:`PredictionSetError` naming the set."""
    try:
        yield
    except InputError as exc:
        name = predictions.path if isinstance(predictions, Predictions) else str(predictions)
        raise PredictionSetError(exc, index=index, name=name) from exc


def validate_options(opts: Options) -> None:
    """Raise :class:`InputError` for options that ``score`` refuses (shared by ``analyze``)."""
    _check_options(opts)


def aligned_plan(alignment, truth: Truth, protocol: str, opts: Options, *, canonical: bool = False) -> Plan:
    """The protocol plan of the aligned studies (rows in ``alignment.study_ids`` order). With
    ``canonical`` the readers come in :func:`canonical_reader_order`, so that no score depends on the
    column order of the truth file, not even by rounding (the default gold panel stays the file's
    first three readers)."""
    tidx = alignment.truth_index
    names = list(truth.reader_names)
    readers = None if truth.readers is None else truth.readers[tidx]
    order = canonical_reader_order(names) if canonical and readers is not None else list(range(len(names)))
    gold = opts.gold_readers
    if canonical and gold is None and protocol == "gold-panel":
        gold = tuple(names[:3])
    return make_plan(protocol, labels=None if truth.labels is None else truth.labels[tidx],
                     readers=None if readers is None else readers[:, order],
                     reader_names=[names[i] for i in order], tie=opts.tie, gold_readers=gold)


def group_rows(parts: np.ndarray):
    """``(index in GROUPS, group, rows)`` per group: the rows of its studies. ``parts`` holds each
    scored study's body part (an index into BODY_PARTS, e.g. ``truth.parts[alignment.truth_index]``)."""
    parts = np.asarray(parts)
    for g_index, group in enumerate(GROUPS):
        rows = np.flatnonzero(parts == BODY_PARTS.index(group)) if group in BODY_PARTS else np.arange(parts.size)
        yield g_index, group, rows


def resample_counts(n: int, g_index: int, opts: Options) -> np.ndarray:
    """The (B, n) resample counts of group ``g_index``: every statistic of that group, in every
    command, is computed on these, so all comparisons are paired."""
    return draw_counts(n, opts.resamples, opts.seed, g_index)


def one_blas_thread():
    """Context in which BLAS runs single-threaded. The engine's matrix products are many and small
    (a block of resamples times a thin indicator matrix); BLAS' own threads spin and wait on them
    (25x slower on a busy 2-core machine). Parallel work is spread over blocks instead
    (:func:`_in_blocks`)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _check_options(opts: Options) -> None:
    check_metric_names(opts.metrics)
    if opts.ci_method not in CI_METHODS:
        raise InputError(f"unknown CI method {opts.ci_method!r}; choose from {', '.join(CI_METHODS)}")
    if not 0 < opts.confidence < 1:
        raise InputError(f"confidence must lie strictly between 0 and 1, got {opts.confidence}")
    check_resamples(opts.resamples)
    if opts.seed < 0:
        raise InputError(f"the seed must be a non-negative integer, got {opts.seed}", source="--seed")
    if opts.test not in TESTS:
        raise InputError(f"unknown test {opts.test!r}; choose from {', '.join(TESTS)}")
    if opts.adjust not in ADJUSTMENTS:
        raise InputError(f"unknown adjustment {opts.adjust!r}; choose from {', '.join(ADJUSTMENTS)}")
    if opts.adjust != "none" and opts.test != "randomization":
        raise InputError(f"--adjust {opts.adjust} needs --test randomization (it adjusts p-values)")
    if opts.test == "randomization" and not 1 <= opts.permutations <= MAX_PERMUTATIONS:
        raise InputError(f"--permutations must lie between 1 and {MAX_PERMUTATIONS:,}, got {opts.permutations}")
    if opts.resample_readers and opts.ci_method != "percentile":
        raise InputError("--resample-readers gives percentile intervals only (BCa's jackknife runs over studies)")


class _Steps:
    """Progress of scoring, counted in studies: a group's work grows with its studies (the body
    parts together hold as many as ``overall``), so the bar moves evenly."""

    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self.callback, self.total, self.done = callback, total, 0

    def step(self, studies: int) -> None:
        self.done += studies
        report(self.callback, "scoring", self.done, self.total)


def _score_aligned(preds: list[Predictions], alignments: list, truth: Truth, protocol: str,
                   opts: Options, steps: _Steps) -> list[Result]:
    first = alignments[0]
    plan = aligned_plan(first, truth, protocol, opts, canonical=True)
    display = [name for name in truth.reader_names if name in plan.reader_names]
    model_labels = np.stack([p.labels[a.prediction_index] for p, a in zip(preds, alignments)], axis=1)
    model_probs = np.stack([p.probabilities[a.prediction_index] for p, a in zip(preds, alignments)], axis=1)
    has_probs = np.array([p.has_probabilities for p in preds])
    from_counts = count_metrics(opts.metrics)
    from_scores = probability_metrics(opts.metrics) if has_probs.any() else []

    n_subs = len(preds)
    groups: list[dict[str, GroupResult]] = [{} for _ in range(n_subs)]
    replicates: list[dict] = [{} for _ in range(n_subs)]
    notes: list[list[str]] = [_global_notes(p, plan, opts, a) for p, a in zip(preds, alignments)]
    def finish(group: str, n: int, positives: int, sub_plan: Plan | None, point, boot, jack, p_values) -> None:
        """Intervals and per-entry results of one group (on the finishing thread, in group order)."""
        if n == 0:
            for s in range(n_subs):
                groups[s][group] = GroupResult(studies=0, positives=0)
            return
        intervals = _all_intervals(point, boot, jack, opts)
        undefined = {m: np.isnan(boot["model"][m]).sum(axis=0) if boot is not None else np.zeros(n_subs, int)
                     for m in from_scores}
        if jack is not None and any(np.isnan(v).any() for subject in jack.values() for v in subject.values()):
            for s in range(n_subs):
                notes[s].append(f"bca in {group}: some jackknife samples are undefined; percentile CIs used there")
        for s in range(n_subs):
            context = _GroupContext(group, n, positives, sub_plan, display, bool(has_probs[s]),
                                    {m: int(v[s]) for m, v in undefined.items()},
                                    {m: float(v[s]) for m, v in p_values.items()})
            groups[s][group], group_notes = _group_result(point, intervals, s, context, opts)
            notes[s].extend(group_notes)
            if opts.keep_replicates and boot is not None:
                replicates[s][group] = _replicates_of(boot, s, sub_plan)
                if jack is not None and sub_plan.has_readers:
                    replicates[s][group]["jackknife:difference"] = {m: v[:, s] for m, v in jack["difference"].items()}

    # Group g's intervals (partitions, GIL-free) run on a second thread while group g + 1 is resampled.
    with ThreadPoolExecutor(max_workers=1) as finisher:
        finishing = []
        for g_index, group, rows in group_rows(truth.parts[first.truth_index]):
            n = rows.size
            if n == 0:
                finishing.append(finisher.submit(finish, group, 0, 0, None, None, None, None, {}))
                continue
            sub_plan = _subset(plan, rows)
            inputs = _GroupInputs.of(sub_plan, model_labels[rows], model_probs[rows], from_counts, from_scores)
            stats = lambda w: _statistics(w, inputs)  # noqa: E731
            point = stats(np.ones((1, n), dtype=np.float32))
            boot = _bootstrap_stats(stats, inputs, model_labels[rows], g_index, opts)
            jack = stats(jackknife_weights(n)) if boot is not None and opts.ci_method == "bca" and n > 1 else None
            p_values = (model_vs_readers_p_values(sub_plan, model_labels[rows], from_counts,
                                                  permutations=opts.permutations, seed=opts.seed,
                                                  group=g_index, tie=opts.tie)
                        if opts.test == "randomization" and sub_plan.has_readers and from_counts else {})
            finishing.append(finisher.submit(finish, group, n, int(plan.positives[rows].sum()), sub_plan,
                                             point, boot, jack, p_values))
            steps.step(n)
        for done in finishing:
            done.result()  # re-raises a fault of the finishing thread
    if opts.adjust == "holm":
        for s in range(n_subs):
            _holm_over_groups(groups[s])
    settings = BootstrapSettings(opts.resamples, opts.seed, opts.confidence, opts.ci_method, opts.test,
                                 opts.permutations if opts.test == "randomization" else None, opts.adjust,
                                 opts.resample_readers)
    truth_info = InputInfo(truth.path, truth.sha256, truth.kind,
                           tuple(truth.reader_names) if truth.readers is not None else None)
    software = software_versions()
    return [Result(protocol=protocol, bootstrap=settings,
                   predictions=InputInfo(p.path, p.sha256, p.kind, rows=p.rows), truth=truth_info, software=software,
                   groups=groups[s], notes=notes[s], metrics=opts.metrics, missing=list(a.missing),
                   replicates=replicates[s] if opts.keep_replicates else None)
            for s, (p, a) in enumerate(zip(preds, alignments))]


def _bootstrap_stats(stats, inputs: "_GroupInputs", model_labels: np.ndarray, g_index: int,
                     opts: Options) -> "Stats | None":
    """Replicates of every statistic of a group: the paired study bootstrap, or with
    ``resample_readers`` the two-way bootstrap (its model, radiologists and difference replace the
    study bootstrap's; individual readers and AUROC keep the study bootstrap)."""
    if opts.resamples == 0:
        return None
    n = model_labels.shape[0]
    counts = resample_counts(n, g_index, opts)
    if inputs.ranking is None:
        boot = _in_blocks(stats, counts, inputs.n_subs)
    else:  # metrics of scores (AUROC) over all resamples at once (its rank sums run along the resamples) on a
        # second thread, while the count metrics run in blocks on this one: the first is mostly Python
        # between short vector operations, the second long numpy calls that release the GIL.
        without_scores = replace(inputs, ranking=None, score_metrics=())
        with ThreadPoolExecutor(max_workers=1) as pool:
            from_scores = pool.submit(_model_score_metrics, counts, inputs)
            boot = _in_blocks(lambda w: _statistics(w, without_scores), counts, inputs.n_subs, workers=1)
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


#: Worker threads of :func:`_in_blocks` (numpy releases the GIL in the heavy loops).
WORKERS = min(4, os.cpu_count() or 1)


def _in_blocks(stats_fn, weights: np.ndarray, n_subs: int, workers: int | None = None) -> Stats:
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
    return {subject: {metric: _stack_by_statistic([p[subject][metric] for p in parts])
                      for metric in parts[0][subject]} for subject in parts[0]}


def _stack_by_statistic(blocks: list[np.ndarray]) -> np.ndarray:
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


def _subset(plan: Plan, rows: np.ndarray) -> Plan:
    return Plan(plan.protocol, plan.references[rows], plan.readers[rows], plan.reader_names,
                plan.reader_reference, plan.positives[rows])


@dataclass(frozen=True)
class _GroupInputs:
    """What the statistics of one group need, prepared once for all its resample blocks."""

    plan: Plan
    pairs: CrossPairs          # (submission, reference) pairs, then (reader, its reference) pairs
    n_subs: int
    ranking: ScoreRanking | None   # sort orders of the submissions' probabilities (score metrics only)
    count_metrics: tuple[str, ...]
    score_metrics: tuple[str, ...]  # metrics that need probabilities (none without probabilities)

    @staticmethod
    def of(plan: Plan, model_labels: np.ndarray, model_probs: np.ndarray, count_metrics: list[str],
           score_metrics: list[str]) -> "_GroupInputs":
        pairs = CrossPairs.of(plan.references, model_labels, plan.references[:, plan.reader_reference],
                              plan.readers)
        return _GroupInputs(plan, pairs, model_labels.shape[1],
                            ScoreRanking.of(model_probs) if score_metrics else None, tuple(count_metrics),
                            tuple(score_metrics))


def _statistics(weights: np.ndarray, inputs: _GroupInputs) -> Stats:
    """All metric values of one group for every resample (rows of ``weights``).

    Model columns: the model's metric averaged over the K references. Readers: each against its
    reference. Radiologists: mean over readers. Difference: model - radiologists.
    """
    plan = inputs.plan
    n_refs, n_subs = plan.references.shape[1], inputs.n_subs
    n_readers = plan.readers.shape[1]
    counts = inputs.pairs.counts(weights)
    stats: Stats = {"model": {}, "readers": {}, "radiologists": {}, "difference": {}}
    split = n_subs * n_refs
    b = weights.shape[0]
    for name in inputs.count_metrics:
        values = COUNT_METRICS[name](*counts)
        stats["model"][name] = mean_over_references(values[:, :split].reshape(b, n_refs, n_subs))
        if n_readers:
            stats["readers"][name] = values[:, split:]
    stats["model"].update(_model_score_metrics(weights, inputs))
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


def _model_score_metrics(weights: np.ndarray, inputs: _GroupInputs) -> dict[str, np.ndarray]:
    """Metric -> (B, submissions) of each metric that needs probabilities (AUROC), averaged over
    the references (none when the group's inputs have no probabilities)."""
    ranking = inputs.ranking
    return {name: metric_spec(name).function(weights, inputs.plan.references, ranking.scores, ranking).mean(axis=2)
            for name in inputs.score_metrics}


Intervals = dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]


def _all_intervals(point: Stats, boot: Stats | None, jack: Stats | None, opts: Options) -> Intervals | None:
    """CIs of every statistic of a group (all submissions, readers, differences) in one vectorised
    call; returns subject -> metric -> (lower, upper), shaped like the statistic without its
    resample axis. Reader and radiologist intervals are computed once, whatever the submissions."""
    if boot is None:
        return None
    layout = [(subject, metric, point[subject][metric].shape[1:])
              for subject in point for metric in point[subject]]

    def columns(stats: Stats) -> np.ndarray:
        return np.concatenate([stats[sub][met].reshape(stats[sub][met].shape[0], -1) for sub, met, _ in layout], axis=1)

    if jack is not None:
        lo, hi = bca_interval(columns(point)[0], columns(boot), columns(jack), opts.confidence)
    else:
        by_statistic = np.concatenate([_by_statistic(boot[sub][met]) for sub, met, _ in layout], axis=0)
        lo, hi = percentile_interval_by_statistic(by_statistic, opts.confidence)
    out: Intervals = {}
    at = 0
    for subject, metric, shape in layout:
        width = int(np.prod(shape)) if shape else 1
        out.setdefault(subject, {})[metric] = (lo[at:at + width].reshape(shape), hi[at:at + width].reshape(shape))
        at += width
    return out


def _by_statistic(replicates: np.ndarray) -> np.ndarray:
    """(B, ...) replicates as a (statistics, B) matrix: a view when they are stored statistic-major
    (:func:`_stack_by_statistic`), a transposed copy otherwise."""
    return replicates.reshape(replicates.shape[0], -1).T


@dataclass(frozen=True)
class _GroupContext:
    """What :func:`_group_result` needs to know of one group and one submission."""

    group: str
    n: int
    positives: int
    plan: Plan
    display: list[str]             # scored readers, in the truth file's column order
    has_probs: bool
    undefined: dict[str, int]      # metric needing probabilities -> resamples where it is undefined
    p_values: dict[str, float]     # metric -> randomization p-value of the difference


def _group_result(point: Stats, intervals: Intervals | None, s: int, ctx: _GroupContext,
                  opts: Options) -> tuple[GroupResult, list[str]]:
    """Estimates of submission ``s`` in one group, from the group's precomputed intervals."""
    notes: list[str] = []
    group, plan = ctx.group, ctx.plan

    def estimate(subject: str, metric: str, column: int | None) -> Estimate:
        value = point[subject][metric][0] if column is None else point[subject][metric][0, column]
        ci = None
        if intervals is not None:
            lo, hi = intervals[subject][metric]
            ci = (float(lo), float(hi)) if column is None else (float(lo[column]), float(hi[column]))
        if subject != "difference":
            return Estimate(float(value), ci, None)
        if opts.test == "randomization":
            p = ctx.p_values.get(metric)
            return Estimate(float(value), ci, None if p is None else p < ALPHA, p_value=p)
        if ci is None:
            return Estimate(float(value), None, None)
        if is_degenerate(*ci):
            notes.append(f"difference {metric} in {group}: degenerate CI [{ci[0]:.4g}, {ci[1]:.4g}] "
                         "(zero width: the resamples do not vary); not significant")
        return Estimate(float(value), ci, bool(excludes_zero(*ci)))

    result = GroupResult(studies=ctx.n, positives=ctx.positives, model={})
    for metric in opts.metrics:
        spec = metric_spec(metric)
        if spec.needs_probabilities:
            if not ctx.has_probs:
                continue
            if not np.isfinite(point["model"][metric][0, s]):
                notes.append(f"{metric} omitted for {group}: {_one_class_references(plan)} "
                             f"holds one class only ({spec.title} undefined against it)")
                continue
            if ctx.undefined[metric]:
                notes.append(f"{metric} in {group}: {ctx.undefined[metric]} of {opts.resamples} resamples hold one "
                             f"class only ({spec.title} undefined there); its CI uses the other resamples")
        result.model[metric] = estimate("model", metric, s)
    if plan.has_readers:
        reader_metrics = [m for m in opts.metrics if m in point["readers"]]
        result.radiologists = {m: estimate("radiologists", m, None) for m in reader_metrics}
        result.difference = {m: estimate("difference", m, s) for m in reader_metrics}
        result.readers = {name: {m: estimate("readers", m, plan.reader_names.index(name)) for m in reader_metrics}
                          for name in ctx.display}
    return result, notes


def _one_class_references(plan: Plan) -> str:
    """The reference(s) of a group that hold one class only, in words."""
    refs = plan.references
    one_class = np.flatnonzero(refs.min(axis=0) == refs.max(axis=0))
    names = reference_names(plan)
    if one_class.size == refs.shape[1] and refs.shape[1] > 1:
        return "every reference (its studies hold one class only)"
    return "; ".join(names[k] for k in one_class)


def _holm_over_groups(groups: dict[str, GroupResult]) -> None:
    """Holm over the groups of each metric: sets ``p_adjusted`` and makes ``significant`` mean
    p_adjusted < 0.05 (in place)."""
    with_difference = [g for g in GROUPS if groups[g].difference]
    metrics = {m for g in with_difference for m in groups[g].difference}
    for metric in metrics:
        family = [g for g in with_difference
                  if metric in groups[g].difference and groups[g].difference[metric].p_value is not None]
        adjusted = holm(np.array([groups[g].difference[metric].p_value for g in family]))
        for g, p_adj in zip(family, adjusted):
            est = groups[g].difference[metric]
            groups[g].difference[metric] = replace(est, p_adjusted=float(p_adj), significant=bool(p_adj < ALPHA))


def _replicates_of(boot: Stats, s: int, plan: Plan) -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, np.ndarray]] = {"model": {m: v[:, s] for m, v in boot["model"].items()}}
    if plan.has_readers:
        out["radiologists"] = dict(boot["radiologists"])
        out["difference"] = {m: v[:, s] for m, v in boot["difference"].items()}
        for j, name in enumerate(plan.reader_names):
            out[f"reader:{name}"] = {m: v[:, j] for m, v in boot["readers"].items()}
    return out


def _global_notes(pred: Predictions, plan: Plan, opts: Options, alignment) -> list[str]:
    notes = []
    if not pred.has_probabilities:
        notes.extend(f"{m} omitted: the predictions are 0/1 labels, not probabilities"
                     for m in probability_metrics(opts.metrics))
    if pred.has_probabilities and pred.binary_values:
        notes.append(_binary_values_note(pred))
    if plan.protocol == "leave-one-out" and (plan.readers.shape[1] - 1) % 2 == 0:
        notes.append(f"leave-one-out with {plan.readers.shape[1] - 1} voting readers: majority ties count as "
                     f"{opts.tie} (--tie)")
    if plan.protocol == "gold-panel" and not plan.has_readers:
        notes.append("gold-panel without readers beyond the gold ones: model only")
    if alignment.missing:
        n_scored = len(alignment.study_ids)
        notes.append(f"--allow-missing: scored {n_scored} of {n_scored + len(alignment.missing)} truth studies; "
                     f"{len(alignment.missing)} have no prediction (listed in missing_studies)")
    return notes


def _binary_values_note(pred: Predictions) -> str:
    if pred.kind == "image-probabilities":
        return ("every per-image value is 0 or 1: treated as probabilities, so a study's value is the "
                "fraction of its images voted abnormal (abnormal iff > 0.5)")
    return "every study value is 0.0 or 1.0: treated as probabilities (write 0/1 for labels)"


def software_versions() -> dict[str, str]:
    return {"mura_bench": __version__, "numpy": np.__version__}
