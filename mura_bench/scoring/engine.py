"""``score``: the library's one entry point (files or tables in, a :class:`Result` out).

Flow: align predictions with the truth -> protocol plan (references per scored subject) -> per group,
one resample-count matrix -> confusion counts for every (reference, prediction) pair in one matrix
product -> metrics -> means over references/readers -> differences -> CIs.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mura_bench import __version__
from mura_bench.data.alignment import Alignment, align
from mura_bench.errors import InputError, PredictionSetError
from mura_bench.scoring.group_estimates import GroupStatistics, finish_group, global_notes, holm_over_groups
from mura_bench.scoring.group_statistics import (
    GroupInputs,
    bootstrap_stats,
    jackknife_stats,
    resample_counts,
    statistics,
    subset_plan,
)
from mura_bench.data.layout import BODY_PARTS, GROUPS
from mura_bench.scoring.memory import check_fits, replicate_statistics, score_estimate
from mura_bench.stats.metric_registry import METRICS, count_metrics, probability_metrics
from mura_bench.data.predictions import Predictions, read_predictions
from mura_bench.io.progress import ProgressCallback, report
from mura_bench.stats.protocols import (
    Plan,
    canonical_reader_order,
    check_gold_readers_apply,
    make_plan,
    resolve_protocol,
)
from mura_bench.stats.obuchowski_rockette import model_vs_readers
from mura_bench.stats.randomization import model_vs_readers_p_values
from mura_bench.results import BootstrapSettings, GroupResult, InputInfo, Result
from mura_bench.scoring.score_options import (
    Options,
    bootstrap_option,
    check_options,
    metric_names,
    refuse_arrays,
    whole_number,
)
from mura_bench.data.truth import Truth, read_truth

__all__ = [
    "Options",
    "aligned_plan",
    "group_rows",
    "one_blas_thread",
    "resample_counts",
    "score",
    "score_many",
    "software_versions",
    "validate_options",
]


def score(
    predictions: Predictions | str | Path,
    truth: Truth | str | Path,
    *,
    protocol: str = "auto",
    metrics: Sequence[str] | str = METRICS,
    bootstrap: int | None = None,
    seed: int = 0,
    confidence: float = 0.95,
    ci_method: str = "percentile",
    tie: str = "abnormal",
    gold_readers: Sequence[str] | None = None,
    allow_missing: bool = False,
    keep_replicates: bool = False,
    progress: ProgressCallback | None = None,
    test: str = "ci",
    permutations: int = 10000,
    adjust: str = "none",
    resample_readers: bool = False,
    readers: str = "fixed",
    resamples: int | None = None,
) -> Result:
    """Score one prediction file (or :class:`Predictions`) against a truth file (or :class:`Truth`).

    The options are those of :func:`score_many`; for arrays in memory see :func:`mura_bench.evaluate`.
    ``test="randomization"`` and ``resample_readers`` compare the model with the radiologists: with
    no reader to score they are refused (InputError), since they would change nothing.
    """
    resamples = bootstrap_option(bootstrap, resamples)
    refuse_arrays(predictions, truth)
    if test == "randomization" or resample_readers:
        truth = truth if isinstance(truth, Truth) else read_truth(truth)  # read once, passed on
        if protocol in ("auto", "single", "leave-one-out", "gold-panel"):
            check_reader_options_apply(
                Options(
                    test=test,
                    resample_readers=bool(resample_readers),
                    gold_readers=None if gold_readers is None else tuple(gold_readers),
                ),
                resolve_protocol(protocol, truth.kind),
                truth,
            )
    return score_many(
        [predictions],
        truth,
        protocol=protocol,
        metrics=metrics,
        bootstrap=resamples,
        seed=seed,
        confidence=confidence,
        ci_method=ci_method,
        tie=tie,
        gold_readers=gold_readers,
        allow_missing=allow_missing,
        keep_replicates=keep_replicates,
        progress=progress,
        test=test,
        permutations=permutations,
        adjust=adjust,
        resample_readers=resample_readers,
        readers=readers,
    )[0]


def score_many(
    predictions: Sequence[Predictions | str | Path],
    truth: Truth | str | Path,
    *,
    protocol: str = "auto",
    metrics: Sequence[str] | str = METRICS,
    bootstrap: int | None = None,
    seed: int = 0,
    confidence: float = 0.95,
    ci_method: str = "percentile",
    tie: str = "abnormal",
    gold_readers: Sequence[str] | None = None,
    allow_missing: bool = False,
    keep_replicates: bool = False,
    progress: ProgressCallback | None = None,
    test: str = "ci",
    permutations: int = 10000,
    adjust: str = "none",
    resample_readers: bool = False,
    readers: str = "fixed",
    resamples: int | None = None,
) -> list[Result]:
    """Score several prediction sets on the very same bootstrap resamples (paired across them).

    Options: ``protocol`` auto|single|leave-one-out|gold-panel; ``metrics`` a subset of
    :data:`mura_bench.stats.metrics.METRICS` (a string is one name, or comma-separated names);
    ``bootstrap`` B, the resamples (default 10,000; 0: point estimates only; ``resamples`` is its
    deprecated alias); ``seed``;
    ``confidence``; ``ci_method`` percentile|bca; ``tie`` abnormal|normal (majority ties);
    ``gold_readers`` (gold-panel; default the first three); ``allow_missing`` scores the subset of
    truth studies present in each prediction set (listed in ``Result.missing``);
    ``keep_replicates`` keeps the raw bootstrap values in ``Result.replicates``;
    ``progress(stage, done, total)`` is called after each scored group, counting studies (see
    :mod:`mura_bench.io.progress`);
    ``test`` ci|randomization: what makes a model - radiologists difference significant (its CI
    excludes 0, or the paired randomization test of :mod:`mura_bench.stats.randomization` with
    ``permutations`` P gives p < 1 - ``confidence``); ``adjust`` none|holm (randomization or random
    readers): Holm over the 8 groups of each metric; ``readers`` fixed|random: with "random" the
    model - radiologists difference of each count metric is the Obuchowski-Rockette analysis of
    :mod:`mura_bench.stats.obuchowski_rockette` (readers a sample of radiologists: t interval on Hillis'
    df, p-value; needs readers to score, at least 2); ``resample_readers`` (deprecated; use
    ``readers="random"``): two-way bootstrap (:mod:`mura_bench.stats.two_way`).
    Raises :class:`InputError` for any inconsistency; a fault of one prediction set (unreadable, or
    not matching the truth) is a :class:`~mura_bench.errors.PredictionSetError` naming its index.
    """
    resamples = bootstrap_option(bootstrap, resamples)
    refuse_arrays(predictions, truth)
    opts = Options(
        protocol=protocol,
        metrics=metric_names(metrics),
        resamples=whole_number(resamples, "--bootstrap"),
        seed=whole_number(seed, "--seed"),
        confidence=float(confidence),
        ci_method=ci_method,
        tie=tie,
        gold_readers=None if gold_readers is None else tuple(gold_readers),
        allow_missing=allow_missing,
        keep_replicates=keep_replicates,
        test=test,
        permutations=whole_number(permutations, "--permutations"),
        adjust=adjust,
        resample_readers=bool(resample_readers),
        readers=readers,
    )
    check_options(opts)
    if opts.resample_readers:
        import warnings

        warnings.warn(RESAMPLE_READERS_DEPRECATION, FutureWarning, stacklevel=2)
    truth_table = truth if isinstance(truth, Truth) else read_truth(truth)
    preds: list[Predictions] = []
    for i, p in enumerate(predictions):
        with _naming_set(i, p):
            preds.append(p if isinstance(p, Predictions) else read_predictions(p))
    chosen = resolve_protocol(opts.protocol, truth_table.kind)
    check_gold_readers_apply(opts.gold_readers, chosen)
    check_random_readers_apply(opts, chosen, truth_table)
    alignments = []
    for i, p in enumerate(preds):
        with _naming_set(i, p):
            alignments.append(align(p, truth_table, allow_missing=opts.allow_missing))
    # Prediction sets covering the same studies share one pass (and one set of resamples).
    batches: dict[tuple[str, ...], list[int]] = {}
    for i, a in enumerate(alignments):
        batches.setdefault(tuple(a.study_ids), []).append(i)
    check_memory(
        opts,
        truth_table,
        chosen,
        [[preds[i] for i in members] for members in batches.values()],
        studies=max(len(a.study_ids) for a in alignments) if alignments else 0,
    )
    results: list[Result | None] = [None] * len(preds)
    steps = _Steps(progress, sum(2 * len(studies) for studies in batches))
    with one_blas_thread():
        for members in batches.values():
            batch_results = _score_aligned(
                [preds[i] for i in members], [alignments[i] for i in members], truth_table, chosen, opts, steps
            )
            for i, r in zip(members, batch_results):
                results[i] = r
    return [r for r in results if r is not None]


#: Said when the two-way bootstrap is asked for.
RESAMPLE_READERS_DEPRECATION = (
    "--resample-readers (resample_readers=True) is deprecated: its intervals are far too wide (false-positive "
    "rate about 1 % at a nominal 5 %) and a reader drawn twice votes twice in the others' majorities. "
    'Use --readers random (readers="random"): the Obuchowski-Rockette analysis of radiologists in general.'
)


def check_random_readers_apply(opts: Options, protocol: str, truth: Truth) -> None:
    """``readers="random"`` needs at least two scored readers: refused (InputError) for a labels-only
    truth (protocol single) and for a gold panel without two readers beyond the gold ones."""
    if opts.readers != "random":
        return
    if protocol == "single":
        raise InputError(
            f"--readers random compares the model with radiologists, but the truth ({truth.kind}) "
            "holds no readers to score: give a reader panel",
            source="--readers",
        )
    if protocol == "gold-panel":
        gold = opts.gold_readers or tuple(truth.reader_names[:3])
        scored = [r for r in truth.reader_names if r not in gold]
        if len(scored) < 2:
            raise InputError(
                f"--readers random needs at least 2 readers beyond the gold panel; this truth has {len(scored)}",
                source="--readers",
            )


def check_reader_options_apply(opts: Options, protocol: str, truth: Truth) -> None:
    """``test="randomization"`` and ``resample_readers`` (of :func:`score`) are about model - radiologists: refused
    (InputError) when the protocol scores no reader (labels only, or a gold panel without readers
    beyond the gold ones), since they would change nothing."""
    if opts.test != "randomization" and not opts.resample_readers:
        return
    names = list(truth.reader_names) if truth.readers is not None else []
    if protocol == "leave-one-out":
        scored = len(names)
    elif protocol == "gold-panel":
        gold = opts.gold_readers if opts.gold_readers is not None else names[:3]
        scored = len([n for n in names if n not in gold])
    else:
        scored = 0
    if scored:
        return
    option = "--test randomization" if opts.test == "randomization" else "--resample-readers"
    why = (
        "the truth has no readers (labels only)"
        if not names
        else f"protocol {protocol} scores no reader besides the gold ones"
    )
    raise InputError(
        f"{option} compares the model with the radiologists, but {why}: there is nothing to test",
        hint="leave the option out, or give a reader panel as --truth",
    )


def check_memory(opts: Options, truth: Truth, protocol: str, batches: list[list[Predictions]], *, studies: int) -> None:
    """Refuse up front (:func:`mura_bench.scoring.memory.check_fits`) a run whose replicates would not fit
    the documented memory bound; everything else the engine does in blocks."""
    if opts.resamples == 0 and opts.test != "randomization":
        return
    readers = 0 if protocol == "single" or truth.readers is None else len(truth.reader_names)
    scores = len(probability_metrics(opts.metrics))
    counts = len(count_metrics(opts.metrics))
    submissions = sum(len(batch) for batch in batches) if opts.keep_replicates else max(map(len, batches), default=1)
    statistics = replicate_statistics(
        count_metrics=counts, score_metrics=scores, submissions=submissions, readers=readers
    )
    estimate = score_estimate(
        studies=studies,
        resamples=opts.resamples,
        statistics=statistics,
        keep_replicates=opts.keep_replicates,
        bca=opts.ci_method == "bca",
        permutations=opts.permutations if opts.test == "randomization" else 0,
        metrics=counts,
    )
    what = (
        f"{opts.resamples:,} resamples of {statistics:,} statistics ({submissions:,} prediction set"
        f"{'s' if submissions != 1 else ''}, {readers} readers, {counts + scores} metrics)"
    )
    check_fits(estimate, what)


@contextmanager
def _naming_set(index: int, predictions: Predictions | str | Path):
    """An :class:`InputError` raised inside becomes a :class:`PredictionSetError` naming the set."""
    try:
        yield
    except InputError as exc:
        name = predictions.path if isinstance(predictions, Predictions) else str(predictions)
        raise PredictionSetError(exc, index=index, name=name) from exc


def validate_options(opts: Options) -> None:
    """Raise :class:`InputError` for options that ``score`` refuses (shared by ``analyze``; see
    :func:`mura_bench.scoring.score_options.check_options`)."""
    check_options(opts)


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
    return make_plan(
        protocol,
        labels=None if truth.labels is None else truth.labels[tidx],
        readers=None if readers is None else readers[:, order],
        reader_names=[names[i] for i in order],
        tie=opts.tie,
        gold_readers=gold,
    )


def group_rows(parts: np.ndarray):
    """``(index in GROUPS, group, rows)`` per group: the rows of its studies. ``parts`` holds each
    scored study's body part (an index into BODY_PARTS, e.g. ``truth.parts[alignment.truth_index]``)."""
    parts = np.asarray(parts)
    for g_index, group in enumerate(GROUPS):
        rows = np.flatnonzero(parts == BODY_PARTS.index(group)) if group in BODY_PARTS else np.arange(parts.size)
        yield g_index, group, rows


