"""mura-bench: benchmark harness for abnormality detection in musculoskeletal radiographs (MURA).

The library's entry point is :func:`mura_bench.score` (lazily imported so that ``import mura_bench``
stays cheap); files are read with :func:`read_predictions` and :func:`read_truth`.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "InputError",
    "MuraBenchError",
    "read_predictions",
    "read_truth",
    "score",
    "score_many",
]

from mura_bench.errors import InputError, MuraBenchError


def __getattr__(name: str):
    if name in ("read_predictions",):
        from mura_bench import predictions

        return getattr(predictions, name)
    if name in ("read_truth",):
        from mura_bench import truth

        return getattr(truth, name)
    if name in ("score", "score_many"):
        from mura_bench import scoring

        return getattr(scoring, name)
    raise AttributeError(f"module 'mura_bench' has no attribute {name!r}")
