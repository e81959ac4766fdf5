"""Incremental builds (``leaderboard build --cache``) and entries scored in chunks on worker
processes write byte for byte the site of a plain build."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from helpers import make_submissions, model_rows, write_entry, write_truth
from mura_bench.errors import InputError
from mura_bench.leaderboard import entry_scores
from mura_bench.leaderboard import build as build_module
from mura_bench.leaderboard.build import build_site
from mura_bench.leaderboard.cli import leaderboard

RESAMPLES = 60


def entry_files(cache: Path) -> list[Path]:
    """The cache's entry files (named by a 64-digit key), not the boards' pair decisions."""
    return sorted(f for f in cache.glob("*.npz") if not f.name.startswith("pairs-"))


def differing(a: Path, b: Path) -> list[str]:
    files_a = {p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file()}
    changed = [f for f in files_a & files_b if not filecmp.cmp(a / f, b / f, shallow=False)]
    return sorted(files_a ^ files_b) + sorted(changed)


@pytest.fixture()
def board(tmp_path):
    truth, studies, labels = write_truth(tmp_path, 60)
    subs = make_submissions(tmp_path, studies, labels)
    return tmp_path, truth, subs, studies, labels


def test_cold_and_warm_cached_builds_equal_a_plain_build(board):
    root, truth, subs, studies, labels = board
    plain = build_site(subs, truth, root / "plain", resamples=RESAMPLES, seed=3)
    cache = root / "cache"
    cold = build_site(subs, truth, root / "cold", resamples=RESAMPLES, seed=3, cache=cache)
    files = entry_files(cache)
    assert len(files) == len(plain.published) == 4 and all(f.stat().st_size < 1_000_000 for f in files)
    assert len(list(cache.glob("pairs-*.npz"))) == 1
    assert differing(root / "plain", root / "cold") == []
    calls, parsed = [], []
    real, real_parse = entry_scores.score_chunk, build_module.predictions_from_bytes
    with pytest.MonkeyPatch.context() as mp:  # one process (workers=1): the calls are seen here
        mp.setattr(entry_scores, "score_chunk", lambda preds, *a: calls.append(len(preds)) or real(preds, *a))
        mp.setattr(
            build_module, "predictions_from_bytes", lambda raw, **k: parsed.append(k["source"]) or real_parse(raw, **k)
        )
        warm = build_site(subs, truth, root / "warm", resamples=RESAMPLES, seed=3, cache=cache, workers=1)
        skipped = {s.slug for s in plain.skipped}
        assert calls == [] and parsed and {Path(p).parent.name for p in parsed} <= skipped  # only the unreadable parsed
        assert differing(root / "plain", root / "warm") == []
        assert [s.slug for s in warm.skipped] == [s.slug for s in plain.skipped] == [s.slug for s in cold.skipped]

        # one new entry and one changed entry: only those two are read and scored
        write_entry(subs, "newcomer", 'name = "New"\nreported = false\n', model_rows(studies, labels, 1.5, 9))
        (subs / "weak" / "predictions.csv").write_text("\n".join(model_rows(studies, labels, 0.7, 11)) + "\n")
        build_site(subs, truth, root / "incremental", resamples=RESAMPLES, seed=3, cache=cache, workers=1)
        assert calls == [2] and {Path(p).parent.name for p in parsed} - skipped == {"newcomer", "weak"}
    build_site(subs, truth, root / "plain-again", resamples=RESAMPLES, seed=3)
    assert differing(root / "plain-again", root / "incremental") == []


def test_new_entries_scored_on_a_worker_while_the_cached_load_give_the_same_site(board):
    """A rebuild scores the new entries on a worker process while it loads the cached ones."""
    root, truth, subs, studies, labels = board
    cache = root / "cache"
    build_site(subs, truth, root / "first", resamples=RESAMPLES, seed=3, cache=cache)
    for k in range(3):
        write_entry(subs, f"new{k}", f'name = "New {k}"\nreported = false\n', model_rows(studies, labels, k, 20 + k))
    again = build_site(subs, truth, root / "again", resamples=RESAMPLES, seed=3, cache=cache, workers=2)
    plain = build_site(subs, truth, root / "plain", resamples=RESAMPLES, seed=3, workers=1)
    assert again.published == plain.published and len(plain.published) == 7
    assert differing(root / "plain", root / "again") == []
    assert len(entry_files(cache)) == 7


def test_kept_pair_decisions_are_used_and_only_new_pairs_are_computed(board, monkeypatch):
    from mura_bench.leaderboard import ranking

    root, truth, subs, studies, labels = board
    for k in range(4):
        write_entry(
            subs, f"extra{k}", f'name = "Extra {k}"\nreported = false\n', model_rows(studies, labels, 0.5 * k, 30 + k)
        )
    cache = root / "cache"
    build_site(subs, truth, root / "first", resamples=RESAMPLES, seed=3, cache=cache)
    rows = []
    real = ranking._decided
    monkeypatch.setattr(ranking, "_decided", lambda d, c: rows.append(d.shape[0]) or real(d, c))
    write_entry(subs, "newcomer", 'name = "New"\nreported = false\n', model_rows(studies, labels, 1.2, 40))
    build_site(subs, truth, root / "second", resamples=RESAMPLES, seed=3, cache=cache)
    assert rows == [9, 9]  # the new entry's column and row against the 9 entries, nothing else
    build_site(subs, truth, root / "plain", resamples=RESAMPLES, seed=3)
    assert differing(root / "plain", root / "second") == []
    # a damaged decisions file is ignored (every pair computed again, the same site)
    (pairs,) = cache.glob("pairs-*.npz")
    pairs.write_bytes(b"damaged")
    rows.clear()
    build_site(subs, truth, root / "third", resamples=RESAMPLES, seed=3, cache=cache)
    assert differing(root / "plain", root / "third") == [] and pairs.stat().st_size > 100


def test_other_options_or_truth_miss_the_cache(board):
    root, truth, subs, *_ = board
    cache = root / "cache"
    build_site(subs, truth, root / "a", resamples=RESAMPLES, seed=3, cache=cache)
    build_site(subs, truth, root / "b", resamples=RESAMPLES, seed=4, cache=cache)  # another seed
    build_site(subs, truth, root / "b-plain", resamples=RESAMPLES, seed=4)
    assert differing(root / "b", root / "b-plain") == []
    assert len(entry_files(cache)) == 8 and len(list(cache.glob("pairs-*.npz"))) == 2
    moved = root / "moved"
    shutil.copytree(subs, moved)  # the same files elsewhere: their paths are this build's
    build_site(moved, truth, root / "c", resamples=RESAMPLES, seed=3, cache=cache)
    build_site(moved, truth, root / "c-plain", resamples=RESAMPLES, seed=3)
    assert differing(root / "c", root / "c-plain") == []
    assert len(entry_files(cache)) == 8


def test_files_no_build_used_for_a_month_are_pruned_and_nothing_else(board):
    import os
    import time

    from mura_bench.leaderboard.score_cache import KEEP_TEMPORARY_SECONDS, KEEP_UNUSED_DAYS

    root, truth, subs, studies, labels = board
    cache = root / "cache"
    write_entry(subs, "withdrawn", 'name = "Gone"\nreported = false\n', model_rows(studies, labels, 0.9, 50))
    build_site(subs, truth, root / "a", resamples=RESAMPLES, seed=3, cache=cache)
    build_site(subs, truth, root / "b", resamples=RESAMPLES, seed=4, cache=cache)  # another board
    first_board = set(cache.iterdir())
    shutil.rmtree(subs / "withdrawn")
    (subs / "weak" / "predictions.csv").write_text("\n".join(model_rows(studies, labels, 0.7, 11)) + "\n")
    month = KEEP_UNUSED_DAYS * 86400
    stale_temporary = cache / f".{'a' * 64}.npz.123.tmp"
    fresh_temporary = cache / f".pairs-{'b' * 64}.npz.456.tmp"
    for f in (stale_temporary, fresh_temporary):
        f.write_bytes(b"half")
    others = [cache / "notes.txt", cache / f"{'c' * 64}.npy", cache / "keep"]
    for f in others[:2]:
        f.write_text("not the cache's")
    others[2].mkdir()
    old = time.time() - month - 3600
    for f in [*first_board, *others, stale_temporary]:
        os.utime(f, (old, old))
    os.utime(fresh_temporary, (time.time() - KEEP_TEMPORARY_SECONDS + 600,) * 2)

    build_site(subs, truth, root / "c", resamples=RESAMPLES, seed=3, cache=cache)
    build_site(subs, truth, root / "c-plain", resamples=RESAMPLES, seed=3)
    assert differing(root / "c", root / "c-plain") == []
    now = set(cache.iterdir())
    # kept: this build's entries (the changed one's new file too) and pair file, marked used now
    used = [f for f in now if f.suffix == ".npz"]
    assert len(used) == 5 and all(time.time() - f.stat().st_mtime < 600 for f in used)
    assert len([f for f in used if f.name.startswith("pairs-")]) == 1
    # removed: the other board's files, the withdrawn entry's, the changed entry's old file, stale temporaries
    assert len(first_board - now) == len(first_board) - 4 == 8
    assert set(others) | {fresh_temporary} <= now and stale_temporary not in now
    # files used within the month stay
    build_site(subs, truth, root / "d", resamples=RESAMPLES, seed=4, cache=cache)
    assert len(list(cache.glob("*.npz"))) == 10


def test_a_damaged_cache_file_is_scored_again(board):
    root, truth, subs, *_ = board
    cache = root / "cache"
    build_site(subs, truth, root / "a", resamples=RESAMPLES, seed=3, cache=cache)
    for i, f in enumerate(sorted(cache.glob("*.npz"))):
        f.write_bytes(b"not a cache file" if i % 2 else f.read_bytes()[:100])
    build_site(subs, truth, root / "b", resamples=RESAMPLES, seed=3, cache=cache)
    assert differing(root / "a", root / "b") == []
    assert all(f.stat().st_size > 1000 for f in cache.glob("*.npz"))  # rewritten


def test_the_cache_folder_is_never_inside_the_site_or_the_submissions(board):
    root, truth, subs, *_ = board
    for bad in (root / "site" / "cache", subs / "cache", root / "site"):
        with pytest.raises(InputError, match="must not be inside"):
            build_site(subs, truth, root / "site", resamples=RESAMPLES, cache=bad)
    (root / "file").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        build_site(subs, truth, root / "site", resamples=RESAMPLES, cache=root / "file")


def test_entries_scored_on_worker_processes_equal_one_pass(tmp_path, monkeypatch):
    """Chunks on two processes give the bytes of the single-process build."""
    truth, studies, labels = write_truth(tmp_path, 40)
    subs = tmp_path / "submissions"
    for k in range(7):
        write_entry(subs, f"m{k}", f'name = "M{k}"\nreported = false\n', model_rows(studies, labels, 0.3 * k, k))
    monkeypatch.setattr(entry_scores, "CHUNK", 2)
    monkeypatch.setattr(entry_scores, "PARALLEL_ENTRIES", 4)
    build_site(subs, truth, tmp_path / "one", resamples=RESAMPLES, seed=1, workers=1)
    build_site(subs, truth, tmp_path / "two", resamples=RESAMPLES, seed=1, workers=2)
    assert differing(tmp_path / "one", tmp_path / "two") == []


def test_cli_cache_option(board):
    root, truth, subs, *_ = board
    runner = CliRunner()
    for out in ("x", "y"):
        result = runner.invoke(
            leaderboard,
            [
                "build",
                str(subs),
                "--truth",
                str(truth),
                "--out",
                str(root / out),
                "--bootstrap",
                str(RESAMPLES),
                "--cache",
                str(root / "c"),
                "--quiet",
            ],
        )
        assert result.exit_code == 0, result.output
    assert differing(root / "x", root / "y") == []
    result = runner.invoke(
        leaderboard,
        [
            "build",
            str(subs),
            "--truth",
            str(truth),
            "--out",
            str(root / "z"),
            "--cache",
            str(root / "z" / "c"),
            "--quiet",
        ],
    )
    assert result.exit_code != 0 and "must not be inside" in str(result.exception or result.output)


def test_a_cached_entry_reads_back_equal(board):
    root, truth, subs, studies, labels = board
    from mura_bench.data.alignment import align
    from mura_bench.data.predictions import read_predictions
    from mura_bench.data.truth import read_truth
    from mura_bench.leaderboard.score_cache import ScoreCache

    t = read_truth(truth)
    p = read_predictions(subs / "strong" / "predictions.csv")
    settings = entry_scores.Settings(RESAMPLES, 3, 0.95)
    (score,), failures = entry_scores.score_chunk([p], [subs / "strong"], t, settings)
    assert failures == {}
    store = ScoreCache(root, t, settings)
    key = store.key(p.sha256, (None, None))
    assert key != store.key(p.sha256, ("path", None)) and key != ScoreCache(
        root, t, entry_scores.Settings(RESAMPLES, 4, 0.95)
    ).key(p.sha256, (None, None))
    store.save(key, p, align(p, t), score)
    back_predictions, back = store.load(key, p.path, p.sha256)
    assert back.result.to_json() == score.result.to_json() and back.analysis == score.analysis
    f1 = score.result.replicates["overall"]["model"]["f1"]
    assert np.array_equal(back.result.replicates["overall"]["model"]["f1"], f1) and f1.size == RESAMPLES
    assert set(score.result.replicates) == {"overall"}  # only what ranking needs is kept
    fields = ("path", "sha256", "kind", "study_ids", "rows", "binary_values")
    assert [getattr(back_predictions, f) for f in fields] == [getattr(p, f) for f in fields]
    assert (
        np.array_equal(back_predictions.probabilities, p.probabilities)
        and back_predictions.probabilities.dtype == np.float64
    )
    assert np.array_equal(back_predictions.labels, p.labels) and back_predictions.labels.dtype == p.labels.dtype
    assert store.load("0" * 64, p.path, p.sha256) is None


def test_no_cache_with_a_hidden_truth(board):
    """Scores computed from a hidden truth are never stored."""
    root, truth, subs, *_ = board
    with pytest.raises(InputError, match="--cache cannot be used with --hidden-truth"):
        build_site(subs, truth, root / "site", resamples=RESAMPLES, hidden_truth=True, cache=root / "cache")
    assert not (root / "cache").exists() and not (root / "site").exists()
    result = CliRunner().invoke(
        leaderboard,
        [
            "build",
            str(subs),
            "--truth",
            str(truth),
            "--out",
            str(root / "s"),
            "--hidden-truth",
            "--cache",
            str(root / "cache"),
            "--quiet",
        ],
    )
    assert result.exit_code != 0 and not (root / "cache").exists()


@pytest.mark.parametrize(
    "options", [dict(test="randomization", permutations=50, adjust="holm"), dict(readers="random")]
)
def test_chunks_equal_one_pass_under_every_significance_option(tmp_path, monkeypatch, options):
    """Each entry's marks against the radiologists do not depend on the entries scored with it."""
    truth, studies, labels = write_truth(tmp_path, 40)
    subs = tmp_path / "submissions"
    for k in range(5):
        write_entry(subs, f"m{k}", f'name = "M{k}"\nreported = false\n', model_rows(studies, labels, 0.4 * k, k))
    build_site(subs, truth, tmp_path / "one-pass", resamples=RESAMPLES, seed=1, **options)
    monkeypatch.setattr(entry_scores, "CHUNK", 2)
    build_site(subs, truth, tmp_path / "chunks", resamples=RESAMPLES, seed=1, cache=tmp_path / "c", **options)
    build_site(subs, truth, tmp_path / "cached", resamples=RESAMPLES, seed=1, cache=tmp_path / "c", **options)
    assert differing(tmp_path / "one-pass", tmp_path / "chunks") == []
    assert differing(tmp_path / "one-pass", tmp_path / "cached") == []


@pytest.mark.parametrize("workers", [1, 2])
def test_a_board_of_reported_entries_only_builds_with_and_without_the_cache(board, workers):
    """No re-scored entry can be read against this truth (another split): the reported one is
    published alone, with or without a cache, on one process or more."""
    root, truth, subs, *_ = board
    reported = [
        p.name for p in subs.iterdir() if p.is_dir() and "reported = true" in (p / "submission.toml").read_text()
    ]
    assert reported  # the board has a reported entry
    wrong = root / "train-truth.csv"
    wrong.write_text("".join(line.replace("valid", "train") + "\n" for line in truth.read_text().splitlines()))
    for cache in (None, root / "cache"):
        out = root / f"site-{cache is not None}"
        report = build_site(subs, wrong, out, resamples=RESAMPLES, cache=cache, workers=workers)
        assert report.published == [] and report.reported == reported and (out / "index.html").is_file()
    assert differing(root / "site-False", root / "site-True") == []