def one_blas_thread():
    """Context in which BLAS runs single-threaded. The engine's matrix products are many and small
    (a block of resamples times a thin indicator matrix); BLAS' own threads spin and wait on them
    (25x slower on a busy 2-core machine). Parallel work is spread over blocks instead
    (:func:`mura_bench.scoring.group_statistics.in_blocks`)."""
    return _blas_controller().limit(limits=1, user_api="blas")


_BLAS_CONTROLLER_LOCK = threading.Lock()
_BLAS_CONTROLLER: list[Any] = []  # the process's one ThreadpoolController, once made


def _blas_controller() -> Any:
    """The process's one ``ThreadpoolController``, made on first use.

    Making a controller scans the loaded libraries with ``dl_iterate_phdr``, whose callback runs
    Python code while the dynamic loader's lock is held: a scan made while another thread imports a
    C extension (``dlopen`` under the GIL) deadlocks. So the scan is made once, on the first call,
    which the engine and the leaderboard build make in the main thread before they start threads;
    every later limit reuses it."""
    with _BLAS_CONTROLLER_LOCK:
        if not _BLAS_CONTROLLER:
            from threadpoolctl import ThreadpoolController

            _BLAS_CONTROLLER.append(ThreadpoolController())
        return _BLAS_CONTROLLER[0]


