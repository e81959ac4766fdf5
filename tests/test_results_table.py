"""The terminal results table: fits 80/100/200 columns and a real pseudo-terminal, never cuts a value."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from rich.console import Console

from mura_bench.console import render
from mura_bench.data.layout import GROUPS
from mura_bench.console.results_table import fit_tables, format_estimate, number
from mura_bench.results import Estimate
from mura_bench.scoring.engine import score
from helpers import run_in_pty, write_case

WIDTHS = (80, 100, 200)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    root = tmp_path_factory.mktemp("table")
    write_case(root, seed=5, n_readers=6)
    return root


@pytest.fixture(scope="module")
def result(case):
    return score(case / "preds.csv", case / "panel.csv", bootstrap=200, seed=0)


def expected_cells(result, subjects):
    """Every value and interval the table must show in full, as the table writes them."""
    cells = set()
    for g in GROUPS:
        grp = result.groups[g]
        for subject, metrics in (
            ("model", grp.model),
            ("radiologists", grp.radiologists),
            ("difference", grp.difference),
            *((f"reader:{r}", m) for r, m in (grp.readers or {}).items()),
        ):
            if subject not in subjects or not metrics or grp.studies == 0:
                continue
            for est in metrics.values():
                cells.add(number(est.value))
                cells.add(f"{number(est.ci[0])}, {number(est.ci[1])}")
    return cells


def rendered(result, width, **kw):
    console = Console(width=width, record=True, file=open(os.devnull, "w"), color_system=None)
    for table in fit_tables(result, width, **kw).tables:
        console.print(table)
    return console.export_text()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("readers", [False, True])
def test_fits_width_and_shows_every_value_whole(result, width, readers):
    text = rendered(result, width, readers=readers)
    assert "…" not in text and "..." not in text
    assert max(len(line) for line in text.splitlines()) <= width
    subjects = {"model", "radiologists", "difference"} | ({f"reader:r{i}" for i in range(1, 7)} if readers else set())
    for cell in expected_cells(result, subjects):
        assert cell in text, cell
    for g in GROUPS:
        assert g in text
    assert ("r6" in text) == readers


@pytest.mark.parametrize("width", [60, *WIDTHS])
def test_renderable_fits_the_console_it_is_printed_on(result, width):
    console = Console(width=width, record=True, file=open(os.devnull, "w"), color_system=None)
    console.print(render.build_table(result))
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= width
    assert number(result.groups["overall"].model["f1"].value) in text


def test_natural_width_matches_rich_measurement(result):
    from mura_bench.console.results_table import compact_table, natural_width, rich_width, shown_subjects, wide_table

    every = shown_subjects(result, readers=True)
    tables = [wide_table(result, readers=True), wide_table(result, readers=False)]
    tables += [
        compact_table(result, every[:k], stacked=stacked, edge=edge, title="Readers r1 to r3")
        for k in (1, 3, len(every))
        for stacked in (False, True)
        for edge in (False, True)
    ]
    for table in tables:
        assert natural_width(table) == rich_width(table)


def test_layout_gets_denser_with_width(result):
    narrow, medium, wide = (fit_tables(result, w) for w in WIDTHS)
    assert narrow.stacked and not medium.stacked and not wide.stacked
    assert len(rendered(result, 80).splitlines()) > len(rendered(result, 100).splitlines())
    # readers at 80 columns: split into several tables, the summary columns first
    split = fit_tables(result, 80, readers=True)
    assert len(split.tables) >= 2 and split.tables[0].title == "Model and radiologists"


def test_whole_block_at_each_width_including_heading_and_notes(result):
    for width in WIDTHS:
        text = render.table_text(result, width)
        assert "…" not in text and max(map(len, text.splitlines())) <= width
        assert (
            "detected: predictions study-probabilities (63 studies); truth panel (6 readers); no truth study missing"
            in " ".join(text.split())
        )


def test_wide_layout_is_never_cut(result):
    text = render.table_text(result, 80, wide=True, readers=True)
    assert "…" not in text
    assert "model − radiologists" in text and "Specificity" in text and "r6" in text
    assert max(map(len, text.splitlines())) > 150  # rendered at its natural width


def test_cells_use_a_real_minus_and_mark_significance():
    est = Estimate(-0.0123, (-0.082, 0.025), True)
    assert format_estimate(est) == "\u22120.012 * (\u22120.082, 0.025)"
    assert format_estimate(est, stacked=True) == "\u22120.012 *\n(\u22120.082, 0.025)"
    assert number(-0.0001) == "0.000"
    assert format_estimate(None) == "—"


@pytest.mark.parametrize("columns", [80, 100])
def test_score_in_a_real_terminal(case, columns):
    code, out = run_in_pty(["score", case / "preds.csv", "--truth", case / "panel.csv", "--bootstrap", 200], columns)
    assert code == 0, out
    assert "…" not in out and "..." not in out
    assert max(len(line) for line in out.splitlines()) <= columns
    assert "Model" in out and "Radiologists" in out and "r6" not in out
    assert "detected:" in out


def test_show_readers_in_a_real_terminal_and_piped(case):
    code, out = run_in_pty(
        ["score", case / "preds.csv", "--truth", case / "panel.csv", "--bootstrap", 100, "--show-readers"], 80
    )
    assert code == 0 and "r6" in out and "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    piped = subprocess.run(
        [
            sys.executable,
            "-m",
            "mura_bench",
            "score",
            case / "preds.csv",
            "--truth",
            case / "panel.csv",
            "--bootstrap",
            "100",
            "--show-readers",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert piped.returncode == 0 and "r6" in piped.stdout and "…" not in piped.stdout


def test_binary_image_values_get_a_note(tmp_path):
    write_case(tmp_path, seed=3)
    studies = [line.split(",")[0] for line in (tmp_path / "labels.csv").read_text().splitlines()]
    rng = np.random.default_rng(0)
    rows = [f"{s}image{j}.png,{int(rng.integers(0, 2))}" for s in studies for j in (1, 2, 3)]
    (tmp_path / "votes.csv").write_text("\n".join(rows) + "\n")
    result = score(tmp_path / "votes.csv", tmp_path / "labels.csv", bootstrap=50)
    assert result.predictions.kind == "image-probabilities"
    assert any("fraction of its images voted abnormal" in n for n in result.notes)
    text = render.table_text(result, 100)
    assert f"{3 * len(studies)} images -> {len(studies)} studies" in text
    assert "protocol single" in text
