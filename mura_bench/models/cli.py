"""``mura-bench models`` and ``mura-bench run``: the plugin models on the command line.

Heavy imports (Pillow, rich, the scorer) happen inside the commands so that the CLI starts fast.
Errors are raised as InputError (the ``mura-bench`` group turns them into exit code 2 and one
message) or click.UsageError.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from mura_bench.cli_help import MODELS_EPILOG, RUN_EPILOG
from mura_bench.errors import InputError

#: Width used to render tables when stdout is not a terminal, so that nothing is cut.
_PIPE_WIDTH = 10_000


def _console():
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=_PIPE_WIDTH, no_color=True)


def models_table(infos, *, checked: dict[str, str | None] | None = None):
    """A rich Table of registered models; broken ones (import error, duplicate name, failed
    ``--check``) show their error in the description column."""
    from rich.markup import escape
    from rich.table import Table

    table = Table()
    for name in ("name", "package", "version", "options", "description"):
        table.add_column(name, overflow="fold")
    for info in infos:
        problems = []
        if info.error:
            problems.append(f"broken: {info.error}")
        if info.duplicates:
            problems.append(f"broken: also registered by {', '.join(info.duplicates)}")
        if checked is not None and checked.get(info.name):
            problems.append(f"broken: {checked[info.name]}")
        text = escape(info.description or "")
        if problems:
            text = "[red]" + escape("; ".join(problems)) + "[/red]" + (f" ({text})" if text else "")
        options = "\n".join(escape(o) for o in info.options) or ("none" if not info.error else "?")
        table.add_row(escape(info.name), escape(info.package or "?"), escape(info.version or "?"), options, text)
    return table


def _check_all(infos) -> dict[str, str | None]:
    """Create each loadable model with its default options; name -> error text or None."""
    from mura_bench.models.registry import load_model

    results: dict[str, str | None] = {}
    for info in infos:
        if info.error or info.duplicates or info.name in results:
            continue
        try:
            load_model(info.name)
            results[info.name] = None
        except InputError as exc:
            results[info.name] = str(exc).splitlines()[0]
    return results


@click.command("models", epilog=MODELS_EPILOG)
@click.option("--check", is_flag=True,
              help="Also create every model with its default options (may load weights).")
def models_command(check: bool) -> None:
    """List the registered models with their options (broken ones marked)."""
    from mura_bench.models.registry import available_models

    infos = available_models(describe=True)
    if not infos:
        click.echo("no models registered in the entry-point group mura_bench.models")
        return
    _console().print(models_table(infos, checked=_check_all(infos) if check else None))


def default_truth(root: Path, split: str) -> Path:
    """``<split>_panel.csv`` when the dataset has one (the synthetic valid panel), else the
    split's ``<split>_labeled_studies.csv``."""
    from mura_bench.layout import ROOT_NAME

    base = root / ROOT_NAME
    panel = base / f"{split}_panel.csv"
    return panel if panel.is_file() else base / f"{split}_labeled_studies.csv"


def _score_and_print(out: Path, truth: Path, *, resamples: int, seed: int, subset: bool, quiet: bool) -> None:
    from mura_bench import render
    from mura_bench.progress import StderrProgress
    from mura_bench.scoring import score

    with StderrProgress(quiet=quiet) as progress:
        result = score(out, truth, resamples=resamples, seed=seed, allow_missing=subset, progress=progress)
    if getattr(result, "missing", None):
        click.echo(render.missing_warning(result), err=True)
    render.print_table(result, None)


@click.command("run", epilog=RUN_EPILOG)
@click.argument("model")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder holding MURA-v1.1/ (or MURA-v1.1/ itself), real or synthetic.")
@click.option("--split", type=click.Choice(["train", "valid", "test"]), default="valid",
              show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Image-level predictions CSV to write (image,probability).")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="A model option, passed to the model's factory; repeat for several.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Images per model call [default: the model's batch_size, else 16].")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Only the first N studies (sorted by id); scoring then uses that subset.")
@click.option("--restart", is_flag=True, help="Ignore studies cached by an interrupted run.")
@click.option("--score", "score_after", is_flag=True, help="Score the predictions right away.")
@click.option("--truth", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Truth for --score [default: <split>_panel.csv in the data folder when present, "
                   "else <split>_labeled_studies.csv].")
@click.option("--bootstrap", "resamples", type=click.IntRange(min=0), default=10000,
              show_default=True, help="Bootstrap resamples for --score.")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed for --score.")
@click.option("--quiet", is_flag=True, help="No progress bar and no summary line.")
def run_command(model: str, data_dir: Path, split: str, out: Path, options: tuple[str, ...],
                batch_size: int | None, limit: int | None, restart: bool, score_after: bool,
                truth: Path | None, resamples: int, seed: int, quiet: bool) -> None:
    """Run MODEL over a split and write image-level probabilities to --out.

    Finished studies are cached in <out>.partial, so an interrupted run resumes where it stopped.
    """
    from mura_bench.layout import load_split
    from mura_bench.models.registry import load_model, parse_options
    from mura_bench.models.runner import RunKey, partial_path, predict_split

    if truth is not None and not score_after:
        raise click.UsageError("--truth is only used with --score")
    parsed = parse_options(options)
    index = load_split(data_dir, split)
    instance = load_model(model, parsed)
    key = RunKey(model=model, options=parsed, split=split, data=str(index.root.resolve()))
    summary = predict_split(instance, index, out, key=key, batch_size=batch_size, limit=limit,
                            resume=not restart, progress=not quiet)
    if not quiet:
        resumed = (f"; {summary.resumed_studies} studies taken from {partial_path(out).name}"
                   if summary.resumed_studies else "")
        click.echo(f"{model}: {summary.images} images of {summary.studies} {split} studies -> {out} "
                   f"in {summary.seconds:.2f} s ({summary.images_per_second:.1f} images/s{resumed})",
                   err=True)
    if score_after:
        _score_and_print(out, truth or default_truth(index.root, split), resamples=resamples,
                         seed=seed, subset=limit is not None, quiet=quiet)


__all__ = ["default_truth", "models_command", "models_table", "run_command"]