class _Steps:
    """Progress of scoring, counted in studies: a group's work grows with its studies (the body
    parts together hold as many as ``overall``), so the bar moves evenly."""

    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self.callback, self.total, self.done = callback, total, 0

    def step(self, studies: int) -> None:
        self.done += studies
        report(self.callback, "scoring", self.done, self.total)


@dataclass(frozen=True)
class _Batch:
    """Prediction sets aligned to the same studies, as columns (one per submission), with the
    protocol plan of those studies and the metrics to compute."""

    plan: Plan
    display: list[str]  # scored readers, in the truth file's column order
    labels: np.ndarray  # (n, S) 0/1
    probabilities: np.ndarray  # (n, S)
    has_probs: np.ndarray  # (S,) bool
    from_counts: list[str]
    from_scores: list[str]  # metrics that need probabilities (none when no set has them)

    @staticmethod
    def of(
        preds: list[Predictions], alignments: list[Alignment], truth: Truth, protocol: str, opts: Options
    ) -> "_Batch":
        plan = aligned_plan(alignments[0], truth, protocol, opts, canonical=True)
        has_probs = np.array([p.has_probabilities for p in preds])
        return _Batch(
            plan=plan,
            display=[name for name in truth.reader_names if name in plan.reader_names],
            labels=np.stack([p.labels[a.prediction_index] for p, a in zip(preds, alignments)], axis=1),
            probabilities=np.stack([p.probabilities[a.prediction_index] for p, a in zip(preds, alignments)], axis=1),
            has_probs=has_probs,
            from_counts=count_metrics(opts.metrics),
            from_scores=probability_metrics(opts.metrics) if has_probs.any() else [],
        )


