"""The ranked board: re-scored entries and their shared-resample results, as rows of the table.

:func:`board_rows` ranks the entries on paired overall F1 under a :class:`RankRule` (the bootstrap
CI rule of :mod:`.ranking`, or the paired randomization test of :mod:`mura_bench.stats.randomization`)
and appends the radiologists' mean and each reader as reference rows (never ranked).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mura_bench.data.alignment import Alignment
from mura_bench.errors import InputError
from mura_bench.data.layout import GROUPS
from mura_bench.leaderboard.ranking import (
    display_order,
    ranks_from_better,
    significantly_better,
    significantly_better_given,
)
from mura_bench.leaderboard.submissions import OfRescoredSubmission, RescoredSubmission
from mura_bench.leaderboard.table import BoardRow
from mura_bench.data.predictions import Predictions
from mura_bench.results import Result
from mura_bench.data.truth import Truth

#: The metric entries are ranked on (overall group, paired).
RANK_METRIC = "f1"


@dataclass(frozen=True)
class ScoredEntry(OfRescoredSubmission):
    """A re-scored entry as the build read it: its predictions and their alignment with every
    study of the truth (``allow_missing=False``), kept for every later step."""

    submission: RescoredSubmission
    predictions: Predictions
    alignment: Alignment


@dataclass(frozen=True)
class RankRule:
    """Which rule made the ranks (recorded in leaderboard.json and said on the site)."""

    test: str
    permutations: int
    adjust: str
    confidence: float

    @staticmethod
    def of(test: str, permutations: int, adjust: str, confidence: float) -> "RankRule":
        if test not in ("ci", "randomization"):
            raise InputError(f"unknown test {test!r}; choose ci or randomization", source="--test")
        if adjust not in ("none", "holm"):
            raise InputError(f"unknown adjustment {adjust!r}; choose none or holm", source="--adjust")
        if adjust != "none" and test != "randomization":
            raise InputError(f"--adjust {adjust} needs --test randomization (it adjusts p-values)", source="--adjust")
        from mura_bench.stats.randomization import MAX_PERMUTATIONS

        if test == "randomization" and not 1 <= permutations <= MAX_PERMUTATIONS:
            raise InputError(f"--permutations must lie between 1 and {MAX_PERMUTATIONS:,}", source="--permutations")
        return RankRule(test, int(permutations), adjust, confidence)

    def describe(self) -> str:
        if self.test == "ci":
            return (
                "Rank = 1 + the number of entries whose paired overall-F1 difference "
                f"({self.confidence:.0%} percentile bootstrap CI on the shared resamples) lies entirely above 0"
            )
        holm_text = ", Holm-adjusted over all pairs" if self.adjust == "holm" else ""
        return (
            "Rank = 1 + the number of entries with a higher overall F1 whose paired randomization test "
            f"(one coin per study swaps the two entries' reads, {self.permutations} permutations) "
            f"gives p < {1 - self.confidence:.3g}{holm_text}"
        )

    def to_dict(self) -> dict:
        return {
            "test": self.test,
            "permutations": self.permutations if self.test == "randomization" else None,
            "adjust": self.adjust,
        }


def board_rows(
    scored: list[ScoredEntry],
    results: list[Result],
    rule: RankRule,
    truth: Truth,
    seed: int,
    better: np.ndarray | None = None,
) -> list[BoardRow]:
    """The entries in display order with their ranks, then the radiologists' mean and the readers
    (``results[i]`` is the result of ``scored[i]``, all on the same resamples). ``better``: the
    entries' :func:`better_matrix`, when already computed."""
    if not scored:
        return []
    names = [s.slug for s in scored]
    points = np.array([r.groups["overall"].model[RANK_METRIC].value for r in results])
    if better is None:
        better = better_matrix(scored, results, rule, truth, seed)
    ranks = ranks_from_better(better)
    rows = []
    for i in display_order(ranks, points, names):
        s, r = scored[i], results[i]
        rows.append(
            BoardRow(
                s.slug,
                "submission",
                s.submission.meta.name,
                _cells(r.groups, "model"),
                int(ranks[i]),
                s.submission.meta,
                s.predictions.kind,
                s.predictions.sha256,
                int(better[i].sum()),
                int(better[:, i].sum()),
                {g: r.groups[g].studies for g in GROUPS},
            )
        )
    first = results[0].groups
    if first["overall"].radiologists is not None:
        n = len(first["overall"].readers or {})
        rows.append(
            BoardRow("radiologists", "radiologists", f"Radiologists (mean of {n})", _cells(first, "radiologists"))
        )
    for name in first["overall"].readers or {}:
        rows.append(BoardRow(f"reader:{name}", "reader", name, _cells(first, "reader", name)))
    return rows


def better_matrix(
    scored: list[ScoredEntry],
    results: list[Result],
    rule: RankRule,
    truth: Truth,
    seed: int,
    known: np.ndarray | None = None,
) -> np.ndarray:
    """``better[j, i]``: entry j is significantly better than entry i under ``rule``. ``known``
    (CI rule only, see :func:`.ranking.significantly_better_given`): pairs decided by an earlier
    build on the same replicates, which are not computed again."""
    if not scored:
        return np.zeros((0, 0), dtype=bool)
    if rule.test == "randomization":
        return _better_by_randomization(scored, results, rule, truth, seed)
    if all(r.replicates for r in results):
        reps = np.stack([np.asarray(r.replicates["overall"]["model"][RANK_METRIC], dtype=np.float64) for r in results])
        if known is not None:
            return significantly_better_given(reps, known, confidence=rule.confidence)
        return significantly_better(reps, confidence=rule.confidence)
    return np.zeros((len(results), len(results)), dtype=bool)


def _cells(groups: dict, subject: str, reader: str | None = None) -> dict[str, dict]:
    out = {}
    for g in GROUPS:
        grp = groups[g]
        if subject == "model":
            metrics = grp.model
        elif subject == "radiologists":
            metrics = grp.radiologists
        else:
            metrics = (grp.readers or {}).get(reader)
        out[g] = dict(metrics or {})
    return out


def _better_by_randomization(
    scored: list[ScoredEntry], results: list[Result], rule: RankRule, truth: Truth, seed: int
) -> np.ndarray:
    """``better[j, i]``: F1_j > F1_i on overall and the paired randomization p (Holm-adjusted over
    all pairs with ``adjust="holm"``) is below 1 - confidence."""
    from mura_bench.stats.protocols import make_plan
    from mura_bench.stats.randomization import holm, pairwise_p_values
    from mura_bench.scoring.engine import one_blas_thread

    plan = make_plan(results[0].protocol, labels=truth.labels, readers=truth.readers, reader_names=truth.reader_names)
    labels = np.stack([s.predictions.labels[s.alignment.prediction_index] for s in scored], axis=1)
    with one_blas_thread():
        diff, p = pairwise_p_values(
            labels,
            plan.references,
            RANK_METRIC,
            permutations=rule.permutations,
            seed=seed,
            group=GROUPS.index("overall"),
        )
    if rule.adjust == "holm":
        upper = np.triu_indices(len(scored), 1)
        p[upper] = holm(p[upper])
        p.T[upper] = p[upper]
    return (diff > 0) & (p < 1.0 - rule.confidence)
