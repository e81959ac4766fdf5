"""The result of scoring, and its JSON (schema ``mura-bench/score/v1``) and CSV renderings.

Same inputs + seed give a byte-identical JSON document: dictionaries are built in a fixed order,
floats are written with Python's shortest round-trip repr, and nothing time- or host-dependent
(other than the software versions) is recorded.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from mura_bench.data.layout import GROUPS

SCHEMA = "mura-bench/score/v1"
#: Columns of :meth:`Result.rows`, :meth:`Result.to_csv` and :meth:`Result.to_frame`.
ROW_COLUMNS = (
    "group",
    "subject",
    "metric",
    "value",
    "ci_lower",
    "ci_upper",
    "p_value",
    "p_adjusted",
    "significant",
    "studies",
    "positives",
)


@dataclass(frozen=True)
class Estimate:
    """A point estimate (from the original sample) with its bootstrap CI (None without resamples).

    ``significant`` is set on differences only: the CI excludes 0 and is not degenerate, or, under
    the randomization test and with random readers, ``p_value`` (``p_adjusted`` when adjusted) is
    below 1 - confidence. With random readers (Obuchowski-Rockette) a difference also carries
    ``method`` ("obuchowski-rockette") and ``df`` (Hillis' degrees of freedom of its t interval;
    None in JSON when infinite: the readers' differences agree exactly).
    """

    value: float
    ci: tuple[float, float] | None
    significant: bool | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    df: float | None = None
    method: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": _num(self.value),
            "ci": None if self.ci is None else [_num(self.ci[0]), _num(self.ci[1])],
        }
        if self.p_value is not None:
            out["p_value"] = _num(self.p_value)
        if self.p_adjusted is not None:
            out["p_adjusted"] = _num(self.p_adjusted)
        if self.method is not None:
            out["method"] = self.method
            out["df"] = None if self.df is None else _num(self.df)
        if self.significant is not None:
            out["significant"] = bool(self.significant)
        return out


MetricEstimates = dict[str, Estimate]

#: The summary subjects of a group, in display order (readers follow them, one subject each).
SUMMARY_SUBJECTS: tuple[str, ...] = ("model", "radiologists", "difference")


@dataclass(frozen=True)
class Subject:
    """Who a row of estimates is about: ``kind`` ``model``, ``radiologists``, ``difference``
    (model - radiologists) or ``reader``, with the reader's ``name`` for ``reader``.

    :attr:`key` is its name in long-format rows and replicates: the kind, or ``reader:<name>``.
    """

    kind: str
    name: str | None = None

    @property
    def is_reader(self) -> bool:
        return self.kind == "reader"

    @property
    def key(self) -> str:
        return f"reader:{self.name}" if self.is_reader else self.kind

    @staticmethod
    def reader(name: str) -> "Subject":
        return Subject("reader", name)


@dataclass
class GroupResult:
    """Scores of one group (a body part or ``overall``)."""

    studies: int
    positives: int
    model: MetricEstimates = field(default_factory=dict)
    radiologists: MetricEstimates | None = None
    readers: dict[str, MetricEstimates] | None = None
    difference: MetricEstimates | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"studies": self.studies, "positives": self.positives}
        if self.studies == 0:
            return out
        out["model"] = _metrics_dict(self.model)
        if self.radiologists is not None:
            out["radiologists"] = _metrics_dict(self.radiologists)
        if self.readers is not None:
            out["readers"] = {name: _metrics_dict(m) for name, m in self.readers.items()}
        if self.difference is not None:
            out["difference"] = _metrics_dict(self.difference)
        return out

    def estimates(self, subject: Subject) -> MetricEstimates | None:
        """The estimates of ``subject`` in this group (None when the group has no such subject)."""
        if self.studies == 0:
            return None
        if subject.is_reader:
            return (self.readers or {}).get(subject.name or "")
        return getattr(self, subject.kind)


@dataclass(frozen=True)
class InputInfo:
    """An input as detected. ``rows`` (predictions only; not part of the JSON) counts the input
    rows: images for kind ``image-probabilities``."""

    path: str
    sha256: str
    kind: str
    readers: tuple[str, ...] | None = None
    rows: int | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "sha256": self.sha256, "kind": self.kind}
        if self.readers is not None:
            out["readers"] = list(self.readers)
        return out


@dataclass(frozen=True)
class BootstrapSettings:
    """How intervals and significance were obtained. For ``score``: ``test`` "ci" (significant iff
    the CI of the difference excludes 0) or "randomization" (``permutations`` P, None under "ci");
    ``adjust`` "none" or "holm"; ``resample_readers`` whether readers were resampled too (two-way
    bootstrap); ``readers`` "fixed" or "random" (Obuchowski-Rockette test of model - radiologists). Documents without significance tests (``analyze``) leave ``test`` None and the
    four keys out."""

    resamples: int
    seed: int
    confidence: float
    method: str
    test: str | None = None
    permutations: int | None = None
    adjust: str | None = None
    resample_readers: bool | None = None
    readers: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "resamples": self.resamples,
            "seed": self.seed,
            "confidence": self.confidence,
            "method": self.method,
        }
        if self.test is not None:
            out.update(
                {
                    "test": self.test,
                    "permutations": self.permutations,
                    "adjust": self.adjust,
                    "resample_readers": bool(self.resample_readers),
                    "readers": self.readers or "fixed",
                }
            )
        return out


class JsonDocument:
    """A result with ``to_dict``: its JSON text, deterministic (fixed key order, no NaN)."""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"


@dataclass
class Result(JsonDocument):
    """Everything ``score`` found. ``replicates`` (only with ``keep_replicates=True``) holds the raw
    bootstrap values: ``replicates[group][subject][metric]`` -> array (B,), subject in ``model``,
    ``radiologists``, ``difference`` or ``reader:<name>`` (with BCa also ``jackknife:difference``,
    the n leave-one-study-out values); shared resamples make them paired across
    results scored on the same truth with the same seed."""

    protocol: str
    bootstrap: BootstrapSettings
    predictions: InputInfo
    truth: InputInfo
    software: dict[str, str]
    groups: dict[str, GroupResult]
    notes: list[str] = field(default_factory=list)
    metrics: tuple[str, ...] = ()
    missing: list[str] = field(default_factory=list)
    replicates: dict[str, dict[str, dict[str, Any]]] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = document_head(SCHEMA, self)
        out["groups"] = {g: self.groups[g].to_dict() for g in GROUPS}
        return document_tail(out, self)

    def rows(self) -> list[dict[str, Any]]:
        """Long-format rows: one per (group, subject, metric)."""
        out = []
        for g in GROUPS:
            grp = self.groups[g]
            for subject, metrics in subjects(grp):
                for metric, est in metrics.items():
                    out.append(
                        {
                            "group": g,
                            "subject": subject.key,
                            "metric": metric,
                            **estimate_columns(est),
                            "p_value": est.p_value,
                            "p_adjusted": est.p_adjusted,
                            "studies": grp.studies,
                            "positives": grp.positives,
                        }
                    )
        return out

    def to_frame(self) -> Any:
        """The :meth:`rows` as a pandas DataFrame (long format: one row per group, subject and
        metric; columns ``group subject metric value ci_lower ci_upper p_value p_adjusted
        significant studies positives``; p-values only under the randomization test). Needs pandas,
        imported only here.

        >>> from mura_bench import evaluate
        >>> ids = [f"valid/XR_HAND/patient{i}/study1/" for i in range(1, 31)]
        >>> panel = [[i % 2, i % 2, (i // 3) % 2] for i in range(1, 31)]   # three readers
        >>> frame = evaluate(ids, [0.2 + 0.6 * (i % 2) for i in range(1, 31)], panel, bootstrap=200).to_frame()
        >>> sorted(frame.subject.unique())
        ['difference', 'model', 'radiologists', 'reader:r1', 'reader:r2', 'reader:r3']
        >>> frame.pivot_table(index="metric", columns="subject", values="value").loc["f1", ["model", "radiologists"]].round(3).tolist()
        [0.905, 0.794]
        """
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("Result.to_frame() needs pandas: pip install pandas") from exc
        return pd.DataFrame(self.rows(), columns=list(ROW_COLUMNS))

    def to_csv(self) -> str:
        return csv_text(self.rows(), list(ROW_COLUMNS))


class ResultDocument(Protocol):
    """What :func:`document_head` and :func:`document_tail` read (a score or an analysis result)."""

    protocol: str
    bootstrap: BootstrapSettings
    predictions: InputInfo
    truth: InputInfo
    software: dict[str, str]
    notes: list[str]
    missing: list[str]


def estimate_columns(est: Estimate, finite_only: bool = False) -> dict[str, Any]:
    """``value, ci_lower, ci_upper, significant`` of an estimate, for long-format rows
    (``finite_only``: non-finite numbers become None)."""
    fix = _num if finite_only else (lambda x: x)
    return {
        "value": fix(est.value),
        "ci_lower": None if est.ci is None else fix(est.ci[0]),
        "ci_upper": None if est.ci is None else fix(est.ci[1]),
        "significant": est.significant,
    }


def document_head(schema: str, result: ResultDocument) -> dict[str, Any]:
    """The leading keys of a result document: schema, protocol, bootstrap, inputs, software."""
    return {
        "schema": schema,
        "protocol": result.protocol,
        "bootstrap": result.bootstrap.to_dict(),
        "inputs": {"predictions": result.predictions.to_dict(), "truth": result.truth.to_dict()},
        "software": dict(result.software),
    }


def document_tail(out: dict[str, Any], result: ResultDocument) -> dict[str, Any]:
    """Append ``missing_studies`` and ``notes`` (when there are any) to a result document."""
    if result.missing:
        out["missing_studies"] = list(result.missing)
    if result.notes:
        out["notes"] = list(result.notes)
    return out


def csv_text(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """Long-format rows as CSV: empty cells for None, floats in shortest round-trip form."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: ("" if row[k] is None else (repr(row[k]) if isinstance(row[k], float) else row[k])) for k in columns}
        )
    return buf.getvalue()


def subjects(group: GroupResult) -> list[tuple[Subject, MetricEstimates]]:
    """(subject, metrics) of a group in display order: model, radiologists, difference, readers."""
    summary = [Subject(kind) for kind in SUMMARY_SUBJECTS]
    every = summary + [Subject.reader(name) for name in (group.readers or {})]
    return [(s, metrics) for s in every if (metrics := group.estimates(s)) is not None]


def _metrics_dict(metrics: MetricEstimates) -> dict[str, Any]:
    return {name: est.to_dict() for name, est in metrics.items()}


def _num(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None
