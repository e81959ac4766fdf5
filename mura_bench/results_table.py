"""The terminal results table, laid out to fit a given width without cutting anything.

Default (compact) layout: one row per body part and metric, one column per scored subject
(model, radiologists, model − radiologists, then the readers when asked for). Each cell is a point
estimate with its interval, written inline (``0.853 (0.801, 0.897)``) when that fits the width, else
on two lines (value above, interval below). When even that is too wide (many readers on a narrow
terminal), the subject columns are split over several tables, the summary subjects first. The
``wide`` layout is the transposed one (one row per body part and subject, one column per metric),
rendered at its natural width.

No column is ever allowed to shorten its text with an ellipsis: every column folds (wraps) instead,
and :func:`fit_tables` picks a layout whose natural width fits, so folding only happens when the
target width is too small for a single subject column. Negative numbers use the minus sign (U+2212).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mura_bench.layout import GROUPS
from mura_bench.metric_registry import METRIC_SPECS
from mura_bench.results import SUMMARY_SUBJECTS, Estimate, GroupResult, Result, Subject
from mura_bench.terminal import visible

#: Metric titles in the table (the registry's short titles).
METRIC_LABELS = {spec.name: spec.short_title for spec in METRIC_SPECS}
SUBJECT_HEADERS = {"model": "Model", "radiologists": "Radiologists", "difference": "Model − radiologists"}
MINUS = "\u2212"
DASH = "—"
SIGNIFICANT_CAPTION = "* the paired CI of model − radiologists excludes 0 (significant)"


def number(value: float, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals and a real minus sign (never ``-0.000``)."""
    text = f"{value:.{digits}f}"
    if text.startswith("-"):
        text = text[1:] if float(text) == 0 else MINUS + text[1:]
    return text


def interval(ci: tuple[float, float], digits: int = 3) -> str:
    return f"({number(ci[0], digits)}, {number(ci[1], digits)})"


def format_estimate(est: Estimate | None, *, stacked: bool = False, digits: int = 3) -> str:
    """A cell: value, interval (same line, or the next with ``stacked``) and ``*`` when significant."""
    if est is None:
        return DASH
    head = number(est.value, digits) + (" *" if est.significant else "")
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


def compact_table(result: Result, subjects: Sequence[Subject], *, stacked: bool, title: str | None = None,
                  edge: bool = True):
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
            cells = [format_estimate((grp.estimates(s) or {}).get(m), stacked=stacked) for s in subjects]
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
            table.add_row(g if i == 0 else "", f"{grp.studies} ({grp.positives})" if i == 0 else "", who,
                          *[format_estimate(est.get(m)) for m in metrics],
                          style="dim" if s.is_reader else None, end_section=i == len(rows) - 1)
    return table


def _new_table(title: str | None):
    from rich.table import Table

    table = Table(title=title, title_justify="left", title_style="bold")
    return table


def _fold_columns(table) -> None:
    for column in table.columns:
        column.overflow = "fold"


def natural_width(table) -> int:
    """The width ``table`` takes when nothing has to wrap: the widest line of each column's header
    and cells, one space of padding on each side, and the borders. Exact for the plain-text tables
    built here (checked against rich's own measurement in the tests) and much cheaper."""
    from rich.cells import cell_len

    widths = [max(cell_len(line) for text in (column.header, *column._cells) for line in str(text).split("\n"))
              for column in table.columns]
    return sum(widths) + 2 * len(widths) + (len(widths) - 1) + (2 if table.show_edge else 0)


def rich_width(table) -> int:
    """rich's own measurement of ``table``'s natural width (slow; used to check :func:`natural_width`)."""
    import io

    from mura_bench.terminal import console

    return console(width=100_000, file=io.StringIO()).measure(table).maximum


@dataclass(frozen=True)
class Layout:
    """The tables to print and the width they need (at most the target unless impossible)."""

    tables: list
    width: int
    stacked: bool


def fit_tables(result: Result, width: int, *, readers: bool = False, wide: bool = False) -> Layout:
    """Choose the layout for a ``width``-column display (see the module docstring): the first of
    inline, stacked, stacked without the outer border that fits; else stacked tables of fewer columns."""
    if wide:
        table = wide_table(result, readers=readers)
        _fold_columns(table)
        return Layout([table], natural_width(table), False)
    subjects = shown_subjects(result, readers=readers)
    for stacked, edge in ((False, True), (True, True), (True, False)):
        table = compact_table(result, subjects, stacked=stacked, edge=edge)
        if natural_width(table) <= width:
            _fold_columns(table)
            return Layout([table], natural_width(table), stacked)
    summary = [s for s in subjects if not s.is_reader]
    tables = [compact_table(result, chunk, stacked=True, title=_chunk_title(chunk, summary), edge=False)
              for chunk in _chunks(result, subjects, width)]
    for t in tables:
        _fold_columns(t)
    return Layout(tables, max(natural_width(t) for t in tables), True)


def _chunk_title(chunk: Sequence[Subject], summary: Sequence[Subject]) -> str:
    """``Model and radiologists`` for all summary subjects, else their headers; then the readers."""
    own = [s for s in chunk if not s.is_reader]
    readers = [_header(s) for s in chunk if s.is_reader]
    parts = []
    if own:
        parts.append("Model and radiologists" if own == list(summary) else ", ".join(SUBJECT_HEADERS[s.kind] for s in own))
    if readers:
        parts.append("reader " + readers[0] if len(readers) == 1 else f"readers {readers[0]} to {readers[-1]}")
    text = "; ".join(parts)
    return text[0].upper() + text[1:]


def _chunks(result: Result, subjects: Sequence[Subject], width: int) -> list[list[Subject]]:
    """Greedy split of ``subjects`` into runs whose stacked table fits ``width`` (at least one each);
    the summary subjects (model, radiologists, difference) never share a table with readers unless
    they all fit together."""
    summary = [s for s in subjects if not s.is_reader]
    readers = [s for s in subjects if s.is_reader]
    chunks: list[list[Subject]] = []
    for pool in (summary, readers):
        current: list[Subject] = []
        for s in pool:
            trial = current + [s]
            if current and natural_width(compact_table(result, trial, stacked=True, edge=False)) > width:
                chunks.append(current)
                trial = [s]
            current = trial
        if current:
            chunks.append(current)
    return chunks


class FittedTable:
    """A rich renderable of a result's table that picks its layout for the width it is given
    (:func:`fit_tables` at render time), so ``Console(width=w).print(FittedTable(result))`` fits any
    ``w`` the layouts allow and never cuts a value."""

    def __init__(self, result: Result, *, readers: bool = False, wide: bool = False) -> None:
        self.result, self.readers, self.wide = result, readers, wide

    def __rich_console__(self, console, options):
        yield from fit_tables(self.result, options.max_width, readers=self.readers, wide=self.wide).tables

    def __rich_measure__(self, console, options):
        from rich.measure import Measurement

        layout = fit_tables(self.result, options.max_width, readers=self.readers, wide=self.wide)
        return Measurement(min(layout.width, options.max_width), layout.width)
