"""The scores of the leaderboard's entries: in chunks and over processes.

Every entry is scored on the same resamples (they depend on the seed, the group and the truth's
sorted study ids only), so an entry's scores do not depend on which other entries are scored with
it: the build scores entries in chunks of :data:`CHUNK` (bounded memory), on worker processes when
there are many or when the build has other work meanwhile (:func:`score_entries`), and keeps what
a later build needs of each entry in a cache folder when given one (:mod:`.score_cache`).

An entry's :class:`EntryScore` holds its :class:`~mura_bench.results.Result` with the replicates
that ranking needs only (overall F1 of the model) and its overall analysis
(:class:`~mura_bench.analysis.analysis_batch.EntryAnalysis`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mura_bench.analysis.analysis_batch import EntryAnalysis
from mura_bench.data.predictions import Predictions
from mura_bench.data.truth import Truth
from mura_bench.errors import PredictionSetError
from mura_bench.io.processes import available_cpus, fork_available
from mura_bench.io.progress import ProgressCallback, report
from mura_bench.results import Result

#: Entries scored together: memory grows with the chunk (about 25 MB an entry at 10,000
#: resamples), time per entry shrinks up to about this size.
CHUNK = 32
#: Below this many entries to score, no worker process is started (their start-up costs more).
PARALLEL_ENTRIES = 2 * CHUNK
#: The replicates ranking needs: (group, subject, metric).
RANKED = ("overall", "model", "f1")


@dataclass(frozen=True)
class Settings:
    """The scoring options an entry's scores depend on (beyond its predictions and the truth)."""

    resamples: int
    seed: int
    confidence: float
    test: str = "ci"  # what marks a difference with the radiologists significant
    permutations: int = 10000
    adjust: str = "none"
    readers: str = "fixed"


@dataclass(frozen=True)
class EntryScore:
    """One entry's result (replicates: overall model F1 only) and overall analysis."""

    result: Result
    analysis: EntryAnalysis | None


@dataclass(frozen=True)
class Scored:
    """What :func:`score_entries` found: per entry its scores, or the reason it was refused."""

    scores: list[EntryScore | None]
    failures: dict[int, str]


def score_entries(
    predictions: Sequence[Predictions],
    folders: Sequence[Path],
    truth: Truth,
    settings: Settings,
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> Scored:
    """Score every prediction set (each covering every truth study) on the shared resamples;
    ``folders`` (for skip reasons) are per entry.

    ``workers``: processes for the entries (default: the CPUs this process may use; 1: none).
    ``meanwhile()``: other work of the caller, run in this process while worker processes score
    (then one worker is started even for a few entries, where fork is available), or before the
    scoring when it runs in this process. It runs once every worker process is forked: it may start
    threads.
    """
    n = len(predictions)
    scores: list[EntryScore | None] = [None] * n
    failures: dict[int, str] = {}
    chunks = [list(range(at, min(at + CHUNK, n))) for at in range(0, n, CHUNK)]
    jobs = [([predictions[i] for i in chunk], [folders[i] for i in chunk]) for chunk in chunks]
    done = 0
    with _scoring(jobs, truth, settings, workers, others=meanwhile is not None) as results:
        if meanwhile is not None:
            meanwhile()
        report(progress, "scoring", done, n)
        for chunk, (found, failed) in zip(chunks, results):
            for j, score in enumerate(found):
                scores[chunk[j]] = score
            failures.update({chunk[j]: reason for j, reason in failed.items()})
            done += len(chunk)
            report(progress, "scoring", done, n)
    return Scored(scores, failures)


@contextmanager
def _scoring(jobs: list, truth: Truth, settings: Settings, workers: int | None, *, others: bool):
    """An iterator of :func:`score_chunk`'s results per job, in order, computed here or on worker
    processes: on ``workers`` (default: the CPUs) processes when there are many entries, on one
    when this process has ``others`` things to do meanwhile and fork is available, else here
    (when iterated). Every process is forked before this yields."""
    entries = sum(len(p) for p, _ in jobs)
    cpus = available_cpus() if workers is None else max(1, workers)
    fork = fork_available()
    if cpus <= 1 or not jobs:
        processes = 0
    elif entries >= PARALLEL_ENTRIES:
        processes = min(cpus, len(jobs))
    else:  # a worker's start-up costs more than it saves, unless it runs beside other work
        processes = 1 if others and fork else 0
    if processes == 0:
        yield (score_chunk(preds, folders, truth, settings) for preds, folders in jobs)
        return
    import multiprocessing
    import warnings

    import numpy.random  # noqa: F401 - imported once here, not by each worker (the resamples need it)

    # fork where there is one (no re-import of the caller's main module, no start-up); the build
    # starts no thread of its own before the processes are forked, and a worker only computes.
    method = "fork" if fork else "spawn"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
        with ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context(method)) as pool:
            # with fork, the pool starts all its processes at the first submit (Python 3.9 on)
            futures = [pool.submit(score_chunk, preds, folders, truth, settings) for preds, folders in jobs]
            try:
                yield (future.result() for future in futures)
            finally:
                for future in futures:
                    future.cancel()


def score_chunk(
    predictions: list[Predictions], folders: list[Path], truth: Truth, settings: Settings
) -> tuple[list[EntryScore | None], dict[int, str]]:
    """Scores of one chunk of entries (None for an entry the scorer refuses, with its reason)."""
    from mura_bench.analysis.analysis_batch import analyze_overall_many
    from mura_bench.leaderboard.skips import skip_reason
    from mura_bench.scoring.engine import score_many

    keep = list(range(len(predictions)))
    failures: dict[int, str] = {}
    while keep:
        try:
            results = score_many(
                [predictions[i] for i in keep],
                truth,
                keep_replicates=True,
                bootstrap=settings.resamples,
                seed=settings.seed,
                confidence=settings.confidence,
                test=settings.test,
                permutations=settings.permutations,
                adjust=settings.adjust,
                readers=settings.readers,
            )
            break
        except PredictionSetError as exc:
            failures[keep[exc.index]] = skip_reason(exc, folders[keep[exc.index]])
            keep = keep[: exc.index] + keep[exc.index + 1 :]
    else:
        return [None] * len(predictions), failures
    analyses = analyze_overall_many(
        [predictions[i] for i in keep],
        truth,
        resamples=settings.resamples,
        seed=settings.seed,
        confidence=settings.confidence,
    )
    out: list[EntryScore | None] = [None] * len(predictions)
    for i, result, analysis in zip(keep, results, analyses):
        out[i] = EntryScore(_ranked_only(result), analysis)
    return out, failures


def _ranked_only(result: Result) -> Result:
    """The result with the replicates ranking needs only (a copy: the chunk's arrays are freed)."""
    group, subject, metric = RANKED
    kept = None
    if result.replicates and group in result.replicates:
        kept = {group: {subject: {metric: np.array(result.replicates[group][subject][metric], dtype=np.float64)}}}
    result.replicates = kept
    return result
