"""Terminal and file output for the CLI: the rich results table, atomic writes, warnings.

The table never truncates (no ellipsis anywhere): its layout is chosen to fit the terminal by
:mod:`mura_bench.console.table_fit` (the mechanism of every CLI table); elsewhere (pipes, files) it fits
``$COLUMNS`` or 80 columns, and is rendered at its natural width when even the narrowest layout is
wider.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mura_bench.results import Result
from mura_bench.console.results_table import FittedTable
from mura_bench.console.table_fit import block_text, print_blocks  # noqa: F401 (print_blocks: re-exported)
from mura_bench.io.terminal import write_stdout


def atomic_write_text(path: str | Path, text: str, *, inputs: Sequence[str | Path] = ()) -> None:
    """Write text to ``path`` under :mod:`mura_bench.io.outputs`' rules: via a temp file and a rename
    (never half-written), never onto one of ``inputs``, written through to devices and FIFOs."""
    from mura_bench.io.outputs import write_text

    write_text(path, text, inputs=inputs)


def emit(text: str, out: str | Path | None, *, inputs: Sequence[str | Path] = ()) -> None:
    """Print to stdout (escaped on a terminal, see :mod:`mura_bench.io.terminal`), or write atomically
    to ``out`` under :mod:`mura_bench.io.outputs`' rules (never onto one of ``inputs``)."""
    if out is None:
        write_stdout(text)
    else:
        atomic_write_text(out, text, inputs=inputs)


def build_table(result: Result, *, readers: bool = False, wide: bool = False) -> FittedTable:
    """The results table as a rich renderable that fits whatever width it is printed at."""
    return FittedTable(result, readers=readers, wide=wide)


def significance_caption(result: Result) -> str:
    """What the * on a model − radiologists cell means under the run's test, adjustment and
    readers (:func:`mura_bench.console.results_table.shows_mark`)."""
    settings = result.bootstrap
    alpha = f"{1 - settings.confidence:.3g}"
    adjusted = getattr(settings, "adjust", None) == "holm"
    where = (
        "any group, after Holm's adjustment over the 8 groups of each metric"
        if adjusted
        else "overall only (the pre-specified comparison; body parts are estimates with CIs, not tested)"
    )
    if getattr(settings, "readers", "fixed") == "random":
        return (
            f"* {where}: Obuchowski–Rockette test of model − radiologists with random readers "
            f"(radiologists in general; t interval on Hillis' df), p < {alpha}"
        )
    if getattr(settings, "test", "ci") == "randomization":
        return (
            f"* {where}: paired randomization test of model − radiologists ({settings.permutations} "
            f"permutations; these readers), p < {alpha}"
        )
    return f"* {where}: the paired {settings.confidence:.0%} CI of model − radiologists excludes 0 (these readers)"


def table_heading(result: Result) -> str:
    """One line naming the inputs and settings, printed above the table (never wrapped into it)."""
    return (
        f"{result.predictions.path} vs {result.truth.path} — protocol {result.protocol}, "
        f"{result.bootstrap.resamples} paired resamples, {int(round(result.bootstrap.confidence * 100))}% "
        f"{result.bootstrap.method} CI"
    )


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
    missing = (
        f"{len(result.missing)} truth studies missing (--allow-missing)" if result.missing else "no truth study missing"
    )
    return f"detected: predictions {pred.kind} ({counts}); truth {truth.kind}{readers}; {missing}"


def table_blocks(result: Result, *, readers: bool = False, wide: bool = False) -> list:
    """The whole table block in print order: heading, the fitted table, legend, detected line,
    notes (lines of text and a :mod:`mura_bench.console.table_fit` block)."""
    after = [significance_caption(result)] if result.groups["overall"].difference is not None else []
    return [
        table_heading(result),
        FittedTable(result, readers=readers, wide=wide),
        *after,
        detected_line(result),
        *(f"note: {n}" for n in result.notes),
    ]


def table_text(
    result: Result, width: int, *, readers: bool = False, wide: bool = False, fold: bool = True, color: bool = False
) -> str:
    """The whole table block (heading, tables, legend, detected line, notes) as text (rendered in
    memory: the console writes to a string buffer, never to a file).

    The layout is chosen to fit ``width`` (see :mod:`mura_bench.console.table_fit`); text lines are wrapped
    between words at ``width``; ``fold=False`` renders a table at its natural width when even its
    narrowest layout is wider, so that no value is folded (files, pipes).
    """
    return block_text(table_blocks(result, readers=readers, wide=wide), width, fold=fold, color=color)


def print_table(
    result: Result,
    out: str | Path | None = None,
    *,
    readers: bool = False,
    wide: bool = False,
    inputs: Sequence[str | Path] = (),
) -> None:
    """Render the results table to stdout or, atomically, to a text file, never cutting anything.

    On a terminal the layout fits the terminal's width; piped or written to a file, it fits
    ``$COLUMNS`` (default 80) and is rendered at its natural width when that is wider.
    ``readers`` adds the individual readers' columns; ``wide`` uses the metrics-as-columns layout.
    """
    print_blocks(table_blocks(result, readers=readers, wide=wide), out, inputs=inputs)


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
    return (
        f"WARNING: --allow-missing: {len(missing)} truth studies have no prediction and are NOT scored; "
        f"the scores below cover a subset:\n{shown}{more}"
    )
