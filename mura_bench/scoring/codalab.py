"""``--output codalab``: exactly what the official MURA leaderboard scorer printed.

The official scorer computed Cohen's kappa per body part (a substring test of the upper-case part
name on the study path) and overall, against the label (or the majority of the three test-set
radiologists), and an "interval" ``kappa +- 1.96 * se`` with ``se = p_o (1 - p_o) / (n (1 - p_e)^2)``.
That formula lacks the square root of the usual asymptotic standard error, so the intervals are
too narrow by a factor sqrt(n) (1 - p_e) / sqrt(p_o (1 - p_o)): 38-45x at 1,199 studies, growing
with n. It is reproduced here exactly, in this mode only; every other output uses the paired
bootstrap.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mura_bench.data.alignment import align
from mura_bench.errors import InputError
from mura_bench.data.layout import BODY_PARTS
from mura_bench.stats.metrics import confusion_counts, kappa_from_counts
from mura_bench.data.predictions import Predictions
from mura_bench.stats.protocols import make_plan
from mura_bench.data.truth import Truth

Z_OFFICIAL = 1.96


def official_kappa_interval(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float, float]:
    """(kappa, lower, upper) with the official scorer's interval formula (no square root)."""
    tp, fp, fn, tn = (float(x[0, 0]) for x in confusion_counts(np.ones((1, y_true.size)), y_true, y_pred))
    n = tp + fp + fn + tn
    p_o = (tp + tn) / n
    p_e = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (n * n)
    kappa = float(kappa_from_counts(tp, fp, fn, tn))
    se = p_o * (1 - p_o) / (n * (1 - p_e) ** 2) if p_e != 1 else 0.0
    return kappa, kappa - Z_OFFICIAL * se, kappa + Z_OFFICIAL * se


@dataclass(frozen=True)
class CodalabReport:
    """The official scores, the truth studies left out (``--allow-missing``) and the parts with no
    study (their keys are None), for the CLI to warn about."""

    scores: dict[str, float | None]
    missing: list[str]
    empty_parts: list[str]

    @property
    def json(self) -> str:
        return json.dumps(self.scores, indent=1) + "\n"


def codalab_scores(predictions: Predictions, truth: Truth, **options) -> dict[str, float | None]:
    """The official keys ``Elbow_Mean, Elbow_Lower, ..., Overall_Upper`` (None for an empty part)."""
    return codalab_report(predictions, truth, **options).scores


def codalab_report(
    predictions: Predictions,
    truth: Truth,
    *,
    allow_missing: bool = False,
    gold_readers: Sequence[str] | None = None,
    tie: str = "abnormal",
) -> CodalabReport:
    """:func:`codalab_scores` with what a user must be told: missing studies and empty parts."""
    if truth.kind == "labels" and gold_readers is not None:
        raise InputError(
            "--gold-readers needs a reader panel, but the truth file holds single labels", source=truth.path
        )
    if truth.kind == "panel" and gold_readers is None:
        raise InputError(
            "--output codalab needs a label file or the official 3-reader file; a reader panel is "
            "scored leave-one-out (use --output json/table, or name --gold-readers)",
            source=truth.path,
        )
    alignment = align(predictions, truth, allow_missing=allow_missing)
    tidx = alignment.truth_index
    # The official truth: the label, or the majority of the gold readers (the gold-panel protocol's).
    plan = make_plan(
        "single" if truth.kind == "labels" else "gold-panel",
        labels=None if truth.labels is None else truth.labels[tidx],
        readers=None if truth.readers is None else truth.readers[tidx],
        reader_names=truth.reader_names,
        tie=tie,
        gold_readers=gold_readers,
    )
    y_true = plan.positives
    y_pred = predictions.labels[alignment.prediction_index]
    upper_paths = np.array([s.upper() for s in alignment.study_ids], dtype=object)
    out: dict[str, float | None] = {}
    empty: list[str] = []
    for part in BODY_PARTS + ("overall",):
        if part == "overall":
            mask = np.ones(upper_paths.size, dtype=bool)
        else:
            mask = np.array([part.upper() in p for p in upper_paths], dtype=bool)
        key = part.capitalize()
        if not mask.any():
            empty.append(key)
            out.update({f"{key}_Mean": None, f"{key}_Lower": None, f"{key}_Upper": None})
            continue
        kappa, lo, hi = official_kappa_interval(y_true[mask], y_pred[mask])
        out.update({f"{key}_Mean": _finite(kappa), f"{key}_Lower": _finite(lo), f"{key}_Upper": _finite(hi)})
    return CodalabReport(out, list(alignment.missing), empty)


def codalab_json(predictions: Predictions, truth: Truth, **options) -> str:
    return codalab_report(predictions, truth, **options).json


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
