"""``mura-bench demo``: the whole path on generated synthetic data, in seconds.

1. generate a small synthetic MURA-layout dataset with a 6-reader panel (cached between runs);
2. produce example prediction files: a noisy oracle and a chance model written directly, and the
   built-in ``image-statistics`` plugin run through the model runner;
3. score each with the leave-one-out panel protocol on the same resamples;
4. build the demo leaderboard site from them;
5. print a compact summary (one row per example model: F1, kappa, AUROC, model − radiologists F1
   with its CI and significance, rank), what was shown, and the absolute path of the site's
   ``index.html`` as the last line. ``full=True`` prints each model's full table first.

The first line says what the demo is about to do; progress (the dataset's generation, scoring,
the site) goes to stderr, as bars on a terminal only.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from mura_bench import __version__

DEMO_STUDIES = 120
DEMO_READERS = 6
DEMO_SEED = 0
#: Bump when the demo's generated content changes, so stale caches are rebuilt.
CACHE_VERSION = f"{__version__}-2"


def default_cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mura-bench" / "demo"


#: Marker file of a demo cache: the demo deletes and replaces things only inside a folder holding
#: it (``dataset.version`` marks caches written by earlier versions).
CACHE_MARKER = ".mura-bench-demo"


def claim_cache(cache: Path) -> Path:
    """Make ``cache`` the demo's folder: a new or empty folder (then marked), or one the demo marked
    before. Any other folder (a user's dataset, submissions, ...) is an InputError: the demo
    replaces what it finds in its cache, so it never works in a folder it did not create."""
    from mura_bench.errors import InputError
    from mura_bench.io.output_folders import ensure_output_dir, owned_by_mura_bench
    from mura_bench.io.outputs import check_name_length, display

    check_name_length(cache, option="--cache")
    if cache.is_symlink() or (cache.exists() and not cache.is_dir()):
        raise InputError("--cache is not a folder", source=display(cache))
    owned = owned_by_mura_bench(cache, CACHE_MARKER) or owned_by_mura_bench(cache, "dataset.version")
    if cache.is_dir() and not owned and any(cache.iterdir()):
        raise InputError(
            f"--cache is a non-empty folder that is not an earlier build of the demo (no "
            f"{CACHE_MARKER} file); the demo replaces the data in its cache, so it refuses to "
            "use this folder",
            source=display(cache),
            hint="choose a new or empty folder",
        )
    ensure_output_dir(cache, option="--cache")
    (cache / CACHE_MARKER).write_text("mura-bench demo cache; mura-bench demo replaces its content\n")
    return cache


def ensure_dataset(cache: Path, progress=None) -> Path:
    """The cached demo dataset root (the folder holding MURA-v1.1/), generated when absent or stale
    (``progress`` is told how the generation goes, see :mod:`mura_bench.io.progress`)."""
    from mura_bench.synth import SYNTH_MARKER, generate

    marker = cache / "dataset.version"
    if marker.is_file() and marker.read_text().strip() == CACHE_VERSION and (cache / "MURA-v1.1").is_dir():
        return cache
    previous = cache / "MURA-v1.1"
    if previous.is_dir() and not previous.is_symlink() and not (previous / SYNTH_MARKER).is_file():
        shutil.rmtree(previous)  # written by an earlier demo into its own cache
    generate(cache, studies=DEMO_STUDIES, readers=DEMO_READERS, seed=DEMO_SEED, overwrite=True, progress=progress)
    marker.write_text(CACHE_VERSION + "\n")
    return cache


def noisy_oracle(labels: np.ndarray, n_images: list[int], rng: np.random.Generator) -> list[np.ndarray]:
    """Per-image probabilities: the study label seen through logistic noise (a strong model)."""
    return [1 / (1 + np.exp(-(2.0 * (2 * y - 1) + rng.normal(0, 1.5, k)))) for y, k in zip(labels, n_images)]


def chance(labels: np.ndarray, n_images: list[int], rng: np.random.Generator) -> list[np.ndarray]:
    """Per-image probabilities drawn uniformly, independent of the study."""
    return [rng.random(k) for k in n_images]


EXAMPLES = {
    "noisy-oracle": ("Noisy oracle", "The study label seen through logistic noise.", noisy_oracle),
    "chance": ("Chance", "Uniform random probabilities.", chance),
}


def write_examples(root: Path, out: Path) -> dict[str, Path]:
    """Write the example prediction files (image-level, format 3) into ``out``; returns slug -> file."""
    from mura_bench.data.layout import load_split
    from mura_bench.models.registry import load_model
    from mura_bench.models.runner import RunKey, predict_split
    from mura_bench.data.prediction_writer import write_image_predictions

    index = load_split(root, "valid")
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    n_images = [len(index.images[s]) for s in index.studies]
    for i, (slug, (_, _, make)) in enumerate(EXAMPLES.items()):
        probs = make(index.labels, n_images, np.random.default_rng([DEMO_SEED, i]))
        rows = [(img, float(p)) for s, ps in zip(index.studies, probs) for img, p in zip(index.images[s], ps)]
        files[slug] = out / f"{slug}.csv"
        write_image_predictions(files[slug], rows)
    files["image-statistics"] = out / "image-statistics.csv"
    model = load_model("image-statistics", {})
    predict_split(
        model, index, files["image-statistics"], key=RunKey("image-statistics", {}, "valid", str(root)), resume=False
    )
    return files


def write_submissions(files: dict[str, Path], folder: Path) -> Path:
    """One leaderboard submission folder per example prediction file."""
    if folder.is_symlink():
        folder.unlink()
    elif folder.exists():
        shutil.rmtree(folder)  # inside the demo's own cache (claim_cache)
    described = {
        **{slug: (name, desc) for slug, (name, desc, _) in EXAMPLES.items()},
        "image-statistics": (
            "image-statistics (built-in plugin)",
            "Fraction of near-white pixels through a logistic link, run with mura-bench run.",
        ),
    }
    for slug, path in files.items():
        sub = folder / slug
        sub.mkdir(parents=True)
        name, desc = described[slug]
        (sub / "submission.toml").write_text(
            f'name = "{name}"\nteam = "mura-bench demo"\ndescription = "{desc}"\ndate = 2026-01-01\nreported = false\n'
        )
        shutil.copyfile(path, sub / "predictions.csv")
    return folder


#: Names of the example models in the summary (short, to fit 80 columns).
SUMMARY_NAMES = {"noisy-oracle": "noisy oracle", "chance": "chance", "image-statistics": "image-statistics"}


def opening_line(cache: Path, resamples: int, build_site: bool) -> str:
    """What the demo is about to do, in one sentence."""
    site = " and build a leaderboard site" if build_site else ""
    return (
        f"mura-bench demo: generate (or reuse) a synthetic MURA-layout set of {DEMO_STUDIES} valid studies "
        f"with {DEMO_READERS} readers in {cache}, score {len(SUMMARY_NAMES)} example models against the readers "
        f"(leave-one-out, {resamples} paired resamples){site}, then summarise."
    )


def summary_table(slugs: list[str], results: list, ranks):
    """The demo's summary as a :class:`~mura_bench.console.table_fit.Grid`: one row per example model
    (overall F1, kappa, AUROC, model − radiologists F1 with its CI and ``*`` when significant, rank)
    and a last row for the radiologists' mean."""
    from mura_bench.console.results_table import interval, number
    from mura_bench.console.table_fit import Cell, Column, Grid, Row

    def point(estimates, metric: str) -> str:
        est = (estimates or {}).get(metric)
        return "—" if est is None else number(est.value)

    columns = [
        Column("Model", justify="left", key=True),
        Column("F1"),
        Column("κ"),
        Column("AUROC"),
        Column("F1 model − radiologists", stacked_header="F1 model −\nradiologists"),
        Column("Rank"),
    ]
    rows = []
    for slug, result, rank in zip(slugs, results, ranks):
        overall = result.groups["overall"]
        diff = (overall.difference or {}).get("f1")
        cell = (
            "—"
            if diff is None
            else Cell(
                number(diff.value) + (" *" if diff.significant else ""), None if diff.ci is None else interval(diff.ci)
            )
        )
        rows.append(
            Row(
                [
                    SUMMARY_NAMES.get(slug, slug),
                    point(overall.model, "f1"),
                    point(overall.model, "kappa"),
                    point(overall.model, "auroc"),
                    cell,
                    str(int(rank)),
                ]
            )
        )
    overall = results[0].groups["overall"]
    rows[-1] = Row(rows[-1].cells, end_section=True)
    rows.append(
        Row(
            ["radiologists", point(overall.radiologists, "f1"), point(overall.radiologists, "kappa"), "—", "", ""],
            style="dim",
        )
    )
    return Grid(columns, rows, title=f"Summary: overall, {overall.studies} studies")


def summary_notes(resamples: int, *, full: bool) -> list[str]:
    """The lines under the summary: the legend and what was shown."""
    shown = (
        "Shown: each model's full table (every body part and metric), then this summary."
        if full
        else "Shown: this overall summary only; `mura-bench demo --full` adds each model's full table "
        "(every body part and metric)."
    )
    legend = (
        f"* the paired {resamples}-resample CI of model − radiologists F1 excludes 0 (significant). Rank: 1 + "
        "the number of example models whose overall F1 is significantly higher (paired); equal ranks tie."
        if resamples
        else "--bootstrap 0: point estimates only, so no interval, no significance and no rank order (every rank is 1)."
    )
    return [
        legend,
        f"radiologists: the mean of the {DEMO_READERS} readers, each scored against the majority of the other "
        f"{DEMO_READERS - 1}.",
        shown,
    ]


def run_demo(
    cache: Path | None = None, *, resamples: int = 2000, build_site: bool = True, full: bool = False
) -> Path | None:
    """Run the demo; returns the path of the built ``index.html`` (None with ``build_site=False``)."""
    import numpy as np

    from mura_bench.console import render
    from mura_bench.leaderboard.ranking import paired_ranks
    from mura_bench.io.progress import StderrProgress
    from mura_bench.scoring.engine import score_many
    from mura_bench.console.table_fit import print_blocks
    from mura_bench.io.terminal import echo

    cache = claim_cache(Path(cache) if cache else default_cache())
    print_blocks([opening_line(cache, resamples, build_site)])
    with StderrProgress(delay=0.5) as progress:
        root = ensure_dataset(cache, progress=progress)
    panel = root / "MURA-v1.1" / "valid_panel.csv"
    files = write_examples(root, cache / "predictions")
    with StderrProgress(delay=0.5) as progress:
        results = score_many(
            list(files.values()), panel, bootstrap=resamples, seed=0, keep_replicates=resamples > 0, progress=progress
        )
    if full:
        for result in results:
            render.print_table(result, readers=False)
            echo()
    if resamples > 0:
        ranks = paired_ranks(np.stack([r.replicates["overall"]["model"]["f1"] for r in results]))
    else:
        ranks = np.ones(len(results), dtype=np.int64)
    index = None
    if build_site:
        from mura_bench.leaderboard.build import build_site as build

        with StderrProgress(delay=0.5) as progress:
            report = build(
                write_submissions(files, cache / "submissions"),
                panel,
                cache / "site",
                resamples=resamples,
                seed=0,
                title="mura-bench demo leaderboard (synthetic data)",
                progress=progress,
            )
        index = report.index_html.resolve()
    print_blocks([summary_table(list(files), results, ranks), *summary_notes(resamples, full=full)])
    if index is None:
        echo("no site built (--no-site)")
        return None
    echo(f"demo leaderboard: {index}")
    return index
