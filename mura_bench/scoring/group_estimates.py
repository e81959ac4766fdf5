"""From a group's statistics to its estimates: intervals, significance, notes and replicates.

The engine (:mod:`mura_bench.scoring.engine`) computes every statistic of one group as :class:`Stats`:
the point estimate (one row), the bootstrap replicates (B rows) and, for BCa, the jackknife
values (n rows). This module turns them into each submission's
:class:`~mura_bench.results.GroupResult` and the notes that explain what was left out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TypedDict

import numpy as np

from mura_bench.stats.bootstrap import bca_interval, excludes_zero, is_degenerate, percentile_interval_by_statistic
from mura_bench.data.layout import GROUPS
from mura_bench.stats.metric_registry import metric_spec, probability_metrics
from mura_bench.data.predictions import Predictions
from mura_bench.stats.protocols import Plan, reference_names
from mura_bench.stats.obuchowski_rockette import METHOD as RANDOM_READERS_METHOD
from mura_bench.stats.randomization import holm
from mura_bench.results import Estimate, GroupResult, Subject
from mura_bench.scoring.score_options import Options


class Stats(TypedDict):
    """Every statistic of one group: metric -> array with resamples (or the point estimate, or
    jackknife samples) on axis 0 and the subject's columns on axis 1.

    ``model`` (B, S): each of the S submissions, averaged over the protocol's references;
    ``readers`` (B, J): each scored reader against its reference; ``radiologists`` (B,): the
    readers' mean; ``difference`` (B, S): model - radiologists. The reader subjects are empty
    without readers; metrics that need probabilities appear under ``model`` only.
    """

    model: dict[str, np.ndarray]
    readers: dict[str, np.ndarray]
    radiologists: dict[str, np.ndarray]
    difference: dict[str, np.ndarray]


def empty_stats() -> Stats:
    return {"model": {}, "readers": {}, "radiologists": {}, "difference": {}}


#: CIs of one group: subject -> metric -> (lower, upper), shaped like the statistic without its
#: resample axis.
Intervals = dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]


def all_intervals(point: Stats, boot: Stats | None, jack: Stats | None, opts: Options) -> Intervals | None:
    """CIs of every statistic of a group (all submissions, readers, differences) in one vectorised
    call; returns subject -> metric -> (lower, upper), shaped like the statistic without its
    resample axis. Reader and radiologist intervals are computed once, whatever the submissions."""
    if boot is None:
        return None
    layout = [(subject, metric, point[subject][metric].shape[1:]) for subject in point for metric in point[subject]]

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
        out.setdefault(subject, {})[metric] = (lo[at : at + width].reshape(shape), hi[at : at + width].reshape(shape))
        at += width
    return out


def _by_statistic(replicates: np.ndarray) -> np.ndarray:
    """(B, ...) replicates as a (statistics, B) matrix: a view when they are stored statistic-major
    (:func:`mura_bench.scoring.group_statistics.stack_by_statistic`), a transposed copy otherwise."""
    return replicates.reshape(replicates.shape[0], -1).T


@dataclass(frozen=True)
class GroupContext:
    """What :func:`group_result` needs to know of one group and one submission."""

    group: str
    n: int
    positives: int
    plan: Plan
    display: list[str]  # scored readers, in the truth file's column order
    has_probs: bool
    undefined: dict[str, int]  # metric needing probabilities -> resamples where it is undefined
    p_values: dict[str, float]  # metric -> randomization p-value of the difference
    random_readers: dict | None = None  # metric -> SingleTreatment of the difference (--readers random)


def group_result(
    point: Stats, intervals: Intervals | None, *, column: int, context: GroupContext, opts: Options
) -> tuple[GroupResult, list[str]]:
    """Estimates of the submission in ``column`` (of the model statistics) in one group, from the
    group's precomputed intervals, and the notes they need."""
    notes: list[str] = []
    group, plan = context.group, context.plan

    def estimate(subject: str, metric: str, col: int | None) -> Estimate:
        value = point[subject][metric][0] if col is None else point[subject][metric][0, col]
        ci = None
        if intervals is not None:
            lo, hi = intervals[subject][metric]
            ci = (float(lo), float(hi)) if col is None else (float(lo[col]), float(hi[col]))
        if subject != "difference":
            return Estimate(float(value), ci, None)
        if opts.readers == "random":
            return random_readers_estimate((context.random_readers or {}).get(metric), float(value), metric)
        if opts.test == "randomization":
            p = context.p_values.get(metric)
            return Estimate(float(value), ci, None if p is None else p < opts.alpha, p_value=p)
        if ci is None:
            return Estimate(float(value), None, None)
        if is_degenerate(*ci):
            notes.append(
                f"difference {metric} in {group}: degenerate CI [{ci[0]:.4g}, {ci[1]:.4g}] "
                "(zero width: the resamples do not vary); not significant"
            )
        return Estimate(float(value), ci, bool(excludes_zero(*ci)))

    def random_readers_estimate(analysis, value: float, metric: str) -> Estimate:
        if analysis is None:  # too few readers in this group (noted once for the group)
            return Estimate(value, None, None)
        if analysis.se == 0.0:
            notes.append(
                f"difference {metric} in {group}: every reader's difference from the model is the same "
                "and does not vary over studies (standard error 0); not significant"
            )
            return Estimate(analysis.value, analysis.ci, False, df=analysis.df, method=RANDOM_READERS_METHOD)
        return Estimate(
            analysis.value,
            analysis.ci,
            bool(analysis.p_value < opts.alpha),
            p_value=analysis.p_value,
            df=analysis.df,
            method=RANDOM_READERS_METHOD,
        )

    result = GroupResult(studies=context.n, positives=context.positives, model={})
    for metric in opts.metrics:
        spec = metric_spec(metric)
        if spec.needs_probabilities:
            if not context.has_probs:
                continue
            if not np.isfinite(point["model"][metric][0, column]):
                notes.append(
                    f"{metric} omitted for {group}: {one_class_references(plan)} "
                    f"holds one class only ({spec.title} undefined against it)"
                )
                continue
            if context.undefined[metric]:
                notes.append(
                    f"{metric} in {group}: {context.undefined[metric]} of {opts.resamples} resamples hold "
                    f"one class only ({spec.title} undefined there); its CI uses the other resamples"
                )
        result.model[metric] = estimate("model", metric, column)
    if plan.has_readers:
        reader_metrics = [m for m in opts.metrics if m in point["readers"]]
        result.radiologists = {m: estimate("radiologists", m, None) for m in reader_metrics}
        result.difference = {m: estimate("difference", m, column) for m in reader_metrics}
        result.readers = {
            name: {m: estimate("readers", m, plan.reader_names.index(name)) for m in reader_metrics}
            for name in context.display
        }
    return result, notes


