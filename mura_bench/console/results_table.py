"""The terminal results table, laid out to fit a given width without cutting anything.

Default (compact) layout: one row per body part and metric, one column per scored subject
(model, radiologists, model − radiologists, then the readers when asked for). Each cell is a point
estimate with its interval, written inline (``0.853 (0.801, 0.897)``) when that fits the width, else
on two lines (value above, interval below). When even that is too wide (many readers on a narrow
terminal), the subject columns are split over several tables, the summary subjects first. The
``wide`` layout is the transposed one (one row per body part and subject, one column per metric),
rendered at its natural width.

The layout is chosen by :mod:`mura_bench.console.table_fit`, the mechanism of every CLI table: no column
ever shortens its text with an ellipsis or wraps a cell at a space; the first layout whose width
fits is used, so folding only happens when the target width is too small for a single subject
column. Negative numbers use the minus sign (U+2212).
"""

from __future__ import annotations

from collections.abc import Sequence

from mura_bench.data.layout import GROUPS
from mura_bench.stats.metric_registry import METRIC_SPECS
from mura_bench.results import SUMMARY_SUBJECTS, Estimate, GroupResult, Result, Subject
from mura_bench.console.table_fit import Layout, fit, natural_width, rich_width  # noqa: F401 (re-exported)
from mura_bench.io.terminal import visible

#: Metric titles in the table (the registry's short titles).
METRIC_LABELS = {spec.name: spec.short_title for spec in METRIC_SPECS}
SUBJECT_HEADERS = {"model": "Model", "radiologists": "Radiologists", "difference": "Model − radiologists"}
MINUS = "\u2212"
DASH = "—"
SIGNIFICANT_CAPTION = (
    "* overall only (the pre-specified comparison): the paired CI of model − radiologists "
    "excludes 0; body parts are estimates with CIs, not tested"
)


def shows_mark(group: str, est: Estimate | None, *, adjusted: bool) -> bool:
    """Whether a model − radiologists cell carries ``*``: its ``significant`` holds and it is the
    one pre-specified comparison (``overall``), or the run adjusted over the 8 groups (Holm), so
    that a mark on a body part keeps its error rate. Unadjusted per-part significance stays in the
    JSON's ``significant``."""
    return bool(est is not None and est.significant and (group == "overall" or adjusted))


