"""``mura-bench export codabench`` and ``mura-bench medperf evaluate`` (registered lazily by
:mod:`mura_bench.cli.main`). Bad input raises :class:`~mura_bench.errors.InputError`: one message, exit 2.
"""

from __future__ import annotations

import datetime as dt

import click

from mura_bench.console.cli_help import UncutHelpGroup
from mura_bench.console.cli_options import check_resamples_option
from mura_bench.hosting.settings import MEDPERF_MOUNTS as MOUNTS
from mura_bench.hosting.settings import PROTOCOL_CHOICES


@click.group("export", cls=UncutHelpGroup)
def export_group() -> None:
    """Export the benchmark to a platform that hosts competitions."""


def _parse_date(_ctx, param, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected a date YYYY-MM-DD, got {value!r}", param=param) from None


@export_group.command("codabench")
@click.option(
    "--truth",
    required=True,
    type=click.Path(dir_okay=False),
    help="Truth of the development phase: labels or a reader panel.",
)
@click.option(
    "--final-truth", type=click.Path(dir_okay=False), help="Hidden test truth: adds a final phase scored against it."
)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The bundle to write (.zip).")
@click.option("--title", default=None, help="Competition title.")
@click.option("--protocol", type=click.Choice(PROTOCOL_CHOICES), default="auto", show_default=True)
@click.option(
    "--bootstrap",
    "resamples",
    type=click.IntRange(min=2),
    default=10000,
    show_default=True,
    callback=check_resamples_option,
    help="Paired bootstrap resamples per submission (as the leaderboard site), 2 to 100,000.",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--docker-image",
    default=None,
    help="Image the scoring program runs in (required): Codabench's workers pull it, so push it "
    "to a public registry, built for linux/amd64, e.g. ghcr.io/OWNER/mura-bench:VERSION.",
)
@click.option("--start", callback=_parse_date, help="Development phase start, YYYY-MM-DD [default: today, UTC].")
@click.option(
    "--final-start",
    callback=_parse_date,
    help="Final phase start, YYYY-MM-DD [default: 30 days after --start]; the development "
    "phase ends at 23:59:59 the day before.",
)
@click.option(
    "--max-submissions-per-day",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Development phase: submissions per participant and day.",
)
@click.option(
    "--max-submissions",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Development phase: submissions per participant in all.",
)
@click.option(
    "--final-max-submissions-per-day",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Final phase: submissions per participant and day.",
)
@click.option(
    "--final-max-submissions",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Final phase: submissions per participant in all (kept small so that the scores "
    "cannot give the hidden labels away).",
)
def codabench_command(
    truth,
    final_truth,
    out,
    title,
    protocol,
    resamples,
    seed,
    docker_image,
    start,
    final_start,
    max_submissions_per_day,
    max_submissions,
    final_max_submissions_per_day,
    final_max_submissions,
) -> None:
    """Write a Codabench competition bundle that scores submissions with mura-bench."""
    from mura_bench.hosting.codabench import SubmissionLimits, export_codabench
    from mura_bench.hosting.settings import ScoringSettings

    from mura_bench.io.terminal import echo

    report = export_codabench(
        truth,
        out,
        final_truth=final_truth,
        title=title,
        settings=ScoringSettings(protocol, resamples, seed),
        docker_image=docker_image,
        start=start,
        final_start=final_start,
        limits=SubmissionLimits(max_submissions_per_day, max_submissions),
        final_limits=SubmissionLimits(final_max_submissions_per_day, final_max_submissions),
    )
    for line in report.warnings:
        echo(f"warning: {line}", err=True)
    echo(f"wrote {report.path} ({len(report.entries)} files; leaderboard columns: {', '.join(report.columns)})")


@click.group("medperf", cls=UncutHelpGroup)
def medperf_group() -> None:
    """MedPerf evaluator: score a model container's predictions where the data lives."""


@medperf_group.command("evaluate")
@click.option(
    "--predictions",
    "--predictions_path",
    "predictions",
    type=click.Path(),
    default=MOUNTS["predictions"],
    show_default=True,
    help="Folder holding one predictions CSV.",
)
@click.option(
    "--labels",
    "--labels_path",
    "labels",
    type=click.Path(),
    default=MOUNTS["labels"],
    show_default=True,
    help="Folder holding one truth CSV.",
)
@click.option(
    "--parameters-file",
    "--parameters_file",
    "parameters_file",
    type=click.Path(),
    default=None,
    help=f"Benchmark parameters (YAML) [default: {MOUNTS['parameters_file']} when mounted, "
    "else the documented defaults shipped with mura-bench].",
)
@click.option(
    "--output-path", "--output_path", "output_path", type=click.Path(), default=MOUNTS["output_path"], show_default=True
)
def evaluate_command(predictions, labels, parameters_file, output_path) -> None:
    """Score the predictions against the labels and write results.yaml (MedPerf task evaluate)."""
    from mura_bench.hosting.medperf import evaluate

    from mura_bench.io.terminal import echo

    results = evaluate(predictions, labels, parameters_file, output_path)
    echo(f"wrote {output_path} ({len(results)} metrics)")