@dataclass(frozen=True)
class GroupStatistics:
    """Every statistic of one non-empty group: the point estimates, the bootstrap replicates and
    BCa's jackknife values (None when not computed), the randomization p-values per metric and,
    with random readers, the Obuchowski-Rockette analysis per metric and submission."""

    plan: Plan
    point: Stats
    boot: Stats | None
    jack: Stats | None
    p_values: dict[str, np.ndarray]
    random_readers: dict | None = None  # metric -> [SingleTreatment per submission]


def finish_group(
    statistics: GroupStatistics,
    *,
    group: str,
    display: list[str],
    has_probs: np.ndarray,
    from_scores: list[str],
    opts: Options,
) -> list[tuple[GroupResult, list[str], dict | None]]:
    """Per submission (``has_probs`` holds one flag per submission): its result in one non-empty
    group, the group's notes, and its replicates there (None unless kept). ``display``: the
    scored readers in the truth file's column order; ``from_scores``: the metrics of scores that
    were computed."""
    plan, point, boot, jack = statistics.plan, statistics.point, statistics.boot, statistics.jack
    n, n_subs = plan.positives.size, has_probs.size
    intervals = all_intervals(point, boot, jack, opts)
    undefined = {
        m: np.isnan(boot["model"][m]).sum(axis=0) if boot is not None else np.zeros(n_subs, int) for m in from_scores
    }
    shared_notes = []
    if jack is not None and any(np.isnan(v).any() for subject in jack.values() for v in subject.values()):
        shared_notes.append(f"bca in {group}: some jackknife samples are undefined; percentile CIs used there")
    out, positives = [], int(plan.positives.sum())
    for s in range(n_subs):
        context = GroupContext(
            group=group,
            n=n,
            positives=positives,
            plan=plan,
            display=display,
            has_probs=bool(has_probs[s]),
            undefined={m: int(v[s]) for m, v in undefined.items()},
            p_values={m: float(v[s]) for m, v in statistics.p_values.items()},
            random_readers={m: v[s] for m, v in (statistics.random_readers or {}).items()},
        )
        result, notes = group_result(point, intervals, column=s, context=context, opts=opts)
        kept = None
        if opts.keep_replicates and boot is not None:
            kept = replicates_of(boot, s, plan)
            if jack is not None and plan.has_readers:
                kept["jackknife:difference"] = {m: v[:, s] for m, v in jack["difference"].items()}
        out.append((result, shared_notes + notes, kept))
    return out