def _score_aligned(
    preds: list[Predictions], alignments: list[Alignment], truth: Truth, protocol: str, opts: Options, steps: _Steps
) -> list[Result]:
    batch = _Batch.of(preds, alignments, truth, protocol, opts)
    n_subs = len(preds)
    groups: list[dict[str, GroupResult]] = [{} for _ in range(n_subs)]
    replicates: list[dict] = [{} for _ in range(n_subs)]
    notes: list[list[str]] = [global_notes(p, batch.plan, opts, a) for p, a in zip(preds, alignments)]

    def finish(group: str, statistics: GroupStatistics | None) -> None:
        """Intervals and per-entry results of one group (on the finishing thread, in group order)."""
        if statistics is None:
            for s in range(n_subs):
                groups[s][group] = GroupResult(studies=0, positives=0)
            return
        per_entry = finish_group(
            statistics,
            group=group,
            display=batch.display,
            has_probs=batch.has_probs,
            from_scores=batch.from_scores,
            opts=opts,
        )
        for s, (result, group_notes, kept) in enumerate(per_entry):
            groups[s][group] = result
            notes[s].extend(group_notes)
            if kept is not None:
                replicates[s][group] = kept

    # Group g's intervals (partitions, GIL-free) run on a second thread while group g + 1 is resampled.
    with ThreadPoolExecutor(max_workers=1) as finisher:
        finishing = []
        for g_index, group, rows in group_rows(truth.parts[alignments[0].truth_index]):
            if rows.size == 0:
                finishing.append(finisher.submit(finish, group, None))
                continue
            finishing.append(finisher.submit(finish, group, _group_statistics(batch, rows, g_index, opts)))
            steps.step(rows.size)
        for done in finishing:
            done.result()  # re-raises a fault of the finishing thread
    if opts.adjust == "holm":
        for s in range(n_subs):
            holm_over_groups(groups[s], opts.alpha)
    return _results(preds, alignments, truth, protocol, opts, groups=groups, notes=notes, replicates=replicates)


