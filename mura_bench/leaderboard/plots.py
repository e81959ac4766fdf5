"""Matplotlib figures of the site, as deterministic SVG text.

Figures use the object API (no pyplot state), the Agg-free SVG canvas, a fixed SVG hash salt, no
date metadata and text kept as ``<text>`` (``svg.fonttype = "none"``: small files, the browser's
sans-serif font, no external fonts). Labels are plain text: ``$`` is escaped so that a name can
never switch on mathtext. Same inputs -> byte-identical SVG.

Per-entry plots (ROC, reliability) and the body-part forest plots of a build share their axes,
ticks and texts: matplotlib draws such a frame once (with placeholder data, title and legend
label), and each plot writes its own curve, markers and texts into a copy of it. A 100-entry build
thus draws a handful of figures instead of two hundred.
"""

from __future__ import annotations

import functools
import io
import re
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
#: Distance of y tick labels from the axis: matplotlib's default tick length + pad (3.5 + 3.5 pt).
_RC_TICK_PAD_PT = 7.0
ACCENT = "#2563eb"
READER = "#d97706"
GREY = "#6b7280"


@dataclass(frozen=True)
class ForestRow:
    label: str
    value: float
    lo: float
    hi: float
    reference: bool = False  # radiologists / readers: drawn in another colour


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
    fig.savefig(
        buffer,
        format="svg",
        metadata={"Date": None, "Creator": "mura-bench"},
        bbox_inches="tight" if tight else None,
        pad_inches=0.08,
    )
    return buffer.getvalue()


def warm_up() -> None:
    """Import matplotlib's SVG path and load the plots' font by drawing a throwaway figure, so that
    a caller can do it on a spare core ahead of the real plots (which must not start before this
    returns: matplotlib's settings are process-wide). Output of later plots is unchanged."""
    import matplotlib
    from matplotlib.collections import LineCollection  # noqa: F401  (imported for its cost)
    from matplotlib.transforms import ScaledTranslation  # noqa: F401

    with matplotlib.rc_context(_RC):
        fig = _figure(1.0, 1.0)
        fig.add_axes((0.1, 0.1, 0.8, 0.8)).set_title("0")
        _svg(fig, tight=False)


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=96)


def forest_plot_svg(
    rows: Sequence[ForestRow], *, title: str, xlabel: str, xlim: tuple[float, float] | None = None
) -> str:
    """Horizontal point-and-interval plot, one row per entry in the given order (top to bottom).

    The height grows with the rows (a fixed pitch per entry, so 100 entries stay legible), entry
    names are written in full (the tight bounding box widens the figure to hold them) and markers
    and intervals at the ends of ``xlim`` (an F1 of 1.0) are drawn whole, not clipped.

    With ``xlim`` the axes, names and texts are drawn once per set of rows (the body-part plots of
    a build share them) and each plot's intervals and markers are written into that frame.
    """
    if xlim is None or len(_visible(title)) > len(_TITLE_MARK):
        return _forest_figure(rows, title=title, xlabel=xlabel, xlim=xlim, data=True)
    frame = _forest_frame(tuple((r.label, r.reference) for r in rows), xlabel, tuple(xlim))
    from xml.sax.saxutils import escape

    svg = frame.svg.replace(_TITLE_MARK, escape(_visible(title)), 1)
    (x0, y0), (sx, sy) = frame.origin, frame.scale
    spans, marks = [], []
    for yi, row in zip(np.arange(len(rows))[::-1], rows):
        colour = READER if row.reference else ACCENT
        y = _short(round(y0 + sy * float(yi), 4))
        if np.isfinite(row.lo) and np.isfinite(row.hi):
            spans.append(
                f'<path d="M {_short(round(x0 + sx * row.lo, 4))} {y} L {_short(round(x0 + sx * row.hi, 4))} {y}" '
                f'style="fill: none; stroke: {colour}; stroke-width: 1.4; stroke-linecap: butt"/>'
            )
        if np.isfinite(row.value):
            x, yv = x0 + sx * row.value, y0 + sy * float(yi)
            if row.reference:  # matplotlib's "D": a square turned 45 degrees, 4 pt wide
                h = 2.828427
                shape = (
                    f'<path d="M {_short(round(x, 4))} {_short(round(yv - h, 4))} L {_short(round(x + h, 4))} {y} '
                    f'L {_short(round(x, 4))} {_short(round(yv + h, 4))} L {_short(round(x - h, 4))} {y} z"'
                )
            else:
                shape = f'<circle cx="{_short(round(x, 4))}" cy="{y}" r="2"'
            marks.append(f'{shape} style="fill: {colour}; stroke: {colour}; stroke-width: 1"/>')
    start = svg.index(f'<g id="{_DATA_GID}">')
    indent = svg[svg.rindex("\n", 0, start) + 1 : start]
    stop = svg.index(f"\n{indent}</g>", start)
    body = "".join(f"\n{indent} {e}" for e in spans + marks)
    return svg[:start] + f'<g id="{_DATA_GID}">' + body + svg[stop:]


