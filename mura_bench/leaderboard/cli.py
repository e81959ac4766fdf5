"""``mura-bench leaderboard ...`` commands (registered lazily by :mod:`mura_bench.cli.main`).

Commands parse options, call the library and print; bad input raises
:class:`~mura_bench.errors.InputError`, which the top-level CLI turns into one message and exit 2.
Everything printed goes through :mod:`mura_bench.io.terminal` (names and reasons come from
submissions: shown escaped, never interpreted).
"""

from __future__ import annotations

import click

from mura_bench.console.cli_help import BUILD_EPILOG, UncutHelpGroup
from mura_bench.console.cli_options import SEED_TYPE, check_resamples_option, readers_option, significance_options


@click.group("leaderboard", cls=UncutHelpGroup)
def leaderboard() -> None:
    """Build the static leaderboard site from a submissions folder, or preview a built one."""


@leaderboard.command("build", epilog=BUILD_EPILOG)
@click.argument("submissions_dir", type=click.Path(file_okay=False, path_type=str))
@click.option(
    "--truth",
    required=True,
    type=click.Path(dir_okay=False, path_type=str),
    help="Truth file: labels, reader panel or gold panel.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=str),
    help="Site folder to write (replaced atomically; must be new, empty or an earlier build).",
)
@click.option(
    "--bootstrap",
    "resamples",
    default=10000,
    show_default=True,
    type=int,
    callback=check_resamples_option,
    help="Paired bootstrap resamples shared by all entries: 0, or 2 to 100,000.",
)
@click.option("--seed", default=0, show_default=True, type=SEED_TYPE, help="Bootstrap seed.")
@click.option("--title", default=None, help="Site title.")
@click.option("--quiet", is_flag=True, help="No progress bar (it is shown on a terminal only).")
@significance_options(
    test_help="Ranking rule: paired bootstrap CI of the F1 difference, or a paired randomization test.",
    adjust_help="Holm adjustment over all pairs (needs --test randomization) and over the 8 "
    "groups of the marks against the radiologists (with --test randomization or "
    "--readers random).",
)
@readers_option
@click.option(
    "--cache",
    "cache",
    default=None,
    type=click.Path(file_okay=False, path_type=str),
    help="Folder that keeps each entry's scores between builds: a rebuild scores only new or "
    "changed entries (same site as without it). Created when absent; its files unused for 30 days "
    "are removed.",
)
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 256),
    help="Processes that score entries and write the pages  [default: the CPUs available; 1: this one only]",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 2 when any entry was skipped (the site of the valid entries is still "
    "written); for CI checks on pull requests. Without it the build exits 2 only when "
    "no re-scored entry could be published.",
)
@click.option(
    "--hidden-truth",
    is_flag=True,
    help="The truth is hidden from the submitters: publish aggregates only (no ROC curves, "
    "no study-level thresholds, calibration bins of at least 20 studies).",
)
def build(
    submissions_dir: str,
    truth: str,
    out_dir: str,
    resamples: int,
    seed: int,
    title: str | None,
    test: str,
    permutations: int,
    adjust: str,
    readers: str,
    quiet: bool,
    strict: bool,
    hidden_truth: bool,
    cache: str | None,
    workers: int | None,
) -> None:
    """Score every submission in SUBMISSIONS_DIR on the same resamples, rank, and write the site."""
    from mura_bench.leaderboard.build import build_site
    from mura_bench.io.progress import StderrProgress
    from mura_bench.io.terminal import echo

    with StderrProgress(quiet=quiet, delay=0.5) as progress:
        report = build_site(
            submissions_dir,
            truth,
            out_dir,
            resamples=resamples,
            seed=seed,
            title=title,
            progress=progress,
            test=test,
            permutations=permutations,
            adjust=adjust,
            hidden_truth=hidden_truth,
            readers=readers,
            cache=cache,
            workers=workers,
        )
    echo(
        f"published {len(report.published)} re-scored and {len(report.reported)} reported "
        f"entr{'y' if len(report.published) + len(report.reported) == 1 else 'ies'}"
    )
    for line in report.warnings:
        echo(f"warning: {line}", err=True)
    if report.skipped:
        echo(f"skipped {len(report.skipped)}:", err=True)
        for entry in report.skipped:
            echo(f"  {entry.slug}: {entry.reason}", err=True)
    echo(str(report.index_html))
    if not report.published:
        echo(
            "error: no re-scored entry could be published (the site holds "
            f"{'the reported figures only' if report.reported else 'no entry'}); "
            "check --truth and the skipped entries listed above",
            err=True,
        )
        raise click.exceptions.Exit(2)
    if strict and report.skipped:
        echo(
            f"error: --strict: {len(report.skipped)} entr{'y was' if len(report.skipped) == 1 else 'ies were'} "
            "skipped (listed above)",
            err=True,
        )
        raise click.exceptions.Exit(2)


@leaderboard.command("serve")
@click.argument("site", type=click.Path(file_okay=False, path_type=str))
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port on 127.0.0.1 (0: any free port).",
)
@click.option("--quiet", is_flag=True, help="Do not log requests.")
def serve(site: str, port: int, quiet: bool) -> None:
    """Preview a built SITE at http://127.0.0.1:PORT/ (local only; Ctrl-C stops it)."""
    from mura_bench.leaderboard.serve import make_server, url_of
    from mura_bench.io.terminal import echo

    server = make_server(site, port, quiet=quiet)
    echo(f"serving {site} at {url_of(server)} (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