def _results(
    preds: list[Predictions],
    alignments: list[Alignment],
    truth: Truth,
    protocol: str,
    opts: Options,
    *,
    groups: list[dict[str, GroupResult]],
    notes: list[list[str]],
    replicates: list[dict],
) -> list[Result]:
    """One :class:`Result` per prediction set of a batch, from its groups, notes and replicates."""
    settings = BootstrapSettings(
        resamples=opts.resamples,
        seed=opts.seed,
        confidence=opts.confidence,
        method=opts.ci_method,
        test=opts.test,
        permutations=opts.permutations if opts.test == "randomization" else None,
        adjust=opts.adjust,
        resample_readers=opts.resample_readers,
        readers=opts.readers,
    )
    truth_info = InputInfo(
        truth.path, truth.sha256, truth.kind, tuple(truth.reader_names) if truth.readers is not None else None
    )
    software = software_versions()
    return [
        Result(
            protocol=protocol,
            bootstrap=settings,
            predictions=InputInfo(p.path, p.sha256, p.kind, rows=p.rows),
            truth=truth_info,
            software=software,
            groups=groups[s],
            notes=notes[s],
            metrics=opts.metrics,
            missing=list(a.missing),
            replicates=replicates[s] if opts.keep_replicates else None,
        )
        for s, (p, a) in enumerate(zip(preds, alignments))
    ]


def _group_statistics(batch: _Batch, rows: np.ndarray, g_index: int, opts: Options) -> GroupStatistics:
    """The statistics of the group of ``rows`` (on the resampling thread)."""
    n = rows.size
    plan, labels = subset_plan(batch.plan, rows), batch.labels[rows]
    inputs = GroupInputs.of(plan, labels, batch.probabilities[rows], batch.from_counts, batch.from_scores)
    stats = lambda w: statistics(w, inputs)  # noqa: E731
    point = stats(np.ones((1, n), dtype=np.float32))
    boot = bootstrap_stats(stats, inputs, labels, g_index, opts)
    jack = jackknife_stats(inputs, n) if boot is not None and opts.ci_method == "bca" and n > 1 else None
    p_values = (
        model_vs_readers_p_values(
            plan, labels, batch.from_counts, permutations=opts.permutations, seed=opts.seed, group=g_index, tie=opts.tie
        )
        if opts.test == "randomization" and plan.has_readers and batch.from_counts
        else {}
    )
    random_readers = (
        {
            m: [
                model_vs_readers(plan.references, plan.readers, plan.reader_reference, labels[:, s], m, opts.confidence)
                for s in range(labels.shape[1])
            ]
            for m in batch.from_counts
        }
        if opts.readers == "random" and plan.readers.shape[1] >= 2
        else None
    )
    return GroupStatistics(
        plan=plan, point=point, boot=boot, jack=jack, p_values=p_values, random_readers=random_readers
    )


def software_versions() -> dict[str, str]:
    return {"mura_bench": __version__, "numpy": np.__version__}
