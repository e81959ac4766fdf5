"""Leaderboard columns and the flat scores (column key -> number) that hosting platforms store.

Codabench's ``scores.json`` and MedPerf's ``results.yaml`` hold the same flat mapping:

=================================  =============================================================
key                                value
=================================  =============================================================
``overall_kappa``                  Cohen's kappa of the model over all studies
``overall_f1``                     F1 of the model over all studies
``overall_auroc``                  AUROC over all studies; **omitted** (never null) for 0/1 labels
``f1_minus_radiologists``          model - radiologists F1 over all studies (reader panels only)
``f1_minus_radiologists_ci_low``   lower end of its paired bootstrap CI
``f1_minus_radiologists_ci_high``  upper end
``<part>_f1``                      F1 of the model on one body part (parts present in the truth)
=================================  =============================================================

Platforms store numbers only, so a value that is not a finite number is left out rather than
written as null or NaN. A hosted scorer writes each value rounded to its column's precision
(:func:`rounded`): Codabench serves stored scores with 10 decimal places whatever a column shows,
and every extra digit of a score computed on a hidden truth is information about its labels.

A final phase (a hidden test set, few submissions) publishes :data:`FINAL_COLUMNS` only, at
:data:`FINAL_PRECISION` decimals; :func:`information_bits` bounds what a whole submission budget
can learn from them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from mura_bench.data.layout import BODY_PARTS
from mura_bench.results import Result

DIFFERENCE_KEYS = ("f1_minus_radiologists", "f1_minus_radiologists_ci_low", "f1_minus_radiologists_ci_high")
PART_TITLES = {p: p.capitalize() for p in BODY_PARTS}
#: The ranking metric of the leaderboard site (paired overall F1): the leaderboard's primary column.
PRIMARY_KEY = "overall_f1"
#: The columns a final phase publishes, and their decimals.
FINAL_COLUMNS = ("overall_f1", "overall_kappa")
FINAL_PRECISION = 2
#: Range of each column's values (kappa and the differences can be negative).
VALUE_RANGES = {
    "overall_kappa": (-1.0, 1.0),
    "f1_minus_radiologists": (-1.0, 1.0),
    "f1_minus_radiologists_ci_low": (-1.0, 1.0),
    "f1_minus_radiologists_ci_high": (-1.0, 1.0),
}


@dataclass(frozen=True)
class Column:
    """One leaderboard column: ``key`` as written by the scorer, ``title`` as shown."""

    key: str
    title: str
    sorting: str = "desc"
    precision: int = 4


def leaderboard_columns(*, with_difference: bool, parts: tuple[str, ...] = BODY_PARTS) -> list[Column]:
    """The columns in display order: overall kappa, F1, AUROC, the difference to the radiologists
    (``with_difference``: the truth is a reader panel with readers to compare with), F1 per part."""
    columns = [
        Column("overall_kappa", "Overall kappa"),
        Column("overall_f1", "Overall F1"),
        Column("overall_auroc", "Overall AUROC"),
    ]
    if with_difference:
        columns += [
            Column("f1_minus_radiologists", "F1 - radiologists"),
            Column("f1_minus_radiologists_ci_low", "F1 - radiologists, CI low"),
            Column("f1_minus_radiologists_ci_high", "F1 - radiologists, CI high"),
        ]
    columns += [Column(f"{p}_f1", f"{PART_TITLES[p]} F1") for p in BODY_PARTS if p in parts]
    return columns


def flat_scores(result: Result) -> dict[str, float]:
    """Every column value ``result`` defines, as plain floats, in column order.

    ``overall_auroc`` is absent for 0/1 labels, the difference keys without readers to compare
    with (their CI ends also without bootstrap resamples), ``<part>_f1`` for an empty part.
    """
    overall = result.groups["overall"]
    out: dict[str, float] = {}
    _put(out, "overall_kappa", overall.model.get("kappa"))
    _put(out, "overall_f1", overall.model.get("f1"))
    _put(out, "overall_auroc", overall.model.get("auroc"))
    diff = (overall.difference or {}).get("f1")
    if diff is not None:
        _put(out, "f1_minus_radiologists", diff)
        if diff.ci is not None:
            _put_value(out, "f1_minus_radiologists_ci_low", diff.ci[0])
            _put_value(out, "f1_minus_radiologists_ci_high", diff.ci[1])
    for part in BODY_PARTS:
        group = result.groups[part]
        if group.studies:
            _put(out, f"{part}_f1", group.model.get("f1"))
    return out


def final_columns(columns: list[Column]) -> list[Column]:
    """The final phase's columns: :data:`FINAL_COLUMNS` at :data:`FINAL_PRECISION` decimals."""
    return [replace(c, precision=FINAL_PRECISION) for c in columns if c.key in FINAL_COLUMNS]


def rounded(scores: dict[str, float], precision: dict[str, int]) -> dict[str, float]:
    """Each score rounded to its column's decimals (``precision[key]``); -0.0 becomes 0.0."""
    return {k: round(v, precision[k]) + 0.0 for k, v in scores.items()}


def information_bits(columns: list[Column], submissions: int) -> float:
    """Upper bound, in bits, of what ``submissions`` score sets of ``columns`` can tell about the
    labels: each column takes one of ``range * 10**precision + 1`` values per submission. Knowing
    ``b`` bits cannot identify more than about ``b`` binary labels, so a budget with ``b`` well
    under the number of studies cannot recover the labels."""
    per_submission = 0.0
    for c in columns:
        low, high = VALUE_RANGES.get(c.key, (0.0, 1.0))
        per_submission += math.log2(round((high - low) * 10**c.precision) + 1)
    return per_submission * submissions


def select(scores: dict[str, float], keys: list[str]) -> dict[str, float]:
    """``scores`` restricted to ``keys``, in the order of ``keys``."""
    return {k: scores[k] for k in keys if k in scores}


def _put(out: dict[str, float], key: str, estimate) -> None:
    if estimate is not None:
        _put_value(out, key, estimate.value)


def _put_value(out: dict[str, float], key: str, value) -> None:
    value = float(value)
    if math.isfinite(value):
        out[key] = value
