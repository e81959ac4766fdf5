"""The result of ``analyze`` and its JSON (schema ``mura-bench/analysis/v1``) and CSV renderings.

Same inputs + seed give a byte-identical JSON document (fixed key order, shortest round-trip floats,
nothing time- or host-dependent). Non-finite numbers are written as ``null``: a threshold of -inf
(every study called abnormal, nothing cleared) is ``null``, and so is a CI bound that is -inf.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mura_bench.data.layout import GROUPS
from mura_bench.results import (
    BootstrapSettings,
    Estimate,
    InputInfo,
    JsonDocument,
    csv_text,
    document_head,
    document_tail,
    estimate_columns,
)

SCHEMA = "mura-bench/analysis/v1"
TRIAGE = ("target_sensitivity", "threshold", "cleared_share", "cleared_normal_share", "missed_per_1000")
MATCHED = ("sensitivity_at_reader_specificity", "specificity_at_reader_sensitivity")
RATES = ("sensitivity", "specificity", "ppv", "npv")


def significant(lo: float | None, hi: float | None) -> bool:
    """A paired difference is significant when its CI excludes 0; a zero-width CI never is."""
    if lo is None or hi is None or not hi > lo:
        return False
    return lo > 0 or hi < 0


@dataclass(frozen=True)
class Matched:
    """An operating point of the model matched to the radiologists, and model - radiologists."""

    estimate: Estimate
    difference: Estimate

    def to_dict(self) -> dict[str, Any]:
        return {**self.estimate.to_dict(), "difference": self.difference.to_dict()}


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    rates: dict[str, Estimate]

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, **{k: self.rates[k].to_dict() for k in RATES}}


@dataclass
class GroupAnalysis:
    """Analysis of one group; ``triage`` and ``matched`` are None where undefined (one class under
    some reference; no readers)."""

    studies: int
    positives: int
    triage: dict[str, Estimate] | None = None
    matched: dict[str, Matched] | None = None
    calibration: dict[str, Any] | None = None
    operating_points: list[OperatingPoint] = field(default_factory=list)

    def fill(self, values: dict, intervals: dict, reliability_bins: list, resamples: int) -> None:
        """Set every section from the replicate arrays ``values`` (row 0 = original sample) and
        their ``intervals`` (name -> (lo, hi); empty without resamples)."""

        def est(name: str) -> Estimate:
            ci = intervals.get(name) if resamples else None
            return Estimate(float(values[name][0]), None if ci is None else (_bound(ci[0]), _bound(ci[1])))

        if "triage.threshold" in values:
            self.triage = {k: est(f"triage.{k}") for k in TRIAGE}
        if "matched.specificity_at_reader_sensitivity" in values:
            self.matched = {}
            for k in MATCHED:
                diff = est(f"matched.{k}.difference")
                sig = significant(*diff.ci) if diff.ci is not None else None
                self.matched[k] = Matched(est(f"matched.{k}"), Estimate(diff.value, diff.ci, sig))
        self.calibration = {
            "brier": est("calibration.brier"),
            "ece": est("calibration.ece"),
            "reliability": reliability_bins,
        }
        thresholds = sorted({float(k.split(":")[1]) for k in values if k.startswith("op:")})
        self.operating_points = [OperatingPoint(t, {r: est(f"op:{t!r}:{r}") for r in RATES}) for t in thresholds]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"studies": self.studies, "positives": self.positives}
        if self.studies == 0:
            return out
        if self.triage is not None:
            out["triage"] = {k: self.triage[k].to_dict() for k in TRIAGE}
        if self.matched is not None:
            out["matched"] = {k: self.matched[k].to_dict() for k in MATCHED}
        if self.calibration is not None:
            out["calibration"] = {
                "brier": self.calibration["brier"].to_dict(),
                "ece": self.calibration["ece"].to_dict(),
                "reliability": [list(b) for b in self.calibration["reliability"]],
            }
        out["operating_points"] = [p.to_dict() for p in self.operating_points]
        return out


@dataclass
class Analysis(JsonDocument):
    """Everything ``analyze`` found (see :mod:`mura_bench.analysis.analyze`)."""

    protocol: str
    bootstrap: BootstrapSettings
    predictions: InputInfo
    truth: InputInfo
    software: dict[str, str]
    target_sensitivity: float | None
    thresholds: tuple[float, ...]
    bins: int
    groups: dict[str, GroupAnalysis]
    notes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = document_head(SCHEMA, self)
        out["settings"] = {
            "target_sensitivity": ("radiologists" if self.target_sensitivity is None else self.target_sensitivity),
            "thresholds": list(self.thresholds),
            "bins": self.bins,
            "abnormal_if": "p > threshold",
        }
        out["groups"] = {g: self.groups[g].to_dict() for g in GROUPS}
        return document_tail(out, self)

    def rows(self) -> list[dict[str, Any]]:
        """Long-format rows: one per (group, section, quantity[, threshold])."""
        out = []
        for g in GROUPS:
            grp = self.groups[g]
            base = {"group": g, "studies": grp.studies, "positives": grp.positives}
            for section, name, threshold, est in _estimates(grp):
                out.append(
                    {
                        **base,
                        "section": section,
                        "quantity": name,
                        "threshold": threshold,
                        **estimate_columns(est, finite_only=True),
                    }
                )
        return out

    def to_csv(self) -> str:
        return csv_text(
            self.rows(),
            [
                "group",
                "section",
                "quantity",
                "threshold",
                "value",
                "ci_lower",
                "ci_upper",
                "significant",
                "studies",
                "positives",
            ],
        )


def _estimates(grp: GroupAnalysis):
    """(section, quantity, threshold, Estimate) of a group in display order."""
    for k, est in (grp.triage or {}).items():
        yield "triage", k, None, est
    for k, m in (grp.matched or {}).items():
        yield "matched", k, None, m.estimate
        yield "matched", f"{k}.difference", None, m.difference
    if grp.calibration is not None:
        yield "calibration", "brier", None, grp.calibration["brier"]
        yield "calibration", "ece", None, grp.calibration["ece"]
        for i, (mean_p, mean_y, n) in enumerate(grp.calibration["reliability"]):
            yield "reliability", f"bin{i + 1}.mean_p", None, Estimate(mean_p, None)
            yield "reliability", f"bin{i + 1}.mean_y", None, Estimate(mean_y, None)
            yield "reliability", f"bin{i + 1}.n", None, Estimate(float(n), None)
    for point in grp.operating_points:
        for r in RATES:
            yield "operating_point", r, point.threshold, point.rates[r]


def _bound(x) -> float:
    return float("-inf") if x is None else float(x)