@functools.lru_cache(maxsize=8)
def _forest_frame(rows: tuple[tuple[str, bool], ...], xlabel: str, xlim: tuple[float, float]) -> _Frame:
    """The axes, names and texts of a forest plot, with a placeholder title and a placeholder line
    from data (xlim[0], 0) to (xlim[1], 0.5) that locates the data in SVG units."""
    placeholder = [ForestRow(label, float("nan"), float("nan"), float("nan"), reference) for label, reference in rows]
    svg = _forest_figure(placeholder, title=_TITLE_MARK, xlabel=xlabel, xlim=xlim, data=False)
    start = svg.index(f'<g id="{_DATA_GID}">')
    x0, y0, x1, y1 = map(
        float, re.search(r'<path d="M ([-\d.]+) ([-\d.]+) \s*L ([-\d.]+) ([-\d.]+)', svg[start:]).groups()
    )
    return _Frame(
        svg,
        None,
        (x0 - xlim[0] * (x1 - x0) / (xlim[1] - xlim[0]), y0),
        ((x1 - x0) / (xlim[1] - xlim[0]), (y1 - y0) / 0.5),
    )


def _forest_figure(rows: Sequence[ForestRow], *, title: str, xlabel: str, xlim, data: bool) -> str:
    """The matplotlib forest plot; ``data=False`` draws the placeholder line instead of the rows'
    intervals and markers (see :func:`_forest_frame`)."""
    import matplotlib
    from matplotlib.collections import LineCollection
    from matplotlib.transforms import ScaledTranslation, blended_transform_factory

    with matplotlib.rc_context(_RC):
        n = max(len(rows), 1)
        height = 0.9 + 0.2 * n
        fig = _figure(3.2, height)
        ax = fig.add_axes((0.0, 0.55 / height + 0.02, 1.0, 1 - 0.95 / height))
        y = np.arange(len(rows))[::-1]
        if not data:
            (line,) = ax.plot(list(xlim), [0.0, 0.5], color=ACCENT, linewidth=0.0, zorder=3)
            line.set_gid(_DATA_GID)
        for reference in (False, True) if data else ():  # one artist per colour and kind, not one per row
            colour = READER if reference else ACCENT
            mine = [(yi, r) for yi, r in zip(y, rows) if r.reference == reference]
            spans = [((r.lo, yi), (r.hi, yi)) for yi, r in mine if np.isfinite(r.lo) and np.isfinite(r.hi)]
            if spans:
                ax.add_collection(LineCollection(spans, colors=colour, linewidths=1.4, capstyle="butt", clip_on=False))
            dots = [(r.value, yi) for yi, r in mine if np.isfinite(r.value)]
            if dots:
                ax.plot(
                    *zip(*dots),
                    marker="D" if reference else "o",
                    markersize=4,
                    color=colour,
                    linestyle="none",
                    clip_on=False,
                    zorder=3,
                )
        # Entry names as plain texts beside the ticks, where tick labels would be: matplotlib
        # measures tick labels many times per draw (a third of the time of a 100-entry plot).
        ax.set_yticks(y)
        ax.tick_params(axis="y", labelleft=False)
        beside = blended_transform_factory(ax.transAxes, ax.transData) + ScaledTranslation(
            -(_RC_TICK_PAD_PT) / 72, 0, fig.dpi_scale_trans
        )
        for yi, row in zip(y, rows):
            ax.text(
                0, yi, plain(row.label), transform=beside, ha="right", va="center_baseline", color=_RC["ytick.color"]
            )
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


