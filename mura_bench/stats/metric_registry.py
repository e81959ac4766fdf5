"""The metric registry: one record per metric, the one place that lists the metrics.

Everything that names, orders, titles or checks metrics reads it: the engine (which metrics come
from confusion counts, which need probabilities), ``--metrics``, the terminal table, the site and
its CSV/JSON/LaTeX tables, reported tables. Adding a metric means adding one :class:`MetricSpec`
here and its function to :mod:`mura_bench.stats.metrics`.

This module imports no numpy (the CLI reads it to parse ``--metrics`` and must start fast); a
record names its function, imported from :mod:`mura_bench.stats.metrics` on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mura_bench.errors import InputError


@dataclass(frozen=True)
class MetricSpec:
    """One metric.

    ``name`` is its key everywhere (``--metrics``, JSON, CSV, replicates); ``title`` its display
    title (site, reports), ``short_title`` its column or row title in the terminal table, ``latex``
    its title in LaTeX. ``needs_probabilities``: computed from the submissions' scores, so omitted
    (with a note) for 0/1 predictions and never computed for readers; otherwise computed from
    confusion counts. ``higher_is_better`` orders values; ``symmetric``: the value does not change
    when truth and prediction swap roles (count metrics only).

    :attr:`function` is, for a count metric, ``f(tp, fp, fn, tn) -> array`` over arrays of
    weighted confusion counts (broadcast elementwise); for a probability metric,
    ``f(weights, truth, scores, ranking) -> (B, S, K)`` like
    :func:`mura_bench.stats.metrics.auroc_weighted`.
    """

    name: str
    title: str
    short_title: str
    latex: str
    needs_probabilities: bool
    higher_is_better: bool
    symmetric: bool
    function_name: str

    @property
    def function(self) -> Callable:
        """The metric's function in :mod:`mura_bench.stats.metrics` (imported on first use)."""
        return getattr(importlib.import_module("mura_bench.stats.metrics"), self.function_name)


#: Every metric, in display order (the order of tables, ``--metrics`` defaults and documents).
METRIC_SPECS: tuple[MetricSpec, ...] = (
    MetricSpec("f1", "F1", "F1", "F1", False, True, True, "f1_from_counts"),
    MetricSpec("kappa", "Cohen's κ", "κ", r"Cohen's $\kappa$", False, True, True, "kappa_from_counts"),
    MetricSpec("auroc", "AUROC", "AUROC", "AUROC", True, True, False, "auroc_weighted"),
    MetricSpec("accuracy", "Accuracy", "Accuracy", "Accuracy", False, True, True, "accuracy_from_counts"),
    MetricSpec(
        "sensitivity", "Sensitivity", "Sensitivity", "Sensitivity", False, True, False, "sensitivity_from_counts"
    ),
    MetricSpec(
        "specificity", "Specificity", "Specificity", "Specificity", False, True, False, "specificity_from_counts"
    ),
    MetricSpec("precision", "Precision", "Precision", "Precision", False, True, False, "precision_from_counts"),
)

#: Metric names, in display order.
METRICS: tuple[str, ...] = tuple(spec.name for spec in METRIC_SPECS)

_BY_NAME: dict[str, MetricSpec] = {spec.name: spec for spec in METRIC_SPECS}


def metric_spec(name: str) -> MetricSpec:
    """The record of metric ``name`` (KeyError naming the known metrics for any other name)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None


def metric_title(name: str) -> str:
    """Display title of ``name``; the name itself for a name not in the registry."""
    return _BY_NAME[name].title if name in _BY_NAME else name


def count_metrics(names: Sequence[str]) -> list[str]:
    """Those of ``names`` computed from confusion counts, in the order given."""
    return [m for m in names if not _BY_NAME[m].needs_probabilities]


def probability_metrics(names: Sequence[str]) -> list[str]:
    """Those of ``names`` that need probabilities, in the order given."""
    return [m for m in names if _BY_NAME[m].needs_probabilities]


#: Common other names of the registered metrics (suggested when one is given).
ALIASES = {
    "auc": "auroc",
    "roc_auc": "auroc",
    "rocauc": "auroc",
    "auc_roc": "auroc",
    "roc": "auroc",
    "cohen_kappa": "kappa",
    "cohens_kappa": "kappa",
    "k": "kappa",
    "acc": "accuracy",
    "recall": "sensitivity",
    "tpr": "sensitivity",
    "sens": "sensitivity",
    "tnr": "specificity",
    "spec": "specificity",
    "ppv": "precision",
    "f1_score": "f1",
    "f-score": "f1",
    "fscore": "f1",
    "f": "f1",
}


def _suggest(name) -> str | None:
    """The registered metric ``name`` most likely means (an alias or a close spelling), or None."""
    import difflib

    key = str(name).strip().lower()
    if key in _BY_NAME:
        return key
    if key in ALIASES:
        return ALIASES[key]
    close = difflib.get_close_matches(key, list(_BY_NAME), n=1, cutoff=0.6)
    return close[0] if close else None


def check_metric_names(names: Sequence[str]) -> tuple[str, ...]:
    """The rule for a choice of metrics, shared by the library and ``--metrics``: at least one,
    each a registered name, none twice. Returns them as a tuple; raises :class:`InputError`."""
    names = tuple(n.strip() for n in names.split(",") if n.strip()) if isinstance(names, str) else tuple(names)
    unknown = [m for m in names if m not in _BY_NAME]
    if unknown or not names:
        shown = ", ".join(f"{m} (did you mean {_suggest(m)}?)" if _suggest(m) else str(m) for m in unknown)
        raise InputError(f"unknown metric(s) {shown or '(none)'}; choose from {','.join(METRICS)}")
    repeated = [m for m in dict.fromkeys(names) if names.count(m) > 1]
    if repeated:
        raise InputError(f"metric(s) {', '.join(repeated)} given more than once; name each metric once")
    return names
