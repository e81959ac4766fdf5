"""The leaderboard's cache folder (``leaderboard build --cache``): what a rebuild reuses.

One file per entry, named by :meth:`ScoreCache.key`: the SHA-256 of everything its scores depend
on (the predictions file's SHA-256 and how it is read, the truth's SHA-256, the scoring options,
the versions of mura-bench and numpy and :data:`CACHE_FORMAT`). It holds, as JSON text and numpy
arrays (``.npz``, no pickles, about 125 KB at 10,000 resamples): the entry's result with the
replicates ranking needs (:data:`.entry_scores.RANKED`), its overall analysis, and its predictions
as the build uses them (per truth study, in the truth's order: an entry is only ever scored when it
covers every truth study), so that a cached entry's file is hashed, not parsed again. One more file
per board (``pairs-<board key>.npz``) keeps which entry is significantly better than which under
the CI rule (:func:`.ranking.significantly_better_given`).

A file that cannot be read, or does not hold what its name promises, is a miss: the entry is
read and scored again and the file replaced. Files are written to a temporary name and renamed.
Results computed from a hidden truth must never be cached: the build refuses a cache then.

The folder does not grow without end (:meth:`ScoreCache.prune`, after each build): the files a
build used are marked used (their modification time), and cache files that no build has used for
:data:`KEEP_UNUSED_DAYS` days are removed, whichever board they belong to (an entry since changed
or withdrawn, options or versions since changed), with the temporary files of interrupted builds.
Files with other names are never touched.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from mura_bench import __version__
from mura_bench.analysis.analysis_batch import EntryAnalysis
from mura_bench.data.alignment import Alignment
from mura_bench.data.predictions import Predictions
from mura_bench.data.truth import Truth
from mura_bench.leaderboard.entry_scores import RANKED, EntryScore, Settings
from mura_bench.results import BootstrapSettings, Estimate, GroupResult, InputInfo, Result

#: Version of the cache file layout (part of every key).
CACHE_FORMAT = 2
_READ_FAULTS = (OSError, ValueError, KeyError, TypeError, IndexError, zipfile.BadZipFile)
#: A cache file that no build has used for this many days is removed by the next build.
KEEP_UNUSED_DAYS = 30
#: A temporary file (of a build interrupted while writing the cache) older than this is removed.
KEEP_TEMPORARY_SECONDS = 24 * 3600
#: A key (:meth:`ScoreCache.key`, :attr:`ScoreCache.board`): a SHA-256 in hex.
_KEY = "[0-9a-f]{64}"
#: The cache's own files: an entry's or a board's pair decisions, and their temporary files
#: (:func:`_write_atomically`).
_CACHE_FILE = re.compile(rf"(?:pairs-)?{_KEY}\.npz")
_TEMPORARY_FILE = re.compile(rf"\.(?:pairs-)?{_KEY}\.npz\.[0-9]+\.tmp")


class ScoreCache:
    """The cache folder ``folder`` (existing) of one board: the truth ``truth`` scored with
    ``settings``."""

    def __init__(self, folder: Path, truth: Truth, settings: Settings) -> None:
        self.folder, self.truth, self.settings = folder, truth, settings
        self._shared = {
            "format": CACHE_FORMAT,
            "mura_bench": __version__,
            "numpy": np.__version__,
            "truth": truth.sha256,
            "settings": asdict(settings),
        }

    def key(self, predictions_sha256: str, read_options: tuple) -> str:
        """The name of an entry's file: SHA-256 of everything its scores depend on."""
        what = {**self._shared, "predictions": predictions_sha256, "read": list(read_options)}
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()

    @property
    def board(self) -> str:
        """SHA-256 of what all entries of the board share: names the pair decisions' file."""
        return hashlib.sha256(json.dumps(self._shared, sort_keys=True).encode()).hexdigest()

    def has(self, key: str) -> bool:
        return (self.folder / f"{key}.npz").is_file()

    def load(self, key: str, source: str, sha256: str) -> tuple[Predictions, EntryScore] | None:
        """The entry of file ``key``: its predictions (named ``source``, this build's path of the
        file whose SHA-256 is ``sha256``) and scores, or None (absent, unreadable, inconsistent)."""
        try:
            with np.load(self.folder / f"{key}.npz", allow_pickle=False) as stored:
                record = json.loads(stored["record"].tobytes().decode("utf-8"))
                f1 = np.array(stored["f1"], dtype=np.float64)
                probabilities = np.array(stored["probabilities"], dtype=np.float64)
                labels = np.array(stored["labels"], dtype=np.int8)
            n = len(self.truth.study_ids)
            if probabilities.shape != (n,) or labels.shape != (n,) or record["key"] != key:
                return None
            given = record["predictions"]
            predictions = Predictions(
                source,
                sha256,
                str(given["kind"]),
                list(self.truth.study_ids),
                probabilities,
                labels,
                rows=int(given["rows"]),
                binary_values=bool(given["binary_values"]),
            )
            result = _result_of(record["result"], predictions, self.truth)
            if record["replicates"]:
                result.replicates = {RANKED[0]: {RANKED[1]: {RANKED[2]: f1}}}
            return predictions, EntryScore(result, _analysis_of(record["analysis"]))
        except _READ_FAULTS:
            return None

    def save(self, key: str, predictions: Predictions, alignment: Alignment, score: EntryScore) -> None:
        """Keep an entry: its scores and its predictions in the truth's study order (``alignment``
        pairs them with every truth study, ``allow_missing=False``)."""
        reps = score.result.replicates
        f1 = reps[RANKED[0]][RANKED[1]][RANKED[2]] if reps else np.zeros(0)
        order = np.empty(len(self.truth.study_ids), dtype=np.int64)
        order[alignment.truth_index] = alignment.prediction_index
        record = {
            "key": key,
            "predictions": {
                "kind": predictions.kind,
                "rows": predictions.rows,
                "binary_values": predictions.binary_values,
            },
            "result": _result_record(score.result),
            "analysis": _analysis_record(score.analysis),
            "replicates": reps is not None,
        }
        buffer = io.BytesIO()
        np.savez(
            buffer,
            record=np.frombuffer(json.dumps(record).encode("utf-8"), dtype=np.uint8),
            f1=f1,
            probabilities=predictions.probabilities[order],
            labels=predictions.labels[order],
        )
        _write_atomically(self.folder, f"{key}.npz", buffer.getvalue())

    def known_pairs(self, keys: Sequence[str]) -> np.ndarray:
        """The decisions kept for the entries of ``keys``: (K, K) int8, ``[j, i]`` 1 when entry j
        was significantly better than entry i, 0 when not, -1 where the pair is not in the cache
        (either entry new, or no readable file)."""
        k = len(keys)
        known = np.full((k, k), -1, dtype=np.int8)
        try:
            with np.load(self.folder / f"pairs-{self.board}.npz", allow_pickle=False) as stored:
                stored_keys = [str(x) for x in stored["keys"].tolist()]
                n = len(stored_keys)
                bits = np.unpackbits(stored["better"], count=n * n).reshape(n, n).astype(np.int8)
        except _READ_FAULTS:
            return known
        if len(set(stored_keys)) != n or not all(_is_key(x) for x in stored_keys):
            return known
        position = {x: i for i, x in enumerate(stored_keys)}
        here = np.array([position.get(x, -1) for x in keys], dtype=np.int64)
        found = np.flatnonzero(here >= 0)
        known[np.ix_(found, found)] = bits[np.ix_(here[found], here[found])]
        return known

    def keep_pairs(self, keys: Sequence[str], better: np.ndarray) -> None:
        """Keep the decisions ``better`` (K, K bool) of the entries of ``keys`` (the first of equal
        keys: equal keys are equal replicates), replacing the board's earlier file."""
        first: dict[str, int] = {}
        for i, x in enumerate(keys):
            first.setdefault(x, i)
        rows = np.fromiter(first.values(), dtype=np.int64, count=len(first))
        kept = np.asarray(better, dtype=bool)[np.ix_(rows, rows)]
        buffer = io.BytesIO()
        np.savez(buffer, keys=np.array(list(first), dtype="U64"), better=np.packbits(kept.ravel()))
        _write_atomically(self.folder, f"pairs-{self.board}.npz", buffer.getvalue())

    def prune(self, used: Iterable[str], now: float | None = None) -> list[str]:
        """Mark the entry files of the keys ``used`` and this board's pair file as used at ``now``
        (default: the current time), then remove the cache files (entries' and pair files, of any
        board) unused for :data:`KEEP_UNUSED_DAYS` days and temporary files older than
        :data:`KEEP_TEMPORARY_SECONDS`. Other files are left alone. Best effort: a file that cannot
        be marked or removed stays. Returns the names removed, sorted."""
        now = time.time() if now is None else now
        kept = {f"{key}.npz" for key in used} | {f"pairs-{self.board}.npz"}
        removed: list[str] = []
        try:
            names = sorted(os.listdir(self.folder))
        except OSError:
            return removed
        for name in names:
            path = self.folder / name
            try:
                if name in kept:
                    os.utime(path, (now, now))
                    continue
                if _CACHE_FILE.fullmatch(name):
                    oldest = now - KEEP_UNUSED_DAYS * 86400
                elif _TEMPORARY_FILE.fullmatch(name):
                    oldest = now - KEEP_TEMPORARY_SECONDS
                else:
                    continue
                if os.lstat(path).st_mtime < oldest:
                    os.unlink(path)
                    removed.append(name)
            except OSError:
                continue
        return removed


def _is_key(text: str) -> bool:
    return re.fullmatch(_KEY, text) is not None


def _write_atomically(folder: Path, name: str, data: bytes) -> None:
    temporary = folder / f".{name}.{os.getpid()}.tmp"
    temporary.write_bytes(data)
    os.replace(temporary, folder / name)


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