def roc_plot_svg(
    curve: tuple[np.ndarray, np.ndarray] | None,
    readers: Sequence[OperatingPoint],
    *,
    title: str,
    auc: float | None = None,
    binary: bool = False,
) -> str:
    """The ROC curve of one submission with the readers' operating points (CheXpert style)."""
    if curve is None:
        return _roc_without_curve(readers, title)
    label = "model (0/1 predictions)" if binary else ("model" if auc is None else f"model (area {auc:.3f})")
    frame = _frame("roc", _placeholder(label), tuple(readers))
    return frame.fill(curve[0], curve[1], title=title, label=label)


def _roc_without_curve(readers: Sequence[OperatingPoint], title: str) -> str:
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig = _figure(4.4, 4.2)
        ax = fig.add_axes((0.15, 0.12, 0.8, 0.8))
        ax.plot([0, 1], [0, 1], color="#d1d5db", linewidth=0.8, linestyle="--")
        _reader_points(ax, readers)
        _unit_square(ax, *_AXIS_LABELS["roc"], title)
        if readers:
            ax.legend(loc="lower right", frameon=False)
        ax.text(0.5, 0.55, "ROC curve undefined (one class only)", ha="center", color=GREY)
        return _svg(fig, tight=False)


def operating_points_svg(model: OperatingPoint | None, readers: Sequence[OperatingPoint], *, title: str) -> str:
    """The model's operating point (its 0/1 calls) and the readers' in ROC space, without a curve:
    what a page built from a hidden truth shows instead of the ROC curve."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig = _figure(4.4, 4.2)
        ax = fig.add_axes((0.15, 0.12, 0.8, 0.8))
        ax.plot([0, 1], [0, 1], color="#d1d5db", linewidth=0.8, linestyle="--")
        _reader_points(ax, readers)
        if model is not None:
            ax.plot(
                [model.fpr],
                [model.tpr],
                marker="o",
                markersize=7,
                color=ACCENT,
                linestyle="none",
                label="model (threshold 0.5)",
            )
        _unit_square(ax, *_AXIS_LABELS["roc"], title)
        if readers or model is not None:
            ax.legend(loc="lower right", frameon=False)
        return _svg(fig, tight=False)


def _reader_points(ax, readers: Sequence[OperatingPoint]) -> None:
    for k, point in enumerate(readers):
        ax.plot(
            [point.fpr],
            [point.tpr],
            marker="^",
            markersize=6,
            color=READER,
            markeredgecolor="white",
            markeredgewidth=0.6,
            linestyle="none",
            label="readers" if k == 0 else None,
        )


def reliability_plot_svg(
    bins: Sequence[Sequence[float]], *, title: str, brier: float | None = None, ece: float | None = None
) -> str:
    """Reliability diagram: mean observed abnormality against mean predicted probability per
    equal-mass bin (``[mean_p, mean_y, n]``), the diagonal being perfect calibration."""
    label = "model" if ece is None else f"model (ECE {ece:.3f}"
    if brier is not None and ece is not None:
        label += f", Brier {brier:.3f})"
    elif ece is not None:
        label += ")"
    frame = _frame("reliability", _placeholder(label) if bins else None, ())
    if not bins:
        return frame.fill(None, None, title=title, label=None)
    mean_p, mean_y, _ = (np.asarray(c, dtype=float) for c in zip(*bins))
    return frame.fill(mean_p, mean_y, title=title, label=label)


_AXIS_LABELS = {
    "roc": ("1 − specificity (false positive rate)", "sensitivity (true positive rate)"),
    "reliability": ("mean predicted probability (equal-mass bins)", "share abnormal"),
}
_TITLE_MARK = "MURA-TITLE-PLACEHOLDER"
_DATA_GID = "mura-data"


def _placeholder(label: str) -> str:
    """The legend label drawn in a frame: digits become 9s (same width in the plot font), so that
    one frame serves every value."""
    return re.sub(r"\d", "9", label)


@dataclass(frozen=True)
class _Frame:
    """An SVG figure drawn once by matplotlib with a placeholder data line (from (0, 0) to (1, 1))
    and placeholder title and legend label; :meth:`fill` writes one entry's data and texts into it.
    Drawing the axes, ticks and texts is what costs in matplotlib: a build draws each frame once
    instead of once per entry."""

    svg: str
    label: str | None
    origin: tuple[float, float]  # SVG coordinates of data (0, 0)
    scale: tuple[float, float]  # SVG units per data unit along x and y

    def fill(self, x: np.ndarray | None, y: np.ndarray | None, *, title: str, label: str | None) -> str:
        from xml.sax.saxutils import escape

        svg = self.svg.replace(_TITLE_MARK, escape(_visible(title, 60)), 1)
        if self.label is not None and label is not None:
            svg = svg.replace(f">{escape(self.label)}<", f">{escape(_visible(label))}<", 1)
        if x is None:
            return svg
        sx = np.round(self.origin[0] + self.scale[0] * np.asarray(x, dtype=float), 4)
        sy = np.round(self.origin[1] + self.scale[1] * np.asarray(y, dtype=float), 4)
        xy = np.column_stack([sx, sy]).ravel().tolist()  # x0, y0, x1, y1, ...
        path = _short_all(("%f %f \nL " * len(sx))[: -len("L ")], xy)  # "x0 y0 \nL x1 y1 \n"
        start = svg.index(f'<g id="{_DATA_GID}">')
        indent = svg[svg.rindex("\n", 0, start) + 1 : start]
        stop = svg.index(f"\n{indent}</g>", start)
        group = svg[start:stop]
        group = re.sub(r'<path d="[^"]*"', lambda _: '<path d="M ' + path + '"', group, count=1)
        uses = re.findall(r"[ ]*<use [^>]*/>\n?", group)
        if uses:
            one = uses[0]
            texts = _short_all("%f " * len(xy), xy).split()
            marks = "".join(
                re.sub(r'x="[^"]*" y="[^"]*"', f'x="{a}" y="{b}"', one) for a, b in zip(texts[::2], texts[1::2])
            )
            first = group.index(uses[0])
            last = group.index(uses[-1]) + len(uses[-1])
            group = group[:first] + marks + group[last:]
        return svg[:start] + group + svg[stop:]


def _short(value: float) -> str:
    text = f"{value:f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


# A "-0" field (after the zeros and the point have gone), which _short writes as "0".
_MINUS_ZERO = re.compile(r"(?<!\S)-0(?= )")


def _short_all(fmt: str, values: list[float]) -> str:
    """``fmt % values`` where every field is ``%f`` followed by a space, with each number written
    as :func:`_short` writes it (trailing zeros, then a bare point, then the sign of a zero go):
    one formatting call and a few replacements over the whole text instead of a Python call per
    number (a ROC curve has a point per study)."""
    text = fmt % tuple(values)
    for _ in range(6):  # "%f" writes 6 decimals: at most 6 trailing zeros per field
        text = text.replace("0 ", " ")
    text = text.replace(". ", " ")
    return _MINUS_ZERO.sub("0", text) if "-0 " in text else text


def _visible(text: str, limit: int | None = None) -> str:
    """What :func:`plain` makes matplotlib draw: printable characters, shortened to ``limit``."""
    text = "".join(c for c in text if c.isprintable())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


@functools.lru_cache(maxsize=32)
def _frame(kind: str, label: str | None, readers: tuple[OperatingPoint, ...]) -> _Frame:
    """The frame of a ROC (``kind`` "roc", with the readers' points) or reliability plot."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig = _figure(4.4, 4.2)
        ax = fig.add_axes((0.15, 0.12, 0.8, 0.8))
        ax.plot([0, 1], [0, 1], color="#d1d5db", linewidth=0.8, linestyle="--")
        style = (
            dict(linewidth=1.6, drawstyle="default") if kind == "roc" else dict(linewidth=1.4, marker="o", markersize=4)
        )
        (line,) = ax.plot([0, 1], [0, 1], color=ACCENT, label=label, **style)
        line.set_gid(_DATA_GID)
        if label is None:
            line.set_visible(False)
        _reader_points(ax, readers)
        _unit_square(ax, *_AXIS_LABELS[kind], _TITLE_MARK)
        if label is not None or readers:
            ax.legend(loc="lower right" if kind == "roc" else "upper left", frameon=False)
        svg = _svg(fig, tight=False)
    if label is None:
        return _Frame(svg, None, (0.0, 0.0), (1.0, 1.0))
    start = svg.index(f'<g id="{_DATA_GID}">')
    x0, y0, x1, y1 = map(
        float, re.search(r'<path d="M ([-\d.]+) ([-\d.]+) \s*L ([-\d.]+) ([-\d.]+)', svg[start:]).groups()
    )
    return _Frame(svg, label, (x0, y0), (x1 - x0, y1 - y0))


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
