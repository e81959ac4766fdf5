"""Matching predictions to truth, study by study.

:func:`align` pairs the studies of a :class:`~mura_bench.data.predictions.Predictions` with those of a
:class:`~mura_bench.data.truth.Truth` and refuses anything that would make the score quietly mean
something else: predictions for studies the truth does not have, truth studies without a
prediction (unless ``allow_missing``), predictions for another split, or no overlap at all.
"""

from __future__ import annotations

import itertools
import operator
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from mura_bench.errors import InputError
from mura_bench.data.layout import parse_path
from mura_bench.data.predictions import Predictions
from mura_bench.data.truth import Truth


@dataclass(frozen=True)
class Alignment:
    """The scored studies and where they sit in both inputs.

    ``study_ids`` are sorted; ``prediction_index[k]`` and ``truth_index[k]`` (int64) locate
    ``study_ids[k]`` in ``predictions.study_ids`` and ``truth.study_ids``. ``missing`` lists the
    truth studies without a prediction (sorted); it is only non-empty with ``allow_missing``.
    """

    study_ids: list[str]
    prediction_index: np.ndarray
    truth_index: np.ndarray
    missing: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.study_ids)


def _located(
    study_ids: list[str],
    positions: dict[str, int],
    lines: np.ndarray | None,
) -> list[tuple[int | None, str]]:
    """``(line, study id)`` rows for an error message; the line is None when unknown."""
    if lines is None:
        return [(None, s) for s in study_ids]
    return [(int(lines[positions[s]]), s) for s in study_ids]


def _split_of(study_id: str) -> str:
    return parse_path(study_id).split


def _split_counts(study_ids: list[str]) -> Counter:
    return Counter(_split_of(s) for s in study_ids)


def _describe(counts: Counter) -> str:
    return ", ".join(f"{n} {split}" for split, n in sorted(counts.items()))


def align(predictions: Predictions, truth: Truth, *, allow_missing: bool = False) -> Alignment:
    """Pair predictions with truth by study id.

    Raises :class:`InputError` when predictions name another split than the truth file (said so
    explicitly), when no study is shared, when predictions name studies not in the truth file, or
    when truth studies have no prediction and ``allow_missing`` is False (the message suggests
    ``--allow-missing``). With ``allow_missing`` the missing studies are listed in ``missing``.
    """
    if _same_sorted(predictions.study_ids, truth.study_ids):  # the usual case, without a dict per study
        every = np.arange(len(truth.study_ids), dtype=np.int64)
        return Alignment(list(truth.study_ids), every, every.copy(), [])
    pred_lines, truth_lines = getattr(predictions, "lines", None), getattr(truth, "lines", None)
    pred_pos = {s: i for i, s in enumerate(predictions.study_ids)}
    truth_pos = {s: i for i, s in enumerate(truth.study_ids)}
    extra = sorted(s for s in pred_pos if s not in truth_pos)
    common = sorted(s for s in pred_pos if s in truth_pos)

    if extra:
        truth_splits = _split_counts(list(truth_pos))
        wrong_split = [s for s in extra if _split_of(s) not in truth_splits]
        if wrong_split:
            pred_splits = _split_counts(list(pred_pos))
            raise InputError(
                f"split mismatch: the predictions are for {_describe(pred_splits)} studies but "
                f"{_the_truth(truth)} has {_describe(truth_splits)} studies; {len(wrong_split)} predicted "
                f"studies belong to a split {'it' if truth.path == ARRAYS else 'the truth file'} does not cover",
                source=predictions.path,
                rows=_located(wrong_split, pred_pos, pred_lines),
                hint="score predictions against the truth file of the same split",
            )
    if not common:
        raise InputError(
            f"no study in common with {_the_truth(truth)} ({len(pred_pos)} predicted studies, "
            f"{len(truth_pos)} truth studies)",
            source=predictions.path,
            rows=[(None, f"predicted: {s}") for s in sorted(pred_pos)[:3]]
            + [(None, f"in truth: {s}") for s in sorted(truth_pos)[:3]],
        )
    if extra:
        raise InputError(
            f"studies not in {_the_truth(truth)}", source=predictions.path, rows=_located(extra, pred_pos, pred_lines)
        )

    missing = sorted(s for s in truth_pos if s not in pred_pos)
    if missing and not allow_missing:
        raise InputError(
            f"{len(missing)} of {len(truth_pos)} studies of {'the truth' if truth.path == ARRAYS else 'the truth file'} "
            "have no prediction" + ("" if predictions.path == ARRAYS else f" in {predictions.path}"),
            source=truth.path,
            rows=_located(missing, truth_pos, truth_lines),
            hint=f"--allow-missing (allow_missing=True) scores the {len(common)} studies present and says so",
        )

    prediction_index = np.fromiter((pred_pos[s] for s in common), dtype=np.int64, count=len(common))
    truth_index = np.fromiter((truth_pos[s] for s in common), dtype=np.int64, count=len(common))
    return Alignment(common, prediction_index, truth_index, missing)


def _same_sorted(a: list[str], b: list[str]) -> bool:
    """Whether two study id lists are equal and strictly increasing (then each pairs with itself)."""
    return len(a) == len(b) and a == b and all(map(operator.lt, a, itertools.islice(a, 1, None)))


#: The path of inputs given as arrays (see :mod:`mura_bench.api`).
ARRAYS = "<arrays>"


def _the_truth(truth) -> str:
    """How a message names the truth: its file, or "the truth" when it was given as arrays."""
    return "the truth" if truth.path == ARRAYS else f"the truth file {truth.path}"
