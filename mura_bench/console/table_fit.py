"""Terminal tables that fit a width without ever cutting a value: the one layout mechanism of every
table the CLI prints (``score``, ``analyze``, ``models``, the demo's summary).

A table is described once (:class:`Grid`: key columns, value columns, rows of cells) or by any
object with the :class:`Source` methods (the score table builds its own rich tables). :func:`fit`
then picks, for a target width, the first layout whose *minimum width* fits:

1. every column, intervals inline (``0.853 (0.801, 0.897)``), outer border;
2. every column, each interval on its own line under its value (``0.853`` / ``(0.801, 0.897)``);
3. the same without the outer border;
4. the value columns split over several tables, each repeating the key columns (greedy, in order).

A value cell is never wrapped (its lines are written whole); only prose columns (descriptions,
reasons) wrap, and only between words, so the minimum width of a table is the widest line of each
value column and the longest word of each prose column. When not even one value column fits, that
narrowest layout is used anyway: on a terminal its cells fold (no ellipsis, ever), in a pipe or file
it is written at its natural width.

Text lines around the tables (headings, captions, notes) are wrapped by :func:`wrap_line` between
words, so a terminal never breaks a word, and a pipe gets lines of ``$COLUMNS`` (default 80).
"""

from __future__ import annotations

import io
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class Cell:
    """A value with an optional interval, written on one line (inline) or on two (stacked);
    ``stacked_text`` replaces the two-line form when given (e.g. a label spread over two lines)."""

    value: str
    ci: str | None = None
    stacked_text: str | None = None

    def text(self, stacked: bool) -> str:
        if stacked and self.stacked_text is not None:
            return self.stacked_text
        if self.ci is None:
            return self.value
        return f"{self.value}\n{self.ci}" if stacked else f"{self.value} {self.ci}"


def cell_text(cell: "Cell | str", stacked: bool) -> str:
    return cell.text(stacked) if isinstance(cell, Cell) else cell


@dataclass(frozen=True)
class Column:
    """A column: ``key`` columns (row labels) are repeated in every part of a split table; a
    ``prose`` column wraps between words, any other is never wrapped."""

    header: str
    justify: str = "right"
    key: bool = False
    prose: bool = False
    style: str | None = None
    stacked_header: str | None = None


@dataclass(frozen=True)
class Row:
    cells: Sequence[Any]
    end_section: bool = False
    style: str | None = None


class Source(Protocol):
    """What :func:`fit` needs of a table: its value columns (opaque items, in order) and a rich
    table of the key columns plus a run of them."""

    def parts(self) -> Sequence[Any]: ...

    def table(self, part: Sequence[Any], *, stacked: bool, edge: bool, split: bool): ...


@dataclass
class Grid:
    """A table given as columns and rows of cells (:class:`Cell` or text), with a title and a
    caption; a split part's title is ``part_title(value columns)`` (default: the title, then
    "(continued)" on the later parts)."""

    columns: Sequence[Column]
    rows: Sequence[Row]
    title: str | None = None
    caption: str | None = None
    part_title: Callable[[Sequence[Column]], str] | None = None
    keys: list[int] = field(init=False)
    values: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.keys = [i for i, c in enumerate(self.columns) if c.key]
        self.values = [i for i, c in enumerate(self.columns) if not c.key]

    def parts(self) -> Sequence[int]:
        return self.values

    def _title(self, part: Sequence[int], split: bool) -> str | None:
        if not split:
            return self.title
        if self.part_title is not None:
            return self.part_title([self.columns[i] for i in part])
        if not self.title or (part and part[0] == self.values[0]):
            return self.title
        return f"{self.title} (continued)"

    def table(self, part: Sequence[int], *, stacked: bool, edge: bool, split: bool = False):
        from rich.table import Table

        table = Table(
            title=self._title(part, split),
            title_justify="left",
            title_style="bold",
            caption=self.caption,
            caption_justify="left",
            show_edge=edge,
        )
        chosen = [*self.keys, *part]
        for i in chosen:
            column = self.columns[i]
            header = column.stacked_header if stacked and column.stacked_header else column.header
            table.add_column(
                header, justify=column.justify, style=column.style, no_wrap=not column.prose, overflow="fold"
            )
        for row in self.rows:
            table.add_row(
                *[cell_text(row.cells[i], stacked) for i in chosen], end_section=row.end_section, style=row.style
            )
        return table


