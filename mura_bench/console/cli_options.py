"""Click option types, callbacks and option groups shared by the commands (``score``, ``run``,
``demo``, ``leaderboard build``), so that one option means and checks the same everywhere."""

from __future__ import annotations

import functools

import click

from mura_bench.errors import InputError


def check_resamples_option(_ctx, _param, value: int) -> int:
    """--bootstrap: 0 (point estimates only) or 2 .. MAX_RESAMPLES, refused up front."""
    from mura_bench.stats.bootstrap import check_resamples

    try:
        return check_resamples(value)
    except InputError as exc:
        raise click.BadParameter(exc.problem) from None


#: --seed of every command: a non-negative integer (the bootstrap's SeedSequence needs one).
SEED_TYPE = click.IntRange(min=0)


def significance_options(*, test_help: str, adjust_help: str):
    """``--test ci|randomization``, ``--permutations P`` and ``--adjust none|holm``."""
    options = [
        click.option(
            "--test", type=click.Choice(["ci", "randomization"]), default="ci", show_default=True, help=test_help
        ),
        click.option(
            "--permutations",
            type=click.IntRange(min=1),
            default=10000,
            show_default=True,
            help="Permutations of the randomization test.",
        ),
        click.option(
            "--adjust", type=click.Choice(["none", "holm"]), default="none", show_default=True, help=adjust_help
        ),
    ]

    def decorate(command):
        @functools.wraps(command)
        def checked(*args, **kwargs):
            check_permutations_used(click.get_current_context(), kwargs.get("test"))
            return command(*args, **kwargs)

        for option in reversed(options):
            checked = option(checked)
        return checked

    return decorate


#: --readers of ``score`` and ``leaderboard build``.
READERS_HELP = (
    "fixed: model - radiologists for these readers (the study's panel); random: for radiologists in "
    "general, an Obuchowski-Rockette test with Hillis' df (needs a reader panel; --adjust holm "
    "applies to its p-values)."
)


def readers_option(command):
    """``--readers fixed|random``."""
    return click.option(
        "--readers",
        "readers",
        type=click.Choice(["fixed", "random"]),
        default="fixed",
        show_default=True,
        help=READERS_HELP,
    )(command)


def check_permutations_used(ctx: click.Context, test: str | None) -> None:
    """An option that would change nothing is refused (exit 2): ``--permutations`` counts the
    permutations of ``--test randomization`` only."""
    from click.core import ParameterSource

    given = ctx.get_parameter_source("permutations") not in (None, ParameterSource.DEFAULT)
    if given and test != "randomization":
        raise click.UsageError(
            "--permutations only applies to --test randomization; add --test randomization or leave --permutations out",
            ctx=ctx,
        )
