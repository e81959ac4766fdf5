"""The leaderboard: ``submissions/`` folders, paired ranking, and the static site.

:func:`build_site` (lazily imported) scores every re-scored submission on shared bootstrap
resamples, ranks them and writes the site; see :mod:`mura_bench.leaderboard.build`.
"""

from __future__ import annotations

__all__ = ["BuildReport", "build_site", "load_submissions", "paired_ranks"]


def __getattr__(name: str):
    if name in ("BuildReport", "build_site"):
        from mura_bench.leaderboard import build

        return getattr(build, name)
    if name == "load_submissions":
        from mura_bench.leaderboard.submissions import load_submissions

        return load_submissions
    if name == "paired_ranks":
        from mura_bench.leaderboard.ranking import paired_ranks

        return paired_ranks
    raise AttributeError(f"module 'mura_bench.leaderboard' has no attribute {name!r}")