# ---------------------------------------------------------------------------------------------
# Widths
# ---------------------------------------------------------------------------------------------


def _texts(column) -> list[str]:
    """A column's header and cells as they will be shown (escaped by :func:`mura_bench.io.terminal.visible`)."""
    from mura_bench.io.terminal import visible

    return [visible(str(text)) for text in (column.header, *column._cells)]


def _frame(table, n_columns: int) -> int:
    """Padding (one space each side), separators and the outer border of a rich table."""
    return 2 * n_columns + (n_columns - 1) + (2 if table.show_edge else 0)


def natural_width(table) -> int:
    """The width ``table`` takes when nothing wraps: the widest line of each column's header and
    cells, padding and borders (exact for the plain-text tables built here; checked against rich)."""
    from rich.cells import cell_len

    widths = [max(cell_len(line) for text in _texts(c) for line in text.split("\n")) for c in table.columns]
    return sum(widths) + _frame(table, len(widths))


def minimum_width(table) -> int:
    """The narrowest ``table`` can be without cutting a value: the widest line of each column that
    does not wrap, the longest word of each column that does (and of the title: a word of a title is
    never broken either)."""
    from rich.cells import cell_len

    _, widths = _column_widths(table)
    title_words = [cell_len(w) for w in str(table.title or "").split()]
    return max([sum(widths) + _frame(table, len(widths))] + title_words)


def rich_width(table) -> int:
    """rich's own measurement of ``table``'s natural width (slow; used to check :func:`natural_width`)."""
    from mura_bench.io.terminal import console

    return console(width=100_000, file=io.StringIO()).measure(table).maximum


# ---------------------------------------------------------------------------------------------
# Choosing the layout
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """The tables to print, the width they need (at most the target unless impossible),
    whether intervals are stacked under their values, and whether a table wider than the display
    may fold (``fold=False``: printed at its own width instead, e.g. the score table's wide layout)."""

    tables: list
    width: int
    stacked: bool
    fold: bool = True


def fit(source: Source, width: int) -> Layout:
    """The first layout of the module docstring's list whose minimum width fits ``width``."""
    parts = list(source.parts())
    for stacked, edge in ((False, True), (True, True), (True, False)):
        table = source.table(parts, stacked=stacked, edge=edge, split=False)
        if minimum_width(table) <= width:
            _share_prose_width(table, width)
            return Layout([table], _width(table, width), stacked)
    tables = [source.table(chunk, stacked=True, edge=False, split=True) for chunk in _chunks(source, parts, width)]
    for table in tables[:-1]:  # a caption is said once, under the last part
        table.caption = None
    for table in tables:
        _share_prose_width(table, width)
    return Layout(tables, max(_width(t, width) for t in tables), True)


def _column_widths(table) -> tuple[list[int], list[int]]:
    """(natural, minimum) width of each column (see :func:`natural_width`, :func:`minimum_width`)."""
    from rich.cells import cell_len

    natural, minimum = [], []
    for column in table.columns:
        lines = [line for text in _texts(column) for line in text.split("\n")]
        natural.append(max([cell_len(line) for line in lines] + [1]))
        words = lines if column.no_wrap else [w for line in lines for w in line.split()]
        minimum.append(max([cell_len(w) for w in words] + [1]))
    return natural, minimum


