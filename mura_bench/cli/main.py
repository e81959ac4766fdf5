"""The ``mura-bench`` command line: parse, call the library, render, map errors to exit codes.

Exit codes: 0 ok, 2 bad input or usage (one message on stderr, never a traceback), 1 internal error.
Sub-commands living in other packages are imported only when invoked, so the CLI starts fast.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from pathlib import Path

import click

from mura_bench import __version__
from mura_bench.console.cli_help import DEMO_EPILOG, SCORE_EPILOG, SYNTH_EPILOG, UncutHelpGroup
from mura_bench.console.cli_options import SEED_TYPE, check_resamples_option, readers_option, significance_options
from mura_bench.errors import InputError
from mura_bench.stats.metric_registry import METRICS, check_metric_names
from mura_bench.io.terminal import echo, excerpt, visible

#: Commands defined outside this module: name -> "module:attribute".
LAZY_COMMANDS = {
    "models": "mura_bench.models.cli:models_command",
    "run": "mura_bench.models.cli:run_command",
    "leaderboard": "mura_bench.leaderboard.cli:leaderboard",
    "export": "mura_bench.hosting.cli:export_group",
    "medperf": "mura_bench.hosting.cli:medperf_group",
    "analyze": "mura_bench.cli.analysis_cli:analyze_command",
}


class MuraBenchGroup(UncutHelpGroup):
    """A click group that loads some commands lazily and maps InputError to exit code 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS:
            module, attr = LAZY_COMMANDS[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context):
        from mura_bench.io.outputs import command_inputs, signals_kept

        try:
            # No output of a command may replace what it read; no Ctrl-C or SIGTERM is swallowed.
            with command_inputs(), signals_kept():
                return super().invoke(ctx)
        except InputError as exc:
            echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except click.ClickException as exc:  # usage errors may quote what was typed: shown escaped
            exc.message = visible(exc.message)
            raise
        except (click.exceptions.Exit, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # a bug, not bad input: exit 1 with a short report
            if os.environ.get("MURA_BENCH_DEBUG"):
                raise
            echo(
                f"internal error: {type(exc).__name__}: {excerpt(str(exc), 300)}\n"
                "This is a bug in mura-bench; rerun with MURA_BENCH_DEBUG=1 for the traceback "
                "and please report it.",
                err=True,
            )
            ctx.exit(1)


@click.group(cls=MuraBenchGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="mura-bench")
def cli() -> None:
    """Benchmark harness for abnormality detection in musculoskeletal radiographs (MURA)."""


def parse_metrics(_ctx, _param, value: str) -> tuple[str, ...]:
    """Metric names, case-insensitive, each once, in the order first given (f1,F1,kappa -> f1,kappa),
    checked by the library's own rule (:func:`mura_bench.stats.metric_registry.check_metric_names`)."""
    names = tuple(dict.fromkeys(m.strip().lower() for m in value.split(",") if m.strip()))
    try:
        return check_metric_names(names)
    except InputError as exc:
        raise click.BadParameter(exc.problem) from None


def parse_reader_list(_ctx, _param, value: str | None) -> tuple[str, ...] | None:
    """Reader names, each once (a name given twice, or no name at all, is refused)."""
    if value is None:
        return None
    names = tuple(r.strip() for r in value.split(",") if r.strip())
    if not names:
        raise click.BadParameter("names no reader")
    repeated = sorted({r for r in names if names.count(r) > 1})
    if repeated:
        raise click.BadParameter(f"names reader(s) {', '.join(repeated)} more than once")
    return names


@cli.command(epilog=SCORE_EPILOG)
@click.argument("predictions", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--truth",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Labels (study,label), a reader panel (study,r1..rN[,label]) or the official 3-reader file.",
)
@click.option(
    "--protocol",
    type=click.Choice(["auto", "single", "leave-one-out", "gold-panel"]),
    default="auto",
    show_default=True,
    help="auto: labels -> single, panel -> leave-one-out, 3-reader file -> gold-panel.",
)
@click.option(
    "--metrics",
    default=",".join(METRICS),
    show_default="all",
    callback=parse_metrics,
    help=f"Comma-separated, case-insensitive, each once, from: {', '.join(METRICS)}.",
)
@click.option(
    "--bootstrap",
    "resamples",
    type=int,
    default=10000,
    show_default=True,
    callback=check_resamples_option,
    help="Paired bootstrap resamples: 0 (point estimates only) or 2 to 100,000.",
)
@click.option(
    "--seed",
    type=SEED_TYPE,
    default=0,
    show_default=True,
    help="Seed of the resamples: same seed and truth, same resamples (and byte-identical JSON).",
)
@click.option(
    "--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95, show_default=True
)
@click.option("--ci-method", type=click.Choice(["percentile", "bca"]), default="percentile", show_default=True)
@click.option(
    "--output",
    type=click.Choice(["table", "json", "csv", "codalab"]),
    default="table",
    show_default=True,
    help="table: for people; json/csv: for programs; codalab: the official scorer's output.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the output here (atomically) instead of stdout.",
)
@click.option(
    "--allow-missing", is_flag=True, help="Score the subset of truth studies that have predictions (said loudly)."
)
@click.option("--path-col", help="Column holding the study/image path in a predictions file with a header.")
@click.option("--score-col", help="Column holding the probability/label in a predictions file with a header.")
@click.option(
    "--tie",
    type=click.Choice(["abnormal", "normal"]),
    default="abnormal",
    show_default=True,
    help="Majority-vote tie rule for an even number of voting readers.",
)
@click.option("--gold-readers", callback=parse_reader_list, help="Gold-panel readers (default: the first three).")
@significance_options(
    test_help="What makes model - radiologists significant: its CI excludes 0, or a paired randomization test.",
    adjust_help="Holm adjustment over the 8 groups of each metric (needs --test randomization or --readers random).",
)
@readers_option
@click.option("--resample-readers", is_flag=True, help="Deprecated (intervals far too wide): use --readers random.")
@click.option("--show-readers", is_flag=True, help="Table: add each reader's scores.")
@click.option("--wide", is_flag=True, help="Table: metrics as columns (needs about 200 columns; never cut).")
@click.option("--quiet", is_flag=True, help="No progress bar (shown on a terminal, for runs over ~2 s).")
def score(
    predictions,
    truth,
    protocol,
    metrics,
    resamples,
    seed,
    confidence,
    ci_method,
    output,
    out,
    allow_missing,
    path_col,
    score_col,
    tie,
    gold_readers,
    test,
    permutations,
    adjust,
    readers,
    resample_readers,
    show_readers,
    wide,
    quiet,
) -> None:
    """Score PREDICTIONS against --truth with a reader-study protocol and paired bootstrap CIs."""
    from mura_bench.console import render
    from mura_bench.data.predictions import read_predictions
    from mura_bench.io.progress import StderrProgress
    from mura_bench.scoring.engine import score as score_fn
    from mura_bench.data.truth import read_truth

    inputs = (predictions, truth)
    if out is not None:
        from mura_bench.io.outputs import check_output_file

        check_output_file(out, inputs=inputs)
    preds = read_predictions(predictions, path_col=path_col, score_col=score_col)
    truth_table = read_truth(truth)
    if output == "codalab":
        from mura_bench.scoring.codalab import codalab_report

        report = codalab_report(preds, truth_table, allow_missing=allow_missing, gold_readers=gold_readers, tie=tie)
        if report.missing:
            echo(render.missing_studies_warning(report.missing), err=True)
        if report.empty_parts:
            echo(render.empty_parts_warning(report.empty_parts), err=True)
        text = report.json
    else:
        if resample_readers and readers == "fixed":
            from mura_bench.scoring.engine import RESAMPLE_READERS_DEPRECATION

            echo(f"warning: {RESAMPLE_READERS_DEPRECATION}", err=True)
        with StderrProgress(quiet=quiet) as progress, warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # said once above, without a Python warning line
            result = score_fn(
                preds,
                truth_table,
                protocol=protocol,
                metrics=metrics,
                bootstrap=resamples,
                seed=seed,
                confidence=confidence,
                ci_method=ci_method,
                tie=tie,
                gold_readers=gold_readers,
                allow_missing=allow_missing,
                progress=progress,
                test=test,
                permutations=permutations,
                adjust=adjust,
                resample_readers=resample_readers,
                readers=readers,
            )
        if result.missing:
            echo(render.missing_warning(result), err=True)
        if output == "table":
            render.print_table(result, out, readers=show_readers, wide=wide, inputs=inputs)
            return
        text = result.to_json() if output == "json" else result.to_csv()
    render.emit(text, out, inputs=inputs)


@cli.command(epilog=SYNTH_EPILOG)
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to create MURA-v1.1/ in."
)
@click.option("--studies", type=click.IntRange(min=1), default=200, show_default=True, help="Number of valid studies.")
@click.option(
    "--train-studies",
    type=click.IntRange(min=0),
    default=None,
    help="Number of train studies [default: 2 x --studies].",
)
@click.option("--readers", type=click.IntRange(min=3), default=6, show_default=True)
@click.option("--seed", type=SEED_TYPE, default=0, show_default=True)
@click.option(
    "--image-size",
    type=click.IntRange(min=16, max=1024),
    default=64,
    show_default=True,
    help="Image side in pixels (realistic: the long side varies around it).",
)
@click.option(
    "--difficulty",
    type=click.Choice(["realistic", "easy"]),
    default="realistic",
    show_default=True,
    help="realistic: subtle findings pixel statistics cannot see; easy: bright hardware, for fast tests.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=256),
    default=None,
    help="Processes drawing images [default: the usable CPUs].",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--overwrite", is_flag=True, help="Replace an existing MURA-v1.1/ in --out.")
def synth(out, studies, train_studies, readers, seed, image_size, difficulty, workers, quiet, overwrite) -> None:
    """Write a synthetic dataset in the exact MURA-v1.1 layout, with a reader panel."""
    from mura_bench.io.progress import StderrProgress
    from mura_bench.synth import generate

    with StderrProgress(quiet=quiet) as progress:
        summary = generate(
            out,
            studies=studies,
            train_studies=train_studies,
            readers=readers,
            seed=seed,
            image_size=image_size,
            overwrite=overwrite,
            difficulty=difficulty,
            workers=workers,
            progress=progress,
        )
    counts = ", ".join(f"{split}: {n} studies / {summary.images[split]} images" for split, n in summary.splits.items())
    echo(f"wrote {summary.root} ({counts}; {summary.readers} readers, seed {summary.seed}, {summary.difficulty})")


@cli.command("gallery")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="PNG file to write.")
@click.option(
    "--per-class",
    type=click.IntRange(min=1, max=8),
    default=3,
    show_default=True,
    help="Normal and abnormal views per body part.",
)
@click.option("--image-size", type=click.IntRange(min=16, max=512), default=96, show_default=True)
@click.option("--difficulty", type=click.Choice(["realistic", "easy"]), default="realistic", show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
def gallery(out, per_class, image_size, difficulty, seed) -> None:
    """Draw a montage of normal and abnormal synthetic views per body part (PNG)."""
    from mura_bench.synth.gallery import write_gallery

    echo(f"wrote {write_gallery(out, per_class=per_class, seed=seed, image_size=image_size, difficulty=difficulty)}")


@cli.command(epilog=DEMO_EPILOG)
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the demo data lives [default: ~/.cache/mura-bench/demo].",
)
@click.option("--bootstrap", "resamples", type=int, default=2000, show_default=True, callback=check_resamples_option)
@click.option("--no-site", is_flag=True, help="Skip building the demo leaderboard site.")
@click.option(
    "--full",
    is_flag=True,
    help="Print each example model's full table (every body part and metric) before the summary.",
)
def demo(cache, resamples, no_site, full) -> None:
    """Generate a small synthetic set, score example predictions, build the demo leaderboard, and
    end with a one-screen summary and the site's path."""
    from mura_bench.cli.demo import run_demo

    run_demo(cache, resamples=resamples, build_site=not no_site, full=full)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point. Returns the exit code."""
    try:
        cli.main(args=argv, prog_name="mura-bench", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
