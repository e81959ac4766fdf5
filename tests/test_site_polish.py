"""Site details: minus signs and spaced dashes in intervals, rank tooltips, entries above the
radiologists, ROC area vs the AUROC column, forest plots that grow, keep full names and do not clip."""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

import pytest

from mura_bench.leaderboard.build import build_site
from mura_bench.leaderboard.pages import fmt_ci, fmt_num
from mura_bench.leaderboard.plots import ACCENT, ForestRow, forest_plot_svg
from mura_bench.scoring.engine import score
from helpers import model_rows, write_entry, write_truth

LONG_NAME = "A deliberately long entry name that used to be shortened, ensemble of nine models"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("polish")
    truth, studies, labels = write_truth(root)
    subs = root / "submissions"
    for slug, sep, seed in (("strong", 3.0, 1), ("mid", 1.2, 2), ("weak", 0.2, 3), ("twin", 3.0, 4)):
        write_entry(
            subs,
            slug,
            f'name = "{LONG_NAME if slug == "mid" else slug.title()}"\nreported = false\n',
            model_rows(studies, labels, sep, seed),
        )
    report = build_site(subs, truth, root / "site", resamples=300, seed=1)
    return root, truth, subs, report


def page(root: Path, name: str) -> str:
    return (root / "site" / name).read_text(encoding="utf-8")


def test_intervals_use_minus_signs_and_a_spaced_dash():
    assert fmt_num(-0.0821) == "\u22120.082"
    assert fmt_ci((-0.0821, 0.025)) == "\u22120.082 \u2013 0.025"
    assert fmt_num(-0.0001) == "0.000" and fmt_num(None) == "—"


def test_pages_write_no_ascii_minus_in_numbers(site):
    root, *_ = site
    for name in ("index.html", "entry/weak.html"):
        text = html_lib.unescape(re.sub(r"<[^>]+>", " ", page(root, name).split("<script>")[0]))
        assert not re.search(r"(?<![\w.])-\d\.\d{3}", text), name
        assert re.search(r"\d\.\d{3} \u2013 \u2212?\d\.\d{3}", text), name


def test_rank_tooltips_and_above_radiologists_marks(site):
    root, truth, subs, report = site
    index = page(root, "index.html")
    titles = re.findall(r'<span class="rank-badge" title="([^"]+)">(\d+)</span>', index)
    assert len(titles) == 4
    for title, rank in titles:
        assert title.startswith(f"Rank {rank}:") and "skip numbers" in title
    row_html = {
        slug: index.split(f'data-key="{slug}"')[1].split("</tr>")[0] for slug in ("strong", "mid", "weak", "twin")
    }
    above = {slug for slug, html in row_html.items() if 'class="tag above"' in html}
    expected = set()
    for slug in ("strong", "mid", "weak", "twin"):
        diff = score(subs / slug / "predictions.csv", truth, bootstrap=300, seed=1).groups["overall"].difference["f1"]
        if diff.significant and diff.value > 0:
            expected.add(slug)
    assert above == expected and "strong" in expected and "weak" not in expected


def test_roc_area_and_auroc_column_are_reconciled(site, tmp_path):
    root, truth, subs, _ = site
    entry = html_lib.unescape(page(root, "entry/strong.html"))
    caption = entry.split("<figcaption>")[1].split("</figcaption>")[0]
    auroc = score(subs / "strong" / "predictions.csv", truth, bootstrap=0).groups["overall"].model["auroc"].value
    assert f"AUROC column ({auroc:.3f})" in caption and "leave-one-out references" in caption
    # against single labels both are the same number, and the caption says so
    labels = tmp_path / "labels.csv"
    rows = [line.split(",") for line in truth.read_text().splitlines()[1:]]
    labels.write_text("".join(f"{r[0]},{r[-1]}\n" for r in rows))
    build_site(subs, labels, tmp_path / "site", resamples=0)
    single = html_lib.unescape((tmp_path / "site" / "entry" / "strong.html").read_text())
    area = re.search(r"area under this curve (\d\.\d{3}), the AUROC column's value", single)
    value = score(subs / "strong" / "predictions.csv", labels, bootstrap=0).groups["overall"].model["auroc"].value
    assert area and area.group(1) == f"{value:.3f}"


def test_forest_plot_keeps_full_names_grows_and_does_not_clip_data(site):
    root, *_ = site
    forest = page(root, "plots/forest-overall.svg")
    assert LONG_NAME in forest and "…" not in forest
    rows = [ForestRow(f"Entry {k}", 1.0 if k == 0 else 0.8, 0.7, 1.0) for k in range(100)]
    tall = forest_plot_svg(rows, title="Overall", xlabel="F1", xlim=(0.0, 1.0))
    short = forest_plot_svg(rows[:10], title="Overall", xlabel="F1", xlim=(0.0, 1.0))
    height = lambda svg: float(re.search(r'<svg[^>]*height="([\d.]+)pt"', svg).group(1))  # noqa: E731
    assert height(tall) > 6 * height(short)
    data_tags = [tag for tag in re.findall(r"<(?:path|use)[^>]*>", tall) if ACCENT in tag]
    assert data_tags and not any("clip-path" in tag for tag in data_tags)


def test_many_entries_get_one_forest_per_row(tmp_path):
    truth, studies, labels = write_truth(tmp_path, studies=60)
    subs = tmp_path / "subs"
    for k in range(26):
        write_entry(
            subs, f"m{k:02d}", f'name = "M{k:02d}"\nreported = false\n', model_rows(studies, labels, 0.5 + 0.1 * k, k)
        )
    build_site(subs, truth, tmp_path / "site", resamples=0)
    assert 'class="forest-grid many"' in (tmp_path / "site" / "index.html").read_text()


def test_build_reports_progress_per_stage(tmp_path):
    truth, studies, labels = write_truth(tmp_path, studies=60)
    subs = tmp_path / "subs"
    for k in range(3):
        write_entry(subs, f"m{k}", f'name = "M{k}"\nreported = false\n', model_rows(studies, labels, 1.0 + k, k))
    calls = []
    build_site(subs, truth, tmp_path / "site", resamples=10, progress=lambda *a: calls.append(a))
    stages = [c[0] for c in calls]
    assert stages.index("reading predictions") < stages.index("scoring") < stages.index("entry pages")
    assert ("scoring", 3, 3) in calls  # the build counts scoring in entries
    assert all(0 <= done <= total for _, done, total in calls)
