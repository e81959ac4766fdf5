"""Terminal and file output for the CLI: the rich results table, atomic writes, warnings.

The table never truncates: on a terminal, cells wrap; elsewhere (pipes, files) the console is made
as wide as the table needs.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from mura_bench.layout import GROUPS
from mura_bench.results import Estimate, Result, subjects

METRIC_LABELS = {"f1": "F1", "kappa": "κ", "auroc": "AUROC", "accuracy": "Accuracy",
                 "sensitivity": "Sensitivity", "specificity": "Specificity", "precision": "Precision"}


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write text to ``path`` via a temp file in the same folder and a rename: never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def emit(text: str, out: str | Path | None) -> None:
    """Print to stdout, or write atomically to ``out``."""
    if out is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(out, text)


def format_estimate(est: Estimate | None, digits: int = 3) -> str:
    if est is None:
        return "—"
    text = f"{est.value:.{digits}f}"
    if est.ci is not None:
        text += f" ({est.ci[0]:.{digits}f}, {est.ci[1]:.{digits}f})"
    if est.significant:
        text += " *"
    return text


def _subject_label(subject: str) -> str:
    """Display name of a result subject; readers are indented under the group's summary rows."""
    if subject == "difference":
        return "model − radiologists"
    return f"  {subject[len('reader:'):]}" if subject.startswith("reader:") else subject


def build_table(result: Result, *, readers: bool = True):
    """A rich Table: one row per group and subject (model, radiologists, difference, readers)."""
    from rich.table import Table

    table = Table(show_lines=False)
    table.add_column("Body part", style="bold")
    table.add_column("Studies (abn.)", justify="right")
    table.add_column("Who")
    metrics = list(result.metrics)
    for m in metrics:
        table.add_column(METRIC_LABELS.get(m, m), justify="right")
    for g in GROUPS:
        grp = result.groups[g]
        if grp.studies == 0:
            table.add_row(g, "0", "—", *["—" for _ in metrics], end_section=True)
            continue
        rows = [(_subject_label(subject), values) for subject, values in subjects(grp)
                if readers or not subject.startswith("reader:")]
        for i, (who, values) in enumerate(rows):
            style = "dim" if who.startswith("  ") else None
            table.add_row(g if i == 0 else "", f"{grp.studies} ({grp.positives})" if i == 0 else "", who,
                          *[format_estimate(values.get(m)) for m in metrics],
                          style=style, end_section=i == len(rows) - 1)
    if result.groups["overall"].difference is not None:
        table.caption = "* the paired CI of model − radiologists excludes 0 (significant)"
        table.caption_justify = "left"
    return table


def table_heading(result: Result) -> str:
    """One line naming the inputs and settings, printed above the table (never wrapped into it)."""
    return (f"{result.predictions.path} vs {result.truth.path} — protocol {result.protocol}, "
            f"{result.bootstrap.resamples} paired resamples, {int(round(result.bootstrap.confidence * 100))}% "
            f"{result.bootstrap.method} CI")


def print_table(result: Result, out: str | Path | None = None, *, readers: bool = True) -> None:
    """Render the results table (and notes) to stdout or, atomically, to a text file.
    ``readers=False`` leaves out the individual readers' rows."""
    from rich.console import Console

    table = build_table(result, readers=readers)
    heading = table_heading(result)
    notes = [f"note: {n}" for n in result.notes]
    if out is None and sys.stdout.isatty():
        console = Console(soft_wrap=False)
        console.print(heading, markup=False, highlight=False, soft_wrap=True)
        console.print(table)
        for n in notes:
            console.print(n, markup=False, highlight=False)
        return
    probe = Console(width=10_000, file=open(os.devnull, "w"))
    width = max(80, probe.measure(table).maximum + 2)
    console = Console(width=width, record=True, file=open(os.devnull, "w"), color_system=None)
    console.print(heading, markup=False, highlight=False, soft_wrap=True)
    console.print(table)
    for n in notes:
        console.print(n, markup=False, highlight=False, soft_wrap=True)
    text = "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"
    emit(text, out)


def missing_warning(result: Result) -> str:
    missing = result.missing
    shown = "\n".join(f"  {s}" for s in missing[:5])
    more = f"\n  ... and {len(missing) - 5} more" if len(missing) > 5 else ""
    return (f"WARNING: --allow-missing: {len(missing)} truth studies have no prediction and are NOT scored; "
            f"the scores below cover a subset:\n{shown}{more}")
