"""Terminal and file output for the CLI: the rich results table, atomic writes, warnings.

The table never truncates (no ellipsis anywhere): its layout is chosen to fit the terminal
(:mod:`mura_bench.results_table`); elsewhere (pipes, files) it fits ``$COLUMNS`` or 80 columns, and
is rendered at its natural width when even the narrowest layout is wider.
"""
from __future__ import annotations

import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from mura_bench.results import Result
from mura_bench.terminal import console as safe_console
from mura_bench.terminal import write_stdout
from mura_bench.results_table import SIGNIFICANT_CAPTION, FittedTable, fit_tables


def atomic_write_text(path: str | Path, text: str, *, inputs: Sequence[str | Path] = ()) -> None:
    """Write text to ``path`` under :mod:`mura_bench.outputs`' rules: via a temp file and a rename
    (never half-written), never onto one of ``inputs``, written through to devices and FIFOs."""
    from mura_bench.outputs import write_text

    write_text(path, text, inputs=inputs)


def emit(text: str, out: str | Path | None, *, inputs: Sequence[str | Path] = ()) -> None:
    """Print to stdout (escaped on a terminal, see :mod:`mura_bench.terminal`), or write atomically
    to ``out`` under :mod:`mura_bench.outputs`' rules (never onto one of ``inputs``)."""
    if out is None:
        write_stdout(text)
    else:
        atomic_write_text(out, text, inputs=inputs)


def build_table(result: Result, *, readers: bool = False, wide: bool = False) -> FittedTable:
    """The results table as a rich renderable that fits whatever width it is printed at."""
    return FittedTable(result, readers=readers, wide=wide)


def significance_caption(result: Result) -> str:
    """What the * on a model − radiologists cell means under the run's test."""
    settings = result.bootstrap
    if getattr(settings, "test", "ci") != "randomization":
        return SIGNIFICANT_CAPTION
    adjusted = " after Holm's adjustment over the 8 groups" if settings.adjust == "holm" else ""
    return (f"* paired randomization test of model − radiologists ({settings.permutations} permutations): "
            f"p < 0.05{adjusted} (significant)")


def table_heading(result: Result) -> str:
    """One line naming the inputs and settings, printed above the table (never wrapped into it)."""
    return (f"{result.predictions.path} vs {result.truth.path} — protocol {result.protocol}, "
            f"{result.bootstrap.resamples} paired resamples, {int(round(result.bootstrap.confidence * 100))}% "
            f"{result.bootstrap.method} CI")


def detected_line(result: Result) -> str:
    """What was detected: the predictions' kind and counts, the truth's kind, missing studies
    (the protocol is named in :func:`table_heading`)."""
    pred = result.predictions
    studies = result.groups["overall"].studies
    counts = f"{studies} studies"
    if pred.rows is not None and pred.kind == "image-probabilities":
        counts = f"{pred.rows} images -> {studies} studies"
    truth = result.truth
    readers = f" ({len(truth.readers)} readers)" if truth.readers else ""
    missing = (f"{len(result.missing)} truth studies missing (--allow-missing)" if result.missing
               else "no truth study missing")
    return f"detected: predictions {pred.kind} ({counts}); truth {truth.kind}{readers}; {missing}"


def table_text(result: Result, width: int, *, readers: bool = False, wide: bool = False,
               fold: bool = True, color: bool = False) -> str:
    """The whole table block (heading, tables, legend, detected line, notes) as text (rendered in
    memory: the console writes to a string buffer, never to a file).

    The layout is chosen to fit ``width`` (see :mod:`mura_bench.results_table`); ``fold=False``
    renders at the layout's natural width when that is wider, so that nothing wraps (files, pipes).
    """
    layout = fit_tables(result, width, readers=readers, wide=wide)
    render_width = width if fold and not wide else max(width, layout.width)
    console = safe_console(width=render_width, record=True, file=io.StringIO(), force_terminal=color,
                           color_system="standard" if color else None, highlight=False)
    _print_block(console, result, layout, wrap=fold)
    text = console.export_text(styles=color)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def _print_block(console, result: Result, layout, *, wrap: bool = True) -> None:
    """Heading, tables, legend, detected line and notes; ``wrap=False`` keeps each text line whole."""
    lines_before = [table_heading(result)]
    lines_after = ([significance_caption(result)] if result.groups["overall"].difference is not None else [])
    lines_after += [detected_line(result), *(f"note: {n}" for n in result.notes)]
    for line in lines_before:
        console.print(line, markup=False, highlight=False, soft_wrap=not wrap)
    for table in layout.tables:
        console.print(table)
    for line in lines_after:
        console.print(line, markup=False, highlight=False, soft_wrap=not wrap)


def print_table(result: Result, out: str | Path | None = None, *, readers: bool = False,
                wide: bool = False, inputs: Sequence[str | Path] = ()) -> None:
    """Render the results table to stdout or, atomically, to a text file, never cutting anything.

    On a terminal the layout fits the terminal's width; piped or written to a file, it fits
    ``$COLUMNS`` (default 80) and is rendered at its natural width when that is wider.
    ``readers`` adds the individual readers' columns; ``wide`` uses the metrics-as-columns layout.
    """
    if out is None and sys.stdout.isatty():
        console = safe_console(highlight=False)
        layout = fit_tables(result, console.width, readers=readers, wide=wide)
        if wide and layout.width > console.width:
            console = safe_console(highlight=False, width=layout.width)
        _print_block(console, result, layout)
        return
    emit(table_text(result, _pipe_width(), readers=readers, wide=wide, fold=False), out, inputs=inputs)


def _pipe_width() -> int:
    try:
        return max(20, int(os.environ.get("COLUMNS", "")))
    except ValueError:
        return 80


def print_blocks(blocks: list, out: str | Path | None = None) -> None:
    """Print lines of text and rich tables, in order, to the terminal (cells wrap) or, at a width
    that fits every column, to a pipe or (atomically) to the text file ``out``."""
    if out is None and sys.stdout.isatty():
        _print_all(safe_console(highlight=False, soft_wrap=False), blocks)
        return
    probe = safe_console(width=10_000, file=io.StringIO())
    width = max([80] + [probe.measure(b).maximum + 2 for b in blocks if not isinstance(b, str)])
    console = safe_console(width=width, record=True, file=io.StringIO(), color_system=None, highlight=False)
    _print_all(console, blocks)
    text = console.export_text()
    emit("\n".join(line.rstrip() for line in text.splitlines()) + "\n", out)


def _print_all(console, blocks: list) -> None:
    for block in blocks:
        if isinstance(block, str):
            console.print(block, markup=False, highlight=False, soft_wrap=True)
        else:
            console.print(block)


def missing_warning(result: Result) -> str:
    return missing_studies_warning(result.missing)


def empty_parts_warning(parts: Sequence[str]) -> str:
    """--output codalab: the parts without a study, whose keys are null."""
    keys = ", ".join(f"{p}_*" for p in parts)
    return f"WARNING: no scored study of {', '.join(parts)}: {keys} are null"


def missing_studies_warning(missing: Sequence[str]) -> str:
    """The loud --allow-missing warning: how many truth studies are not scored, the first few."""
    shown = "\n".join(f"  {s}" for s in missing[:5])
    more = f"\n  ... and {len(missing) - 5} more" if len(missing) > 5 else ""
    return (f"WARNING: --allow-missing: {len(missing)} truth studies have no prediction and are NOT scored; "
            f"the scores below cover a subset:\n{shown}{more}")
