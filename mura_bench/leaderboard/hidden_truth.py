"""What a page may show when its truth must stay hidden from the people who submit.

Policy (applied by ``leaderboard build --hidden-truth`` and by every page the hosted scoring
programs write): aggregates only.

* No curve with one step per study: the ROC curve is replaced by operating points (the model's at
  its 0.5 threshold and the readers'), which are aggregates of the confusion counts.
* No threshold at study resolution: the triage threshold t* (one study's probability) is left out;
  the shares it clears, with their intervals, stay.
* Calibration bins hold at least :data:`MIN_BIN_STUDIES` studies each: smaller equal-mass bins are
  merged with their neighbours (a submission that is constant except for one study would otherwise
  get a one-study bin, whose observed rate is that study's label), and the ECE is that of the
  merged bins.
* No per-study table or download (the site never writes one).
* No digest of the truth: its SHA-256, or any prefix of it, is a check for guesses (whoever narrows
  the labels down to a set of candidates, by other published figures or outside knowledge, hashes
  each candidate file and keeps the one that matches). The pages and ``leaderboard.json`` say it is
  withheld (:func:`published_truth_sha256`).

Aggregate metrics with their intervals, the readers' operating points and the body-part tables
stay; the residual risk (each published number leaks a few bits, and many submissions add up) is
stated in the README.
"""

from __future__ import annotations

import dataclasses

#: Fewest studies in one published calibration bin.
MIN_BIN_STUDIES = 20
#: Triage figures at study resolution, left out of pages built from a hidden truth.
STUDY_RESOLUTION_TRIAGE = ("threshold",)


def published_truth_sha256(sha256: str, hidden_truth: bool) -> str | None:
    """The truth's SHA-256 as a page may show it: None (withheld) when the truth is hidden."""
    return None if hidden_truth else sha256


def merge_small_bins(bins: list[list[float]], min_studies: int = MIN_BIN_STUDIES) -> list[list[float]]:
    """Reliability bins ``[mean_p, mean_y, n]`` (in probability order) merged left to right until
    each holds at least ``min_studies`` studies; a short last run joins the bin before it. Fewer
    than ``min_studies`` studies in all gives no bin."""
    merged: list[list[float]] = []
    run = [0.0, 0.0, 0]
    for mean_p, mean_y, n in bins:
        run = [run[0] + mean_p * n, run[1] + mean_y * n, run[2] + n]
        if run[2] >= min_studies:
            merged.append(run)
            run = [0.0, 0.0, 0]
    if run[2]:
        if not merged:
            return []
        last = merged.pop()
        merged.append([last[0] + run[0], last[1] + run[1], last[2] + run[2]])
    return [[p / n, y / n, int(n)] for p, y, n in merged]


def ece_of(bins: list[list[float]]) -> float:
    """Expected calibration error of reliability bins: sum_b n_b |mean_p - mean_y| / N."""
    total = sum(b[2] for b in bins)
    return float(sum(b[2] * abs(b[0] - b[1]) for b in bins) / total) if total else float("nan")


def publishable_analysis(analysis):
    """An entry's :class:`~mura_bench.analysis.analysis_batch.EntryAnalysis` as a hidden-truth page may show
    it: calibration bins of at least :data:`MIN_BIN_STUDIES` studies (ECE recomputed on them), no
    study-resolution triage threshold. None stays None."""
    if analysis is None:
        return None
    bins = merge_small_bins(analysis.reliability)
    triage = analysis.triage
    if triage is not None:
        triage = {k: v for k, v in triage.items() if k not in STUDY_RESOLUTION_TRIAGE}
    return dataclasses.replace(analysis, reliability=bins, ece=ece_of(bins) if bins else float("nan"), triage=triage)
