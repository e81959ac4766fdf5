"""Overall triage of many prediction sets at once (the leaderboard's "cleared at reader sensitivity").

Every set is analysed exactly as :func:`mura_bench.analysis.analyze.analyze` analyses the ``overall`` group
(same resamples, target = the radiologists' mean sensitivity recomputed in each resample, same
t*), so the numbers agree with ``mura-bench analyze``. What makes 100 sets cheap: the resample
weights and the readers' targets are computed once; each set's threshold search runs on a window
of candidates around its original-sample answer, with the counts before the window of every set
from one matrix product (:func:`mura_bench.stats.triage.prefix_counts`); rows whose answer falls outside
a window are recomputed in full, so the window never changes a result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mura_bench.data.alignment import align
from mura_bench.analysis.analyze import group_weights, one_class, percentile_cis, reader_means, triage_values
from mura_bench.analysis.analysis_result import TRIAGE
from mura_bench.stats.calibration import bin_sums, brier_score, expected_calibration_error, reliability
from mura_bench.data.layout import GROUPS
from mura_bench.scoring.memory import BASE_BYTES, check_fits
from mura_bench.data.predictions import Predictions
from mura_bench.stats.protocols import resolve_protocol
from mura_bench.results import Estimate
from mura_bench.scoring.score_options import Options
from mura_bench.scoring.engine import aligned_plan, one_blas_thread
from mura_bench.stats.triage import (
    Running,
    SortedGroup,
    Totals,
    Window,
    locate_sensitivity,
    prefix_counts,
    sensitivity_at_candidates,
)
from mura_bench.data.truth import Truth

#: Window half-width, in sensitivity, around the range of the resampled targets.
WINDOW_MARGIN = 0.03


@dataclass(frozen=True)
class EntryAnalysis:
    """Overall triage (None without readers or with a one-class reference), and the calibration
    of the original sample: reliability bins ``[mean_p, mean_y, n]``, Brier score and ECE."""

    triage: dict[str, Estimate] | None
    reliability: list[list[float]]
    brier: float
    ece: float


def analyze_overall_many(
    predictions: Sequence[Predictions],
    truth: Truth,
    *,
    resamples: int = 10000,
    seed: int = 0,
    confidence: float = 0.95,
    tie: str = "abnormal",
    bins: int = 10,
) -> list[EntryAnalysis | None]:
    """One :class:`EntryAnalysis` per prediction set (None for 0/1 labels). Every set must cover
    the truth's studies (as the leaderboard requires)."""
    opts = Options(resamples=int(resamples), seed=int(seed), confidence=float(confidence), tie=tie)
    protocol = resolve_protocol("auto", truth.kind)
    usable = [i for i, p in enumerate(predictions) if p.has_probabilities]
    out: list[EntryAnalysis | None] = [None] * len(predictions)
    if not usable:
        return out
    alignment = align(predictions[usable[0]], truth)
    plan = aligned_plan(alignment, truth, protocol, opts)
    n = len(alignment.study_ids)
    check_overall_triage_memory(n, opts.resamples, len(usable))
    weights = group_weights(n, GROUPS.index("overall"), opts)
    probabilities = [predictions[i].probabilities[align(predictions[i], truth).prediction_index] for i in usable]
    groups = [SortedGroup.of(p, plan.references) for p in probabilities]
    with one_blas_thread():  # many small products: BLAS threads would only spin (2x the time)
        triage = (
            _triage_many(weights, groups, plan, opts)
            if plan.has_readers and not one_class(plan)
            else [None] * len(groups)
        )
    ones = np.ones((1, n), dtype=np.float32)
    for i, group, entry_triage in zip(usable, groups, triage):
        window = Window.full(ones, group)
        sums = bin_sums(Running.of(window, group), group, bins)
        out[i] = EntryAnalysis(
            entry_triage,
            reliability(sums),
            float(brier_score(window, group)[0]),
            float(expected_calibration_error(sums)[0]),
        )
    return out


def check_overall_triage_memory(studies: int, resamples: int, entries: int) -> None:
    """The overall triage of every entry reads all resample rows at once (each entry's window of
    candidates spans them): refused (InputError, with the estimate) where those rows and the
    entries' replicates would not fit the memory bound."""
    check_fits(
        BASE_BYTES + 12 * studies * (resamples + 1) + 8 * 16 * (resamples + 1) * entries,
        f"the overall triage of {entries:,} entries on {studies:,} studies x {resamples:,} resamples",
        hint="use fewer --bootstrap resamples",
    )


def _triage_many(weights: np.ndarray, groups: list[SortedGroup], plan, opts: Options) -> list[dict[str, Estimate]]:
    target, _ = reader_means(weights, plan)
    totals = Totals.of(weights, plan.references)
    bounds = [_window(g, target) for g in groups]
    prefixes = prefix_counts(weights, groups, [int(g.candidates[lo]) for g, (lo, _) in zip(groups, bounds)])

    def one(i: int) -> dict[str, np.ndarray]:
        group, (lo, hi) = groups[i], bounds[i]
        window = Window.between(weights, group, int(group.candidates[lo]), int(group.candidates[hi]), prefixes[i])
        located = locate_sensitivity(weights, group, totals, target, window)
        return {f"{i}:{k}": v for k, v in triage_values(group, totals, target, located).items()}

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:  # entries are independent; numpy releases the GIL
        found = list(pool.map(one, range(len(groups))))
    values: dict[str, np.ndarray] = {k: v for entry in found for k, v in entry.items()}
    intervals = percentile_cis(values, opts)  # all entries' percentiles in one call
    return [
        {k: _estimate(values[f"{i}:triage.{k}"][0], intervals.get(f"{i}:triage.{k}")) for k in TRIAGE}
        for i in range(len(groups))
    ]


def _window(group: SortedGroup, target: np.ndarray) -> tuple[int, int]:
    """Candidate indices [lo, hi] whose original-sample sensitivity lies within
    :data:`WINDOW_MARGIN` of the central 99.8 % of the resampled targets."""
    curve = sensitivity_at_candidates(group)
    low, high = np.percentile(target, [0.1, 99.9])
    inside = np.flatnonzero((curve >= low - WINDOW_MARGIN) & (curve <= high + WINDOW_MARGIN))
    last = group.candidates.size - 1
    if inside.size == 0:
        return 0, last
    return max(int(inside[0]) - 1, 0), min(int(inside[-1]) + 1, last)


def _estimate(value: float, ci) -> Estimate:
    return Estimate(
        float(value),
        None if ci is None else (float("-inf") if ci[0] is None else ci[0], float("-inf") if ci[1] is None else ci[1]),
    )
