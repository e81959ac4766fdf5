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
from mura_bench.cli_options import SEED_TYPE, check_resamples_option
from mura_bench.errors import InputError

#: Width used to render tables when stdout is not a terminal, so that nothing is cut.
_PIPE_WIDTH = 10_000


def _console():
    from mura_bench.terminal import console

    return console() if sys.stdout.isatty() else console(width=_PIPE_WIDTH, no_color=True)


#: What ``models --check`` shows for a model whose required options were not given.
NOT_CHECKED = "not checked"


def models_table(infos, *, checked: dict[str, str | None] | None = None,
                 unchecked: dict[str, str] | None = None):
    """A rich Table of registered models; broken ones (import error, duplicate name, failed
    ``--check``) show their error in the description column. Every cell is plain text (printed
    through :func:`mura_bench.terminal.console`: plugin names and messages are never markup)."""
    from rich.table import Table

    from mura_bench.terminal import styled

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
        text = info.description or ""
        if problems:
            text = styled("; ".join(problems), "red") + (f" ({text})" if text else "")
        elif unchecked and info.name in unchecked:
            text = styled(f"{NOT_CHECKED}: {unchecked[info.name]}", "yellow") + (f" ({text})" if text else "")
        options = "\n".join(info.options) or ("none" if not info.error else "?")
        table.add_row(info.name, info.package or "?", info.version or "?", options, text)
    return table


#: Size and count of the blank test radiographs ``models --check`` predicts.
_CHECK_IMAGES = 2
_CHECK_SIZE = 64


def _check_model(name: str, options: dict[str, str] | None = None) -> None:
    """Create ``name`` with ``options`` (else its defaults), read its batch_size and predict a batch
    of blank radiographs; raises PluginError (or InputError) with what went wrong."""
    from PIL import Image

    from mura_bench.models.guard import batch_size_of, plugin_code
    from mura_bench.models.registry import load_model
    from mura_bench.models.runner import DEFAULT_BATCH_SIZE, check_probabilities

    model = load_model(name, options)
    batch_size_of(model, name, DEFAULT_BATCH_SIZE)
    images = [Image.new("L", (_CHECK_SIZE, _CHECK_SIZE), 128 * i) for i in range(_CHECK_IMAGES)]
    with plugin_code(name, f"failed in predict_images on {_CHECK_IMAGES} blank test images"):
        raw = model.predict_images(images)
    check_probabilities(raw, [f"blank test image {i + 1}" for i in range(_CHECK_IMAGES)], model=name)


def parse_check_options(pairs: tuple[str, ...], names: set[str]) -> dict[str, dict[str, str]]:
    """``MODEL:key=value`` flags of ``models --check`` -> model -> options (InputError for a bad
    flag or a model that is not registered)."""
    from mura_bench.models.registry import parse_options

    grouped: dict[str, list[str]] = {}
    for pair in pairs:
        model, sep, option = pair.partition(":")
        if not sep or not model.strip():
            raise InputError(f"{pair!r} is not of the form MODEL:key=value", source="--option")
        if model.strip() not in names:
            raise InputError(f"no registered model named {model.strip()!r}", source="--option")
        grouped.setdefault(model.strip(), []).append(option)
    return {model: parse_options(options) for model, options in grouped.items()}


def _missing_required(info, given: dict[str, str]) -> list[str]:
    from mura_bench.models.registry import required_options

    return [name for name in required_options(info.options) if name not in given]


def _check_all(infos, options: dict[str, dict[str, str]]) -> tuple[dict[str, str | None], dict[str, str]]:
    """Check each loadable model (:func:`_check_model`) with its ``options``: (name -> error text
    or None, name -> why it was not checked). A model whose factory requires options that were not
    given (a checkpoint, say) is not checked rather than failed."""
    results: dict[str, str | None] = {}
    unchecked: dict[str, str] = {}
    for info in infos:
        if info.error or info.duplicates or info.name in results:
            continue
        given = options.get(info.name, {})
        missing = _missing_required(info, given)
        if missing:
            unchecked[info.name] = (f"needs {', '.join(missing)}; pass "
                                    + " ".join(f"--option {info.name}:{m}=..." for m in missing))
            continue
        try:
            _check_model(info.name, given)
            results[info.name] = None
        except InputError as exc:
            results[info.name] = " | ".join(str(exc).splitlines()[:2])
    return results, unchecked


@click.command("models", epilog=MODELS_EPILOG)
@click.option("--check", is_flag=True,
              help="Also create every model with its default options (may load weights) and let it "
                   "predict two blank images; exit 2 when any model fails. A model with required "
                   "options is checked only when they are given with --option.")
@click.option("--option", "check_options", multiple=True, metavar="MODEL:KEY=VALUE",
              help="With --check: an option for one model's factory, e.g. densenet169:checkpoint=best.pt.")
