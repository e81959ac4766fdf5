"""The scores of the leaderboard's entries: in chunks, over processes, and kept between builds.

Every entry is scored on the same resamples (they depend on the seed, the group and the truth's
sorted study ids only), so an entry's scores do not depend on which other entries are scored with
it: the build scores entries in chunks of :data:`CHUNK` (bounded memory), on several processes when
there are many (:func:`score_entries`), and keeps what a later build needs of each entry in a cache
folder when given one.

An entry's :class:`EntryScore` holds its :class:`~mura_bench.results.Result` with the replicates
that ranking needs only (overall F1 of the model) and its overall analysis
(:class:`~mura_bench.analysis.analysis_batch.EntryAnalysis`). The cache keeps one file per entry, named by
the SHA-256 of everything the scores depend on (:func:`cache_key`: the predictions' and truth's
SHA-256, how the predictions file is read, the scoring options, and the versions of mura-bench and
numpy), written as JSON and a numpy array (``.npz``, no pickles): about 100 KB at 10,000
resamples. A file that cannot be read is a miss: the entry is scored again and the file
replaced. Results computed from a hidden truth must never be cached: the build refuses a cache
then.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mura_bench import __version__
from mura_bench.analysis.analysis_batch import EntryAnalysis
from mura_bench.errors import PredictionSetError
from mura_bench.data.predictions import Predictions
from mura_bench.io.progress import ProgressCallback, report
from mura_bench.results import BootstrapSettings, Estimate, GroupResult, InputInfo, Result
from mura_bench.data.truth import Truth

#: Entries scored together: memory grows with the chunk (about 25 MB an entry at 10,000
#: resamples), time per entry shrinks up to about this size.
CHUNK = 32
#: Below this many entries to score, no worker process is started (their start-up costs more).
PARALLEL_ENTRIES = 2 * CHUNK
#: Version of the cache file layout (part of every key).
CACHE_FORMAT = 1
_RANKED = ("overall", "model", "f1")  # the replicates ranking needs


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
    """What :func:`score_entries` found: per entry its scores, or the reason it was refused;
    ``from_cache`` counts the entries read from the cache."""

    scores: list[EntryScore | None]
    failures: dict[int, str]
    from_cache: int = 0


def score_entries(
    predictions: Sequence[Predictions],
    folders: Sequence[Path],
    read_options: Sequence[tuple],
    truth: Truth,
    settings: Settings,
    *,
    cache: Path | None = None,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> Scored:
    """Score every prediction set (each covering every truth study) on the shared resamples.

    ``folders`` (for skip reasons) and ``read_options`` (``(path_col, score_col)``, part of the cache
    key) are per entry. ``cache``: a folder of earlier scores (created when absent); entries found
    there are not scored again, the others are added. ``workers``: processes for the entries to
    score (default: the CPUs this process may use; 1: none).
    """
    n = len(predictions)
    scores: list[EntryScore | None] = [None] * n
    keys = [cache_key(p, truth, settings, opts) for p, opts in zip(predictions, read_options)] if cache else []
    todo = []
    for i in range(n):
        found = _load(cache, keys[i], predictions[i], truth) if cache else None
        if found is None:
            todo.append(i)
        else:
            scores[i] = found
    chunks = [todo[at : at + CHUNK] for at in range(0, len(todo), CHUNK)]
    jobs = [([predictions[i] for i in chunk], [folders[i] for i in chunk]) for chunk in chunks]
    failures: dict[int, str] = {}
    done = 0
    report(progress, "scoring", done, len(todo))
    for chunk, (found, failed) in zip(chunks, _run(jobs, truth, settings, workers)):
        for j, score in enumerate(found):
            scores[chunk[j]] = score
        failures.update({chunk[j]: reason for j, reason in failed.items()})
        done += len(chunk)
        report(progress, "scoring", done, len(todo))
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        for i in todo:
            score = scores[i]
            if score is not None:
                _save(cache, keys[i], score)
    return Scored(scores, failures, n - len(todo))


def _run(jobs: list, truth: Truth, settings: Settings, workers: int | None):
    """Results of :func:`score_chunk` per job, in order: here, or on worker processes."""
    entries = sum(len(p) for p, _ in jobs)
    workers = min(available_cpus() if workers is None else max(1, workers), len(jobs))
    if workers <= 1 or entries < PARALLEL_ENTRIES:
        for preds, folders in jobs:
            yield score_chunk(preds, folders, truth, settings)
        return
    import multiprocessing
    import warnings

    # fork where there is one (no re-import of the caller's main module, no start-up); the build
    # starts no thread of its own before scoring, and a worker only computes.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method)) as pool:
            futures = [pool.submit(score_chunk, preds, folders, truth, settings) for preds, folders in jobs]
            for future in futures:
                yield future.result()


def available_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


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
    group, subject, metric = _RANKED
    kept = None
    if result.replicates and group in result.replicates:
        kept = {group: {subject: {metric: np.array(result.replicates[group][subject][metric], dtype=np.float64)}}}
    result.replicates = kept
    return result


# ---------------------------------------------------------------------------------------------
# The cache: one .npz file per entry (JSON text and the ranked replicates)
# ---------------------------------------------------------------------------------------------


def cache_key(predictions: Predictions, truth: Truth, settings: Settings, read_options: tuple) -> str:
    """SHA-256 of everything an entry's scores depend on."""
    what = {
        "format": CACHE_FORMAT,
        "mura_bench": __version__,
        "numpy": np.__version__,
        "predictions": predictions.sha256,
        "read": list(read_options),
        "truth": truth.sha256,
        "settings": asdict(settings),
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def _save(cache: Path, key: str, score: EntryScore) -> None:
    """Write the entry's file (temporary file, then rename: never half-written)."""
    buffer = io.BytesIO()
    reps = score.result.replicates
    f1 = reps[_RANKED[0]][_RANKED[1]][_RANKED[2]] if reps else np.zeros(0)
    record = {
        "result": _result_record(score.result),
        "analysis": _analysis_record(score.analysis),
        "replicates": reps is not None,
    }
    np.savez(buffer, record=np.frombuffer(json.dumps(record).encode("utf-8"), dtype=np.uint8), f1=f1)
    target = cache / f"{key}.npz"
    temporary = cache / f".{key}.{os.getpid()}.tmp"
    temporary.write_bytes(buffer.getvalue())
    os.replace(temporary, target)


def _load(cache: Path, key: str, predictions: Predictions, truth: Truth) -> EntryScore | None:
    """The cached scores of an entry, or None (absent, unreadable or not of this key)."""
    path = cache / f"{key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            record = json.loads(stored["record"].tobytes().decode("utf-8"))
            f1 = np.array(stored["f1"], dtype=np.float64)
        result = _result_of(record["result"], predictions, truth)
        if record["replicates"]:
            result.replicates = {_RANKED[0]: {_RANKED[1]: {_RANKED[2]: f1}}}
        return EntryScore(result, _analysis_of(record["analysis"]))
    except (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile):
        return None


def _estimate_record(est: Estimate) -> list:
    return [est.value, None if est.ci is None else list(est.ci), est.significant, est.p_value, est.p_adjusted]


def _estimate_of(record: list) -> Estimate:
    value, ci, significant, p_value, p_adjusted = record
    return Estimate(value, None if ci is None else (ci[0], ci[1]), significant, p_value, p_adjusted)


def _metrics_record(metrics: dict | None) -> dict | None:
    return None if metrics is None else {name: _estimate_record(est) for name, est in metrics.items()}


def _metrics_of(record: dict) -> dict:
    return {name: _estimate_of(est) for name, est in record.items()}


def _optional_metrics_of(record: dict | None) -> dict | None:
    return None if record is None else _metrics_of(record)


def _result_record(result: Result) -> dict:
    groups = {}
    for name, group in result.groups.items():
        groups[name] = {
            "studies": group.studies,
            "positives": group.positives,
            "model": _metrics_record(group.model),
            "radiologists": _metrics_record(group.radiologists),
            "readers": None
            if group.readers is None
            else {reader: _metrics_record(m) for reader, m in group.readers.items()},
            "difference": _metrics_record(group.difference),
        }
    return {
        "protocol": result.protocol,
        "bootstrap": asdict(result.bootstrap),
        "software": dict(result.software),
        "groups": groups,
        "notes": list(result.notes),
        "metrics": list(result.metrics),
        "missing": list(result.missing),
    }


def _result_of(record: dict, predictions: Predictions, truth: Truth) -> Result:
    """A cached result, with the inputs as read by this build (their paths may have moved)."""
    groups = {}
    for name, g in record["groups"].items():
        groups[name] = GroupResult(
            g["studies"],
            g["positives"],
            _metrics_of(g["model"]),
            _optional_metrics_of(g["radiologists"]),
            None if g["readers"] is None else {reader: _metrics_of(m) for reader, m in g["readers"].items()},
            _optional_metrics_of(g["difference"]),
        )
    truth_info = InputInfo(
        truth.path, truth.sha256, truth.kind, tuple(truth.reader_names) if truth.readers is not None else None
    )
    return Result(
        protocol=record["protocol"],
        bootstrap=BootstrapSettings(**record["bootstrap"]),
        predictions=InputInfo(predictions.path, predictions.sha256, predictions.kind, rows=predictions.rows),
        truth=truth_info,
        software=dict(record["software"]),
        groups=groups,
        notes=list(record["notes"]),
        metrics=tuple(record["metrics"]),
        missing=list(record["missing"]),
    )


def _analysis_record(analysis: EntryAnalysis | None) -> dict | None:
    if analysis is None:
        return None
    return {
        "triage": _metrics_record(analysis.triage),
        "reliability": analysis.reliability,
        "brier": analysis.brier,
        "ece": analysis.ece,
    }


def _analysis_of(record: dict | None) -> EntryAnalysis | None:
    if record is None:
        return None
    return EntryAnalysis(_metrics_of(record["triage"]), record["reliability"], record["brier"], record["ece"])
