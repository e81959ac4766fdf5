"""Terminal tables of an :class:`~mura_bench.analysis_result.Analysis` (for ``render.print_blocks``)."""
from __future__ import annotations

import math

from mura_bench.analysis_result import RATES, Analysis
from mura_bench.layout import GROUPS
from mura_bench.results_table import format_estimate
from mura_bench.results import Estimate

TRIAGE_COLUMNS = (("target_sensitivity", "Target sens.", 3), ("threshold", "t*", 3),
                  ("cleared_share", "Cleared", 3), ("cleared_normal_share", "Normals cleared", 3),
                  ("missed_per_1000", "Missed /1000", 1))
MATCHED_COLUMNS = (("sensitivity_at_reader_specificity", "Sens. @ rad. spec."),
                   ("specificity_at_reader_sensitivity", "Spec. @ rad. sens."))


def _fmt(est: Estimate | None, digits: int = 3) -> str:
    """An estimate; a threshold of -inf (nothing cleared) reads ``-inf``."""
    if est is None:
        return "—"
    if math.isinf(est.value) or (est.ci is not None and any(math.isinf(b) for b in est.ci)):
        def one(x: float) -> str:
            return "-inf" if math.isinf(x) else f"{x:.{digits}f}"
        text = one(est.value)
        return text if est.ci is None else f"{text} ({one(est.ci[0])}, {one(est.ci[1])})"
    return format_estimate(est, digits=digits)


def heading(result: Analysis) -> str:
    target = ("the radiologists' mean sensitivity" if result.target_sensitivity is None
              else f"sensitivity {result.target_sensitivity:g}")
    return (f"{result.predictions.path} vs {result.truth.path} — protocol {result.protocol}, "
            f"{result.bootstrap.resamples} paired resamples, {int(round(result.bootstrap.confidence * 100))}% "
            f"percentile CI; triage at {target}; abnormal iff p > t")


def _group_table(title: str, columns: list[str]):
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("Body part", style="bold")
    table.add_column("Studies (abn.)", justify="right")
    for label in columns:
        table.add_column(label, justify="right")
    return table


def triage_table(result: Analysis):
    table = _group_table("Triage: studies with p <= t* are cleared (called normal)",
                         [label for _, label, _ in TRIAGE_COLUMNS])
    for g in GROUPS:
        grp = result.groups[g]
        triage = grp.triage or {}
        table.add_row(g, f"{grp.studies} ({grp.positives})", *[_fmt(triage.get(k), d) for k, _, d in TRIAGE_COLUMNS])
    return table


def matched_calibration_table(result: Analysis):
    labels = [x for _, label in MATCHED_COLUMNS for x in (label, "Δ vs radiologists")]
    table = _group_table("Matched operating points and calibration", labels + ["Brier", f"ECE ({result.bins} bins)"])
    for g in GROUPS:
        grp = result.groups[g]
        cells = []
        for k, _ in MATCHED_COLUMNS:
            m = (grp.matched or {}).get(k)
            cells += [_fmt(None if m is None else m.estimate), _fmt(None if m is None else m.difference)]
        calibration = grp.calibration or {}
        cells += [_fmt(calibration.get("brier")), _fmt(calibration.get("ece"))]
        table.add_row(g, f"{grp.studies} ({grp.positives})", *cells)
    table.caption = "* the paired CI of model − radiologists excludes 0 (significant)"
    table.caption_justify = "left"
    return table


def operating_points_table(result: Analysis):
    from rich.table import Table

    table = Table(title="Operating points (abnormal iff p > threshold)", title_justify="left")
    table.add_column("Body part", style="bold")
    table.add_column("Threshold", justify="right")
    for r in RATES:
        table.add_column(r.upper() if len(r) == 3 else r.capitalize(), justify="right")
    for g in GROUPS:
        points = result.groups[g].operating_points
        for i, point in enumerate(points):
            table.add_row(g if i == 0 else "", f"{point.threshold:g}", *[_fmt(point.rates[r]) for r in RATES],
                          end_section=i == len(points) - 1)
        if not points:
            table.add_row(g, "—", *["—" for _ in RATES], end_section=True)
    return table


def analysis_blocks(result: Analysis) -> list:
    """Heading, the two tables and the notes, in print order."""
    return [heading(result), triage_table(result), matched_calibration_table(result), operating_points_table(result),
            *[f"note: {n}" for n in result.notes]]
