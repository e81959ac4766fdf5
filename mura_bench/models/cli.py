"""``mura-bench models`` and ``mura-bench run``: the plugin models on the command line.

Heavy imports (Pillow, rich, the scorer) happen inside the commands so that the CLI starts fast.
Errors are raised as InputError (the ``mura-bench`` group turns them into exit code 2 and one
message) or click.UsageError.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mura_bench.console.cli_help import MODELS_EPILOG, RUN_EPILOG
from mura_bench.console.cli_options import SEED_TYPE, check_resamples_option
from mura_bench.errors import InputError

#: What ``models --check`` shows for a model whose required options were not given.
NOT_CHECKED = "not checked"
#: Default of ``models --check --timeout``: seconds one model may take to be created and predict.
CHECK_TIMEOUT = 60.0


def _problems(info) -> list[str]:
    problems = []
    if info.error:
        problems.append(f"broken: {info.error}")
    if info.duplicates:
        problems.append(f"broken: also registered by {', '.join(info.duplicates)}")
    return problems


def models_table(infos):
    """The registered models as a :class:`~mura_bench.console.table_fit.Grid` (name; package and
    version; options, one a line and never split; description, wrapped between words). Broken ones
    (import error, duplicate name) show their error in the description column. Every cell is plain
    text (printed through :mod:`mura_bench.io.terminal`: plugin names and messages are never markup)."""
    from mura_bench.console.table_fit import Column, Grid, Row
    from mura_bench.io.terminal import styled

    columns = [
        Column("name", justify="left", key=True),
        Column("package", justify="left", prose=True),
        Column("options", justify="left"),
        Column("description", justify="left", prose=True),
    ]
    rows = []
    for info in infos:
        problems = _problems(info)
        text = info.description or ""
        if problems:
            text = styled("; ".join(problems), "red") + (f" ({text})" if text else "")
        options = "\n".join(info.options) or ("none" if not info.error else "?")
        rows.append(Row([info.name, f"{info.package or '?'} {info.version or '?'}", options, text]))
    return Grid(columns, rows)


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


def _not_checked(info, given: dict[str, str]) -> str | None:
    """Why ``info`` is not checked (required options not given), or None."""
    missing = _missing_required(info, given)
    if not missing:
        return None
    return f"{NOT_CHECKED}: needs {', '.join(missing)}; pass " + " ".join(
        f"--option {info.name}:{m}=..." for m in missing
    )


def _check_with_limit(name: str, given: dict[str, str], timeout: float) -> str | None:
    """:func:`_check_model` in a worker thread, waited for at most ``timeout`` seconds: None when
    the model passed, else why it failed (a model still running is given up on and left behind:
    the thread is a daemon, so it never keeps the command from exiting)."""
    import threading

    outcome: list[str | None] = []

    def work() -> None:
        try:
            _check_model(name, given)
            outcome.append(None)
        except InputError as exc:
            outcome.append(" | ".join(str(exc).splitlines()[:2]))
        except BaseException as exc:  # a plugin's own fault, whatever it raised
            outcome.append(f"{type(exc).__name__}: {exc}")

    worker = threading.Thread(target=work, name=f"check {name}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive() or not outcome:
        return f"gave up after {timeout:g} s (--timeout): {name} did not finish creating the model and predicting"
    return outcome[0]


def check_models(infos, options: dict[str, dict[str, str]], timeout: float, show) -> tuple[list[str], list[str]]:
    """Check each model (:func:`_check_model` within ``timeout`` seconds), calling
    ``show(info, result text)`` as each finishes: ``ok``, ``failed: why`` or ``not checked: needs
    OPTION``. Returns (failed names, not-checked names). A model whose factory requires options that
    were not given (a checkpoint, say) is not checked rather than failed."""
    failed: list[str] = []
    unchecked: list[str] = []
    seen: set[str] = set()
    for info in infos:
        problems = _problems(info)
        if problems:
            failed.append(info.name)
            show(info, "failed: " + "; ".join(problems))
            continue
        if info.name in seen:
            continue
        seen.add(info.name)
        given = options.get(info.name, {})
        why_not = _not_checked(info, given)
        if why_not:
            unchecked.append(info.name)
            show(info, why_not)
            continue
        error = _check_with_limit(info.name, given, timeout)
        if error:
            failed.append(info.name)
        show(info, "ok" if error is None else f"failed: {error}")
    return sorted(set(failed)), unchecked


def _print_check(infos, options: dict[str, dict[str, str]], timeout: float) -> tuple[list[str], list[str]]:
    """``models --check``: a table whose rows (name, package, result) are printed as each model's
    check finishes (:class:`~mura_bench.console.table_fit.Streamed`)."""
    from mura_bench.console.table_fit import Column, Streamed, pipe_width
    from mura_bench.io.terminal import console, styled

    out = (
        console(highlight=False) if sys.stdout.isatty() else console(width=pipe_width(), no_color=True, highlight=False)
    )
    columns = [
        Column("name", justify="left"),
        Column("package", justify="left"),
        Column("result", justify="left", prose=True),
    ]
    known = [[i.name, f"{i.package or '?'} {i.version or '?'}"] for i in infos]
    table = Streamed(columns, known, out.width)
    out.print(table.header())

    def show(info, text: str) -> None:
        style = "green" if text == "ok" else ("yellow" if text.startswith(NOT_CHECKED) else "red")
        out.print(table.row([info.name, f"{info.package or '?'} {info.version or '?'}", styled(text, style)]))
        out.file.flush()

    return check_models(infos, options, timeout, show)


@click.command("models", epilog=MODELS_EPILOG)
@click.option(
    "--check",
    is_flag=True,
    help="Also create every model with its default options (may load weights) and let it "
    "predict two blank images, printing each result as it finishes (ok, failed: why, "
    "not checked: needs OPTION); exit 2 when any model fails. A model with required "
    "options is checked only when they are given with --option.",
)
@click.option(
    "--option",
    "check_options",
    multiple=True,
    metavar="MODEL:KEY=VALUE",
    help="With --check: an option for one model's factory, e.g. densenet169:checkpoint=best.pt.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help=f"With --check: give up on a model that takes longer to be created and predict "
    f"(it then counts as failed) [default: {CHECK_TIMEOUT:g}].",
)
def models_command(check: bool, check_options: tuple[str, ...], timeout: float) -> None:
    """List the registered models with their options (broken ones marked)."""
    from mura_bench.models.registry import available_models
    from mura_bench.console.table_fit import print_blocks
    from mura_bench.io.terminal import echo

    infos = available_models(describe=True)
    if not infos:
        echo("no models registered in the entry-point group mura_bench.models")
        return
    if check_options and not check:
        raise click.UsageError("--option is only used with --check")
    if timeout is not None and not check:
        raise click.UsageError("--timeout is only used with --check")
    if not check:
        print_blocks([models_table(infos)])
        return
    failed, unchecked = _print_check(
        infos,
        parse_check_options(check_options, {i.name for i in infos}),
        CHECK_TIMEOUT if timeout is None else timeout,
    )
    if unchecked:
        echo(
            f"note: {len(unchecked)} model{'s' if len(unchecked) != 1 else ''} not checked for want of "
            f"required options: {', '.join(sorted(unchecked))}",
            err=True,
        )
    if failed:
        echo(
            f"error: {len(failed)} model{'s' if len(failed) != 1 else ''} failed the check: {', '.join(failed)}",
            err=True,
        )
        raise click.exceptions.Exit(2)


def default_truth(root: Path, split: str) -> Path:
    """``<split>_panel.csv`` when the dataset has one (the synthetic valid panel), else the
    split's ``<split>_labeled_studies.csv``."""
    from mura_bench.data.layout import ROOT_NAME

    base = root / ROOT_NAME
    panel = base / f"{split}_panel.csv"
    return panel if panel.is_file() else base / f"{split}_labeled_studies.csv"


