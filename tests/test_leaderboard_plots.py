"""The entry plots: one matplotlib frame per build, each entry's curve, title and legend written into it."""

from __future__ import annotations

import re

import numpy as np

from mura_bench.leaderboard.curves import OperatingPoint
from mura_bench.leaderboard.plots import ACCENT, reliability_plot_svg, roc_plot_svg

READERS = [OperatingPoint("r1", 0.1, 0.8), OperatingPoint("r2", 0.2, 0.9)]


def _data_path(svg: str) -> list[tuple[float, float]]:
    group = svg[svg.index('<g id="mura-data">') :]
    d = re.search(r'<path d="([^"]*)"', group).group(1)
    return [tuple(map(float, p.split())) for p in re.findall(r"[ML] ([-\d.]+ [-\d.]+)", d)]


def _diagonal(svg: str) -> list[tuple[float, float]]:
    d = re.search(r'<path d="(M [^"]*)"[^>]*stroke: #d1d5db', svg).group(1)
    return [tuple(map(float, p.split())) for p in re.findall(r"[ML] ([-\d.]+ [-\d.]+)", d)]


def test_roc_curve_lands_on_the_axes_of_its_frame_with_its_own_texts():
    a = roc_plot_svg(
        (np.array([0.0, 0.25, 1.0]), np.array([0.0, 0.75, 1.0])), READERS, title="ROC: A & <b>", auc=0.8123
    )
    b = roc_plot_svg(
        (np.array([0.0, 0.5, 0.5, 1.0]), np.array([0.0, 0.1, 0.6, 1.0])), READERS, title="ROC: B", auc=0.41
    )
    (x0, y0), (x1, y1) = _diagonal(a)  # data (0, 0) and (1, 1) in SVG units
    path = _data_path(a)
    assert len(path) == 3 and np.allclose(path[0], (x0, y0), atol=1e-3) and np.allclose(path[-1], (x1, y1), atol=1e-3)
    assert np.allclose(path[1], (x0 + 0.25 * (x1 - x0), y0 + 0.75 * (y1 - y0)), atol=1e-3)
    assert "ROC: A &amp; &lt;b&gt;" in a and "model (area 0.812)" in a and "ROC: B" not in a
    assert "ROC: B" in b and "model (area 0.410)" in b and len(_data_path(b)) == 4
    assert "9.999" not in a + b and "PLACEHOLDER" not in a + b
    assert a.count("<use") == b.count("<use") >= len(READERS)  # the readers' markers in both


def test_reliability_markers_follow_the_bins_and_one_class_plots_stay_empty():
    bins = [[0.1, 0.2, 5], [0.5, 0.4, 5], [0.9, 0.95, 5]]
    svg = reliability_plot_svg(bins, title="Calibration: A", brier=0.12, ece=0.05)
    assert "model (ECE 0.050, Brier 0.120)" in svg
    group = svg[svg.index('<g id="mura-data">') :]
    uses = re.findall(r'<use [^>]*x="([-\d.]+)" y="([-\d.]+)"[^>]*>', group.split('<g id="legend')[0])
    assert [tuple(map(float, u)) for u in uses] == _data_path(svg)
    assert len(uses) == 3 and ACCENT in group
    empty = reliability_plot_svg([], title="Calibration: none")
    assert "mura-data" not in empty and "Calibration: none" in empty


def test_forest_plot_from_a_frame_puts_the_data_where_matplotlib_draws_it():
    from mura_bench.leaderboard.plots import READER, ForestRow, _forest_figure, forest_plot_svg

    rows = [ForestRow(f"Entry {k}", 0.9 - k / 40, 0.8 - k / 40, 0.95 - k / 40, reference=k == 2) for k in range(12)]
    rows[4] = ForestRow("no estimate", float("nan"), float("nan"), float("nan"))
    framed = forest_plot_svg(rows, title="Wrist (12 studies)", xlabel="F1", xlim=(0.0, 1.0))
    direct = _forest_figure(rows, title="Wrist (12 studies)", xlabel="F1", xlim=(0.0, 1.0), data=True)
    size = lambda svg: re.search(r'<svg[^>]*width="([\d.]+)pt" height="([\d.]+)pt"', svg).groups()  # noqa: E731
    assert np.allclose([float(v) for v in size(framed)], [float(v) for v in size(direct)], atol=0.01)
    assert "Wrist (12 studies)" in framed

    def spans(svg: str, colour: str) -> list[tuple[float, ...]]:
        found = re.findall(r'<path d="M ([-\d.]+) ([-\d.]+) \s*L ([-\d.]+) ([-\d.]+)\s*"[^>]*stroke: ' + colour, svg)
        return sorted(tuple(float(v) for v in f) for f in found if f[1] == f[3] and f[0] != f[2])

    for colour, count in ((ACCENT, 10), (READER, 1)):
        mine, theirs = spans(framed, colour), spans(direct, colour)
        assert len(mine) == len(theirs) == count and np.allclose(mine, theirs, atol=0.01)
