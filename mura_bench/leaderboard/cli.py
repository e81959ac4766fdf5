"""``mura-bench leaderboard ...`` commands (registered lazily by :mod:`mura_bench.cli`).

Commands parse options, call the library and print; bad input raises
:class:`~mura_bench.errors.InputError`, which the top-level CLI turns into one message and exit 2.
"""
from __future__ import annotations

import click


@click.group("leaderboard")
def leaderboard() -> None:
    """Build the static leaderboard site from a submissions folder."""


@leaderboard.command("build")
@click.argument("submissions_dir", type=click.Path(file_okay=False, path_type=str))
@click.option("--truth", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="Truth file: labels, reader panel or gold panel.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Site folder to write (replaced atomically; must be new, empty or an earlier build).")
@click.option("--bootstrap", "resamples", default=10000, show_default=True, type=click.IntRange(min=0),
              help="Paired bootstrap resamples shared by all entries.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Bootstrap seed.")
@click.option("--title", default=None, help="Site title.")
def build(submissions_dir: str, truth: str, out_dir: str, resamples: int, seed: int,
          title: str | None) -> None:
    """Score every submission in SUBMISSIONS_DIR on the same resamples, rank, and write the site."""
    from mura_bench.leaderboard.build import build_site

    report = build_site(submissions_dir, truth, out_dir, resamples=resamples, seed=seed, title=title)
    click.echo(f"published {len(report.published)} re-scored and {len(report.reported)} reported "
               f"entr{'y' if len(report.published) + len(report.reported) == 1 else 'ies'}")
    for line in report.warnings:
        click.echo(f"warning: {line}", err=True)
    if report.skipped:
        click.echo(f"skipped {len(report.skipped)}:", err=True)
        for entry in report.skipped:
            click.echo(f"  {entry.slug}: {entry.reason}", err=True)
    click.echo(str(report.index_html))