def number(value: float, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals and a real minus sign (never ``-0.000``)."""
    text = f"{value:.{digits}f}"
    if text.startswith("-"):
        text = text[1:] if float(text) == 0 else MINUS + text[1:]
    return text


def interval(ci: tuple[float, float], digits: int = 3) -> str:
    return f"({number(ci[0], digits)}, {number(ci[1], digits)})"


def format_estimate(est: Estimate | None, *, stacked: bool = False, digits: int = 3, mark: bool | None = None) -> str:
    """A cell: value, interval (same line, or the next with ``stacked``) and ``*`` when ``mark``
    (default: when significant)."""
    if est is None:
        return DASH
    head = number(est.value, digits) + (" *" if (est.significant if mark is None else mark) else "")
    if est.ci is None:
        return head
    return f"{head}\n{interval(est.ci, digits)}" if stacked else f"{head} {interval(est.ci, digits)}"


def shown_subjects(result: Result, *, readers: bool) -> list[Subject]:
    """Subjects present anywhere in the result, in display order; readers only when asked for."""
    shown: list[Subject] = []
    for g in GROUPS:
        grp = result.groups[g]
        present = [Subject(k) for k in SUMMARY_SUBJECTS if grp.estimates(Subject(k)) is not None]
        present += [Subject.reader(r) for r in (grp.readers or {})] if readers else []
        shown += [s for s in present if s not in shown]
    return shown


def _header(subject: Subject, *, stacked: bool = False) -> str:
    if subject.is_reader:  # a name from the truth file: shown, never interpreted
        return visible(subject.name, one_line=True)
    text = SUBJECT_HEADERS[subject.kind]
    return text.replace(" − ", " −\n") if stacked else text


def _group_cells(grp: GroupResult, name: str, heights: Sequence[int]) -> list[str]:
    """The body-part column of a group's rows: its name and counts, spread over rows of ``heights``."""
    lines = [name, f"n={grp.studies}", f"{grp.positives} abn."]
    cells = []
    for i, h in enumerate(heights):
        take = len(lines) if i == len(heights) - 1 else h
        cells.append("\n".join(lines[:take]))
        lines = lines[take:]
    return cells


def compact_table(
    result: Result, subjects: Sequence[Subject], *, stacked: bool, title: str | None = None, edge: bool = True
):
    """Rows: body part x metric; columns: ``subjects``. ``edge=False`` drops the outer border."""
    table = _new_table(title)
    table.show_edge = edge
    table.add_column("Body part", style="bold")
    table.add_column("Metric")
    for s in subjects:
        table.add_column(_header(s, stacked=stacked), justify="right", style="dim" if s.is_reader else None)
    for g in GROUPS:
        grp = result.groups[g]
        if grp.studies == 0:
            table.add_row(g, "no studies", *[DASH] * len(subjects), end_section=True)
            continue
        metrics = list(result.metrics)
        heights = [2 if stacked else 1] * len(metrics)
        for i, (label, m) in enumerate(zip(_group_cells(grp, g, heights), metrics)):
            cells = [_cell(result, g, s, (grp.estimates(s) or {}).get(m), stacked=stacked) for s in subjects]
            table.add_row(label, METRIC_LABELS.get(m, m), *cells, end_section=i == len(metrics) - 1)
    return table


def wide_table(result: Result, *, readers: bool):
    """Rows: body part x subject; columns: metrics (CIs inline). Needs ~200+ columns."""
    table = _new_table(None)
    table.add_column("Body part", style="bold")
    table.add_column("Studies (abn.)", justify="right")
    table.add_column("Who")
    metrics = list(result.metrics)
    for m in metrics:
        table.add_column(METRIC_LABELS.get(m, m), justify="right")
    for g in GROUPS:
        grp = result.groups[g]
        if grp.studies == 0:
            table.add_row(g, "0", DASH, *[DASH for _ in metrics], end_section=True)
            continue
        rows = [(s, est) for s in shown_subjects(result, readers=readers) if (est := grp.estimates(s)) is not None]
        for i, (s, est) in enumerate(rows):
            who = f"  {_header(s)}" if s.is_reader else ("model − radiologists" if s.kind == "difference" else s.kind)
            table.add_row(
                g if i == 0 else "",
                f"{grp.studies} ({grp.positives})" if i == 0 else "",
                who,
                *[_cell(result, g, s, est.get(m)) for m in metrics],
                style="dim" if s.is_reader else None,
                end_section=i == len(rows) - 1,
            )
    return table


def _cell(result: Result, group: str, subject: Subject, est: Estimate | None, *, stacked: bool = False) -> str:
    mark = (
        shows_mark(group, est, adjusted=getattr(result.bootstrap, "adjust", None) == "holm")
        if subject.kind == "difference"
        else None
    )
    return format_estimate(est, stacked=stacked, mark=mark)


def _new_table(title: str | None):
    from rich.table import Table

    table = Table(title=title, title_justify="left", title_style="bold")
    return table


def _fold_columns(table) -> None:
    """Cells are written whole (never wrapped at a space); only a table wider than the display
    folds, which :func:`fit_tables` avoids whenever a layout fits."""
    for column in table.columns:
        column.overflow = "fold"
        column.no_wrap = True


class ResultTableSource:
    """The compact table of a result as a :class:`mura_bench.console.table_fit.Source`: its value columns
    are the subjects; split tables keep the summary subjects apart from the readers."""

    def __init__(self, result: Result, *, readers: bool) -> None:
        self.result = result
        self.subjects = shown_subjects(result, readers=readers)
        self.summary = [s for s in self.subjects if not s.is_reader]

    def parts(self) -> list[Subject]:
        return self.subjects

    def part_groups(self, parts: Sequence[Subject]) -> list[list[Subject]]:
        return [[s for s in parts if not s.is_reader], [s for s in parts if s.is_reader]]

    def table(self, part: Sequence[Subject], *, stacked: bool, edge: bool, split: bool):
        table = compact_table(
            self.result, part, stacked=stacked, edge=edge, title=_chunk_title(part, self.summary) if split else None
        )
        _fold_columns(table)
        return table


def fit_tables(result: Result, width: int, *, readers: bool = False, wide: bool = False) -> Layout:
    """Choose the layout for a ``width``-column display with :func:`mura_bench.console.table_fit.fit`: the
    first of inline, stacked, stacked without the outer border that fits; else stacked tables of
    fewer subject columns. ``wide`` is the metrics-as-columns table at its natural width."""
    if wide:
        table = wide_table(result, readers=readers)
        _fold_columns(table)
        return Layout([table], natural_width(table), False)
    return fit(ResultTableSource(result, readers=readers), width)


def _chunk_title(chunk: Sequence[Subject], summary: Sequence[Subject]) -> str:
    """``Model and radiologists`` for all summary subjects, else their headers; then the readers."""
    own = [s for s in chunk if not s.is_reader]
    readers = [_header(s) for s in chunk if s.is_reader]
    parts = []
    if own:
        parts.append(
            "Model and radiologists" if own == list(summary) else ", ".join(SUBJECT_HEADERS[s.kind] for s in own)
        )
    if readers:
        parts.append("reader " + readers[0] if len(readers) == 1 else f"readers {readers[0]} to {readers[-1]}")
    text = "; ".join(parts)
    return text[0].upper() + text[1:]


class FittedTable:
    """A result's table as a block of :mod:`mura_bench.console.table_fit` (and a rich renderable) that
    picks its layout for the width it is given (:func:`fit_tables`), so
    ``Console(width=w).print(FittedTable(result))`` fits any ``w`` the layouts allow and never cuts
    a value. The ``wide`` layout is never folded: it is printed at its natural width."""

    def __init__(self, result: Result, *, readers: bool = False, wide: bool = False) -> None:
        self.result, self.readers, self.wide = result, readers, wide

    def layout(self, width: int) -> Layout:
        layout = fit_tables(self.result, width, readers=self.readers, wide=self.wide)
        return Layout(layout.tables, layout.width, layout.stacked, fold=not self.wide)

    def __rich_console__(self, console, options):
        yield from self.layout(options.max_width).tables

    def __rich_measure__(self, console, options):
        from rich.measure import Measurement

        layout = self.layout(options.max_width)
        return Measurement(min(layout.width, options.max_width), layout.width)
