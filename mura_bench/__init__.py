"""mura-bench: benchmark harness for abnormality detection in musculoskeletal radiographs (MURA).

The library's entry points are :func:`mura_bench.score` (files) and :func:`mura_bench.evaluate`
(arrays), both returning a :class:`~mura_bench.results.Result`; they are imported lazily so that
``import mura_bench`` stays cheap (``mura_bench.Result`` is that class). Files are read with
:func:`read_predictions` and :func:`read_truth`. The layers of the package are described in
``docs/architecture.md``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "InputError",
    "evaluate",
    "MuraBenchError",
    "read_predictions",
    "read_truth",
    "Result",
    "score",
    "score_many",
]

from mura_bench.errors import InputError, MuraBenchError


def __getattr__(name: str):
    if name in ("read_predictions",):
        from mura_bench.data import predictions

        return getattr(predictions, name)
    if name in ("read_truth",):
        from mura_bench.data import truth

        return getattr(truth, name)
    if name == "Result":
        from mura_bench import results

        return results.Result
    if name == "evaluate":
        from mura_bench import api

        return api.evaluate
    if name in ("score", "score_many"):
        from mura_bench.scoring import engine as scoring

        return getattr(scoring, name)
    raise AttributeError(f"module 'mura_bench' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names, the lazily imported entry points included."""
    return sorted(set(globals()) | set(__all__))
