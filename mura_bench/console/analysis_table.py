"""Terminal tables of an :class:`~mura_bench.analysis.analysis_result.Analysis` laid out by :mod:`mura_bench.console.table_fit`."""

from __future__ import annotations

import math

from mura_bench.analysis.analysis_result import RATES, Analysis
from mura_bench.data.layout import GROUPS
from mura_bench.results import Estimate
from mura_bench.console.results_table import number, shows_mark
from mura_bench.console.table_fit import Cell, Column, Grid, Row, cell_text

TRIAGE_COLUMNS = (
    ("target_sensitivity", "Target sens.", 3),
    ("threshold", "t*", 3),
    ("cleared_share", "Cleared", 3),
    ("cleared_normal_share", "Normals cleared", 3),
    ("missed_per_1000", "Missed /1000", 1),
)
MATCHED_COLUMNS = (
    ("sensitivity_at_reader_specificity", "Sens. @ rad. spec."),
    ("specificity_at_reader_sensitivity", "Spec. @ rad. sens."),
)


def _text(x: float, digits: int) -> str:
    return "-inf" if math.isinf(x) else number(x, digits)


def _cell(est: Estimate | None, digits: int = 3, mark: bool | None = None) -> Cell | str:
    """An estimate as a :class:`~mura_bench.console.table_fit.Cell` (value, interval); a threshold of -inf
    (nothing cleared) reads ``-inf``."""
    if est is None:
        return "—"
    head = _text(est.value, digits) + (" *" if (est.significant if mark is None else mark) else "")
    return Cell(head, None if est.ci is None else f"({_text(est.ci[0], digits)}, {_text(est.ci[1], digits)})")


def _fmt(est: Estimate | None, digits: int = 3) -> str:
    """An estimate on one line (value and interval)."""
    return cell_text(_cell(est, digits), False)


def heading(result: Analysis) -> str:
    target = (
        "the radiologists' mean sensitivity"
        if result.target_sensitivity is None
        else f"sensitivity {result.target_sensitivity:g}"
    )
    return (
        f"{result.predictions.path} vs {result.truth.path} — protocol {result.protocol}, "
        f"{result.bootstrap.resamples} paired resamples, {int(round(result.bootstrap.confidence * 100))}% "
        f"percentile CI; triage at {target}; abnormal iff p > t"
    )


def _keys() -> list[Column]:
    return [
        Column("Body part", justify="left", key=True, style="bold"),
        Column("Studies (abn.)", key=True, stacked_header="Studies\n(abn.)"),
    ]


def _stacked_header(label: str) -> str:
    """A header over two lines when its cells are stacked (narrower columns)."""
    words = label.split(" ")
    if len(words) < 2:
        return label
    half = (len(words) + 1) // 2
    return " ".join(words[:half]) + "\n" + " ".join(words[half:])


def _value_columns(labels) -> list[Column]:
    return [Column(label, stacked_header=_stacked_header(label)) for label in labels]


def triage_table(result: Analysis) -> Grid:
    rows = []
    for g in GROUPS:
        grp = result.groups[g]
        triage = grp.triage or {}
        rows.append(
            Row([g, f"{grp.studies} ({grp.positives})", *[_cell(triage.get(k), d) for k, _, d in TRIAGE_COLUMNS]])
        )
    return Grid(
        _keys() + _value_columns(label for _, label, _ in TRIAGE_COLUMNS),
        rows,
        title="Triage: studies with p <= t* are cleared (called normal)",
    )


def matched_calibration_table(result: Analysis) -> Grid:
    labels = [x for _, label in MATCHED_COLUMNS for x in (label, f"Δ {label}")]
    rows = []
    for g in GROUPS:
        grp = result.groups[g]
        cells: list = []
        for k, _ in MATCHED_COLUMNS:
            m = (grp.matched or {}).get(k)
            difference = None if m is None else m.difference
            cells += [
                _cell(None if m is None else m.estimate),
                _cell(difference, mark=shows_mark(g, difference, adjusted=False)),
            ]
        calibration = grp.calibration or {}
        cells += [_cell(calibration.get("brier")), _cell(calibration.get("ece"))]
        rows.append(Row([g, f"{grp.studies} ({grp.positives})", *cells]))
    return Grid(
        _keys() + _value_columns(labels + ["Brier", f"ECE ({result.bins} bins)"]),
        rows,
        title="Matched operating points and calibration",
        caption="Δ: model − radiologists; * overall only: its paired CI excludes 0; body parts are estimates "
        'with CIs, not tested (the JSON\'s per-group "significant" is unadjusted)',
    )


def operating_points_table(result: Analysis) -> Grid:
    columns = [Column("Body part", justify="left", key=True, style="bold"), Column("Threshold", key=True)]
    columns += _value_columns(r.upper() if len(r) == 3 else r.capitalize() for r in RATES)
    rows = []
    for g in GROUPS:
        points = result.groups[g].operating_points
        for i, point in enumerate(points):
            rows.append(
                Row(
                    [g if i == 0 else "", f"{point.threshold:g}", *[_cell(point.rates[r]) for r in RATES]],
                    end_section=i == len(points) - 1,
                )
            )
        if not points:
            rows.append(Row([g, "—", *["—" for _ in RATES]], end_section=True))
    return Grid(columns, rows, title="Operating points (abnormal iff p > threshold)")


def analysis_blocks(result: Analysis) -> list:
    """Heading, the three tables and the notes, in print order (blocks of
    :func:`mura_bench.console.table_fit.print_blocks`)."""
    return [
        heading(result),
        triage_table(result),
        matched_calibration_table(result),
        operating_points_table(result),
        *[f"note: {n}" for n in result.notes],
    ]