def models_command(check: bool, check_options: tuple[str, ...]) -> None:
    """List the registered models with their options (broken ones marked)."""
    from mura_bench.models.registry import available_models
    from mura_bench.terminal import echo

    infos = available_models(describe=True)
    if not infos:
        echo("no models registered in the entry-point group mura_bench.models")
        return
    if check_options and not check:
        raise click.UsageError("--option is only used with --check")
    checked, unchecked = (_check_all(infos, parse_check_options(check_options, {i.name for i in infos}))
                          if check else (None, None))
    _console().print(models_table(infos, checked=checked, unchecked=unchecked))
    if unchecked:
        echo(f"note: {len(unchecked)} model{'s' if len(unchecked) != 1 else ''} not checked for want of "
             f"required options: {', '.join(sorted(unchecked))}", err=True)
    if check:
        failed = sorted({i.name for i in infos if i.error or i.duplicates}
                        | {name for name, error in checked.items() if error})
        if failed:
            echo(f"error: {len(failed)} model{'s' if len(failed) != 1 else ''} failed the check: "
                 f"{', '.join(failed)}", err=True)
            raise click.exceptions.Exit(2)


def default_truth(root: Path, split: str) -> Path:
    """``<split>_panel.csv`` when the dataset has one (the synthetic valid panel), else the
    split's ``<split>_labeled_studies.csv``."""
    from mura_bench.layout import ROOT_NAME

    base = root / ROOT_NAME
    panel = base / f"{split}_panel.csv"
    return panel if panel.is_file() else base / f"{split}_labeled_studies.csv"


def check_run_outputs(out: Path, index, *, truth: Path | None) -> None:
    """Before any work: --out (and its resume cache) must not be the truth read by --score nor lie
    in the dataset being read, and must be writable (see :mod:`mura_bench.outputs`)."""
    from mura_bench.layout import ROOT_NAME
    from mura_bench.models.runner import partial_path
    from mura_bench.outputs import check_output_file

    inputs = [truth] if truth is not None else []
    _, write_through = check_output_file(out, inputs=inputs, datasets=[index.root / ROOT_NAME])
    if not write_through:
        check_output_file(partial_path(out), inputs=inputs, datasets=[index.root / ROOT_NAME])


def _score_and_print(out: Path, truth: Path, *, resamples: int, seed: int, subset: bool, quiet: bool) -> None:
    from mura_bench import render
    from mura_bench.progress import StderrProgress
    from mura_bench.scoring import score
    from mura_bench.terminal import echo

    with StderrProgress(quiet=quiet) as progress:
        result = score(out, truth, resamples=resamples, seed=seed, allow_missing=subset, progress=progress)
    if getattr(result, "missing", None):
        echo(render.missing_warning(result), err=True)
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
@click.option("--decode-workers", type=click.IntRange(min=1), default=None,
              help="Threads decoding images ahead of the model [default: the CPU count, at most 16].")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Only the first N studies (sorted by id); scoring then uses that subset.")
@click.option("--restart", is_flag=True, help="Ignore studies cached by an interrupted run.")
@click.option("--score", "score_after", is_flag=True, help="Score the predictions right away.")
@click.option("--truth", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Truth for --score [default: <split>_panel.csv in the data folder when present, "
                   "else <split>_labeled_studies.csv].")
@click.option("--bootstrap", "resamples", type=int, default=10000, callback=check_resamples_option,
              show_default=True, help="Bootstrap resamples for --score: 0, or 2 to 100,000.")
@click.option("--seed", type=SEED_TYPE, default=0, show_default=True, help="Bootstrap seed for --score.")
@click.option("--quiet", is_flag=True, help="No progress bar and no summary line.")
def run_command(model: str, data_dir: Path, split: str, out: Path, options: tuple[str, ...],
                batch_size: int | None, decode_workers: int | None, limit: int | None, restart: bool,
                score_after: bool, truth: Path | None, resamples: int, seed: int, quiet: bool) -> None:
    """Run MODEL over a split and write image-level probabilities to --out.

    Finished studies are cached in <out>.partial, so an interrupted run resumes where it stopped.
    """
    from mura_bench.layout import load_split
    from mura_bench.models.registry import load_model, parse_options
    from mura_bench.models.runner import RunKey, partial_path, predict_split
    from mura_bench.terminal import echo

    if truth is not None and not score_after:
        raise click.UsageError("--truth is only used with --score")
    parsed = parse_options(options)
    index = load_split(data_dir, split)
    check_run_outputs(out, index, truth=(truth or default_truth(index.root, split)) if score_after else None)
    instance = load_model(model, parsed)
    key = RunKey(model=model, options=parsed, split=split, data=str(index.root.resolve()))
    summary = predict_split(instance, index, out, key=key, batch_size=batch_size, limit=limit,
                            resume=not restart, progress=not quiet, decode_workers=decode_workers)
    if not quiet:
        resumed = (f"; {summary.resumed_studies} studies taken from {partial_path(out).name}"
                   if summary.resumed_studies else "")
        echo(f"{model}: {summary.images} images of {summary.studies} {split} studies -> {out} "
             f"in {summary.seconds:.2f} s ({summary.images_per_second:.1f} images/s{resumed})",
             err=True)
    if score_after:
        _score_and_print(out, truth or default_truth(index.root, split), resamples=resamples,
                         seed=seed, subset=limit is not None, quiet=quiet)


__all__ = ["check_run_outputs", "default_truth", "models_command", "models_table", "run_command"]
