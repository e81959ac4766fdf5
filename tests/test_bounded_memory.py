"""Bounded memory of the resampling engine: resample counts, jackknife samples and permutation
draws come in blocks, and the block size changes no draw and no output byte; what blocks cannot
bound is refused up front with the estimate."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import run, write_case
from mura_bench import InputError, score
from mura_bench.analysis.analyze import analyze
from mura_bench.stats.bootstrap import (
    count_blocks,
    draw_counts,
    draw_indices,
    indices_to_counts,
    jackknife_blocks,
    jackknife_weights,
)
from mura_bench.scoring.memory import MEMORY_BOUND_BYTES
from mura_bench.stats.randomization import draw_raters, rater_blocks


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("case")
    write_case(folder, n_per_part=9, n_readers=6, seed=4)
    return folder


@pytest.mark.parametrize("n,resamples,rows", [(1, 5, 2), (7, 33, 1), (63, 300, 64), (200, 1000, 333), (50, 10, 100)])
def test_count_blocks_are_the_rows_of_one_draw(n, resamples, rows):
    whole = indices_to_counts(draw_indices(n, resamples, 11, 3), n)  # one call draws every index
    np.testing.assert_array_equal(draw_counts(n, resamples, 11, 3), whole)
    blocks = list(count_blocks(n, resamples, 11, 3, rows))
    assert [start for start, _ in blocks] == list(range(0, resamples, rows))
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), whole)


@pytest.mark.parametrize("n,rows", [(1, 1), (5, 2), (40, 7), (40, 40)])
def test_jackknife_blocks_are_the_rows_of_the_jackknife_matrix(n, rows):
    np.testing.assert_array_equal(np.concatenate([b for _, b in jackknife_blocks(n, rows)]), jackknife_weights(n))


@pytest.mark.parametrize("raters", [2, 3, 4, 7, 11, 37, 101, 200, 255, 256])
@pytest.mark.parametrize("n,permutations,rows", [(13, 97, 7), (1, 50, 3), (301, 40, 1), (64, 64, None)])
def test_rater_blocks_reproduce_numpys_single_draw(raters, n, permutations, rows):
    """numpy discards the unused bytes of its buffer at the end of each call, so drawing uint8 in
    pieces with ``integers`` would change the draws; the blocks reproduce the single call."""
    whole = draw_raters(n, permutations, raters, 5, 2)
    blocks = np.concatenate([d for _, d in rater_blocks(n, permutations, raters, 5, 2, rows)])
    np.testing.assert_array_equal(blocks, whole)


def test_rater_blocks_differ_from_naive_piecewise_draws():
    """The reason for the emulation: pieces drawn with ``integers`` are not the single draw."""
    rng = np.random.default_rng([0, 1, 1])
    pieces = np.concatenate([rng.integers(0, 7, size=(3, 101), dtype=np.uint8) for _ in range(10)])
    assert not np.array_equal(pieces, draw_raters(101, 30, 7, 0, 1))


def _tiny_blocks(monkeypatch, workers: int) -> None:
    import mura_bench.analysis.analyze as analysis
    import mura_bench.stats.bootstrap as bootstrap
    import mura_bench.scoring.group_statistics as group_statistics
    import mura_bench.stats.randomization as randomization

    monkeypatch.setattr(bootstrap, "COUNT_BLOCK_CELLS", 1)
    monkeypatch.setattr(bootstrap, "BINCOUNT_CELLS", 1)
    monkeypatch.setattr(group_statistics, "STAT_BLOCK_ELEMENTS", 1)
    monkeypatch.setattr(group_statistics, "JACKKNIFE_BLOCK_ROWS", 1)
    monkeypatch.setattr(group_statistics, "WORKERS", workers)
    monkeypatch.setattr(randomization, "DRAW_BLOCK_CELLS", 1)
    monkeypatch.setattr(analysis, "RUNNING_ELEMENTS", 1)


OPTION_SETS = [
    dict(bootstrap=300),
    dict(bootstrap=200, ci_method="bca", seed=3),
    dict(bootstrap=100, test="randomization", permutations=700, adjust="holm"),
    dict(bootstrap=250, resample_readers=True, metrics=("f1", "kappa")),
    dict(bootstrap=130, metrics=("auroc", "sensitivity"), confidence=0.9),
]


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_block_sizes_change_no_output_byte(case, monkeypatch, options, workers):
    expected = score(case / "preds.csv", case / "panel.csv", keep_replicates=True, **options)
    _tiny_blocks(monkeypatch, workers)
    got = score(case / "preds.csv", case / "panel.csv", keep_replicates=True, **options)
    assert got.to_json() == expected.to_json()
    for group, subjects in expected.replicates.items():
        for key, metrics in subjects.items():
            for metric, values in metrics.items():
                np.testing.assert_array_equal(got.replicates[group][key][metric], values)


def test_block_sizes_change_nothing_with_single_labels_and_bca(case, monkeypatch):
    expected = score(case / "preds.csv", case / "labels.csv", bootstrap=150, ci_method="bca").to_json()
    _tiny_blocks(monkeypatch, 2)
    assert score(case / "preds.csv", case / "labels.csv", bootstrap=150, ci_method="bca").to_json() == expected


@pytest.mark.parametrize("options", [dict(bootstrap=200), dict(bootstrap=90, bins=40, thresholds=(0.2, 0.7))])
def test_analysis_block_sizes_change_no_output_byte(case, monkeypatch, options):
    expected = analyze(case / "preds.csv", case / "panel.csv", **options).to_json()
    _tiny_blocks(monkeypatch, 1)
    assert analyze(case / "preds.csv", case / "panel.csv", **options).to_json() == expected


def _wide_panel(folder, readers: int, studies: int = 21):
    ids = [f"MURA-v1.1/valid/XR_WRIST/patient{1000 + i}/study1_negative/" for i in range(studies)]
    rng = np.random.default_rng(0)
    names = [f"r{j}" for j in range(readers)]
    reads = rng.integers(0, 2, size=(studies, readers))
    (folder / "wide.csv").write_text(
        "study," + ",".join(names) + "\n" + "".join(s + "," + ",".join(map(str, r)) + "\n" for s, r in zip(ids, reads))
    )
    (folder / "wide_preds.csv").write_text("".join(f"{s},{p!r}\n" for s, p in zip(ids, rng.random(studies).tolist())))
    return folder / "wide_preds.csv", folder / "wide.csv"


def test_what_blocks_cannot_bound_is_refused_up_front_with_the_estimate(tmp_path):
    """Replicates of every statistic are needed whole for the percentiles: 400 readers x 7
    metrics x 100,000 resamples is over the bound, refused before any resampling."""
    preds, truth = _wide_panel(tmp_path, readers=400)
    with pytest.raises(InputError) as info:
        score(preds, truth, bootstrap=100_000)
    message = str(info.value)
    assert "GB" in message and f"{MEMORY_BOUND_BYTES / 1e9:.1f} GB" in message and "100,000 resamples" in message
    proc = run("score", preds, "--truth", truth, "--bootstrap", "100000")
    assert proc.returncode == 2 and "GB of memory" in proc.stderr and "Traceback" not in proc.stderr
    # the same panel with fewer resamples fits and runs
    assert score(preds, truth, bootstrap=200, metrics=("f1",)).groups["overall"].studies == 21


def test_largest_allowed_values_within_the_bound_are_accepted(case):
    """The largest --bootstrap and --permutations on a 6-reader panel are within the bound (the
    estimate does not refuse them; the benchmark measures their peak)."""
    from mura_bench.scoring.memory import replicate_statistics, score_estimate

    statistics = replicate_statistics(count_metrics=6, score_metrics=1, submissions=1, readers=6)
    assert (
        score_estimate(
            studies=100_000, resamples=100_000, statistics=statistics, bca=True, permutations=1_000_000, metrics=6
        )
        < MEMORY_BOUND_BYTES
    )


@pytest.mark.parametrize("bins", [10**23, 2**63, 64])
def test_bins_above_the_number_of_studies_are_refused(case, bins):
    """63 studies: at most 63 bins; a huge value is one message (not a ValueError)."""
    proc = run("analyze", case / "preds.csv", "--truth", case / "panel.csv", "--bins", bins, "--bootstrap", "0")
    assert proc.returncode == 2, proc.stderr
    assert "at most 63" in proc.stderr and "Traceback" not in proc.stderr


def test_bins_up_to_the_number_of_studies_and_the_default_are_accepted(case, tmp_path):
    assert analyze(case / "preds.csv", case / "panel.csv", bootstrap=20, bins=63).bins == 63
    lines = (case / "preds.csv").read_text().splitlines()
    (tmp_path / "few.csv").write_text("\n".join(lines[:6]) + "\n")  # 5 studies: the default 10 stays allowed
    assert analyze(tmp_path / "few.csv", case / "panel.csv", bootstrap=0, allow_missing=True).bins == 10
    with pytest.raises(InputError, match="integer"):
        analyze(case / "preds.csv", case / "panel.csv", bootstrap=0, bins=10.5)


def test_leaderboard_build_refuses_up_front_what_its_overall_triage_cannot_hold(tmp_path):
    """The board's overall triage reads all resample rows at once: 3,000 studies x 100,000
    resamples is refused before any scoring, with the estimate; nothing is written."""
    from helpers import write_submission
    from mura_bench.synth import synth_panel

    panel = synth_panel(3000, readers=6, seed=1)
    truth = tmp_path / "panel.csv"
    truth.write_text(
        "study,"
        + ",".join(panel.reader_names)
        + "\n"
        + "".join(s + "," + ",".join(map(str, r)) + "\n" for s, r in zip(panel.study_ids, panel.readers))
    )
    preds = tmp_path / "preds.csv"
    preds.write_text("".join(f"{s},{0.25 + 0.5 * int(y)}\n" for s, y in zip(panel.study_ids, panel.labels)))
    subs = tmp_path / "subs"
    subs.mkdir()
    write_submission(subs, preds)
    proc = run(
        "leaderboard", "build", subs, "--truth", truth, "--out", tmp_path / "site", "--bootstrap", "100000", "--quiet"
    )
    assert proc.returncode == 2, proc.stderr
    assert "GB of memory" in proc.stderr and "3,000 studies" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "site").exists()
