"""Matplotlib figures of the site, as deterministic SVG text.

Figures use the object API (no pyplot state), the Agg-free SVG canvas, a fixed SVG hash salt, no
date metadata and text kept as ``<text>`` (``svg.fonttype = "none"``: small files, the browser's
sans-serif font, no external fonts). Labels are plain text: ``$`` is escaped so that a name can
never switch on mathtext. Same inputs -> byte-identical SVG.
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mura_bench.leaderboard.curves import OperatingPoint

_RC = {
    "svg.hashsalt": "mura-bench",
    "svg.fonttype": "none",
    "font.family": ["DejaVu Sans", "sans-serif"],
    "font.size": 9.0,
    "axes.edgecolor": "#8a94a6",
    "axes.labelcolor": "#1f2937",
    "xtick.color": "#4b5563",
    "ytick.color": "#4b5563",
    "text.usetex": False,
    "path.simplify": True,
}
ACCENT = "#2563eb"
READER = "#d97706"
GREY = "#6b7280"


@dataclass(frozen=True)
class ForestRow:
    label: str
    value: float
    lo: float
    hi: float
    reference: bool = False        # radiologists / readers: drawn in another colour


def plain(text: str, limit: int | None = None) -> str:
    """A label matplotlib draws literally: ``$`` escaped, control characters dropped; shortened to
    ``limit`` characters only when one is given (plot labels are never shortened)."""
    text = "".join(c for c in text if c.isprintable())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _svg(fig, *, tight: bool = True) -> str:
    """SVG text of a figure. ``tight=False`` keeps the figure's own frame (one draw instead of two:
    for figures whose axes are placed to fit their labels)."""
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    FigureCanvasSVG(fig)
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": "mura-bench"},
                bbox_inches="tight" if tight else None, pad_inches=0.08)
    return buffer.getvalue()


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=96)


def forest_plot_svg(rows: Sequence[ForestRow], *, title: str, xlabel: str,
                    xlim: tuple[float, float] | None = None) -> str:
    """Horizontal point-and-interval plot, one row per entry in the given order (top to bottom).

    The height grows with the rows (a fixed pitch per entry, so 100 entries stay legible), entry
    names are written in full (the tight bounding box widens the figure to hold them) and markers
    and intervals at the ends of ``xlim`` (an F1 of 1.0) are drawn whole, not clipped.
    """
    import matplotlib

    with matplotlib.rc_context(_RC):
        n = max(len(rows), 1)
        height = 0.9 + 0.2 * n
        fig = _figure(3.2, height)
        ax = fig.add_axes((0.0, 0.55 / height + 0.02, 1.0, 1 - 0.95 / height))
        y = np.arange(len(rows))[::-1]
        for yi, row in zip(y, rows):
            colour = READER if row.reference else ACCENT
            if np.isfinite(row.lo) and np.isfinite(row.hi):
                ax.plot([row.lo, row.hi], [yi, yi], color=colour, linewidth=1.4, solid_capstyle="butt",
                        clip_on=False)
            if np.isfinite(row.value):
                ax.plot([row.value], [yi], marker="D" if row.reference else "o", markersize=4,
                        color=colour, linestyle="none", clip_on=False, zorder=3)
        ax.set_yticks(y, [plain(r.label) for r in rows])
        ax.set_ylim(-0.7, len(rows) - 0.3)
        if xlim is not None:
            ax.set_xlim(*xlim)
        ax.set_xlabel(xlabel)
        ax.set_title(plain(title), loc="left", fontsize=10, fontweight="bold", color="#111827")
        ax.grid(axis="x", color="#e5e7eb", linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        return _svg(fig)


def roc_plot_svg(curve: tuple[np.ndarray, np.ndarray] | None, readers: Sequence[OperatingPoint], *,
                 title: str, auc: float | None = None, binary: bool = False) -> str:
    """The ROC curve of one submission with the readers' operating points (CheXpert style)."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig = _figure(4.4, 4.2)
        ax = fig.add_axes((0.15, 0.12, 0.8, 0.8))
        ax.plot([0, 1], [0, 1], color="#d1d5db", linewidth=0.8, linestyle="--")
        if curve is not None:
            fpr, tpr = curve
            label = "model" if auc is None else f"model (area {auc:.3f})"
            if binary:
                label = "model (0/1 predictions)"
            ax.plot(fpr, tpr, color=ACCENT, linewidth=1.6, label=label, drawstyle="default")
        for k, point in enumerate(readers):
            ax.plot([point.fpr], [point.tpr], marker="^", markersize=6, color=READER,
                    markeredgecolor="white", markeredgewidth=0.6, linestyle="none",
                    label="readers" if k == 0 else None)
        _unit_square(ax, "1 − specificity (false positive rate)", "sensitivity (true positive rate)", title)
        if curve is not None or readers:
            ax.legend(loc="lower right", frameon=False)
        if curve is None:
            ax.text(0.5, 0.55, "ROC curve undefined (one class only)", ha="center", color=GREY)
        return _svg(fig, tight=False)


def reliability_plot_svg(bins: Sequence[Sequence[float]], *, title: str, brier: float | None = None,
                         ece: float | None = None) -> str:
    """Reliability diagram: mean observed abnormality against mean predicted probability per
    equal-mass bin (``[mean_p, mean_y, n]``), the diagonal being perfect calibration."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig = _figure(4.4, 4.2)
        ax = fig.add_axes((0.15, 0.12, 0.8, 0.8))
        ax.plot([0, 1], [0, 1], color="#d1d5db", linewidth=0.8, linestyle="--")
        if bins:
            mean_p, mean_y, _ = (np.asarray(c, dtype=float) for c in zip(*bins))
            label = "model" if ece is None else f"model (ECE {ece:.3f}"
            if brier is not None and ece is not None:
                label += f", Brier {brier:.3f})"
            elif ece is not None:
                label += ")"
            ax.plot(mean_p, mean_y, color=ACCENT, linewidth=1.4, marker="o", markersize=4, label=label)
            ax.legend(loc="upper left", frameon=False)
        _unit_square(ax, "mean predicted probability (equal-mass bins)", "share abnormal", title)
        return _svg(fig, tight=False)


def _unit_square(ax, xlabel: str, ylabel: str, title: str) -> None:
    """The frame of the ROC and reliability plots: [0, 1]^2, equal aspect, light grid, no top/right spines."""
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(plain(title, 60), loc="left", fontsize=10, fontweight="bold", color="#111827")
    ax.grid(color="#f3f4f6", linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
