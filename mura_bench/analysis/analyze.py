"""``analyze``: what a study triage by the model would do, on the protocols and resamples of ``score``.

Per group (each body part and ``overall``), on the original sample and on every paired bootstrap
resample of :func:`mura_bench.scoring.engine.score` (the same draws: same seed, group and sorted studies):

- **triage** at a target sensitivity S (``target_sensitivity``, else the radiologists' mean
  sensitivity as ``score`` reports it): t* = the largest candidate threshold (-inf or a distinct
  study probability) whose sensitivity is >= S; studies with p <= t* are cleared. Reported: S, t*,
  the share of studies cleared, the share of normal studies cleared, abnormal studies cleared per
  1,000 studies. S (unless fixed) and t* are recomputed inside every resample.
- **matched** operating points: the model's sensitivity at the radiologists' mean specificity
  (the most sensitive candidate at least that specific) and its specificity at their mean
  sensitivity (at t* for that target), each with the paired difference to the radiologists.
- **calibration**: Brier score, ECE over quantile bins, the reliability bins of the sample.
- **operating points** at 0.5 and any further thresholds: sensitivity, specificity, PPV, NPV.

Leave-one-out: every rate is the mean over the N references (t* is chosen on the mean
sensitivity). Point estimates come from the original sample; CIs are percentile intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mura_bench.data.alignment import align
from mura_bench.analysis.analysis_result import Analysis, GroupAnalysis
from mura_bench.stats.bootstrap import percentile_interval
from mura_bench.stats.calibration import bin_sums, brier_score, expected_calibration_error, reliability
from mura_bench.errors import InputError
from mura_bench.scoring.memory import check_fits, score_estimate
from mura_bench.stats.metrics import (
    counts_from_indicators,
    pair_indicators,
    sensitivity_from_counts,
    specificity_from_counts,
)
from mura_bench.data.predictions import Predictions, read_predictions
from mura_bench.stats.protocols import Plan, resolve_protocol
from mura_bench.results import BootstrapSettings, InputInfo
from mura_bench.scoring.score_options import Options, bootstrap_option, refuse_arrays, whole_number
from mura_bench.scoring.group_statistics import resample_blocks
from mura_bench.scoring.engine import aligned_plan, group_rows, resample_counts, software_versions, validate_options
from mura_bench.stats.triage import (
    Located,
    Running,
    SortedGroup,
    Totals,
    Window,
    locate_sensitivity,
    locate_specificity,
)
from mura_bench.data.truth import Truth, read_truth

#: The paper's operating point, always reported.
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class AnalysisOptions:
    """What ``analyze`` adds to the scoring options: a fixed target sensitivity (None: the
    radiologists' mean), operating-point thresholds besides 0.5, and the number of ECE bins."""

    target_sensitivity: float | None = None
    thresholds: tuple[float, ...] = ()
    bins: int = 10


def analyze(
    predictions: Predictions | str | Path,
    truth: Truth | str | Path,
    *,
    protocol: str = "auto",
    bootstrap: int | None = None,
    seed: int = 0,
    confidence: float = 0.95,
    tie: str = "abnormal",
    gold_readers: Sequence[str] | None = None,
    allow_missing: bool = False,
    target_sensitivity: float | None = None,
    thresholds: Sequence[float] = (),
    bins: int = 10,
    resamples: int | None = None,
) -> Analysis:
    """Triage, matched operating points, calibration and operating points of one prediction set.

    Inputs and the scoring options are those of :func:`mura_bench.scoring.engine.score` (same reading,
    validation, protocols and resamples); ``target_sensitivity`` fixes S (otherwise the
    radiologists' mean sensitivity, which needs readers), ``thresholds`` adds operating points to
    0.5, ``bins`` is the number of ECE bins. Raises :class:`InputError` for labels-only
    predictions, a missing target, or any input fault ``score`` refuses.
    """
    resamples = bootstrap_option(bootstrap, resamples)
    refuse_arrays(predictions, truth)
    opts = Options(
        protocol=protocol,
        resamples=whole_number(resamples, "--bootstrap"),
        seed=whole_number(seed, "--seed"),
        confidence=float(confidence),
        tie=tie,
        gold_readers=tuple(gold_readers) if gold_readers else None,
        allow_missing=allow_missing,
    )
    validate_options(opts)
    extra = _check_analysis_options(target_sensitivity, thresholds, bins)
    truth_table = truth if isinstance(truth, Truth) else read_truth(truth)
    preds = predictions if isinstance(predictions, Predictions) else read_predictions(predictions)
    if not preds.has_probabilities:
        raise InputError(
            "the analysis needs probabilities, but the predictions are 0/1 labels "
            "(threshold, calibration and triage are undefined for them)",
            source=preds.path,
        )
    chosen = resolve_protocol(opts.protocol, truth_table.kind)
    alignment = align(preds, truth_table, allow_missing=opts.allow_missing)
    plan = aligned_plan(alignment, truth_table, chosen, opts)
    if extra.target_sensitivity is None and not plan.has_readers:
        raise InputError(
            f"protocol {chosen} has no readers to take the target sensitivity from",
            source="--target-sensitivity",
            hint="give --target-sensitivity S (0 <= S <= 1)",
        )
    check_bins(extra.bins, len(alignment.study_ids))
    quantities = 5 + 4 + 2 + 4 * len(_all_thresholds(extra))
    check_fits(
        score_estimate(studies=len(alignment.study_ids), resamples=opts.resamples + 1, statistics=quantities),
        f"{opts.resamples:,} resamples of {quantities:,} quantities",
        hint="use fewer --bootstrap resamples or fewer --thresholds",
    )
    probabilities = preds.probabilities[alignment.prediction_index]
    groups: dict[str, GroupAnalysis] = {}
    notes: list[str] = []
    for g_index, group, rows in group_rows(truth_table.parts[alignment.truth_index]):
        groups[group], group_notes = _analyze_group(
            probabilities[rows], _subset(plan, rows), g_index, group, opts, extra
        )
        notes.extend(group_notes)
    notes = _global_notes(plan, opts, extra, alignment) + notes
    truth_info = InputInfo(
        truth_table.path,
        truth_table.sha256,
        truth_table.kind,
        tuple(truth_table.reader_names) if truth_table.readers is not None else None,
    )
    return Analysis(
        protocol=chosen,
        bootstrap=BootstrapSettings(opts.resamples, opts.seed, opts.confidence, "percentile"),
        predictions=InputInfo(preds.path, preds.sha256, preds.kind),
        truth=truth_info,
        software=software_versions(),
        target_sensitivity=extra.target_sensitivity,
        thresholds=_all_thresholds(extra),
        bins=extra.bins,
        groups=groups,
        notes=notes,
        missing=list(alignment.missing),
    )


def _check_analysis_options(target, thresholds, bins) -> AnalysisOptions:
    if target is not None and not (0.0 <= float(target) <= 1.0):
        raise InputError(f"the target sensitivity must lie in [0, 1], got {target}", source="--target-sensitivity")
    bad = [t for t in thresholds if not np.isfinite(t) or not 0.0 <= float(t) <= 1.0]
    if bad:
        raise InputError(f"thresholds must lie in [0, 1], got {', '.join(map(str, bad))}", source="--thresholds")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)):
        raise InputError(f"the number of calibration bins must be an integer, got {bins!r}", source="--bins")
    if int(bins) < 1:
        raise InputError(f"the number of calibration bins must be at least 1, got {bins}", source="--bins")
    return AnalysisOptions(None if target is None else float(target), tuple(float(t) for t in thresholds), int(bins))