def _share_prose_width(table, width: int) -> None:
    """When ``table`` is wider than ``width`` but its minimum fits, give its prose columns fixed
    widths that fit: each at least its longest word, the rest of the room shared in proportion to
    what each would need to be written on one line (rich's own shrinking may break a word)."""
    natural, minimum = _column_widths(table)
    frame = _frame(table, len(natural))
    if sum(natural) + frame <= width or sum(minimum) + frame > width:
        return
    prose = [i for i, c in enumerate(table.columns) if not c.no_wrap]
    room = width - frame - sum(natural[i] for i in range(len(natural)) if i not in prose)
    widths = {i: minimum[i] for i in prose}
    spare = room - sum(widths.values())
    want = {i: natural[i] - minimum[i] for i in prose}
    total = sum(want.values()) or 1
    for i in prose:
        widths[i] += min(want[i], spare * want[i] // total)
    for i in prose:
        table.columns[i].width = widths[i]


def layout_of(block: Any, width: int) -> Layout:
    """The layout of a block for ``width``: its own ``layout(width)`` when it has one, else :func:`fit`."""
    own = getattr(block, "layout", None)
    return own(width) if callable(own) else fit(block, width)


def _width(table, width: int) -> int:
    """The width ``table`` is rendered at for a ``width`` target: natural when that fits, else the
    target (prose wraps) or, when even the minimum does not fit, the minimum."""
    natural = natural_width(table)
    return natural if natural <= width else max(width, minimum_width(table))


def _chunks(source: Source, parts: Sequence[Any], width: int) -> list[list[Any]]:
    """Greedy runs of ``parts`` whose stacked, borderless table fits ``width`` (at least one each).
    A source may group its parts (``part_groups``): a group never shares a table with another unless
    they all fit together."""
    groups = getattr(source, "part_groups", lambda p: [list(p)])(parts)
    chunks: list[list[Any]] = []
    for pool in groups:
        current: list[Any] = []
        for part in pool:
            trial = current + [part]
            if current and minimum_width(source.table(trial, stacked=True, edge=False, split=True)) > width:
                chunks.append(current)
                trial = [part]
            current = trial
        if current:
            chunks.append(current)
    return chunks


class Fitted:
    """A rich renderable of a :class:`Source` that picks its layout for the width it is printed
    at, so ``Console(width=w).print(Fitted(source))`` fits any ``w`` the layouts allow."""

    def __init__(self, source: Source) -> None:
        self.source = source

    def __rich_console__(self, console, options):
        yield from layout_of(self.source, options.max_width).tables

    def __rich_measure__(self, console, options):
        from rich.measure import Measurement

        layout = layout_of(self.source, options.max_width)
        return Measurement(min(layout.width, options.max_width), layout.width)


# ---------------------------------------------------------------------------------------------
# Printing blocks of text and tables
# ---------------------------------------------------------------------------------------------


def wrap_line(text: str, width: int) -> list[str]:
    """``text`` wrapped between words to ``width`` (a word longer than the width stays whole on
    its own line; existing line breaks and a line's leading indent are kept)."""
    out: list[str] = []
    for line in text.split("\n"):
        indent = line[: len(line) - len(line.lstrip(" "))]
        wrapped = (
            textwrap.wrap(
                line,
                width=max(width, 1),
                subsequent_indent=indent,
                break_long_words=False,
                break_on_hyphens=False,
                drop_whitespace=True,
            )
            if line.strip()
            else [""]
        )
        out += wrapped
    return out


def pipe_width() -> int:
    """The width of output that does not go to a terminal: ``$COLUMNS``, else 80."""
    try:
        return max(20, int(os.environ.get("COLUMNS", "")))
    except ValueError:
        return 80


def block_text(blocks: Sequence[Any], width: int, *, fold: bool = True, color: bool = False) -> str:
    """Lines of text and table sources (:class:`Source`) laid out for ``width`` columns, as text
    (rendered in memory). Tables that cannot fit are rendered at their own width with ``fold=False``
    (pipes, files), folded into ``width`` otherwise."""
    from mura_bench.io.terminal import console as safe_console

    layouts = [b if isinstance(b, str) else layout_of(b, width) for b in blocks]
    widest = max([width] + [b.width for b in layouts if isinstance(b, Layout) and not (fold and b.fold)])
    console = safe_console(
        width=widest,
        record=True,
        file=io.StringIO(),
        force_terminal=color,
        color_system="standard" if color else None,
        highlight=False,
    )
    _print_layouts(console, layouts, width)
    text = console.export_text(styles=color)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def _print_layouts(console, layouts: Sequence[Any], width: int) -> None:
    for block in layouts:
        if isinstance(block, str):
            for line in wrap_line(block, width):
                console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            for table in block.tables:
                console.print(table)


def print_blocks(blocks: Sequence[Any], out: str | Path | None = None, *, inputs: Sequence[str | Path] = ()) -> None:
    """Print lines of text and table sources, in order: on a terminal, laid out for its width; to a
    pipe or (atomically) to the text file ``out``, for ``$COLUMNS`` (default 80) columns, a table
    that cannot fit written at its natural width."""
    if out is None and sys.stdout.isatty():
        from mura_bench.io.terminal import console as safe_console

        console = safe_console(highlight=False)
        layouts = [b if isinstance(b, str) else layout_of(b, console.width) for b in blocks]
        widest = max([console.width] + [b.width for b in layouts if isinstance(b, Layout) and not b.fold])
        if widest > console.width:  # a table that must not fold (``Layout.fold``): wider than the terminal
            console = safe_console(highlight=False, width=widest)
        _print_layouts(console, layouts, console.width)
        return
    from mura_bench.io.outputs import write_text

    text = block_text(blocks, pipe_width(), fold=False)
    if out is None:
        from mura_bench.io.terminal import write_stdout

        write_stdout(text)
    else:
        write_text(out, text, inputs=inputs)


__all__ = [
    "Cell",
    "Column",
    "Fitted",
    "Grid",
    "Layout",
    "Row",
    "Source",
    "Streamed",
    "block_text",
    "fit",
    "layout_of",
    "minimum_width",
    "natural_width",
    "pipe_width",
    "print_blocks",
    "rich_width",
    "wrap_line",
]


class Streamed:
    """A borderless table printed one row at a time (results that arrive one by one): the widths
    of the fixed columns are the widest of their known cells (``known``: the rows' cells of those
    columns, streamed cells left out), and the prose columns share what is left of ``width``
    (never less than their header), wrapping between words."""

    def __init__(self, columns: Sequence[Column], known: Sequence[Sequence[str]], width: int) -> None:
        from rich.cells import cell_len

        from mura_bench.io.terminal import visible

        self.columns = list(columns)
        fixed = [
            max(
                [
                    cell_len(line)
                    for text in [c.header, *[visible(str(r[i])) for r in known if i < len(r)]]
                    for line in text.split("\n")
                ]
                + [1]
            )
            for i, c in enumerate(self.columns)
        ]
        prose = [i for i, c in enumerate(self.columns) if c.prose]
        spare = width - sum(w for i, w in enumerate(fixed) if i not in prose) - 2 * (len(self.columns) - 1)
        for i in prose:
            fixed[i] = max(cell_len(self.columns[i].header), spare // max(len(prose), 1))
        self.widths = fixed

    def _table(self, header: bool):
        from rich import box
        from rich.table import Table

        table = Table(
            box=box.SIMPLE_HEAD if header else None, show_header=header, show_edge=False, pad_edge=False, padding=(0, 1)
        )
        for column, w in zip(self.columns, self.widths):
            table.add_column(
                column.header,
                justify=column.justify,
                width=w,
                no_wrap=not column.prose,
                overflow="fold",
                style=column.style,
            )
        return table

    def header(self):
        """The header (a table with no rows)."""
        return self._table(True)

    def row(self, cells: Sequence[Any]):
        table = self._table(False)
        table.add_row(*[cell_text(c, False) for c in cells])
        return table