def one_class_references(plan: Plan) -> str:
    """The reference(s) of a group that hold one class only, in words."""
    refs = plan.references
    one_class = np.flatnonzero(refs.min(axis=0) == refs.max(axis=0))
    names = reference_names(plan)
    if one_class.size == refs.shape[1] and refs.shape[1] > 1:
        return "every reference (its studies hold one class only)"
    return "; ".join(names[k] for k in one_class)


def holm_over_groups(groups: dict[str, GroupResult], alpha: float = 0.05) -> None:
    """Holm over the groups of each metric: sets ``p_adjusted`` and makes ``significant`` mean
    p_adjusted < ``alpha`` (in place)."""
    with_difference = [g for g in GROUPS if groups[g].difference]
    metrics = {m for g in with_difference for m in groups[g].difference}
    for metric in metrics:
        family = [
            g
            for g in with_difference
            if metric in groups[g].difference and groups[g].difference[metric].p_value is not None
        ]
        adjusted = holm(np.array([groups[g].difference[metric].p_value for g in family]))
        for g, p_adj in zip(family, adjusted):
            est = groups[g].difference[metric]
            groups[g].difference[metric] = replace(est, p_adjusted=float(p_adj), significant=bool(p_adj < alpha))


def replicates_of(boot: Stats, s: int, plan: Plan) -> dict[str, dict[str, np.ndarray]]:
    """The bootstrap replicates of submission ``s``, by subject key (see ``Result.replicates``)."""
    out: dict[str, dict[str, np.ndarray]] = {"model": {m: v[:, s] for m, v in boot["model"].items()}}
    if plan.has_readers:
        out["radiologists"] = dict(boot["radiologists"])
        out["difference"] = {m: v[:, s] for m, v in boot["difference"].items()}
        for j, name in enumerate(plan.reader_names):
            out[Subject.reader(name).key] = {m: v[:, j] for m, v in boot["readers"].items()}
    return out


def global_notes(pred: Predictions, plan: Plan, opts: Options, alignment) -> list[str]:
    """Notes on a whole prediction set (not on one group): what is omitted, how ties count."""
    notes = []
    if not pred.has_probabilities:
        notes.extend(
            f"{m} omitted: the predictions are 0/1 labels, not probabilities" for m in probability_metrics(opts.metrics)
        )
    if pred.has_probabilities and pred.binary_values:
        notes.append(_binary_values_note(pred))
    if plan.protocol == "leave-one-out" and (plan.readers.shape[1] - 1) % 2 == 0:
        notes.append(
            f"leave-one-out with {plan.readers.shape[1] - 1} voting readers: majority ties count as {opts.tie} (--tie)"
        )
    if plan.protocol == "gold-panel" and not plan.has_readers:
        notes.append("gold-panel without readers beyond the gold ones: model only")
    if alignment.missing:
        n_scored = len(alignment.study_ids)
        notes.append(
            f"--allow-missing: scored {n_scored} of {n_scored + len(alignment.missing)} truth studies; "
            f"{len(alignment.missing)} have no prediction (listed in missing_studies)"
        )
    return notes


def _binary_values_note(pred: Predictions) -> str:
    if pred.kind == "image-probabilities":
        return (
            "every per-image value is 0 or 1: treated as probabilities, so a study's value is the "
            "fraction of its images voted abnormal (abnormal iff > 0.5)"
        )
    return "every study value is 0.0 or 1.0: treated as probabilities (write 0/1 for labels)"