#: The default number of calibration bins, allowed whatever the number of studies.
DEFAULT_BINS = 10


def check_bins(bins: int, studies: int) -> None:
    """``bins`` may not exceed the number of studies analysed (more bins than studies only add
    empty bins, and cost time and memory per bin), except up to the default of 10."""
    limit = max(studies, DEFAULT_BINS)
    if bins > limit:
        raise InputError(
            f"{bins:,} calibration bins are more than the {studies:,} studies analysed; use at most {limit:,} "
            "(quantile bins beyond one per study stay empty)",
            source="--bins",
        )


def _all_thresholds(extra: AnalysisOptions) -> tuple[float, ...]:
    return tuple(sorted({DEFAULT_THRESHOLD, *extra.thresholds}))


def _subset(plan: Plan, rows: np.ndarray) -> Plan:
    return Plan(
        plan.protocol,
        plan.references[rows],
        plan.readers[rows],
        plan.reader_names,
        plan.reader_reference,
        plan.positives[rows],
    )


def reader_means(weights: np.ndarray, plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """The radiologists' mean sensitivity and specificity per resample row, as ``score`` computes
    them (each reader against its reference, then the mean over readers)."""
    indicators = pair_indicators(plan.references[:, plan.reader_reference], plan.readers, dtype=weights.dtype)
    counts = counts_from_indicators(weights, indicators)
    return sensitivity_from_counts(*counts).mean(axis=1), specificity_from_counts(*counts).mean(axis=1)


def group_weights(n: int, g_index: int, opts: Options) -> np.ndarray:
    """Row 0: the original sample; rows 1..B: the resamples ``score`` draws for this group."""
    ones = np.ones((1, n), dtype=np.float32)
    if opts.resamples == 0:
        return ones
    return np.concatenate([ones, resample_counts(n, g_index, opts)], axis=0)


def one_class(plan: Plan) -> bool:
    """True when some reference holds no abnormal or no normal study (triage undefined)."""
    refs = plan.references
    return bool((refs.max(axis=0) == refs.min(axis=0)).any())


def _analyze_group(
    p: np.ndarray, plan: Plan, g_index: int, group: str, opts: Options, extra: AnalysisOptions
) -> tuple[GroupAnalysis, list[str]]:
    result = GroupAnalysis(studies=p.size, positives=int(plan.positives.sum()))
    if p.size == 0:
        return result, []
    notes = []
    if one_class(plan):
        notes.append(
            f"triage and matched operating points omitted for {group}: its studies hold "
            "one class only under some reference"
        )
    values, bins = group_values_in_blocks(p, plan, group_weight_blocks(p.size, g_index, opts, extra), extra)
    result.fill(values, percentile_cis(values, opts), bins, opts.resamples)
    return result, notes


def group_values(
    p: np.ndarray, plan: Plan, weights: np.ndarray, extra: AnalysisOptions
) -> tuple[dict[str, np.ndarray], list[list[float]]]:
    """Every quantity of one group for every row of ``weights`` (row 0: the original sample), and
    the reliability bins of row 0. Keys: ``triage.<name>``, ``matched.<name>[.difference]``
    (absent where undefined), ``calibration.brier|ece``, ``op:<threshold>:<rate>``.

    Rows are processed in blocks (the running sums of a block stay small); row 0 forms a block of
    its own, so the original sample's figures never depend on the number of resamples."""
    step = block_step(p.size, extra)
    blocks = [slice(0, 1)] + [slice(i, min(i + step, weights.shape[0])) for i in range(1, weights.shape[0], step)]
    return group_values_in_blocks(p, plan, (weights[rows] for rows in blocks), extra)


def group_values_in_blocks(
    p: np.ndarray, plan: Plan, blocks, extra: AnalysisOptions
) -> tuple[dict[str, np.ndarray], list[list[float]]]:
    """:func:`group_values` of the rows that ``blocks`` yields one block at a time (the first
    block: the original sample), so that the resample counts never need to be held at once."""
    sorted_group = SortedGroup.of(p, plan.references)
    parts = [_block_values(sorted_group, plan, weights, extra) for weights in blocks]
    values = {k: np.concatenate([part[0][k] for part in parts]) for k in parts[0][0]}
    return values, parts[0][1]


def block_step(n: int, extra: AnalysisOptions) -> int:
    """Resample rows per block for ``n`` studies: the running sums (features x rows x studies) and
    the per-bin sums (rows x bins x features) of a block stay about :data:`RUNNING_ELEMENTS`."""
    return max(16, RUNNING_ELEMENTS // (4 * max(n, extra.bins + 1, 1)))


def group_weight_blocks(n: int, g_index: int, opts: Options, extra: AnalysisOptions):
    """The rows of :func:`group_weights` one block at a time: the original sample, then the
    resamples ``score`` draws for this group in blocks of :func:`block_step` rows."""
    yield np.ones((1, n), dtype=np.float32)
    if opts.resamples:
        for _, counts in resample_blocks(n, g_index, opts, rows=block_step(n, extra)):
            yield counts


#: Elements of the running sums of one block of rows (features x rows x studies).
RUNNING_ELEMENTS = 1 << 22


def _block_values(
    group: SortedGroup, plan: Plan, weights: np.ndarray, extra: AnalysisOptions
) -> tuple[dict[str, np.ndarray], list[list[float]]]:
    window = Window.full(weights, group)
    running = Running.of(window, group)
    totals = Totals.of(window.weights, group.references)
    values: dict[str, np.ndarray] = {}
    if not one_class(plan):
        reader_sens, reader_spec = reader_means(weights, plan) if plan.has_readers else (None, None)
        target = (
            np.full(weights.shape[0], extra.target_sensitivity) if extra.target_sensitivity is not None else reader_sens
        )
        at_target = locate_sensitivity(weights, group, totals, target, window, running)
        values.update(triage_values(group, totals, target, at_target))
        if plan.has_readers:
            at_reader_sens = (
                at_target
                if extra.target_sensitivity is None
                else locate_sensitivity(weights, group, totals, reader_sens, window, running)
            )
            at_reader_spec = locate_specificity(window, group, totals, reader_spec, running)
            values.update(_matched_values(totals, at_reader_sens, at_reader_spec, reader_sens, reader_spec))
    sums = bin_sums(running, group, extra.bins)
    values["calibration.brier"] = brier_score(window, group)
    values["calibration.ece"] = expected_calibration_error(sums)
    for t in _all_thresholds(extra):
        counts = running.counts(group.cleared_at(t))
        for name in ("sensitivity", "specificity", "ppv", "npv"):
            values[f"op:{t!r}:{name}"] = getattr(counts, name)(totals)
    return values, reliability(sums)


def triage_values(group: SortedGroup, totals: Totals, target: np.ndarray, located: Located) -> dict[str, np.ndarray]:
    """Replicates of the five triage quantities, t* having been ``located`` for ``target``."""
    counts = located.counts
    return {
        "triage.target_sensitivity": np.asarray(target, dtype=np.float64),
        "triage.threshold": group.thresholds[located.index],
        "triage.cleared_share": counts.studies / totals.weight,
        "triage.cleared_normal_share": counts.specificity(totals),
        "triage.missed_per_1000": 1000.0 * counts.missed.mean(axis=1) / totals.weight,
    }


def _matched_values(
    totals: Totals, at_sens: Located, at_spec: Located, reader_sens: np.ndarray, reader_spec: np.ndarray
) -> dict[str, np.ndarray]:
    spec = at_sens.counts.specificity(totals)
    sens = at_spec.counts.sensitivity(totals)
    return {
        "matched.sensitivity_at_reader_specificity": sens,
        "matched.sensitivity_at_reader_specificity.difference": sens - reader_sens,
        "matched.specificity_at_reader_sensitivity": spec,
        "matched.specificity_at_reader_sensitivity.difference": spec - reader_spec,
    }


def percentile_cis(values: dict[str, np.ndarray], opts: Options) -> dict[str, tuple[float | None, float | None]]:
    """Percentile CI of every quantity from rows 1.. (the resamples); -inf thresholds (nothing
    cleared) give a null bound where the interpolated percentile is -inf."""
    if opts.resamples == 0:
        return {}
    names = list(values)
    replicates = np.stack([values[k][1:] for k in names], axis=1)
    finite = np.where(np.isneginf(replicates), -1.0, replicates)
    lo, hi = percentile_interval(finite, opts.confidence)
    alpha = (1.0 - opts.confidence) / 2.0
    lowest = np.percentile(finite, [100 * alpha, 100 * (1 - alpha)], axis=0, method="lower")
    out = {}
    for i, name in enumerate(names):
        out[name] = tuple(
            None if lowest[j, i] < 0 and np.isneginf(replicates[:, i]).any() else float(b[i])
            for j, b in enumerate((lo, hi))
        )
    return out


def _global_notes(plan: Plan, opts: Options, extra: AnalysisOptions, alignment) -> list[str]:
    notes = []
    if extra.target_sensitivity is None:
        notes.append(
            "triage target: the radiologists' mean sensitivity in each group; it and t* are "
            "recomputed inside every resample, so their uncertainty is part of the CIs"
        )
    else:
        notes.append(
            f"triage target: sensitivity {extra.target_sensitivity!r} (fixed); t* is recomputed "
            "inside every resample, so its uncertainty is part of the CIs"
        )
    if not plan.has_readers:
        notes.append(f"matched operating points omitted: protocol {plan.protocol} has no readers to match")
    if plan.protocol == "leave-one-out":
        notes.append(
            f"leave-one-out: rates are means over the {plan.references.shape[1]} references; "
            "t* is chosen on the mean sensitivity"
        )
        if (plan.readers.shape[1] - 1) % 2 == 0:
            notes.append(
                f"leave-one-out with {plan.readers.shape[1] - 1} voting readers: majority ties count as "
                f"{opts.tie} (--tie)"
            )
    if alignment.missing:
        n_scored = len(alignment.study_ids)
        notes.append(
            f"--allow-missing: analysed {n_scored} of {n_scored + len(alignment.missing)} truth "
            f"studies; {len(alignment.missing)} have no prediction (listed in missing_studies)"
        )
    return notes
