"""Reported entries: figures published elsewhere, carried in ``submission.toml``, never re-scored.

A reported ``submission.toml`` has the common metadata (see :mod:`.submissions`), a ``[source]``
table and one ``[[results]]`` table per row of the published table::

    reported = true
    name = "MURA paper (v1), Table 2"
    [source]
    citation = "Rajpurkar et al. ... Table 2"   # required
    url = "https://arxiv.org/abs/1712.06957v1"
    file = "paper-v1-table2-f1.csv"              # the table it was converted from
    test_set = "MURA test set, ..."              # required: what it was measured on
    metric = "f1"                                # required: the metric of the figures
    interval = "95% bootstrap confidence interval"
    note = "..."                                 # optional remark shown with the table

    [[results]]
    label = "Model"                 # required
    kind = "model"                  # model | radiologists | reader | run
    team = ""; date = ""; run = ""  # optional (the historical leaderboard has them)
    status = "scored"               # optional; checked: "failed" iff no figures,
                                    # "negative-kappa" iff a figure is below 0, else "scored"
    [results.f1]                    # one table per metric, named like the source metric
    overall = { value = 0.857, ci = [0.804, 0.905] }
    elbow = { value = 0.848, ci = [0.691, 0.955] }

Groups are those of :data:`mura_bench.data.layout.GROUPS`. The project's reported entries were written
once from the published tables by ``site/convert_reported.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mura_bench.errors import SubmissionError
from mura_bench.data.layout import GROUPS
from mura_bench.stats.metric_registry import METRICS
from mura_bench.io.terminal import excerpt, quote

KINDS = ("model", "radiologists", "reader", "run")


@dataclass(frozen=True)
class Figure:
    value: float
    ci: tuple[float, float] | None


@dataclass(frozen=True)
class ReportedResult:
    """One row of a published table. ``figures[metric][group]``; groups may be absent."""

    label: str
    kind: str
    team: str
    date: str
    run: str
    status: str
    figures: dict[str, dict[str, Figure]]

    @property
    def negative_groups(self) -> list[str]:
        return [g for m in self.figures.values() for g, f in m.items() if f.value < 0]


def parse_reported(source: dict, results: list) -> list[ReportedResult]:
    """Validate a reported entry's ``[source]`` and ``[[results]]``; raise SubmissionError."""
    for key in ("citation", "test_set", "metric"):
        if not isinstance(source.get(key), str) or not source[key].strip():
            raise SubmissionError(f"[source] needs a non-empty string '{key}'")
    unknown = sorted(set(source) - {"citation", "url", "file", "test_set", "metric", "interval", "note"})
    if unknown:
        raise SubmissionError(f"[source]: unknown key(s) {', '.join(excerpt(k, 40) for k in unknown[:5])}")
    for key, value in source.items():
        if not isinstance(value, str):
            raise SubmissionError(f"[source]: '{key}' must be a string")
    if source["metric"] not in METRICS:
        raise SubmissionError(f"[source]: metric must be one of {', '.join(METRICS)}")
    parsed = []
    for i, row in enumerate(results, 1):
        where = f"[[results]] #{i}"
        if not isinstance(row, dict):
            raise SubmissionError(f"{where}: must be a table")
        label = row.get("label")
        if not isinstance(label, str) or not label.strip():
            raise SubmissionError(f"{where}: needs a non-empty string 'label'")
        where = f"{where} ({quote(label, 40)})"
        texts = {}
        for key in ("kind", "team", "date", "run", "status"):
            value = row.get(key, "")
            if not isinstance(value, str):
                raise SubmissionError(f"{where}: '{key}' must be a string")
            texts[key] = value.strip()
        kind = texts["kind"] or "model"
        if kind not in KINDS:
            raise SubmissionError(f"{where}: kind must be one of {', '.join(KINDS)}")
        figures: dict[str, dict[str, Figure]] = {}
        for key, table in row.items():
            if key in ("label", "kind", "team", "date", "run", "status"):
                continue
            if key not in METRICS:
                raise SubmissionError(f"{where}: unknown key {quote(key, 40)} (metrics: {', '.join(METRICS)})")
            figures[key] = _figures(table, f"{where} {key}", metric_range(key))
        status = status_of(figures)
        if texts["status"] and texts["status"] != status:
            raise SubmissionError(
                f"{where}: status {quote(texts['status'], 40)} does not match the figures (they make it {status!r})"
            )
        parsed.append(ReportedResult(label.strip(), kind, texts["team"], texts["date"], texts["run"], status, figures))
    return parsed


def metric_range(metric: str) -> tuple[float, float]:
    """The values a metric can take: kappa lies in [-1, 1], every other metric in [0, 1]."""
    return (-1.0, 1.0) if metric == "kappa" else (0.0, 1.0)


#: Slack when checking a published value against its own interval (figures rounded to 3-4 digits).
ROUNDING = 1e-9


def _in_range(number: float, bounds: tuple[float, float], where: str) -> float:
    lo, hi = bounds
    if not lo <= number <= hi:
        raise SubmissionError(f"{where}: {number!r} is outside [{lo:g}, {hi:g}], the range of the metric")
    return number


def _figures(table, where: str, bounds: tuple[float, float] = (-1.0, 1.0)) -> dict[str, Figure]:
    if not isinstance(table, dict):
        raise SubmissionError(f"{where}: must be a table of groups")
    out = {}
    for group, cell in table.items():
        if group not in GROUPS:
            raise SubmissionError(f"{where}: unknown group {quote(group, 40)} (groups: {', '.join(GROUPS)})")
        if not isinstance(cell, dict) or "value" not in cell or set(cell) - {"value", "ci"}:
            raise SubmissionError(f"{where}.{group}: expected {{ value = ..., ci = [lo, hi] }}")
        value = _in_range(_number(cell["value"], f"{where}.{group}.value"), bounds, f"{where}.{group}.value")
        ci = None
        if "ci" in cell:
            if not isinstance(cell["ci"], list) or len(cell["ci"]) != 2:
                raise SubmissionError(f"{where}.{group}.ci: expected [lo, hi]")
            lo, hi = (_number(b, f"{where}.{group}.ci") for b in cell["ci"])
            if lo > hi:
                raise SubmissionError(f"{where}.{group}.ci: lower bound {lo} above upper {hi}")
            if not lo - ROUNDING <= value <= hi + ROUNDING:
                raise SubmissionError(
                    f"{where}.{group}: value {value!r} lies outside its own interval [{lo!r}, {hi!r}]"
                )
            ci = (lo, hi)
        out[group] = Figure(value, ci)
    return {g: out[g] for g in GROUPS if g in out}


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SubmissionError(f"{where}: expected a finite number, not {quote(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits
        raise SubmissionError(f"{where}: number too large ({quote(value, 24)})") from None
    if not math.isfinite(number):
        raise SubmissionError(f"{where}: expected a finite number, not {quote(value)}")
    return number


def status_of(figures: dict[str, dict[str, Figure]]) -> str:
    """A row's status: "failed" without figures, "negative-kappa" when a figure is below 0, else
    "scored"."""
    values = [f.value for m in figures.values() for f in m.values()]
    if not values:
        return "failed"
    if any(v < 0 for v in values):
        return "negative-kappa"
    return "scored"
