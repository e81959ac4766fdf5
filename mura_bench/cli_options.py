"""Click option types and callbacks shared by every command (``score``, ``run``, ``demo``,
``leaderboard build``), so that one option means and checks the same everywhere."""
from __future__ import annotations

import click

from mura_bench.errors import InputError


def check_resamples_option(_ctx, _param, value: int) -> int:
    """--bootstrap: 0 (point estimates only) or 2 .. MAX_RESAMPLES, refused up front."""
    from mura_bench.bootstrap import check_resamples

    try:
        return check_resamples(value)
    except InputError as exc:
        raise click.BadParameter(exc.problem) from None


#: --seed of every command: a non-negative integer (the bootstrap's SeedSequence needs one).
SEED_TYPE = click.IntRange(min=0)
