"""The memory bound of scoring and analysis, and the up-front estimate of what a run needs.

The resampling engine works in blocks (resample counts, jackknife samples, permutation draws: see
:mod:`mura_bench.stats.bootstrap`, :mod:`mura_bench.scoring.group_statistics`, :mod:`mura_bench.stats.randomization`),
so its working memory does not grow with resamples x studies. What blocks cannot shrink is what
the intervals need whole: every statistic's replicates (8 bytes per statistic and resample, held
while the percentiles of a group are taken, for every group when replicates are kept), BCa's
jackknife values (8 bytes per statistic and study) and the permuted differences of the
randomization test. :func:`check_fits` refuses, before any resampling, a run whose estimate
exceeds :data:`MEMORY_BOUND_BYTES`.
"""

from __future__ import annotations

from mura_bench.errors import InputError

#: The documented bound on the peak memory of ``score`` and ``analyze`` (the process, inputs
#: included, for inputs within the input size limit).
MEMORY_BOUND_BYTES = 4 * 10**9

#: What the engine holds besides the kept statistics: the parsed inputs and a few blocks of
#: resample counts in flight (measured peak of a 100,000-study run without its replicates).
BASE_BYTES = 700 * 10**6

#: Copies of a group's replicates alive while its intervals are taken (the blocks' results, the
#: joined matrix, the private copy the percentiles partition).
COPIES = 3


def replicate_statistics(*, count_metrics: int, score_metrics: int, submissions: int, readers: int) -> int:
    """Statistics resampled per group: each count metric for every submission, reader, the
    radiologists' mean and every difference; metrics of scores (AUROC) for every submission."""
    per_metric = submissions + (readers + 1 + submissions if readers else 0)
    return count_metrics * per_metric + score_metrics * submissions


def score_estimate(
    *,
    studies: int,
    resamples: int,
    statistics: int,
    keep_replicates: bool = False,
    bca: bool = False,
    permutations: int = 0,
    metrics: int = 0,
    groups: int = 8,
) -> int:
    """Bytes a scoring run needs at its peak (an estimate on the safe side)."""
    held = COPIES + (groups if keep_replicates else 0)
    total = BASE_BYTES + 8 * resamples * statistics * held
    if bca:
        total += 8 * studies * statistics * 2
    total += 8 * permutations * max(metrics, 1)
    return total


def gb(nbytes: float) -> str:
    return f"{nbytes / 1e9:.1f} GB"


def check_fits(estimate: int, what: str, *, hint: str | None = None) -> None:
    """Raise :class:`InputError` when ``estimate`` bytes exceed :data:`MEMORY_BOUND_BYTES`."""
    if estimate > MEMORY_BOUND_BYTES:
        raise InputError(
            f"{what} needs about {gb(estimate)} of memory, above the bound of {gb(MEMORY_BOUND_BYTES)}",
            source="memory",
            hint=hint or "use fewer --bootstrap resamples (or fewer readers or submissions at once)",
        )
