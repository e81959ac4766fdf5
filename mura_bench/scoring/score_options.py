"""The options of ``score`` (and ``analyze``), and the one check that refuses bad ones.

:func:`check_options` is the rule: the library calls it before reading any input, and the CLI's
option callbacks share its parts (``--metrics`` goes through
:func:`mura_bench.stats.metric_registry.check_metric_names`, ``--bootstrap`` through
:func:`mura_bench.stats.bootstrap.check_resamples`).
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from typing import Any

from mura_bench.stats.bootstrap import CI_METHODS, check_resamples
from mura_bench.errors import InputError
from mura_bench.stats.metric_registry import METRICS, check_metric_names
from mura_bench.stats.randomization import ADJUSTMENTS, MAX_PERMUTATIONS, TESTS

#: ``readers``: fixed (the study's readers; the default) or random (a sample of radiologists:
#: Obuchowski-Rockette, :mod:`mura_bench.stats.obuchowski_rockette`).
READER_MODES: tuple[str, ...] = ("fixed", "random")


@dataclass(frozen=True, kw_only=True)
class Options:
    """Options of one scoring run (see :func:`mura_bench.scoring.engine.score_many` for their meaning);
    built by keyword only."""

    protocol: str = "auto"
    metrics: tuple[str, ...] = METRICS
    resamples: int = 10000
    seed: int = 0
    confidence: float = 0.95
    ci_method: str = "percentile"
    tie: str = "abnormal"
    gold_readers: tuple[str, ...] | None = None
    allow_missing: bool = False
    keep_replicates: bool = False
    test: str = "ci"
    permutations: int = 10000
    adjust: str = "none"
    resample_readers: bool = False
    readers: str = "fixed"

    @property
    def alpha(self) -> float:
        """The significance level every test of the run uses: 1 - ``confidence``."""
        return 1.0 - self.confidence


def check_options(opts: Options) -> None:
    """Raise :class:`InputError` for options that ``score`` refuses (shared by ``analyze``)."""
    check_metric_names(opts.metrics)
    if opts.ci_method not in CI_METHODS:
        raise InputError(f"unknown CI method {opts.ci_method!r}; choose from {', '.join(CI_METHODS)}")
    if not 0 < opts.confidence < 1:
        raise InputError(f"confidence must lie strictly between 0 and 1, got {opts.confidence}")
    check_resamples(opts.resamples)
    if opts.seed < 0:
        raise InputError(f"the seed must be a non-negative integer, got {opts.seed}", source="--seed")
    if opts.test not in TESTS:
        raise InputError(f"unknown test {opts.test!r}; choose from {', '.join(TESTS)}")
    if opts.adjust not in ADJUSTMENTS:
        raise InputError(f"unknown adjustment {opts.adjust!r}; choose from {', '.join(ADJUSTMENTS)}")
    if opts.readers not in READER_MODES:
        raise InputError(
            f"unknown reader mode {opts.readers!r}; choose from {', '.join(READER_MODES)}", source="--readers"
        )
    if opts.readers == "random" and opts.resample_readers:
        raise InputError(
            "--readers random and --resample-readers are two answers to one question: "
            "use --readers random alone (--resample-readers is deprecated)",
            source="--readers",
        )
    if opts.readers == "random" and opts.test == "randomization":
        raise InputError(
            "--readers random is itself the test of model - radiologists (a t test with "
            "Hillis' df): drop --test randomization",
            source="--readers",
        )
    if opts.adjust != "none" and opts.test != "randomization" and opts.readers != "random":
        raise InputError(f"--adjust {opts.adjust} needs --test randomization or --readers random (it adjusts p-values)")
    if opts.test == "randomization" and not 1 <= opts.permutations <= MAX_PERMUTATIONS:
        raise InputError(f"--permutations must lie between 1 and {MAX_PERMUTATIONS:,}, got {opts.permutations}")
    if opts.resample_readers and opts.ci_method != "percentile":
        raise InputError("--resample-readers gives percentile intervals only (BCa's jackknife runs over studies)")


#: Resamples when neither ``bootstrap`` nor its deprecated alias ``resamples`` is given.
DEFAULT_BOOTSTRAP = 10000


def bootstrap_option(bootstrap: Any, resamples: Any, *, default: int = DEFAULT_BOOTSTRAP) -> Any:
    """The number of resamples from the library's ``bootstrap=`` (the CLI's ``--bootstrap``) or its
    deprecated alias ``resamples=`` (a :class:`DeprecationWarning`); both at once is an error."""
    if resamples is None:
        return default if bootstrap is None else bootstrap
    warnings.warn(
        "resamples= is deprecated; use bootstrap= (the same number, named as the CLI's --bootstrap)",
        DeprecationWarning,
        stacklevel=3,
    )
    if bootstrap is not None:
        raise InputError("give bootstrap= only (resamples= is its deprecated alias)", source="bootstrap")
    return resamples


def whole_number(value: Any, option: str) -> int:
    """``value`` as an int when it is a whole number (an integer, or a float without a fraction);
    anything else (10.7, "10", True, NaN) is refused rather than truncated."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"must be an integer, got {shown(value)}", source=option)
    if isinstance(value, numbers.Integral):
        return int(value)
    number = float(value)
    if not number.is_integer():
        raise InputError(f"must be an integer, got {shown(value)}", source=option)
    return int(number)


def shown(value: Any) -> str:
    """A value as a message shows it: numpy scalars as the Python number (``nan``, ``0.5``), not
    ``np.float64(nan)``."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    return repr(value) if not isinstance(value, float) else str(value) if value != value else repr(value)


def metric_names(metrics: Any) -> tuple[str, ...]:
    """The ``metrics`` option as a tuple: a string is one name (or comma-separated names), never
    its letters."""
    if isinstance(metrics, str):
        return tuple(m.strip() for m in metrics.split(",") if m.strip())
    return tuple(metrics)


def refuse_arrays(predictions: Any, truth: Any) -> None:
    """``score`` reads files: tables and arrays in memory are pointed to ``evaluate``."""
    items = list(predictions) if isinstance(predictions, (list, tuple)) else [predictions]
    for what, value in [("predictions", v) for v in items] + [("truth", truth)]:
        if hasattr(value, "to_numpy") or hasattr(value, "__array__"):
            kind = type(value).__name__
            raise InputError(
                f"score() reads files, but the {what} are a {kind} in memory; for arrays and "
                "tables use mura_bench.evaluate(study_ids, probabilities, truth)",
                source=what,
                hint="e.g. evaluate(frame['study'], frame['probability'], panel)",
            )