def check_run_outputs(out: Path, index, *, truth: Path | None) -> None:
    """Before any work: --out (and its resume cache) must not be the truth read by --score nor lie
    in the dataset being read, and must be writable (see :mod:`mura_bench.io.outputs`)."""
    from mura_bench.data.layout import ROOT_NAME
    from mura_bench.models.runner import partial_path
    from mura_bench.io.outputs import check_output_file

    inputs = [truth] if truth is not None else []
    _, write_through = check_output_file(out, inputs=inputs, datasets=[index.root / ROOT_NAME])
    if not write_through:
        check_output_file(partial_path(out), inputs=inputs, datasets=[index.root / ROOT_NAME])


def _score_and_print(out: Path, truth: Path, *, resamples: int, seed: int, subset: bool, quiet: bool) -> None:
    from mura_bench.console import render
    from mura_bench.io.progress import StderrProgress
    from mura_bench.scoring.engine import score
    from mura_bench.io.terminal import echo

    with StderrProgress(quiet=quiet) as progress:
        result = score(out, truth, bootstrap=resamples, seed=seed, allow_missing=subset, progress=progress)
    if getattr(result, "missing", None):
        echo(render.missing_warning(result), err=True)
    render.print_table(result, None)


@click.command("run", epilog=RUN_EPILOG)
@click.argument("model")
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder holding MURA-v1.1/ (or MURA-v1.1/ itself), real or synthetic.",
)
@click.option("--split", type=click.Choice(["train", "valid", "test"]), default="valid", show_default=True)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Image-level predictions CSV to write (image,probability).",
)
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="A model option, passed to the model's factory; repeat for several.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Images per model call [default: the model's batch_size, else 16].",
)
@click.option(
    "--decode-workers",
    type=click.IntRange(min=1),
    default=None,
    help="Threads decoding images ahead of the model [default: the CPU count, at most 16].",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Only the first N studies (sorted by id); scoring then uses that subset.",
)
@click.option("--restart", is_flag=True, help="Ignore studies cached by an interrupted run.")
@click.option("--score", "score_after", is_flag=True, help="Score the predictions right away.")
@click.option(
    "--truth",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Truth for --score [default: <split>_panel.csv in the data folder when present, "
    "else <split>_labeled_studies.csv].",
)
@click.option(
    "--bootstrap",
    "resamples",
    type=int,
    default=10000,
    callback=check_resamples_option,
    show_default=True,
    help="Bootstrap resamples for --score: 0, or 2 to 100,000.",
)
@click.option("--seed", type=SEED_TYPE, default=0, show_default=True, help="Bootstrap seed for --score.")
@click.option("--quiet", is_flag=True, help="No progress bar and no summary line.")
def run_command(
    model: str,
    data_dir: Path,
    split: str,
    out: Path,
    options: tuple[str, ...],
    batch_size: int | None,
    decode_workers: int | None,
    limit: int | None,
    restart: bool,
    score_after: bool,
    truth: Path | None,
    resamples: int,
    seed: int,
    quiet: bool,
) -> None:
    """Run MODEL over a split and write image-level probabilities to --out.

    Finished studies are cached in <out>.partial, so an interrupted run resumes where it stopped.
    """
    from mura_bench.data.layout import load_split
    from mura_bench.models.registry import load_model, parse_options
    from mura_bench.models.runner import RunKey, partial_path, predict_split
    from mura_bench.io.terminal import echo

    if truth is not None and not score_after:
        raise click.UsageError("--truth is only used with --score")
    parsed = parse_options(options)
    index = load_split(data_dir, split)
    check_run_outputs(out, index, truth=(truth or default_truth(index.root, split)) if score_after else None)
    instance = load_model(model, parsed)
    key = RunKey(model=model, options=parsed, split=split, data=str(index.root.resolve()))
    summary = predict_split(
        instance,
        index,
        out,
        key=key,
        batch_size=batch_size,
        limit=limit,
        resume=not restart,
        progress=not quiet,
        decode_workers=decode_workers,
    )
    if not quiet:
        resumed = (
            f"; {summary.resumed_studies} studies taken from {partial_path(out).name}"
            if summary.resumed_studies
            else ""
        )
        echo(
            f"{model}: {summary.images} images of {summary.studies} {split} studies -> {out} "
            f"in {summary.seconds:.2f} s ({summary.images_per_second:.1f} images/s{resumed})",
            err=True,
        )
    if score_after:
        _score_and_print(
            out,
            truth or default_truth(index.root, split),
            resamples=resamples,
            seed=seed,
            subset=limit is not None,
            quiet=quiet,
        )


__all__ = ["check_run_outputs", "default_truth", "models_command", "models_table", "run_command"]
